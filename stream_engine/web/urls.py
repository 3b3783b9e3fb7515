"""Every URL the catalog pages print, from one builder that knows the public base URL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from webob import Request

    from stream_engine.store.base import StreamKey

#: Prefixes under which the catalog's folders are served (``/catalog/CE07SHSM/``, ``/dap/CE07SHSM/``).
FOLDER_PREFIXES = ("catalog", "dap")


def _joined(parts: Sequence[str]) -> str:
    return "/".join(quote(p, safe="") for p in parts)


class Urls:
    """URL builder: ``Urls(base).stream(key)`` and friends.

    ``base`` is the public base URL without a trailing slash (setting ``BASE_URL``, else the
    request's application URL), so pages behind a proxy print links that work from outside.
    """

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    @classmethod
    def for_request(cls, request: Request, configured: str = "") -> Urls:
        """The builder for a request: ``configured`` (``BASE_URL``) when set, else the request's."""
        return cls(configured or request.application_url)

    def _query(self, url: str, query: Mapping[str, str] | None) -> str:
        cleaned = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        return f"{url}?{urlencode(cleaned)}" if cleaned else url

    def root(self, query: Mapping[str, str] | None = None) -> str:
        """The catalog's front page (subsites)."""
        return self._query(f"{self.base}/", query)

    def root_json(self, query: Mapping[str, str] | None = None) -> str:
        return self._query(f"{self.base}/index.json", query)

    def folder(self, path: Sequence[str], prefix: str = "catalog",
               query: Mapping[str, str] | None = None) -> str:
        """A folder page: ``/catalog/CE07SHSM/MFD37/`` (``prefix="dap"``: ``/dap/CE07SHSM/MFD37/``)."""
        if not path:
            return self.root(query) if prefix == "catalog" else self._query(f"{self.base}/dap/", query)
        return self._query(f"{self.base}/{prefix}/{_joined(path)}/", query)

    def folder_json(self, path: Sequence[str], prefix: str = "catalog",
                    query: Mapping[str, str] | None = None) -> str:
        """The JSON twin of a folder page: ``/catalog/CE07SHSM/MFD37.json``."""
        if not path:
            return self.root_json(query) if prefix == "catalog" else f"{self.base}/dap.json"
        return self._query(f"{self.base}/{prefix}/{_joined(path)}.json", query)

    def stream(self, key: StreamKey, query: Mapping[str, str] | None = None) -> str:
        """A stream's catalog page."""
        return self._query(f"{self.base}/catalog/{_joined(key.path.split('/'))}", query)

    def stream_json(self, key: StreamKey) -> str:
        return f"{self.stream(key)}.json"

    def plot(self, key: StreamKey, fmt: str, query: Mapping[str, str] | None = None) -> str:
        """A quick-look plot image (``fmt`` ``png`` or ``svg``)."""
        return self._query(f"{self.stream(key)}/plot.{fmt}", query)

    def annotations(self, key: StreamKey) -> str:
        """The stream's annotation records as JSON (``GET /annotations/<stream>``)."""
        return f"{self.base}/annotations/{_joined(key.path.split('/'))}"

    def export(self, key: StreamKey) -> str:
        """Where the stream page's request form posts."""
        return f"{self.stream(key)}/export"

    def job_page(self, job_id: str) -> str:
        """The page following an export job."""
        return f"{self.base}/catalog/jobs/{quote(job_id, safe='')}"

    def dap(self, key: StreamKey, suffix: str = "") -> str:
        """The stream's OPeNDAP dataset URL (``suffix`` ``.html``, ``.das``, ...)."""
        return f"{self.base}/dap/{_joined(key.path.split('/'))}{suffix}"

    def dap_index(self) -> str:
        return f"{self.base}/dap/"

    def thredds(self, path: Sequence[str] = ()) -> str:
        """The THREDDS catalog of a folder (``/catalog.xml`` at the root)."""
        if not path:
            return f"{self.base}/catalog.xml"
        return f"{self.base}/catalog/{_joined(path)}/catalog.xml"

    def api(self, name: str) -> str:
        """A JSON API or export route: ``particles``, ``netcdf``, ``csv``, ``tab``, ``jobs``."""
        return f"{self.base}/{name}"
