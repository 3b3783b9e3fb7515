"""Reading data-quality record files: a JSON list of records (or an object holding one)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_engine.errors import IngestError

if TYPE_CHECKING:
    from stream_engine.store.base import Store

#: Object keys under which a file may hold its list of records instead of a bare list.
_LIST_KEYS = ("annotations", "records", "qartod", "qcParameters")


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON file: a list of objects, or ``{"annotations": [...]}`` (as the
    original wrote beside its exports) and the like.

    Raises
    ------
    IngestError
        The file is not JSON or holds no list of objects.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(f"{path}: not a readable JSON file: {exc}") from exc
    if isinstance(data, dict):
        data = next((data[k] for k in _LIST_KEYS if isinstance(data.get(k), list)), data)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise IngestError(f"{path}: expected a JSON list of record objects")
    return data



def store_checked(store: Store, kind: str, records: Iterable[Mapping[str, Any]],
                  parse: Callable[[Mapping[str, Any]], object], record_class: str) -> list[int]:
    """Check every record with ``parse``, then store them all in one write; returns their ids.

    Raises
    ------
    ValueError
        ``"record <n>: ..."`` for the first bad record; nothing is stored then.
    """
    cleaned = []
    for n, record in enumerate(records):
        try:
            parse(record)
        except ValueError as exc:
            raise ValueError(f"record {n}: {exc}") from None
        cleaned.append({"@class": record_class, **dict(record)})
    return store.add_quality_records(kind, cleaned)
