"""What a response depends on, as validators: ``ETag``, ``Last-Modified`` and cache keys.

A response computed from a :class:`~stream_engine.engine.plan.Plan` depends on

* the records of its stream and of every stream it takes inputs from (the plan's externals,
  recursively): their :meth:`~stream_engine.store.base.Store.stream_token`;
* the asset events (deployments, calibrations, locations) of those streams' reference
  designators: their :meth:`~stream_engine.store.base.Store.asset_token`;
* the plan itself (which sources were chosen, what is unavailable and why, the coverage);
* the dictionary it was resolved with, the algorithms' code and version, and the settings
  that change computed values.

:func:`response_version` digests exactly these, read through the response's snapshot, so the
tag changes whenever one of them changes and only then: an ingest into one stream leaves the
validators of every stream that takes nothing from it alone.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from stream_engine import __version__
from stream_engine.quality.digest import quality_digest

if TYPE_CHECKING:
    from stream_engine.engine.plan import Plan
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import ChangeToken, Store, StreamKey

#: Settings that change computed values (part of every tag).
VALUE_SETTINGS = ("MAX_INTERPOLATION_GAP", "MAX_DEPTH_VARIANCE", "UNBOUND_QUERY_START")
#: Packages whose code computes values: a change to their files changes every tag.
_ALGORITHM_PACKAGES = ("functions", "engine", "preload")
_ENGINE_ROOT = Path(__file__).resolve().parent.parent

_lock = threading.Lock()
_code: tuple[str, float] | None = None
_preloads: dict[int, tuple[Preload, str, float]] = {}
#: Plans whose JSON is kept (:func:`_plan_json`), most recently used last.
_PLAN_TEXTS = 256
_plan_texts: OrderedDict[int, tuple[Plan, bytes]] = OrderedDict()


@dataclass(frozen=True, slots=True)
class ResponseVersion:
    """The validators of one response.

    ``etag`` is ``None`` when the store cannot tell when data changed (then nothing is cached
    and no validators are sent); ``last_modified`` is the newest change among everything the
    response depends on (UTC).
    """

    etag: str | None
    last_modified: datetime | None


def _files_fingerprint(files: Iterable[Path]) -> tuple[str, float]:
    digest = hashlib.sha256()
    newest = 0.0
    for path in sorted(files):
        try:
            found = path.stat()
        except OSError:
            continue
        digest.update(f"{path.name}|{found.st_size}|{found.st_mtime_ns}|".encode())
        newest = max(newest, found.st_mtime)
    return digest.hexdigest(), newest


def code_fingerprint() -> tuple[str, float]:
    """A digest of the algorithms' source files and the newest of their times (once per process)."""
    global _code
    with _lock:
        if _code is None:
            files = [f for package in _ALGORITHM_PACKAGES for f in (_ENGINE_ROOT / package).glob("*.py")]
            digest, newest = _files_fingerprint(files)
            _code = (f"{__version__}|{digest}", newest)
        return _code


def preload_fingerprint(preload: Preload) -> tuple[str, float]:
    """A digest of the dictionary (its files as loaded, its size) and their newest time."""
    with _lock:
        found = _preloads.get(id(preload))
        if found is None or found[0] is not preload:
            folder = Path(preload.source) if preload.source else None
            files = list(folder.glob("*.csv")) if folder is not None and folder.is_dir() else []
            digest, newest = _files_fingerprint(files)
            text = (f"{preload.source}|{len(preload.parameters)}|{len(preload.streams)}|"
                    f"{len(preload.functions)}|{digest}")
            found = _preloads[id(preload)] = (preload, text, newest)
        return found[1], found[2]


def _plan_json(plan: Plan) -> bytes:
    """The plan as sorted JSON; kept for the plans last seen (cached plans come back as the same
    object request after request, see :mod:`stream_engine.engine.plan_cache`)."""
    with _lock:
        found = _plan_texts.get(id(plan))
        if found is not None and found[0] is plan:
            _plan_texts.move_to_end(id(plan))
            return found[1]
    text = orjson.dumps(plan.to_dict(), option=orjson.OPT_SORT_KEYS, default=str)
    with _lock:
        _plan_texts[id(plan)] = (plan, text)  # holding the plan keeps its id from being reused
        while len(_plan_texts) > _PLAN_TEXTS:
            _plan_texts.popitem(last=False)
    return text


def plan_streams(plan: Plan) -> list[StreamKey]:
    """The plan's stream and every stream it takes inputs from (recursively), without repeats."""
    keys = [plan.key]
    pending = [plan]
    while pending:
        for external in pending.pop().externals:
            if external.key not in keys:
                keys.append(external.key)
            if external.plan is not None:
                pending.append(external.plan)
    return keys


