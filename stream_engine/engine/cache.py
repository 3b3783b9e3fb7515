"""A per-process cache of computed product arrays, bounded in bytes.

DESIGN allows "recently computed chunks may be cached per worker, bounded in memory". The case it
pays for: a client asks for a CTD's salinity, then for an optode's corrected oxygen, whose
external sub-plan needs the same CTD temperature, pressure and salinity over the same records.

What makes a hit safe
---------------------
An entry is one product step computed on one slice. It is found by a *key* (the stream, the
:class:`~stream_engine.engine.plan.ProductStep`, the record count, first and last time) and accepted only
when its *evidence* compares equal: everything else the product's values depend on, namely the
algorithm object, the output dtype and fill value, the mask of records computed, and every
argument exactly as it would be passed (argument arrays and tiled calibrations compared bit for
bit, with dtype and shape). So a hit returns precisely what a fresh computation would; data
written to the store later (new records, replaced values, other calibrations) changes the
evidence and misses. Provenance is never cached: it is rebuilt for every request.

:meth:`ProductCache.put` takes the arrays it is given and makes them read-only (no copy, unless an
array is a view), and :meth:`~ProductCache.get` returns them read-only: nobody can change what the
cache holds. :func:`~stream_engine.engine.compute.compute` gives its caller writable copies of such
arrays. The least recently used entries are
dropped once the arrays held exceed ``COMPUTE_CACHE_BYTES`` (an array shared by several entries
is counted in each, so the bound is conservative); ``0`` turns the cache off. Thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from stream_engine.engine.plan import ProductStep
    from stream_engine.store.base import StreamKey

SETTING = "COMPUTE_CACHE_BYTES"


def _frozen(value: Any, held: dict[int, tuple[np.ndarray, np.ndarray]]) -> Any:
    """An array made read-only in place when it owns its data, else a read-only copy (a view
    could be written through its base); anything else as it is. ``held`` maps ``id(original)``
    to ``(original, frozen)``, so entries of one computation share arrays and ids stay unique."""
    if not isinstance(value, np.ndarray):
        return value
    found = held.get(id(value))
    if found is None:
        frozen = value if value.flags.owndata else value.copy()
        frozen.flags.writeable = False
        found = held[id(value)] = (value, frozen)
    return found[1]


def _bits(a: np.ndarray) -> np.ndarray | None:
    """``a`` viewed as unsigned integers of its item size (bitwise comparison), if possible."""
    if a.dtype.kind not in "biufc" or a.dtype.itemsize not in (1, 2, 4, 8) or not a.flags.c_contiguous:
        return None
    return a.view(f"u{a.dtype.itemsize}")


def same(a: Any, b: Any) -> bool:
    """Whether two pieces of evidence are identical: arrays bit for bit (with dtype and shape)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a is b:
            return True
        ua, ub = _bits(a), _bits(b)
        if ua is not None and ub is not None:
            return bool(np.array_equal(ua, ub))
        return bool(np.array_equal(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.generic | float):
        return same(np.asarray(a), np.asarray(b))
    return a is b or bool(a == b)


class BoundedLRU:
    """Values by key, the least recently used dropped first once the bytes held exceed
    ``max_bytes`` (``0`` keeps nothing); thread-safe. Callers say what a value weighs."""

    def __init__(self, max_bytes: int) -> None:
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_bytes = int(max_bytes)
        self.nbytes = 0

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        with self._lock:
            self._max_bytes = int(value)
            self._evict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any | None:
        """The value under ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
        """Keep ``value`` under ``key``, replacing any entry; a value over the bound is not kept."""
        if nbytes > self._max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            self._entries[key] = (value, nbytes)
            self.nbytes += nbytes
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.nbytes = 0

    def _evict(self) -> None:
        while self._entries and self.nbytes > self._max_bytes:
            _, (_, nbytes) = self._entries.popitem(last=False)
            self.nbytes -= nbytes


class ProductCache:
    """Computed product arrays by key, accepted only on identical evidence (module docstring).

    Parameters
    ----------
    max_bytes
        Bound on the bytes of arrays held; ``0`` disables the cache.
    """

    def __init__(self, max_bytes: int) -> None:
        self._lru = BoundedLRU(max_bytes)
        self.hits = 0
        self.misses = 0

    @property
    def max_bytes(self) -> int:
        return self._lru.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self._lru.max_bytes = value

    @property
    def nbytes(self) -> int:
        return self._lru.nbytes

    def __len__(self) -> int:
        return len(self._lru)

    def get(self, key: Hashable, evidence: Sequence[Any]) -> np.ndarray | None:
        """The (read-only) values stored under ``key`` if their evidence is identical, else ``None``."""
        if self._lru.max_bytes <= 0:
            return None
        entry = self._lru.get(key)
        if entry is None or not same(entry[0], tuple(evidence)):
            self.misses += 1
            return None
        self.hits += 1
        values: np.ndarray = entry[1]
        return values

    def put(
        self, key: Hashable, evidence: Sequence[Any], values: np.ndarray,
        held: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        """Keep ``values`` and ``evidence`` under ``key`` (replacing any entry), made read-only.

        ``held`` (``id(array) -> (array, read-only array)``) lets the entries of one computation
        share the arrays they have in common; pass the same dict for each.
        """
        held = {} if held is None else held
        arrays = (values, *(e for e in evidence if isinstance(e, np.ndarray)))
        nbytes = sum({id(a): a.nbytes for a in arrays}.values())
        if self._lru.max_bytes <= 0 or nbytes > self._lru.max_bytes:
            return
        entry = (tuple(_frozen(e, held) for e in evidence), _frozen(values, held))
        self._lru.put(key, entry, nbytes)

    def clear(self) -> None:
        self._lru.clear()


def product_key(stream: StreamKey, step: ProductStep, times: np.ndarray) -> Hashable | None:
    """The key of a step's values on the records at ``times`` (non-empty, sorted); ``None`` when
    the step cannot be a key (an unhashable constant)."""
    key = (stream, step, len(times), float(times[0]), float(times[-1]))
    try:
        hash(key)
    except TypeError:
        return None
    return key


_shared = ProductCache(0)


def shared_cache(settings: Mapping[str, Any]) -> ProductCache:
    """The process-wide cache, bounded by the ``COMPUTE_CACHE_BYTES`` setting (absent: off)."""
    limit = int(settings.get(SETTING, 0) or 0)
    if limit != _shared.max_bytes:
        _shared.max_bytes = limit
    return _shared
