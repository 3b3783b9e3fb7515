"""One DAP2 request against one dataset, independent of the web framework.

:func:`handle_dap` checks everything that can fail (response kind, constraint, bounds, size cap,
the first block of data) before it returns, so errors become a proper DAP ``Error {}`` with a
real HTTP status; only then does the body stream. The web layer turns the returned
:class:`DapResponse` into its own response object.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from itertools import chain, islice

from dap_handlers.constraints import apply_constraint, apply_selection, parse_query
from dap_handlers.errors import ResponseTooLarge, UnknownResponse
from dap_handlers.model import DapDataset
from dap_handlers.responses.ascii import ascii_chunks, ascii_length_estimate
from dap_handlers.responses.blocks import DEFAULT_BLOCK_BYTES, StreamedBody, element_cost
from dap_handlers.responses.das import das_text
from dap_handlers.responses.dds import dds_text
from dap_handlers.responses.dods import dods_chunks, dods_length, header_bytes, variable_length
from dap_handlers.responses.error import error_text
from dap_handlers.responses.html import render_page
from dap_handlers.responses.string_lengths import string_lengths
from dap_handlers.responses.version import DAP_PROTOCOL, SERVER, help_text, version_json
from stream_engine.errors import StreamEngineError

#: A child of the ``stream_engine`` logger, so DAP errors reach the server's error log.
logger = logging.getLogger("stream_engine.dap")

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
#: Response kinds by URL extension: (Content-Type, Content-Description).
RESPONSE_KINDS: dict[str, tuple[str, str | None]] = {
    "dds": (TEXT, "dods_dds"),
    "das": (TEXT, "dods_das"),
    "dods": ("application/octet-stream", "dods_data"),
    "ascii": (TEXT, "dods_ascii"),
    "asc": (TEXT, "dods_ascii"),
    "html": (HTML, "dods_form"),
    "info": (HTML, "dods_info"),
    "ver": ("application/json", "dods_version"),
    "version": ("application/json", "dods_version"),
    "help": (TEXT, "dods_help"),
}
#: Chunks taken from a streamed body before answering: header, count words and first block.
PREFETCH_CHUNKS = 3


@dataclass(frozen=True, slots=True)
class DapResponse:
    """What to send: an HTTP status, headers in order, and the body as an iterable of bytes."""

    status: int
    headers: list[tuple[str, str]]
    body_iter: Iterable[bytes]

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


def common_headers() -> list[tuple[str, str]]:
    """The server headers every DAP response carries."""
    return [
        ("XDODS-Server", f"dods/{DAP_PROTOCOL}"),
        ("XOPeNDAP-Server", SERVER),
        ("XDAP", DAP_PROTOCOL),
        ("Access-Control-Allow-Origin", "*"),
    ]


def describe_error(error: BaseException, request_id: str | None = None) -> tuple[int, int, str]:
    """The HTTP status, libdap error code and client message for an exception.

    Client errors (status below 500) keep their message. Server-side ones (store missing or
    damaged, bugs) are logged at ERROR with the request id and the full details; the client
    gets a message without internals (no paths, no traceback) and the request id.
    """
    where = f" [request {request_id}]" if request_id else ""
    if isinstance(error, StreamEngineError):
        status, message = error.status, error.client_message()
        code = getattr(error, "dap_code", 1002 if status >= 500 else 1001)
        if status >= 500:
            logger.error("DAP request failed%s: %s: %s", where, type(error).__name__, error,
                         exc_info=error)
    else:
        logger.error("unexpected error in a DAP request%s", where, exc_info=error)
        status, code = 500, 1002
        message = "internal server error; it has been logged, please report it if it persists"
    if request_id and status >= 500:
        message = f"{message} (request {request_id})"
    return status, code, message


def error_response(error: BaseException, request_id: str | None = None) -> DapResponse:
    """A DAP ``Error {}`` response for an exception (see :func:`describe_error`)."""
    status, code, message = describe_error(error, request_id)
    body = error_text(code, message).encode("utf-8")
    headers = [
        ("Content-Type", TEXT),
        ("Content-Description", "dods_error"),
        ("Content-Length", str(len(body))),
        *common_headers(),
    ]
    return DapResponse(status, headers, [body])


def _quoted_etag(etag: str) -> str:
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def not_modified(
    headers: Mapping[str, str], last_modified: datetime | None, etag: str | None
) -> bool:
    """Whether a conditional request (``If-None-Match``, ``If-Modified-Since``) is satisfied."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if_none_match = lowered.get("if-none-match")
    if if_none_match is not None:
        if etag is None:
            return False
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or _quoted_etag(etag).removeprefix("W/") in tags
    since = lowered.get("if-modified-since")
    if since is None or last_modified is None:
        return False
    try:
        since_time = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if since_time.tzinfo is None:
        since_time = since_time.replace(tzinfo=UTC)
    return int(last_modified.timestamp()) <= int(since_time.timestamp())


def validator_headers(last_modified: datetime | None, etag: str | None) -> list[tuple[str, str]]:
    """``Last-Modified`` and ``ETag`` headers for the validators that are known."""
    headers = []
    if last_modified is not None:
        if last_modified.tzinfo is None:
            last_modified = last_modified.replace(tzinfo=UTC)
        headers.append(
            ("Last-Modified", format_datetime(last_modified.astimezone(UTC), usegmt=True))
        )
    if etag is not None:
        headers.append(("ETag", _quoted_etag(etag)))
    return headers


