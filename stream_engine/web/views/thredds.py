"""THREDDS client catalogs (InvCatalog 1.0 XML) of the catalog's folders, for crawlers.

* ``GET /catalog.xml`` (also ``/thredds/catalog.xml``): the root, a ``catalogRef`` per subsite;
* ``GET /catalog/{subsite}[/{node}[/{sensor}[/{method}]]]/catalog.xml``: one level, a
  ``catalogRef`` per child; at the method level a ``dataset`` per stream, with its ``urlPath``
  on the OPeNDAP service (``/dap/``) and the HTTP download service (``/download/``: a zip of
  the stream's NetCDF files), time coverage, record count and variables (stored parameters and
  available products, as the stream page lists them).

Rendered from the partition index, the assets and the dictionary through one store snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webob import Response

from stream_engine.catalog.describe import dataset_id, describe_stream, ntp_to_iso
from stream_engine.catalog.tree import folder
from stream_engine.engine.versions import combined_version, stream_version, streams_version
from stream_engine.web.pages import environment
from stream_engine.web.urls import Urls
from stream_engine.web.validators import for_html, not_modified, with_validators
from stream_engine.web.views.base import View

if TYPE_CHECKING:
    from webob import Request

THREDDS_TEMPLATE = "thredds_catalog.xml"
AUTHORITY = "org.oceanobservatories"


def _variables(description: dict[str, Any], preload: Any) -> list[dict[str, str]]:
    out = [{"name": "time", "standard_name": "time", "units": "seconds since 1900-01-01 0:0:0",
            "long_name": "Time, UTC"}]
    for p in description["parameters"]:
        if not p["available"] or p["name"] == "time":
            continue
        standard = ""
        if p["id"]:
            standard = preload.parameter(p["id"]).standard_name
        out.append({"name": p["netcdf_name"], "standard_name": standard, "units": p["units"],
                    "long_name": p["display_name"] or p["name"]})
    return out


class ThreddsCatalogView(View):
    """A folder's THREDDS catalog; ``path`` is empty at the root."""

    def services(self, urls: Urls) -> list[dict[str, str]]:
        """OPeNDAP, and HTTP download (a zip of NetCDF files) when this build exports NetCDF."""
        from stream_engine.web.views.export import api_view

        out = [{"name": "odap", "type": "OPeNDAP", "base": f"{urls.base}/dap/"}]
        if api_view(self.context, "netcdf") is not None:
            out.append({"name": "http", "type": "HTTPServer", "base": f"{urls.base}/download/"})
        return out

    def get(self, request: Request, path: str = "") -> Response:
        parts = tuple(p for p in path.split("/") if p)
        urls = Urls.for_request(request, self.context.settings.BASE_URL)
        preload, settings = self.context.preload, self.context.settings
        datasets = []
        with self.context.store.snapshot() as view:
            f = folder(view.streams(), parts)
            versions = [streams_version(view, preload, [c.key for c in f.streams])]
            if f.child_level == "stream":
                versions.extend(stream_version(view, preload, c.key, settings) for c in f.streams)
            version = for_html(combined_version(versions), settings.TEMPLATE_OVERRIDE_DIR)
            unchanged = not_modified(request, version)
            if unchanged is not None:
                return unchanged
            if f.child_level == "stream":
                for coverage in f.streams:
                    described = describe_stream(view, preload, coverage.key, settings=settings)
                    datasets.append({
                        "name": coverage.key.stream,
                        "id": dataset_id(coverage.key),
                        "url_path": coverage.key.path,
                        "html": urls.stream(coverage.key),
                        "count": coverage.count,
                        "summary": f"{coverage.key.refdes} {coverage.key.method} {coverage.key.stream}: "
                                   f"{coverage.count} records",
                        "time_coverage_start": ntp_to_iso(coverage.first),
                        "time_coverage_end": ntp_to_iso(coverage.last),
                        "variables": _variables(described, preload),
                    })
        refs = [
            {"name": child.name, "id": "-".join(child.path), "href": urls.thredds(child.path)}
            for child in f.children()
        ]
        catalog = {
            "name": "/".join(parts) or "Stream Engine",
            "id": "-".join(parts) or "stream-engine",
            "authority": AUTHORITY,
            "html": urls.folder(parts),
            "services": self.services(urls),
            "time_coverage_start": ntp_to_iso(f.first) if f.streams else None,
            "time_coverage_end": ntp_to_iso(f.last) if f.streams else None,
            "refs": refs,
            "datasets": datasets,
        }
        body = environment(settings.TEMPLATE_OVERRIDE_DIR).get_template(THREDDS_TEMPLATE).render(
            catalog=catalog)
        return with_validators(
            Response(body=body.encode("utf-8"), content_type="application/xml", charset="utf-8"), version)