def response_version(
    store: Store, preload: Preload, plans: Iterable[Plan], settings: Mapping[str, Any]
) -> ResponseVersion:
    """The validators of a response computed from ``plans`` (read ``store`` as a snapshot).

    Parameters
    ----------
    store
        The response's snapshot view, so the tokens describe the data the response reads.
    preload
        The dictionary the plans were resolved with.
    plans
        Every plan the response computes from (one per stream asked for).
    settings
        Engine settings (the :data:`VALUE_SETTINGS` are part of the tag).

    Returns
    -------
    ResponseVersion
    """
    plans = list(plans)
    keys: list[StreamKey] = []
    for plan in plans:
        keys.extend(k for k in plan_streams(plan) if k not in keys)
    tokens: list[ChangeToken | None] = [store.stream_token(k) for k in keys]
    refdeses = sorted({k.refdes for k in keys})
    tokens.extend(store.asset_token(r) for r in refdeses)
    code, code_time = code_fingerprint()
    dictionary, dictionary_time = preload_fingerprint(preload)
    if any(t is None for t in tokens):
        return ResponseVersion(None, None)
    digest = hashlib.sha256()
    digest.update(f"{code}|{dictionary}|".encode())
    digest.update(orjson.dumps([settings.get(k) for k in VALUE_SETTINGS]))
    for plan in plans:
        digest.update(_plan_json(plan))
    for name, token in zip([*(k.path for k in keys), *refdeses], tokens, strict=True):
        assert token is not None
        digest.update(f"|{name}={token.generation}".encode())
    digest.update(quality_digest(store, keys).encode())
    newest = max([code_time, dictionary_time, *(t.modified for t in tokens if t is not None)])
    return ResponseVersion(digest.hexdigest()[:32], datetime.fromtimestamp(newest, UTC))


def streams_version(
    store: Store, preload: Preload, keys: Iterable[StreamKey], *, refdeses: Iterable[str] = ()
) -> ResponseVersion:
    """The validators of a response that lists ``keys`` (which streams exist, their coverage and
    counts), and shows the asset events of ``refdeses``, but computes nothing from their values:
    catalog folders, dataset lists.

    Digests each stream's and refdes's change token, the dictionary and the code, read through
    ``store`` (the response's snapshot); a stream written to, added or gone changes it, a write
    to a stream not listed does not.
    """
    keys = sorted(set(keys), key=lambda k: k.path)
    refdeses = sorted(set(refdeses))
    tokens: list[ChangeToken | None] = [store.stream_token(k) for k in keys]
    tokens.extend(store.asset_token(r) for r in refdeses)
    if any(t is None for t in tokens):
        return ResponseVersion(None, None)
    code, code_time = code_fingerprint()
    dictionary, dictionary_time = preload_fingerprint(preload)
    digest = hashlib.sha256(f"listing|{code}|{dictionary}".encode())
    for name, token in zip([*(k.path for k in keys), *refdeses], tokens, strict=True):
        assert token is not None
        digest.update(f"|{name}={token.generation}".encode())
    newest = max([code_time, dictionary_time, *(t.modified for t in tokens if t is not None)])
    return ResponseVersion(digest.hexdigest()[:32], datetime.fromtimestamp(newest, UTC))


def stream_version(store: Store, preload: Preload, key: StreamKey, settings: Mapping[str, Any]) -> ResponseVersion:
    """The validators of a response describing one whole stream (its page, its catalog entry):
    :func:`response_version` of the stream's plan over its whole coverage, so they move with the
    stream, its input streams, their assets, quality records, dictionary and code.
    ``ResponseVersion(None, None)`` when the stream holds nothing (the response is an error)."""
    from stream_engine.engine.resolve import resolve
    from stream_engine.store.base import TimeRange

    coverage = store.coverage(key)
    if coverage is None or coverage.count == 0 or key.stream not in preload.streams:
        return ResponseVersion(None, None)
    span = TimeRange(float(coverage.first), float(np.nextafter(coverage.last, np.inf)))
    plan = resolve(store, preload, key, None, span, settings=settings)
    return response_version(store, preload, [plan], settings)


def combined_version(versions: Iterable[ResponseVersion]) -> ResponseVersion:
    """One response's validators from the versions of its parts (``None`` if any part has none)."""
    versions = list(versions)
    if any(v.etag is None or v.last_modified is None for v in versions):
        return ResponseVersion(None, None)
    digest = hashlib.sha256("|".join(str(v.etag) for v in versions).encode())
    newest = max((v.last_modified for v in versions if v.last_modified is not None),
                 default=datetime.fromtimestamp(0, UTC))
    return ResponseVersion(digest.hexdigest()[:32], newest)


def reset_fingerprints() -> None:
    """Forget the code and dictionary fingerprints (tests that change files use it)."""
    global _code
    with _lock:
        _code = None
        _preloads.clear()


__all__ = ["ResponseVersion", "code_fingerprint", "combined_version", "plan_streams",
           "preload_fingerprint", "reset_fingerprints", "response_version", "stream_version",
           "streams_version"]
