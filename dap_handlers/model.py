"""The DAP dataset model: lazy variables on named dimensions, in declaration order.

A :class:`DapVariable` knows its name, dtype, shape, dimension names and attributes, and reads
values only when asked, through a *reader* that implements just basic slices. Every other kind of
key (integers, negative indices, negative steps, ``Ellipsis``, missing trailing dimensions) is
normalised once, here, by :func:`normalize_key`, in the spirit of xarray's
``explicit_indexing_adapter``. Slicing a variable lazily (:meth:`DapVariable.subset`) composes
keys and never reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from dap_handlers.dtypes import DapType, dap_type, is_string_dtype
from dap_handlers.errors import DapError

#: Reads the hyperslab ``key`` (one normalised slice per dimension) and returns exactly it.
Reader = Callable[[tuple[slice, ...]], np.ndarray]
#: Maps a half-open time window ``[start, stop)`` to the half-open record index range it holds.
TimeIndex = Callable[[float, float], tuple[int, int]]


def _as_range(index: Any, size: int, axis: int) -> range | int:
    """One key element as a range of positions (or an int position) within ``size``."""
    if isinstance(index, slice):
        return range(size)[index]
    if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
        position = int(index)
        if not -size <= position < size:
            raise IndexError(f"index {position} is out of bounds for axis {axis} with size {size}")
        return position % size
    raise TypeError(
        f"unsupported index {index!r} on axis {axis}: use integers or slices (basic indexing)"
    )


def _range_to_slice(positions: range) -> tuple[slice, bool]:
    """A range as a forward slice with tight bounds, and whether it must be reversed."""
    if len(positions) == 0:
        start = min(max(positions.start, 0), positions.stop) if positions.step > 0 else 0
        return slice(start, start, 1), False
    reverse = positions.step < 0
    if reverse:
        positions = positions[::-1]
    start, step = positions.start, positions.step
    stop = positions[-1] + 1
    if len(positions) == 1:
        step = 1
    return slice(start, stop, step), reverse


def normalize_key(key: Any, shape: tuple[int, ...]) -> tuple[tuple[range | int, ...], int]:
    """Expand a basic numpy key to one range (or int) per dimension.

    Parameters
    ----------
    key
        An int, slice, ``Ellipsis`` or a tuple of those.
    shape
        Shape of the array the key applies to.

    Returns
    -------
    positions, dropped
        One ``range`` (kept dimension) or ``int`` (dropped dimension) per axis, and the number of
        dropped axes.

    Raises
    ------
    IndexError, TypeError
        On out-of-bounds integers, too many indices or non-basic keys.
    """
    if not isinstance(key, tuple):
        key = (key,)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        fill = len(shape) - (len(key) - 1)
        key = key[:at] + (slice(None),) * fill + key[at + 1 :]
    if len(key) > len(shape):
        raise IndexError(f"too many indices: {len(key)} for an array of {len(shape)} dimensions")
    key = tuple(key) + (slice(None),) * (len(shape) - len(key))
    positions = tuple(
        _as_range(k, n, axis) for axis, (k, n) in enumerate(zip(key, shape, strict=True))
    )
    return positions, sum(1 for p in positions if isinstance(p, int))


class DapVariable:
    """A lazily read array variable of a DAP dataset.

    Parameters
    ----------
    name : str
        Variable name as it appears in the DDS.
    dtype : numpy dtype
        Dtype of the values the reader returns; see :mod:`dap_handlers.dtypes` for how it is sent.
    shape : tuple of int
        Full shape.
    dims : sequence of str
        One dimension name per axis (``("obs",)``, ``("obs", "wavelength")``).
    reader : callable
        ``reader(key) -> numpy.ndarray`` where ``key`` has one ``slice`` per dimension with
        ``0 <= start <= stop <= size``, ``step >= 1`` and tight ``stop`` (the last selected
        position plus one). It must return an array of exactly the selected shape, in ``dtype``
        or in ``dtype`` of the other byte order (returned as it is: a big-endian block goes to
        the wire without another pass).
    attributes : mapping or callable, optional
        Variable attributes in order (values: str, numbers, sequences or numpy arrays), or a
        function returning them, called the first time they are needed (a DDS or a data
        response never needs them).
    block_rows : int, optional
        At most this many rows per block the encoders read (``None``: as many as their block
        size allows). A stored column streams fastest in pieces near the store's chunk size,
        which stay in the CPU caches from the read to the socket.

    Raises
    ------
    TypeError
        If the dtype cannot be served over DAP2 or ``dims`` does not match ``shape``.
    """

    __slots__ = ("name", "dtype", "shape", "dims", "_attributes", "dap_type", "block_rows", "_reader")

    def __init__(
        self,
        name: str,
        dtype: np.dtype | type | str,
        shape: Sequence[int],
        dims: Sequence[str],
        reader: Reader,
        attributes: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        block_rows: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"variable name must be a non-empty string, got {name!r}")
        self.name = name
        self.dtype = np.dtype(dtype)
        self.dap_type: DapType = dap_type(self.dtype)
        self.shape = tuple(int(n) for n in shape)
        if any(n < 0 for n in self.shape):
            raise TypeError(f"variable {name!r}: negative size in shape {self.shape}")
        self.dims = tuple(dims)
        if len(self.dims) != len(self.shape):
            raise TypeError(
                f"variable {name!r}: {len(self.dims)} dimension names {self.dims} for a "
                f"{len(self.shape)}-dimensional shape {self.shape}"
            )
        self._attributes: dict[str, Any] | Callable[[], Mapping[str, Any]] = (
            attributes if callable(attributes) else dict(attributes or {}))
        self.block_rows = None if block_rows is None else max(1, int(block_rows))
        self._reader = reader

    @classmethod
    def from_array(
        cls,
        name: str,
        values: Any,
        dims: Sequence[str],
        attributes: Mapping[str, Any] | None = None,
    ) -> DapVariable:
        """A variable over an in-memory array (or any object supporting basic slicing)."""
        array = values if hasattr(values, "dtype") else np.asarray(values)
        return cls(name, array.dtype, array.shape, dims, lambda key: array[key], attributes)

    @property
    def attributes(self) -> dict[str, Any]:
        """The variable's attributes (made on first use when given as a function)."""
        if callable(self._attributes):
            self._attributes = dict(self._attributes())
        return self._attributes

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_string(self) -> bool:
        return is_string_dtype(self.dtype)

    def __repr__(self) -> str:
        dims = ", ".join(f"{d}={n}" for d, n in zip(self.dims, self.shape, strict=True))
        return f"<DapVariable {self.name} {self.dap_type.name} ({dims})>"

    def read(self, key: Any = ()) -> np.ndarray:
        """Read the values selected by a basic numpy key (everything by default)."""
        positions, _ = normalize_key(key, self.shape)
        slices, flips, squeeze = [], [], []
        for axis, p in enumerate(positions):
            if isinstance(p, int):
                slices.append(slice(p, p + 1, 1))
                squeeze.append(axis)
                flips.append(slice(None))
            else:
                s, reverse = _range_to_slice(p)
                slices.append(s)
                flips.append(slice(None, None, -1) if reverse else slice(None))
        data = self._read_exact(tuple(slices))
        if any(f.step == -1 for f in flips):
            data = data[tuple(flips)]
        return data.reshape([n for axis, n in enumerate(data.shape) if axis not in squeeze])

    __getitem__ = read

    def read_rows(self, spans: Sequence[tuple[int, int]]) -> Iterator[np.ndarray]:
        """Blocks of whole rows ``[start, stop)`` (non-empty, within the first axis), in order.

        A reader with a ``blocks(keys)`` method (an iterator of blocks for an iterable of keys,
        see :class:`BlockReader`) gets all the keys at once, so it may work on the next block
        while this one is used; closing this iterator closes it.
        """
        rest = tuple(slice(0, n, 1) for n in self.shape[1:])
        keys = [(slice(start, stop, 1), *rest) for start, stop in spans]
        yield from self._read_exact_blocks(keys)

    def _read_exact_blocks(self, keys: Sequence[tuple[slice, ...]]) -> Iterator[np.ndarray]:
        blocks = getattr(self._reader, "blocks", None)
        if blocks is None or any(0 in self._expected(key) for key in keys):
            for key in keys:
                yield self._read_exact(key)
            return
        found = blocks(keys)
        try:
            for key in keys:
                yield self._checked(key, np.asarray(next(found)))
        finally:
            found.close()

    @staticmethod
    def _expected(key: tuple[slice, ...]) -> tuple[int, ...]:
        return tuple(len(range(s.start, s.stop, s.step)) for s in key)

    def _read_exact(self, key: tuple[slice, ...]) -> np.ndarray:
        expected = self._expected(key)
        if 0 in expected:
            return np.empty(expected, dtype=self.dtype)
        return self._checked(key, np.asarray(self._reader(key)))

    def _checked(self, key: tuple[slice, ...], data: np.ndarray) -> np.ndarray:
        """What the reader returned for ``key``, checked against the shape and dtype declared."""
        expected = self._expected(key)
        if data.shape != expected:
            raise DapError(
                f"reader of variable {self.name!r} returned shape {data.shape} for "
                f"{_format_key(key)}; expected {expected}"
            )
        if data.dtype != self.dtype and not (self.is_string and is_string_dtype(data.dtype)):
            if data.dtype.newbyteorder("=") == self.dtype.newbyteorder("="):
                return data  # the same values in the other byte order (e.g. already big-endian)
            if not np.can_cast(data.dtype, self.dtype, "same_kind"):
                raise DapError(
                    f"reader of variable {self.name!r} returned dtype {data.dtype}; "
                    f"declared {self.dtype}"
                )
            data = data.astype(self.dtype)
        return data

    def subset(self, key: Any) -> DapVariable:
        """A lazy view of this variable restricted to ``key`` (kept dimensions only).

        Integer indices keep their dimension with length 1, as DAP hyperslabs do.
        """
        positions, _ = normalize_key(key, self.shape)
        ranges = tuple(range(p, p + 1) if isinstance(p, int) else p for p in positions)
        if any(r.step < 0 for r in ranges if len(r) > 1):
            raise IndexError("subset() takes forward slices only")
        parent = self
        shape = tuple(len(r) for r in ranges)
        return DapVariable(self.name, self.dtype, shape, self.dims, _SubsetReader(parent, ranges),
                           lambda: parent.attributes, self.block_rows)


