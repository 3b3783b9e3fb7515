"""Validators on every GET whose body depends on what the store holds: ``ETag``,
``Last-Modified``, and ``304 Not Modified`` for ``If-None-Match`` / ``If-Modified-Since``.

Where the versions come from:

* catalog folders, ``/dap/`` and ``/dap.json``: :func:`~stream_engine.engine.versions.streams_version`
  of the streams listed (their change tokens), the dictionary and the code;
* stream pages and their twins, THREDDS catalogs: :func:`~stream_engine.engine.versions.stream_version`
  (the stream, its input streams, their assets and quality records, as DAP's own validators);
* HTML pages also carry the templates' fingerprint (an operator's override included), since
  a changed template changes the page but not the data;
* annotations and job status: a digest of the body itself (the store keeps no change token for
  them; the body is small and computed anyway); job files: their size and modification time.

A view asks :func:`not_modified` before it renders (a match costs only the tokens) and passes
its response through :func:`with_validators`.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webob import Response

from stream_engine.engine.versions import ResponseVersion

if TYPE_CHECKING:
    from webob import Request


def _quoted(etag: str) -> str:
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def _templates_fingerprint(override_dir: str) -> str:
    from stream_engine.web.pages import TEMPLATES_DIR

    digest = hashlib.sha256()
    for folder in (Path(override_dir) if override_dir else None, TEMPLATES_DIR):
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                found = path.stat()
                digest.update(f"{path}|{found.st_size}|{found.st_mtime_ns}|".encode())
    return digest.hexdigest()


def for_html(version: ResponseVersion, override_dir: str = "") -> ResponseVersion:
    """``version`` of a page rendered from templates: the templates' files are part of it."""
    if version.etag is None:
        return version
    digest = hashlib.sha256(f"{version.etag}|{_templates_fingerprint(override_dir)}".encode())
    return replace(version, etag=digest.hexdigest()[:32])


def body_version(body: bytes) -> ResponseVersion:
    """A version made of the body itself (no ``Last-Modified``)."""
    return ResponseVersion(hashlib.sha256(body).hexdigest()[:32], None)


def not_modified(request: Request, version: ResponseVersion) -> Response | None:
    """A ``304`` with the validators when the client's copy is current, else ``None``.

    ``If-None-Match`` decides when present (weak comparison, ``*`` matches); otherwise
    ``If-Modified-Since`` against ``Last-Modified`` (whole seconds). Only ``GET``/``HEAD``.
    """
    if request.method not in ("GET", "HEAD") or version.etag is None:
        return None
    header = request.headers.get("If-None-Match")
    if header is not None:
        tags = {t.strip().removeprefix("W/") for t in header.split(",")}
        current = "*" in tags or _quoted(version.etag) in tags
    elif request.if_modified_since is not None and version.last_modified is not None:
        current = int(version.last_modified.timestamp()) <= int(request.if_modified_since.timestamp())
    else:
        current = False
    if not current:
        return None
    return with_validators(Response(status=304), version)


def with_validators(response: Response, version: ResponseVersion) -> Response:
    """``response`` with ``ETag`` and ``Last-Modified`` of ``version`` (none if it has none)."""
    if version.etag is not None:
        response.headers["ETag"] = _quoted(version.etag)
    if version.last_modified is not None:
        response.last_modified = version.last_modified
    return response


def conditional(request: Request, response: Response, version: ResponseVersion) -> Response:
    """``response`` with validators, or the ``304`` that replaces it when the client is current."""
    return not_modified(request, version) or with_validators(response, version)


def conditional_json(request: Request, data: Any) -> Response:
    """``data`` as JSON with an ``ETag`` of the body (for small answers the store keeps no change
    token for: annotations, job status), or the 304 that replaces it."""
    from stream_engine.web.views.base import json_response

    response = json_response(data)
    return conditional(request, response, body_version(response.body))
