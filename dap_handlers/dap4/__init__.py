"""DAP4 responses: the DMR (``.dmr``/``.dmr.xml``), the chunked data response (``.dap``), the
dataset services response (``.dsr``) and ``<Error>`` documents, over the same
:class:`~dap_handlers.model.DapDataset` the DAP2 responses serve."""
