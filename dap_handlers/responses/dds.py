"""The DDS (Dataset Descriptor Structure) text of a dataset or of a constrained dataset."""

from __future__ import annotations

from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.text import dap_name

INDENT = "    "


def declaration(variable: DapVariable) -> str:
    """One DDS declaration, e.g. ``Float64 time[obs = 278];``."""
    dims = "".join(
        f"[{dap_name(d)} = {n}]" for d, n in zip(variable.dims, variable.shape, strict=True)
    )
    return f"{variable.dap_type.name} {dap_name(variable.name)}{dims};"


def dds_text(dataset: DapDataset) -> str:
    """The DDS, ending with a newline; for a constrained dataset the sizes are the hyperslab's."""
    lines = ["Dataset {"]
    lines.extend(INDENT + declaration(v) for v in dataset.variables)
    lines.append(f"}} {dap_name(dataset.name)};")
    return "\n".join(lines) + "\n"
