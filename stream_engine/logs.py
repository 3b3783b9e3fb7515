"""Logging set-up: the error log and the access log in ``LOG_DIR``.

The server's error log (``stream_engine.error.log``) is shared by gunicorn's own messages and the
``stream_engine`` logger of every worker; the access log (``stream_engine.access.log``) is written
by gunicorn alone. The command line writes to the same error log, so "see the log" always points
at one file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stream_engine.config import Settings

ERROR_LOG_NAME = "stream_engine.error.log"
ACCESS_LOG_NAME = "stream_engine.access.log"
LOGGER_NAME = "stream_engine"
LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


def error_log_path(settings: Settings) -> Path:
    """The error log file, ``<LOG_DIR>/stream_engine.error.log``."""
    return settings.path("LOG_DIR") / ERROR_LOG_NAME


def access_log_path(settings: Settings) -> Path:
    """The access log file, ``<LOG_DIR>/stream_engine.access.log``."""
    return settings.path("LOG_DIR") / ACCESS_LOG_NAME


class _ErrorLogHandler(logging.FileHandler):
    """Marks the handler this module installed, so set-up can run twice without duplicates."""


def configure_logging(settings: Settings) -> logging.Logger:
    """Send the ``stream_engine`` logger to the error log at ``LOG_LEVEL``.

    Creates ``LOG_DIR`` if needed. Calling it again with other settings moves the handler to
    the new file; calling it with the same settings changes nothing.

    Parameters
    ----------
    settings
        Loaded settings (``LOG_DIR``, ``LOG_LEVEL``).

    Returns
    -------
    logging.Logger
        The ``stream_engine`` logger.
    """
    logger = logging.getLogger(LOGGER_NAME)
    path = error_log_path(settings)
    level = getattr(logging, settings.LOG_LEVEL)
    for handler in list(logger.handlers):
        if isinstance(handler, _ErrorLogHandler):
            if Path(handler.baseFilename) == path:
                logger.setLevel(level)
                return logger
            logger.removeHandler(handler)
            handler.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _ErrorLogHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, _DATE_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
