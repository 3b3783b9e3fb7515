"""``POST /netcdf``, ``/csv``, ``/tab``: an export as a zip, streamed as it is written.

The export runs first, into a private temporary folder under ``ASYNC_DIR`` (bounded memory: one
slice of records at a time), so every error (bad body 400, unknown stream 400, no data 404,
store unavailable 503) is answered with its real status before any byte of the zip. The zip is
then streamed block by block and the folder removed when the response ends, completed or not.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from webob import Response

# Loaded with the routes, i.e. when a worker starts: the first export then does not pay for
# importing and registering every algorithm family (gsw, numexpr ...) inside its response time.
import stream_engine.functions  # noqa: F401
from stream_engine.outputs.bundle import zip_stream
from stream_engine.outputs.export import run_export
from stream_engine.web.views.base import View
from stream_engine.web.views.query_body import read_query

if TYPE_CHECKING:
    from webob import Request


def scratch_folder(async_dir: Path) -> Path:
    """A new private folder for one synchronous export."""
    parent = async_dir / ".sync"
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="export-", dir=parent))


def _stream_then_remove(blocks: Iterator[bytes], folder: Path) -> Iterator[bytes]:
    try:
        yield from blocks
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class ExportView(View):
    """A synchronous export of the format named by the subclass."""

    format_name: ClassVar[str] = "netcdf"

    @classmethod
    def of(cls, format_name: str) -> type[ExportView]:
        """The view class answering with ``format_name`` (``netcdf``, ``csv``, ``tsv``)."""
        return type(f"{format_name.title()}{cls.__name__}", (cls,), {"format_name": format_name})

    def post(self, request: Request) -> Response:
        context = self.context
        query = read_query(request, context)
        folder = scratch_folder(context.settings.path("ASYNC_DIR"))
        try:
            result = run_export(context.store, context.preload, query, self.format_name, folder,
                                context.settings)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        response = Response(status=200, content_type="application/zip", charset=None)
        response.app_iter = _stream_then_remove(zip_stream(result.files), folder)
        response.content_disposition = f'attachment; filename="{query.primary.key.stream}.zip"'
        return response


