"""A worker process's malloc policy (glibc): how many arenas, and when freed memory goes back.

Applied once in each gunicorn worker right after the fork, before its threads start
(``post_fork`` in ``gunicorn_config.py``), from the settings ``MALLOC_ARENAS``,
``MALLOC_MMAP_THRESHOLD`` and ``MALLOC_TRIM_THRESHOLD`` (0: glibc's own choice). On a C library
other than glibc (musl, macOS) there is nothing to set: the settings have no effect.
"""

from __future__ import annotations

import ctypes
from typing import Any

#: ``mallopt`` parameters, from glibc's ``malloc.h``.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def glibc() -> Any | None:
    """The process's C library when it is glibc (it has ``mallopt`` and the thresholds), else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it; musl has a do-nothing mallopt)
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def malloc_options(arenas: int, mmap_threshold: int, trim_threshold: int) -> list[tuple[str, int, int]]:
    """The ``mallopt`` calls the settings ask for: ``(setting, parameter, value)``, 0s left out.

    Parameters
    ----------
    arenas
        ``MALLOC_ARENAS``: most malloc arenas the worker's threads share (``M_ARENA_MAX``).
    mmap_threshold
        ``MALLOC_MMAP_THRESHOLD``: bytes from which an allocation gets a mapping of its own
        (returned to the system when freed) rather than heap memory (``M_MMAP_THRESHOLD``).
    trim_threshold
        ``MALLOC_TRIM_THRESHOLD``: free bytes at the top of a heap beyond which they are given
        back to the system (``M_TRIM_THRESHOLD``).

    Returns
    -------
    list of (str, int, int)
        Setting name, ``mallopt`` parameter and value, in the order they are applied.
    """
    wanted = (("MALLOC_ARENAS", M_ARENA_MAX, arenas), ("MALLOC_TRIM_THRESHOLD", M_TRIM_THRESHOLD, trim_threshold),
              ("MALLOC_MMAP_THRESHOLD", M_MMAP_THRESHOLD, mmap_threshold))
    return [(name, param, int(value)) for name, param, value in wanted if value > 0]


def apply_malloc_policy(arenas: int, mmap_threshold: int, trim_threshold: int, libc: Any | None = None) -> list[str]:
    """Set the process's malloc policy (see :func:`malloc_options`); a no-op unless glibc.

    Parameters
    ----------
    arenas, mmap_threshold, trim_threshold
        The settings, as in :func:`malloc_options` (0: leave glibc's own policy).
    libc
        The C library (default: :func:`glibc`); None when it is not glibc.

    Returns
    -------
    list of str
        Messages for the options glibc refused (empty when all were set, or nothing to do).
    """
    options = malloc_options(arenas, mmap_threshold, trim_threshold)
    libc = libc if libc is not None else (glibc() if options else None)
    if libc is None:
        return []
    return [f"could not set {name} to {value} (mallopt failed)" for name, param, value in options
            if libc.mallopt(param, value) != 1]
