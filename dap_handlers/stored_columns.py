"""Stored columns of one DAP request at the store's speed: pieces joined once, served records known cheaply.

* :func:`joined`: a block of a stored column from the store's pieces
  (:meth:`~stream_engine.store.base.Store.read_column_pieces`, views of its chunks where it can),
  in one copy that is also DAP2's byte swap (:func:`~dap_handlers.window_layout.wire_order`),
  instead of a copy into a native array and a swapped copy of that;
* :class:`ServedCheck`: whether every record of a selection is served, from the deployment
  numbers alone (4 bytes a record) in the usual case, so the served-records mask of
  :func:`~stream_engine.engine.calibrate.served_records` (time and deployment, 12 bytes a
  record, and the masks of every deployment) is only computed where it can differ;
* :func:`stored_numbers`: the ``deployment`` variable without reading ``time`` when no record
  was stored with deployment 0 (those are the ones found by time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dap_handlers.window_layout import wire_order
from stream_engine.engine.compiled_chains import BinTimes
from stream_engine.functions.record_keys import NUMBER_TYPE, deployment_runs
from stream_engine.preload.fill_values import fill_value_for
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange
from stream_engine.store.records import fill_value

if TYPE_CHECKING:
    from stream_engine import assets
    from stream_engine.preload.model import Parameter
    from stream_engine.store.base import Store, StreamKey


def index_range(obs: slice) -> IndexRange:
    """The store's index range of a normalised ``obs`` slice."""
    return IndexRange(obs.start, obs.stop, obs.step)


def joined(pieces: Sequence[np.ndarray]) -> np.ndarray:
    """One writable array of ``pieces`` (consecutive records of one column), numbers in the
    byte order DAP2 sends them; a single copy whatever the number of pieces."""
    if not pieces:
        return np.empty(0)
    if pieces[0].dtype.kind in "OUS":  # text: the widest piece decides the width
        return np.concatenate(pieces) if len(pieces) > 1 else pieces[0].copy()
    dtype = wire_order(pieces[0].dtype)
    return np.concatenate(pieces, dtype=dtype) if len(pieces) > 1 else pieces[0].astype(dtype)


def missing_value(dtype: np.dtype, parameter: Parameter | None) -> Any:
    """How a value of a stored column is missing: the parameter's fill, else the dtype's."""
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "US":
        return ""
    if parameter is not None and dtype.kind in "iu":
        cell = "" if parameter.fill_value is None else str(parameter.fill_value)
        return fill_value_for(parameter.value_encoding, cell)
    return fill_value(dtype.newbyteorder("=").str)


def _runs(numbers: np.ndarray) -> list[int]:
    """Where each run of equal numbers starts, and the length at the end."""
    return list(deployment_runs(numbers).tolist())


def stored_numbers(store: Store, key: StreamKey, obs: slice) -> np.ndarray | None:
    """The stored deployment numbers of the records of ``obs`` (DAP2 byte order), or ``None``
    when one of them is 0 (its number is then found by time)."""
    numbers = [piece[DEPLOYMENT] for piece in store.read_column_pieces(key, [DEPLOYMENT],
                                                                       index_range=index_range(obs))]
    if any(not piece.all() for piece in numbers):
        return None
    return joined([piece.astype(NUMBER_TYPE, copy=False) for piece in numbers])


def _inside(deployments: Sequence[assets.Deployment], first: float, last: float) -> bool:
    """Whether one of ``deployments`` covers every time from ``first`` to ``last``."""
    return any(first >= dep.start and (dep.stop is None or last < dep.stop) for dep in deployments)


class ServedCheck:
    """Whether every record of a selection is served, without the per-record mask where it can.

    The store's records are unique by ``(time, deployment)`` and ordered by it (the
    :class:`~stream_engine.store.base.Store` contract), so every record of a run of one
    deployment number lies between the run's first and last times: when a deployment with that
    number (and asset events) covers both, it covers the whole run, and every record of it is
    served whatever ``REQUIRE_DEPLOYMENT`` says. The partition index (read once) often shows
    that without reading any time; otherwise the two times are read.

    Parameters
    ----------
    store, key
        The request's snapshot view and stream.
    deployments
        The stream's deployments from its asset events.
    """

    def __init__(self, store: Store, key: StreamKey, deployments: Sequence[assets.Deployment]) -> None:
        self.store = store
        self.key = key
        self.deployments = deployments
        self._bins: BinTimes | None = None

    def everywhere(self, obs: slice) -> bool:
        """True when every record of ``obs`` is served by the plain rule above; False when
        that cannot be shown this way (the records must then be looked at one by one)."""
        runs = self._number_runs(obs)
        if not runs:
            return False
        if self._bins is None:
            self._bins = BinTimes.of(self.store.partitions(self.key))
        last_index = obs.start + runs[-1][1] * obs.step
        known = self._bins.span(obs.start, last_index + 1)
        for first, last, number in runs:
            candidates = [dep for dep in self.deployments if dep.number == number]
            if number == 0 or not candidates:
                return False
            if known is not None and _inside(candidates, *known):
                continue
            lo, hi = obs.start + first * obs.step, obs.start + last * obs.step
            times = self.store.read_columns(self.key, [TIME], index_range=IndexRange(lo, hi + 1, max(1, hi - lo)))
            if not _inside(candidates, float(times[TIME][0]), float(times[TIME][-1])):
                return False
        return True

    def _number_runs(self, obs: slice) -> list[tuple[int, int, int]]:
        """``(first, last, number)`` of each run of one deployment number, positions in ``obs``."""
        pieces = self.store.read_column_pieces(self.key, [DEPLOYMENT], index_range=index_range(obs))
        runs: list[tuple[int, int, int]] = []
        at = 0
        for piece in pieces:
            numbers = piece[DEPLOYMENT]
            bounds = _runs(numbers)
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
                number = int(numbers[start])
                if runs and runs[-1][2] == number and runs[-1][1] == at + start - 1:
                    runs[-1] = (runs[-1][0], at + stop - 1, number)  # the run goes on in this piece
                else:
                    runs.append((at + start, at + stop - 1, number))
            at += len(numbers)
        return runs
