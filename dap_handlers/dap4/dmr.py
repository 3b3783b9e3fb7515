"""The DMR (Dataset Metadata Response): the dataset's dimensions, variables and attributes as
DAP4 XML.

Every dimension a variable uses is declared once at the top (``<Dimension name="obs"
size="..."/>``) and referenced by its fully qualified name (``<Dim name="/obs"/>``). In the DMR
of a constrained response a dimension takes the size of the first variable that uses it; a
variable sliced differently on that dimension gets an anonymous ``<Dim size="..."/>`` instead,
so every variable's shape is exactly what its data holds. Global attributes follow the variables
at the dataset level. A single value holding ``& < > " '`` is written as the ``value``
attribute of its ``<Attribute>``, which netCDF-C reads unchanged. With checksums, each variable carries ``_DAP4_Checksum_CRC32`` (UInt32),
which is how netCDF-C learns that the data response holds one after each variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from dap_handlers.dap4.attributes import attribute_items
from dap_handlers.dap4.types import dap4_type
from dap_handlers.model import DapDataset, DapVariable

NAMESPACE = "http://xml.opendap.org/ns/DAP/4.0#"
CHECKSUM_ATTRIBUTE = "_DAP4_Checksum_CRC32"
INDENT = "  "
#: netCDF-C (4.9, 4.10) escapes these again after parsing a ``<Value>`` (``'`` shows as
#: ``&apos;``) but takes an ``<Attribute value="...">`` as it is; pydap reads both forms.
_MANGLED_BY_NETCDF_C = re.compile("[&<>\"']")
#: Characters XML 1.0 cannot hold, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` escaped for XML content, characters XML cannot hold replaced by U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", text))


def xml_attribute(text: str) -> str:
    """``text`` as a quoted, escaped XML attribute value."""
    return quoteattr(_NOT_XML.sub("\ufffd", text))


def dimension_sizes(dataset: DapDataset) -> dict[str, int]:
    """Each dimension's size: that of the first variable using it, in declaration order."""
    sizes: dict[str, int] = {}
    for variable in dataset.variables:
        for dim, size in zip(variable.dims, variable.shape, strict=True):
            sizes.setdefault(dim, size)
    return sizes


def _attribute_lines(attributes: Mapping[str, Any], depth: int,
                     variable: DapVariable | None) -> Iterator[str]:
    pad = INDENT * depth
    for name, type_name, values in attribute_items(attributes, variable):
        head = f"{pad}<Attribute name={xml_attribute(name)} type=\"{type_name}\">"
        if isinstance(values, Mapping):
            yield head
            yield from _attribute_lines(values, depth + 1, None)
            yield f"{pad}</Attribute>"
        elif len(values) == 1 and _MANGLED_BY_NETCDF_C.search(values[0]):
            yield (f"{pad}<Attribute name={xml_attribute(name)} type=\"{type_name}\" "
                   f"value={xml_attribute(values[0])}/>")
        else:
            yield head + "".join(f"<Value>{xml_text(v)}</Value>" for v in values) + "</Attribute>"


def _variable_lines(variable: DapVariable, sizes: Mapping[str, int],
                    checksum: int | None) -> Iterator[str]:
    type_name = dap4_type(variable.dtype).name
    yield f"{INDENT}<{type_name} name={xml_attribute(variable.name)}>"
    for dim, size in zip(variable.dims, variable.shape, strict=True):
        if sizes[dim] == size:
            yield f"{INDENT * 2}<Dim name={xml_attribute('/' + dim)}/>"
        else:
            yield f'{INDENT * 2}<Dim size="{size}"/>'
    yield from _attribute_lines(variable.attributes, 2, variable)
    if checksum is not None:
        yield (f'{INDENT * 2}<Attribute name="{CHECKSUM_ATTRIBUTE}" type="UInt32">'
               f"<Value>{checksum}</Value></Attribute>")
    yield f"{INDENT}</{type_name}>"


def dmr_text(dataset: DapDataset, checksums: Mapping[str, int] | None = None) -> str:
    """The DMR of a (possibly constrained) dataset, ending with CRLF.

    Parameters
    ----------
    dataset : DapDataset
        What the response describes; its variables' shapes are the constrained ones.
    checksums : mapping, optional
        CRC32 of each variable's serialized data, written as ``_DAP4_Checksum_CRC32``.
    """
    sizes = dimension_sizes(dataset)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Dataset xmlns="{NAMESPACE}" name={xml_attribute(dataset.name)} dapVersion="4.0" '
        'dmrVersion="1.0">',
    ]
    lines.extend(f"{INDENT}<Dimension name={xml_attribute(d)} size=\"{n}\"/>"
                 for d, n in sizes.items())
    for variable in dataset.variables:
        checksum = None if checksums is None else checksums[variable.name]
        lines.extend(_variable_lines(variable, sizes, checksum))
    lines.extend(_attribute_lines(dataset.attributes, 1, None))
    lines.append("</Dataset>")
    return "\r\n".join(lines) + "\r\n"
