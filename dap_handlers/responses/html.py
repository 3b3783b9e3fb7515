"""The ``.html`` request form and the ``.info`` page, rendered from ``templates/dap_form.html``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from dap_handlers.model import DapDataset
from dap_handlers.responses.das import das_text
from dap_handlers.responses.dds import dds_text
from dap_handlers.responses.version import SERVER
from dap_handlers.text import to_text

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
FORM_TEMPLATE = "dap_form.html"


@lru_cache(maxsize=1)
def default_environment() -> jinja2.Environment:
    """A Jinja2 environment over the repository's ``templates/`` folder, autoescaping."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_describe(v) for v in value)
    return to_text(value) if not hasattr(value, "tolist") else _describe(value.tolist())


def _time_window(dataset: DapDataset) -> dict[str, str] | None:
    """The dataset's time coverage for the form's date fields, when it can select by time."""
    start = dataset.attributes.get("time_coverage_start")
    end = dataset.attributes.get("time_coverage_end")
    if dataset.time_index is None or not start or not end:
        return None
    return {"start": str(start), "end": str(end)}


def render_page(
    dataset: DapDataset, *, info_only: bool, environment: jinja2.Environment | None = None
) -> str:
    """The request form (``info_only=False``) or the information page of a dataset."""
    env = environment or default_environment()
    variables = [
        {
            "name": v.name,
            "type": v.dap_type.name,
            "dims": [
                {"name": d, "last": max(n - 1, 0)} for d, n in zip(v.dims, v.shape, strict=True)
            ],
            "units": _describe(v.attributes.get("units", "")),
            "long_name": _describe(v.attributes.get("long_name", "")),
        }
        for v in dataset.variables
    ]
    return env.get_template(FORM_TEMPLATE).render(
        dataset=dataset,
        variables=variables,
        global_attributes=[(k, _describe(v)) for k, v in dataset.attributes.items()],
        dds=dds_text(dataset),
        das=das_text(dataset),
        info_only=info_only,
        server=SERVER,
        time_window=_time_window(dataset),
    )
