"""The engine: resolve which inputs a product needs (:mod:`~stream_engine.engine.resolve`) and
compute it on a slice of a stream (:mod:`~stream_engine.engine.compute`).

Modules, in the order a request meets them: ``plan`` (the serialisable resolution result),
``resolve`` / ``resolve_sources`` / ``colocation`` (which streams and parameters supply each
input), ``compute`` / ``compute_steps`` / ``compute_inputs`` (running a plan: reading and
selecting records, the product steps, inputs and outputs), ``calibrate`` (calibrations per
record), ``interpolate`` (external inputs onto the primary stream's times), ``computed`` (the
result type) and ``cache`` (per-worker reuse of computed products). Nothing here knows HTTP.
"""
