"""Output formats written chunk by chunk from a query run.

``particles`` (the JSON API's particle array and provenance document); for exports, ``layout``
(what a file holds), ``writer`` (one file per deployment, fed chunk by chunk), ``netcdf`` and
``csv`` (the formats), ``export`` (:func:`run_export`, which the routes and the jobs share),
``bundle`` (zip archives streamed as they are written) and ``aggregate`` (merging sub-job files).
"""
