"""``POST /particles``: the records of a query as JSON particles, streamed.

The body is the original Stream Engine request (:mod:`stream_engine.web.views.query_body`).
The answer is the particle array (:func:`~stream_engine.outputs.particles.particle_array`) or,
when ``include_provenance`` or ``include_annotations`` is set, the object form
``{"data", "provenance", "computed_provenance", "instrument_provenance",
"query_parameter_provenance", "provenance_messages", "annotations", "requestUUID"}``.

Everything that can fail the request (the body, the streams, no data in range, the store) fails
before the status line is sent: :func:`~stream_engine.engine.query_run.open_query` resolves the
plans and computes the first chunk first. The rest is computed and encoded chunk by chunk as
the client reads, inside the one store snapshot the query holds until the body is sent or the
client goes away.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from webob import Response

from stream_engine.engine.query_provenance import instrument_provenance
from stream_engine.engine.query_run import open_query
from stream_engine.engine.versions import response_version
from stream_engine.outputs.particles import particle_array, particle_document
from stream_engine.quality.exclusion import exclusion_messages, run_annotations
from stream_engine.web.validators import with_validators
from stream_engine.web.views.base import ClosingBody, View
from stream_engine.web.views.query_body import REQUEST_ID_KEY, read_query

if TYPE_CHECKING:
    from webob import Request

    from stream_engine.engine.query_run import QueryRun

logger = logging.getLogger("stream_engine.web")

#: Said in ``provenance_messages`` while the store keeps no file-level (L0) provenance.
NO_FILE_PROVENANCE = "file-level (L0) provenance is not recorded by this store: 'provenance' is empty"


class _ParticlesBody(ClosingBody):
    """A :class:`ClosingBody` that releases the query (its snapshot) when the server closes it,
    and logs an error raised while streaming, after the status line has gone out."""

    def __init__(self, chunks: Iterable[bytes], run: QueryRun, request_id: str):
        super().__init__(chunks, run.close)
        self._request_id = request_id

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from super().__iter__()
        except Exception:
            # the status line is gone: log it; the client sees a truncated (invalid) JSON body
            logger.exception("error while streaming /particles [request %s]", self._request_id)
            raise


def _trailer(run: QueryRun, request_id: str) -> dict[str, Any]:
    query = run.query
    out: dict[str, Any] = {}
    messages: list[str] = []
    if query.include_provenance:
        out["provenance"] = {}
        out["computed_provenance"] = run.provenance.computed_provenance()
        out["instrument_provenance"] = instrument_provenance(run.view, query)
        out["query_parameter_provenance"] = query.describe()
        messages.append(NO_FILE_PROVENANCE)
    if query.include_annotations:
        out["annotations"] = run_annotations(run)
    messages.extend(exclusion_messages(run.exclusions))
    messages.extend(note for q in run.quality for note in q.notes)  # QC tests not run, and why
    out["provenance_messages"] = messages
    out["requestUUID"] = request_id
    return out


class ParticlesView(View):
    """The JSON particles of a query."""

    def post(self, request: Request) -> Response:
        query = read_query(request, self.context)
        request_id = str(request.environ.get(REQUEST_ID_KEY, ""))
        run = open_query(self.context.store, self.context.preload, query, self.context.settings)
        if query.include_provenance or query.include_annotations:
            chunks = particle_document(run, lambda: _trailer(run, request_id))
        else:
            chunks = particle_array(run)
        response = Response(status=200, content_type="application/json", charset=None,
                            app_iter=_ParticlesBody(chunks, run, request_id))
        # informational: the version of the data this answer is computed from (as DAP's ETag)
        return with_validators(response, response_version(
            run.view, self.context.preload, [run.plan, *run.secondary_plans], self.context.settings))
