"""Export formats: NetCDF4 (OOI layout) and CSV/TSV files written chunk by chunk.

``layout`` (what a file holds), ``writer`` (one file per deployment, fed chunk by chunk),
``netcdf`` and ``csv`` (the formats), ``slices`` (bounded slices from the partition index),
``query`` (the part of a request an export needs), ``export`` (:func:`run_export`, which the
routes, the jobs and ``stream-engine export`` share) and ``bundle`` (zip archives streamed as
they are written).
"""
