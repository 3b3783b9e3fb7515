"""DAP errors: each carries its HTTP status and its libdap error code.

Codes follow libdap's ``ErrorCode`` (``libdap4/Error.h``): 1001 unknown error, 1002 internal
error, 1003 no such file, 1004 no such variable, 1005 malformed expression, 1008 not implemented.
A response over the size cap uses its HTTP status (413) as the code, as TDS does with its 403.
"""

from __future__ import annotations

from stream_engine.errors import BadRequest, NotFound, StreamEngineError, TooLarge


class DapError(StreamEngineError):
    """Base of the errors raised by the DAP layer; ``dap_code`` goes into the ``Error {}`` body."""

    dap_code = 1002


class ConstraintError(BadRequest, DapError):
    """A constraint expression is malformed, out of range or asks for something unsupported."""

    dap_code = 1005


class NoSuchVariable(NotFound, DapError):
    """A constraint names a variable the dataset does not have."""

    dap_code = 1004


class UnknownResponse(NotFound, DapError):
    """The URL asks for a response kind (extension) this server does not produce."""

    dap_code = 1003


class ResponseTooLarge(TooLarge, DapError):
    """The response would exceed the configured size cap."""

    dap_code = 413


class EncodingError(DapError):
    """A value cannot be encoded exactly (raised while streaming: the body is cut short)."""
