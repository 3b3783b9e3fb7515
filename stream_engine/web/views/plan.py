"""``POST /estimate`` and ``POST /needs``: what a query would cost and use, reading no data.

* ``/estimate`` answers the original ``{"size": <bytes>, "time": <seconds>}`` (plus ``records``,
  ``bytes_per_record`` and the records each stream would contribute), from the partition index
  (:func:`~stream_engine.engine.query_plan.estimate_query`);
* ``/needs`` answers the resolved plan of every stream of the query: the stored columns read,
  the products computed with their functions and argument sources, the other streams supplying
  inputs, and every requested parameter that cannot be produced with the reason
  (:func:`~stream_engine.engine.query_plan.query_needs`). The original engine's route was a stub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stream_engine.engine.query_plan import estimate_query, query_needs
from stream_engine.web.views.base import View, json_response
from stream_engine.web.views.query_body import read_query

if TYPE_CHECKING:
    from webob import Request, Response


class EstimateView(View):
    """Size and time of a query's response."""

    def post(self, request: Request) -> Response:
        query = read_query(request, self.context)
        return json_response(estimate_query(self.context.store, self.context.preload, query,
                                            self.context.settings))


class NeedsView(View):
    """The resolved plan of a query."""

    def post(self, request: Request) -> Response:
        query = read_query(request, self.context)
        return json_response(query_needs(self.context.store, self.context.preload, query,
                                         self.context.settings))
