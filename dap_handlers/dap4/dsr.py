"""The DSR (Dataset Services Response): which DAP4 and DAP2 responses a dataset offers, where."""

from __future__ import annotations

from dap_handlers.dap4.dmr import xml_attribute, xml_text
from dap_handlers.responses.version import DAP_PROTOCOL, SERVER

DSR_NAMESPACE = "http://xml.opendap.org/ns/DAP/4.0/dataset-services#"
DMR_MEDIA_TYPE = "application/vnd.opendap.dap4.dataset-metadata+xml"
DATA_MEDIA_TYPE = "application/vnd.opendap.dap4.data"
DSR_MEDIA_TYPE = "application/vnd.opendap.dap4.dataset-services+xml"

#: (title, resource role, [(suffix, media type, description)]) of each service offered.
SERVICES = (
    ("DAP4 Dataset Services", "http://services.opendap.org/dap4/dataset-services",
     [(".dsr", DSR_MEDIA_TYPE, "this document"),
      (".dsr.xml", "text/xml", "this document, generic XML media type")]),
    ("DAP4 Dataset Metadata", "http://services.opendap.org/dap4/dataset-metadata",
     [(".dmr", DMR_MEDIA_TYPE, "dimensions, variables and attributes (takes dap4.ce)"),
      (".dmr.xml", "text/xml", "the DMR with the generic XML media type")]),
    ("DAP4 Data", "http://services.opendap.org/dap4/data",
     [(".dap", DATA_MEDIA_TYPE,
       "the DMR and the values, chunked, little-endian (takes dap4.ce and dap4.checksum)")]),
    ("DAP2 Dataset Descriptor Structure", "http://services.opendap.org/dap2/dds",
     [(".dds", "text/plain", "DAP2 structure")]),
    ("DAP2 Dataset Attribute Structure", "http://services.opendap.org/dap2/das",
     [(".das", "text/plain", "DAP2 attributes")]),
    ("DAP2 Data", "http://services.opendap.org/dap2/dods",
     [(".dods", "application/octet-stream", "DAP2 data"),
      (".ascii", "text/plain", "DAP2 data as text")]),
    ("Request form", "http://services.opendap.org/dap2/html",
     [(".html", "text/html", "a form to build a request")]),
)


def dsr_text(dataset_url: str, title: str) -> str:
    """The DSR of the dataset at ``dataset_url`` (the URL without a response suffix)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<DatasetServices xmlns="{DSR_NAMESPACE}" base={xml_attribute(dataset_url)}>',
        "  <DapVersion>4.0</DapVersion>",
        f"  <DapVersion>{DAP_PROTOCOL}</DapVersion>",
        f"  <ServerSoftwareVersion>{xml_text(SERVER)}</ServerSoftwareVersion>",
        f"  <Title>{xml_text(title)}</Title>",
    ]
    for service_title, role, links in SERVICES:
        lines.append(f"  <Service title={xml_attribute(service_title)} role={xml_attribute(role)}>")
        lines.extend(
            f"    <link type={xml_attribute(media)} href={xml_attribute(dataset_url + suffix)} "
            f"description={xml_attribute(description)}/>"
            for suffix, media, description in links
        )
        lines.append("  </Service>")
    lines.append("</DatasetServices>")
    return "\n".join(lines) + "\n"
