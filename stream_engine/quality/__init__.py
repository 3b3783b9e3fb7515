"""Data quality: operators' annotations, QARTOD tests (ioos_qc) and the original's legacy QC.

Records live in the store (:meth:`Store.add_quality_records
<stream_engine.store.base.Store.add_quality_records>`) in the JSON forms OOI's services returned;
the modules here parse them, decide which streams and records they apply to, and run the tests.
"""
