"""The JSON files that accompany an export's data files: provenance and annotations.

An export asked for ``include_provenance`` writes ``<refdes>-<method>-<stream>_provenance.json``
(the query, the computed provenance of every product, the deployment events); one asked for
``include_annotations`` writes ``<refdes>-<method>-<stream>_annotations.json`` holding
``{"annotations": [...]}``, the stored annotation records (as the annotation service returns them)
of every stream of the query that meet its time range, as the original did. A sub-job of an
asynchronous export (``/netcdf-fs`` ...) shares its folder with the other sub-jobs, so its files
carry the sub-job's time span (``..._annotations_<start>-<stop>.json``, as the original named them);
:func:`merge_companions` turns those into the one file per stream a whole export has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from stream_engine.store.base import StreamKey

PROVENANCE = "provenance"
ANNOTATIONS = "annotations"
_COMPANION = re.compile(r"^(?P<stem>.+)_(?P<kind>provenance|annotations)(?:_(?P<span>[^/]+))?\.json$")


def companion_name(key: StreamKey, kind: str, span: str = "") -> str:
    """``<refdes>-<method>-<stream>_<kind>.json``, or ``..._<kind>_<span>.json`` for a sub-job."""
    return f"{key.refdes}-{key.method}-{key.stream}_{kind}{'_' + span if span else ''}.json"


def write_json(path: Path, body: Any) -> Path:
    """Write ``body`` as indented JSON (numpy values as lists, anything else as text); ``path``."""
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY,
                                       default=str))
    temporary.replace(path)
    return path


def annotations_document(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """``{"annotations": [...]}``, each record once (by ``id``), in ``id`` order."""
    seen: dict[Any, dict[str, Any]] = {}
    for record in records:
        seen.setdefault(record.get("id"), record)
    return {ANNOTATIONS: [seen[i] for i in sorted(seen, key=lambda i: (i is None, i if i is not None else 0))]}


def is_companion(path: Path) -> bool:
    """Whether ``path`` names a provenance or annotation file."""
    return _COMPANION.match(path.name) is not None


def sub_job_companions(folder: Path) -> list[Path]:
    """The provenance and annotation files of sub-jobs in ``folder`` (those named with a span)."""
    found = [(_COMPANION.match(p.name), p) for p in sorted(folder.iterdir()) if p.is_file()]
    return [p for m, p in found if m is not None and m["span"]]


def merge_companions(paths: Iterable[Path], folder: Path, request_uuid: str | None = None) -> list[Path]:
    """Merge the companion files ``paths`` (of slices of one export) into ``folder``.

    Annotation files become one ``<stem>_annotations.json`` per stream (every record once);
    provenance files one ``<stem>_provenance.json`` holding each slice's document under
    ``slices`` (in the order given). A merged file already in ``folder`` (an earlier
    aggregation) is merged with them. The merged sources are removed.

    Returns
    -------
    list of Path
        The merged files written.
    """
    groups: dict[tuple[str, str], list[Path]] = {}
    for path in paths:
        found = _COMPANION.match(path.name)
        if found is not None:
            groups.setdefault((found["stem"], found["kind"]), []).append(path)
    written = []
    for (stem, kind), sources in sorted(groups.items()):
        target = folder / f"{stem}_{kind}.json"
        sources = [p for p in sources if p.resolve() != target.resolve()]
        if not sources:
            continue
        earlier = orjson.loads(target.read_bytes()) if target.is_file() else None
        documents = [orjson.loads(p.read_bytes()) for p in sources]
        if kind == ANNOTATIONS:
            previous = [] if earlier is None else earlier.get(ANNOTATIONS, [])
            body: Any = annotations_document([*previous, *(r for d in documents for r in d.get(ANNOTATIONS, []))])
        else:
            slices = [] if earlier is None else earlier.get("slices", [earlier])
            uuid = request_uuid if request_uuid is not None else documents[0].get("requestUUID")
            body = {"requestUUID": uuid, "slices": [*slices, *documents]}
        write_json(target, body)
        for source in sources:
            source.unlink(missing_ok=True)
        written.append(target)
    return written
