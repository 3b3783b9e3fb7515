"""The engine's exception hierarchy.

Every error a client can cause carries the HTTP status that describes it, so the web layer has
exactly one place that turns exceptions into responses. Not-found errors also inherit
``KeyError`` and bad-input errors ``ValueError``, so plain Python callers can catch them naturally.
"""

from __future__ import annotations


class StreamEngineError(Exception):
    """Base class of every error raised on purpose by Stream Engine."""

    status = 500

    def client_message(self) -> str:
        """What a client is told: the message itself, unless it holds server internals."""
        return str(self) or type(self).__name__


class ConfigError(StreamEngineError, ValueError):
    """A setting is missing or has a bad value; the message names the setting."""


class BadRequest(StreamEngineError, ValueError):
    """The request is malformed or asks for something impossible."""

    status = 400

    def __str__(self) -> str:  # ValueError's str is fine; KeyError's would add quotes
        return self.args[0] if self.args else ""


class NotFound(StreamEngineError, KeyError):
    """No such stream, parameter, deployment or data."""

    status = 404

    def __str__(self) -> str:
        return self.args[0] if self.args else ""


class TooLarge(StreamEngineError):
    """The response would exceed a configured size limit."""

    status = 413


class QueryError(StreamEngineError):
    """A data query cannot be answered as asked; ``field`` names the request-body field at fault
    and the message starts with it.

    The subclasses below also inherit the error of their HTTP status (:class:`BadRequest`,
    :class:`NotFound`, :class:`TooLarge`), so callers may catch either.
    """

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        if field and not message.startswith(field):
            message = f"{field}: {message}"
        super().__init__(message)


class InvalidQuery(QueryError, BadRequest):
    """A field of the request body is malformed, unknown or contradicts another (400)."""


class NoDataInRange(QueryError, NotFound):
    """The primary stream holds no record to answer with in the requested range (404)."""


class QueryTooLarge(QueryError, TooLarge):
    """The query asks for more than a configured limit allows (413); the message names it."""


STORE_TROUBLE_MESSAGE = (
    "the data store is unavailable (missing, damaged or unreachable); the error is logged for "
    "the operator, please try again later"
)


class StoreUnavailable(StreamEngineError):
    """The storage backend cannot be reached, or its file is missing.

    The message (for the log) names files and hosts; clients get :data:`STORE_TROUBLE_MESSAGE`.
    """

    status = 503

    def client_message(self) -> str:
        return STORE_TROUBLE_MESSAGE


class StoreError(StreamEngineError):
    """The storage backend failed or found its data inconsistent (damaged file, failed commit).

    Answered like :class:`StoreUnavailable`: 503, with the details only in the log.
    """

    status = 503

    def client_message(self) -> str:
        return STORE_TROUBLE_MESSAGE


class PreloadError(StreamEngineError, ValueError):
    """The preload dictionary cannot be read or is inconsistent."""


class IngestError(StreamEngineError, ValueError):
    """A file cannot be ingested; nothing of it was stored."""

    status = 400
