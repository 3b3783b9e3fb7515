"""One DAP4 request against one dataset, independent of the web framework.

:func:`handle_dap4` answers ``.dmr`` (also ``.dmr.xml``), ``.dap`` and ``.dsr`` (also
``.dsr.xml``). As for DAP2 (:func:`dap_handlers.app.handle_dap`), everything that can fail (the
response kind, the constraint, bounds, the size cap, the first block of values; with checksums
all of them) is checked before it returns, so errors become a DAP4 ``<Error>`` document with a
real HTTP status; only then does the body stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from itertools import chain, islice

from dap_handlers.app import (
    DapResponse,
    describe_error,
    not_modified,
    validator_headers,
)
from dap_handlers.dap4.ce import apply_dap4_query, parse_dap4_query
from dap_handlers.dap4.data import (
    CHECKSUM_BYTES,
    checksummed_response,
    chunked,
    data_size,
    dmr_chunk,
    values_stream,
)
from dap_handlers.dap4.dmr import dmr_text
from dap_handlers.dap4.dsr import DATA_MEDIA_TYPE, DMR_MEDIA_TYPE, DSR_MEDIA_TYPE, dsr_text
from dap_handlers.dap4.errors import ERROR_MEDIA_TYPE, error_document
from dap_handlers.errors import ResponseTooLarge, UnknownResponse
from dap_handlers.model import DapDataset
from dap_handlers.responses.blocks import DEFAULT_BLOCK_BYTES, StreamedBody, element_cost
from dap_handlers.responses.version import SERVER

DAP4_PROTOCOL = "4.0"
XML = "text/xml; charset=utf-8"
#: Response kinds by URL extension, and their Content-Type.
DAP4_KINDS: dict[str, str] = {
    "dmr": DMR_MEDIA_TYPE + "; charset=utf-8",
    "dmr.xml": XML,
    "dap": DATA_MEDIA_TYPE,
    "dsr": DSR_MEDIA_TYPE + "; charset=utf-8",
    "dsr.xml": XML,
}


def dap4_headers() -> list[tuple[str, str]]:
    """The server headers every DAP4 response carries."""
    return [
        ("X-DAP", DAP4_PROTOCOL),
        ("X-DAP-Server", SERVER),
        ("XOPeNDAP-Server", SERVER),
        ("Access-Control-Allow-Origin", "*"),
    ]


def dap4_error_response(error: BaseException, request_id: str | None = None) -> DapResponse:
    """A DAP4 ``<Error>`` response for an exception, with its HTTP status."""
    status, _, message = describe_error(error, request_id)
    body = error_document(status, message).encode("utf-8")
    headers = [("Content-Type", ERROR_MEDIA_TYPE), ("Content-Length", str(len(body))),
               *dap4_headers()]
    return DapResponse(status, headers, [body])


def _size_text(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 10**6 else f"{size:,} bytes"


def _check_size(dataset: DapDataset, checksums: bool, limit: int) -> None:
    exact = data_size(dataset, checksums)
    floor = exact if exact is not None else sum(
        v.size * (element_cost(v) if not v.is_string else 8) + CHECKSUM_BYTES * checksums
        for v in dataset.variables)
    if floor > limit:
        names = ", ".join(v.name for v in dataset.variables)
        raise ResponseTooLarge(
            f"request too big: {_size_text(floor)} for {names} exceeds the limit of "
            f"{_size_text(limit)}; ask for fewer variables or smaller slices, e.g. "
            "dap4.ce=/time[0:99999]"
        )


def _data_body(dataset: DapDataset, checksums: bool, limit: int, block_bytes: int,
               what: str) -> tuple[Iterable[bytes], int | None]:
    _check_size(dataset, checksums, limit)
    if checksums:
        return checksummed_response(dataset, block_bytes)
    dmr = dmr_text(dataset)
    values = values_stream(dataset, block_bytes)
    first = list(islice(values, 1))  # a failure to read the first block is still an HTTP error
    body = StreamedBody(chain([dmr_chunk(dmr, checksums=False)], chunked(chain(first, values), what)),
                        values)
    # no Content-Length: a failure while streaming ends the body with an error chunk, which a
    # declared length would cut or leave short; the last-chunk flag tells a client it is whole
    return body, None


def handle_dap4(
    dataset: DapDataset,
    suffix: str,
    query_string: str,
    *,
    max_response_bytes: int,
    dataset_url: str,
    last_modified: datetime | None = None,
    etag: str | None = None,
    request_headers: Mapping[str, str] | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    request_id: str | None = None,
) -> DapResponse:
    """Answer one DAP4 request.

    Parameters
    ----------
    dataset : DapDataset
        The whole dataset (the constraint is applied here).
    suffix : str
        Response kind from the URL extension: ``dmr``, ``dmr.xml``, ``dap``, ``dsr``,
        ``dsr.xml``.
    query_string : str
        The raw URL query (``dap4.ce=...&dap4.checksum=...``, still URL-encoded).
    max_response_bytes : int
        Cap on the values of a ``.dap`` response; larger requests get 413.
    dataset_url : str
        The dataset's URL without a suffix, for the DSR's links.
    last_modified, etag, request_headers, block_bytes, request_id
        As for :func:`dap_handlers.app.handle_dap`.

    Returns
    -------
    DapResponse
        Status 200 with a streaming body, 304 without a body, or a DAP4 ``<Error>`` (400
        malformed or out-of-range constraint, 404 unknown variable or response kind, 413 too
        large, or the status of a Stream Engine error raised while reading). It never raises
        for request problems.
    """
    kind = suffix.lower().lstrip(".")
    try:
        if kind not in DAP4_KINDS:
            raise UnknownResponse(f"no {suffix!r} response; DAP4 responses are "
                                  + ", ".join(f".{k}" for k in DAP4_KINDS))
        constrained = dataset
        query = None
        if not kind.startswith("dsr"):
            query = parse_dap4_query(query_string)
            constrained = apply_dap4_query(dataset, query)
        validators = validator_headers(last_modified, etag)
        if request_headers and not_modified(request_headers, last_modified, etag):
            return DapResponse(304, [*validators, *dap4_headers()], [])
        body: Iterable[bytes]
        if query is None:
            title = str(dataset.attributes.get("title", dataset.name))
            text = dsr_text(dataset_url, title).encode("utf-8")
            body, length = [text], len(text)
        elif kind == "dap":
            where = f" [request {request_id}]" if request_id else ""
            body, length = _data_body(constrained, query.checksums, max_response_bytes,
                                      block_bytes, ".dap" + where)
        else:
            text = dmr_text(constrained).encode("utf-8")
            body, length = [text], len(text)
    except Exception as error:
        return dap4_error_response(error, request_id)
    headers = [("Content-Type", DAP4_KINDS[kind])]
    if kind == "dap":
        headers.append(("Content-Description", "dap4-data"))
    if length is not None:
        headers.append(("Content-Length", str(length)))
    headers.extend(validators)
    headers.extend(dap4_headers())
    return DapResponse(200, headers, body)