def _size_text(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 10**6 else f"{size:,} bytes"


def _too_large(dataset: DapDataset, size: int, limit: int) -> ResponseTooLarge:
    per_row = sum(
        element_cost(v) * (v.size // v.shape[0]) for v in dataset.variables if v.ndim and v.shape[0]
    )
    first = next((v for v in dataset.variables if v.ndim and v.shape[0]), None)
    hint = "ask for fewer variables or smaller hyperslabs"
    if first is not None and per_row:
        overhead = len(header_bytes(dataset)) + 8 * len(dataset.variables)
        rows = max(1, (limit - overhead) // per_row)
        hint += f", e.g. about {rows:,} rows at a time: {first.name}[0:{rows - 1}]"
    return ResponseTooLarge(
        f"request too big: {_size_text(size)} for {', '.join(v.name for v in dataset.variables)} "
        f"exceeds the limit of {_size_text(limit)}; {hint}"
    )


def _guarded(chunks: Iterator[bytes], what: str) -> Iterator[bytes]:
    """Log an error raised while streaming (the body is then cut short), and re-raise it."""
    try:
        yield from chunks
    except Exception as exc:
        logger.error("DAP %s response failed while streaming; the body was cut short: %s",
                     what, exc, exc_info=exc)
        raise


def _streamed(chunks: Iterator[bytes], what: str) -> Iterable[bytes]:
    first = list(islice(chunks, PREFETCH_CHUNKS))
    return StreamedBody(chain(first, _guarded(chunks, what)), chunks)


def _body(
    kind: str, dataset: DapDataset, query_string: str, max_response_bytes: int, block_bytes: int,
    where: str = "", version: str | None = None,
) -> tuple[Iterable[bytes], int | None]:
    if kind == "das":
        selected = apply_selection(dataset, query_string)
        return _text(das_text(selected, string_lengths(selected, version, block_bytes)))
    if kind in ("ver", "version"):
        return _text(version_json())
    if kind == "help":
        return _text(help_text())
    if kind in ("html", "info"):
        return _text(render_page(dataset, info_only=kind == "info"))
    constrained = apply_constraint(dataset, query_string)
    if kind == "dds":
        return _text(dds_text(constrained))
    if kind == "dods":
        length = dods_length(constrained)
        floor = length if length is not None else _dods_lower_bound(constrained)
        if floor > max_response_bytes:
            raise _too_large(constrained, floor, max_response_bytes)
        return _streamed(dods_chunks(constrained, block_bytes), ".dods" + where), length
    estimate = ascii_length_estimate(constrained)
    if estimate > max_response_bytes:
        raise _too_large(constrained, estimate, max_response_bytes)
    return _streamed(ascii_chunks(constrained, block_bytes), ".ascii" + where), None


def _dods_lower_bound(dataset: DapDataset) -> int:
    total = len(header_bytes(dataset))
    for variable in dataset.variables:
        length = variable_length(variable)
        total += length if length is not None else 4 + 4 * variable.size
    return total


def _text(text: str) -> tuple[list[bytes], int]:
    body = text.encode("utf-8")
    return [body], len(body)


def handle_dap(
    dataset: DapDataset,
    suffix: str,
    query_string: str,
    *,
    max_response_bytes: int,
    last_modified: datetime | None = None,
    etag: str | None = None,
    request_headers: Mapping[str, str] | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    request_id: str | None = None,
) -> DapResponse:
    """Answer one DAP2 request.

    Parameters
    ----------
    dataset : DapDataset
        The whole dataset (the constraint is applied here).
    suffix : str
        Response kind from the URL extension, with or without the dot: ``dds``, ``das``,
        ``dods``, ``ascii``/``asc``, ``html``, ``info``, ``ver``/``version``, ``help``.
    query_string : str
        The raw URL query (the constraint expression, still URL-encoded).
    max_response_bytes : int
        Cap on ``.dods`` size (and the estimated ``.ascii`` size); larger requests get 413.
    last_modified : datetime, optional
        When the dataset last changed (naive means UTC); sent as ``Last-Modified``.
    etag : str, optional
        Version tag of the dataset (quoted here if it is not already); sent as ``ETag``.
    request_headers : mapping, optional
        The request headers, for conditional GET (``If-None-Match``, ``If-Modified-Since``).
    block_bytes : int
        Size of the blocks the lazy variables are read and sent in.
    request_id : str, optional
        The request's id, written with server-side errors to the log and to the client.

    Returns
    -------
    DapResponse
        Status 200 with a streaming body, 304 without a body, or a DAP error (400 malformed or
        out-of-range constraint, 404 unknown variable or response kind, 413 too large, or the
        status of a Stream Engine error raised while reading the first block). It never raises
        for request problems.
    """
    kind = suffix.lower().lstrip(".")
    try:
        if kind not in RESPONSE_KINDS:
            raise UnknownResponse(
                f"no {suffix!r} response; DAP2 responses are "
                + ", ".join(f".{k}" for k in RESPONSE_KINDS)
            )
        content_type, description = RESPONSE_KINDS[kind]
        if kind == "das":
            parse_query(query_string)
        elif kind not in ("ver", "version", "help", "html", "info"):
            apply_constraint(dataset, query_string)
        validators = validator_headers(last_modified, etag)
        if request_headers and not_modified(request_headers, last_modified, etag):
            return DapResponse(304, [*validators, *common_headers()], [])
        where = f" [request {request_id}]" if request_id else ""
        body, length = _body(kind, dataset, query_string, max_response_bytes, block_bytes, where,
                             etag)
    except Exception as error:
        return error_response(error, request_id)
    headers = [("Content-Type", content_type)]
    if description:
        headers.append(("Content-Description", description))
    if length is not None:
        headers.append(("Content-Length", str(length)))
    headers.extend(validators)
    headers.extend(common_headers())
    return DapResponse(200, headers, body)
