"""Compiled algorithm kernels made ready before a process serves its first request.

The TEOS-10 kernels (:mod:`stream_engine.functions.teos10`), the Sea-Bird calibration loops
(:mod:`stream_engine.functions.sbe_kernels`), the CTD chain (:mod:`stream_engine.functions.ctd_chain`)
and the key checks (:mod:`stream_engine.functions.record_keys`) are compiled by numba and cached on disk; loading
them takes about a second and compiling them (once per code version, done by
``manage-streamng install``) tens of seconds. :func:`prepare_kernels` does either when a web
worker starts, so no request, cold or not, ever waits for them.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def prepare_kernels() -> float:
    """Load (or compile) every compiled kernel in this process; returns the seconds it took."""
    from stream_engine.functions import ctd_chain, record_keys, sbe_kernels, teos10

    started = time.perf_counter()
    teos10.warm_up()
    sbe_kernels.warm_up()
    ctd_chain.warm_up()
    record_keys.warm_up()
    took = time.perf_counter() - started
    log.debug("compiled kernels ready in %.2f s", took)
    return took


__all__ = ["prepare_kernels"]
