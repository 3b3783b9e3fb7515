"""The catalog: what the store holds, described from the partition index, assets and dictionary.

HTTP-free. :mod:`~stream_engine.catalog.tree` groups streams into the subsite / node / sensor /
method / stream hierarchy and filters them; :mod:`~stream_engine.catalog.describe` describes one
stream (deployments, parameters, product resolution); :mod:`~stream_engine.catalog.quicklook`
reads and decimates one variable for a plot; :mod:`~stream_engine.catalog.plot` draws it.
Only the quick-look reads stored data.
"""
