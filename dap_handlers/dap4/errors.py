"""DAP4 ``<Error>`` documents: the HTTP status, a message and, optionally, its context."""

from __future__ import annotations

from dap_handlers.dap4.dmr import NAMESPACE, xml_text

ERROR_MEDIA_TYPE = "application/vnd.opendap.dap4.error+xml"


def error_document(status: int, message: str, context: str | None = None) -> str:
    """The ``<Error httpcode="...">`` XML for a status and a message (escaped here)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Error xmlns="{NAMESPACE}" httpcode="{int(status)}">',
        f"  <Message>{xml_text(message)}</Message>",
    ]
    if context:
        lines.append(f"  <Context>{xml_text(context)}</Context>")
    lines.append("</Error>")
    return "\n".join(lines) + "\n"
