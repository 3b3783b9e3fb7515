"""``/jobs``: asynchronous exports (:mod:`stream_engine.jobs`) over HTTP.

* ``POST /jobs`` (the request body plus ``"format"``: ``netcdf``, ``csv``, ``tsv``/``tab``) ->
  202 with the job id, its state and ``status_url`` (also in ``Location``);
* ``GET /jobs`` -> every job known to the store;
* ``GET /jobs/{id}`` -> state, progress (0..1, and records written), files with their sizes and
  download URLs, or the reason it failed;
* ``GET /jobs/{id}/{file}`` -> one file of a complete job (``Range`` and conditional requests
  supported); only names in the job's file list are served, so no path leaves the job's folder;
* ``DELETE /jobs/{id}`` -> 204; cancels the job if it runs and removes it with its files.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from webob import Response
from webob.static import FileApp

from stream_engine import jobs
from stream_engine.errors import NotFound
from stream_engine.web.validators import conditional_json
from stream_engine.web.views.base import View, json_response
from stream_engine.web.views.query_body import read_query

if TYPE_CHECKING:
    from webob import Request


def _described(record: dict[str, Any], request: Request) -> dict[str, Any]:
    base = f"{request.application_url}/jobs/{record['id']}"
    out = {k: v for k, v in record.items() if k not in ("pid", "host")}
    out["status_url"] = base
    out["files"] = [{**f, "url": f"{base}/{f['name']}"} for f in record.get("files", [])]
    return out


class JobsView(View):
    """``GET /jobs`` and ``POST /jobs``."""

    def get(self, request: Request) -> Response:
        store, settings = self.context.store, self.context.settings
        jobs.expire(store, settings)
        return conditional_json(request, {"jobs": [_described(r, request) for r in store.jobs()]})

    def post(self, request: Request) -> Response:
        context = self.context
        query = read_query(request, context)
        record = jobs.submit(context.store, context.settings, query)
        body = _described(record, request)
        return json_response(body, status=202, headers={"Location": body["status_url"]})


class JobView(View):
    """``GET /jobs/{job_id}`` and ``DELETE /jobs/{job_id}``."""

    def get(self, request: Request, job_id: str) -> Response:
        record = jobs.status(self.context.store, self.context.settings, job_id)
        return conditional_json(request, _described(record, request))

    def delete(self, request: Request, job_id: str) -> Response:
        jobs.cancel(self.context.store, self.context.settings, job_id)
        return Response(status=204)


class JobFileView(View):
    """``GET /jobs/{job_id}/{name}``."""

    def get(self, request: Request, job_id: str, name: str) -> Response:
        settings = self.context.settings
        record = jobs.status(self.context.store, settings, job_id)
        if name not in {f["name"] for f in record.get("files", [])}:
            raise NotFound(f"job {job_id} has no file {name!r}; GET /jobs/{job_id} lists its files")
        folder = jobs.job_folder(settings, job_id).resolve()
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file():
            raise NotFound(f"job {job_id} has no file {name!r}")
        # FileApp answers If-Modified-Since and Range; the ETag (size and time of the finished
        # file) is the same in every worker, so If-None-Match works across them too
        found = path.stat()
        tag = hashlib.sha256(f"{job_id}/{name}|{found.st_size}|{found.st_mtime_ns}".encode()).hexdigest()[:32]
        response: Response = request.get_response(FileApp(str(path), etag=tag))
        if response.status_int < 400:
            response.content_disposition = f'attachment; filename="{name}"'
        return response