class BlockReader:
    """A reader that may also read a sequence of keys at once (``blocks``), for a variable
    whose reads can work ahead (see :meth:`DapVariable.read_rows`).

    Parameters
    ----------
    read
        The reader of one key (see :data:`Reader`).
    blocks
        ``blocks(keys)``: a closable iterator of the blocks of ``keys``, in order.
    """

    __slots__ = ("_read", "blocks")

    def __init__(self, read: Reader,
                 blocks: Callable[[Sequence[tuple[slice, ...]]], Iterator[np.ndarray]]) -> None:
        self._read = read
        self.blocks = blocks

    def __call__(self, key: tuple[slice, ...]) -> np.ndarray:
        return self._read(key)


class _SubsetReader:
    """The reader of a lazy subset: keys composed with the subset's ranges, then the parent's."""

    __slots__ = ("_parent", "_ranges")

    def __init__(self, parent: DapVariable, ranges: tuple[range, ...]) -> None:
        self._parent = parent
        self._ranges = ranges

    def _composed(self, inner: tuple[slice, ...]) -> tuple[slice, ...]:
        return tuple(_range_to_slice(outer[s.start : s.stop : s.step])[0]
                     for outer, s in zip(self._ranges, inner, strict=True))

    def __call__(self, inner: tuple[slice, ...]) -> np.ndarray:
        return self._parent._read_exact(self._composed(inner))

    def __getattr__(self, name: str) -> Any:
        if name != "blocks" or getattr(self._parent._reader, "blocks", None) is None:
            raise AttributeError(name)
        return lambda keys: self._parent._read_exact_blocks([self._composed(k) for k in keys])


