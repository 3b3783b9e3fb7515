"""A check shared by test modules whose demo CTD store mixes plain, on-deck, deployment 0 and
unknown-deployment records: that their tests really run on both kinds of store pieces."""

from __future__ import annotations

import numpy as np

from stream_engine import demo
from stream_engine.store.base import IndexRange, Store

DEP1 = demo.DEPLOYMENTS[0]


def assert_mixes_repeated_and_read_deployments(store: Store) -> None:
    """``store``'s demo CTD pieces hold deployment numbers the store gives from its chunk rows
    (one number repeated, stride 0: the BLOB is not read), on-deck records of deployment 1
    among them, and numbers read as stored where deployment 0 or unknown numbers (9) mix in."""
    with store.snapshot() as view:
        total = sum(p.count for p in view.partitions(demo.CTD))
        pieces = view.read_column_pieces(demo.CTD, ["deployment", "time"], index_range=IndexRange(0, total))
        repeated = [p for p in pieces if len(p["deployment"]) > 1 and p["deployment"].strides == (0,)]
        assert {int(p["deployment"][0]) for p in repeated} == {1, 2}
        assert any(p["deployment"][0] == 1 and p["time"][0] < DEP1.start for p in repeated)  # on deck
        read = np.concatenate([p["deployment"] for p in pieces if p["deployment"].strides != (0,)])
        assert {0, 9} <= set(read.tolist())
