"""What a response's version owes to data-quality records: a digest of the annotations, QARTOD
tests and legacy QC records that apply to the streams it reads (and of no others), so adding one
changes the ETag and the cached windows of exactly the streams it touches."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from stream_engine.quality.annotations import annotations_for
from stream_engine.quality.legacy_qc import qc_for
from stream_engine.quality.qartod import qartod_for

if TYPE_CHECKING:
    from stream_engine.store.base import Store, StreamKey


def quality_digest(store: Store, keys: Sequence[StreamKey]) -> str:
    """A digest of the quality records applying to ``keys`` (read through ``store``)."""
    digest = hashlib.sha256()
    for key in keys:
        found = {"annotations": [a.record for a in annotations_for(store, key)],
                 "qartod": [r.record for tests in qartod_for(store, key).values() for r in tests],
                 "qc": qc_for(store, key)}
        digest.update(key.path.encode() + orjson.dumps(found, option=orjson.OPT_SORT_KEYS, default=str))
    return digest.hexdigest()