def _format_key(key: tuple[slice, ...]) -> str:
    return "[" + ", ".join(f"{s.start}:{s.stop}:{s.step}" for s in key) + "]"


class DapDataset:
    """A DAP dataset: a name, global attributes and variables in declaration order.

    Parameters
    ----------
    name : str
        Dataset name written after the closing brace of the DDS.
    variables : iterable of DapVariable
        In the order they are declared (and serialised); names must be unique.
    attributes : mapping, optional
        Global attributes, written in the DAS ``NC_GLOBAL`` container.
    time_index : callable, optional
        ``time_index(start, stop) -> (first, stop_index)``: the record index range ``[first,
        stop_index)`` of the times in ``[start, stop)`` (in the units of the ``time`` variable).
        Datasets that have one accept selections on ``time`` in a constraint.

    Raises
    ------
    TypeError
        If two variables share a name.
    """

    __slots__ = ("name", "attributes", "variables", "time_index", "_index")

    def __init__(
        self,
        name: str,
        variables: Iterable[DapVariable],
        attributes: Mapping[str, Any] | None = None,
        time_index: TimeIndex | None = None,
    ) -> None:
        self.name = name
        self.variables: tuple[DapVariable, ...] = tuple(variables)
        self.attributes: dict[str, Any] = dict(attributes or {})
        self.time_index = time_index
        self._index = {v.name: i for i, v in enumerate(self.variables)}
        if len(self._index) != len(self.variables):
            seen: set[str] = set()
            dup = next(v.name for v in self.variables if v.name in seen or seen.add(v.name))
            raise TypeError(f"dataset {name!r} declares variable {dup!r} twice")

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __getitem__(self, name: str) -> DapVariable:
        return self.variables[self._index[name]]

    def __iter__(self) -> Iterator[DapVariable]:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def position(self, name: str) -> int:
        """Declaration position of variable ``name``."""
        return self._index[name]

    def replace_variables(
        self, variables: Iterable[DapVariable], attributes: Mapping[str, Any] | None = None
    ) -> DapDataset:
        """The same dataset (name, time index, attributes unless given) with other variables."""
        return DapDataset(
            self.name, variables, self.attributes if attributes is None else attributes,
            self.time_index,
        )

    def __repr__(self) -> str:
        return f"<DapDataset {self.name} [{', '.join(v.name for v in self.variables)}]>"
