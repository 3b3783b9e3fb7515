"""Output formats written chunk by chunk from a query run: ``particles`` (the JSON API's
particle array and provenance document)."""
