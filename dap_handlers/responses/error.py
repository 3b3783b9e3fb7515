"""The DAP2 error body: ``Error { code = ...; message = "..."; };`` (never a traceback)."""

from __future__ import annotations

from dap_handlers.text import quote


def error_text(code: int, message: str) -> str:
    """The error body for a libdap error code and a message (escaped here)."""
    return f"Error {{\n    code = {int(code)};\n    message = {quote(message)};\n}};\n"
