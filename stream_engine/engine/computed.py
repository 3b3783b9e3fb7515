"""The result of a computation: :class:`ComputedSlice`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream_engine.store.base import DEPLOYMENT, TIME, StreamKey


@dataclass(slots=True)
class ComputedSlice(Mapping[str, np.ndarray]):
    """The result of :func:`compute`: ``name -> array`` for the requested parameters, ``time``
    and ``deployment``, with ``provenance`` (JSON-serialisable) and ``source_index``."""

    key: StreamKey
    data: dict[str, np.ndarray]
    provenance: dict[str, Any]
    source_index: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def time(self) -> np.ndarray:
        return self.data[TIME]

    @property
    def deployment(self) -> np.ndarray:
        return self.data[DEPLOYMENT]
