"""Times typed by people (ISO 8601, HTML ``datetime-local``) or scripts (NTP seconds)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from stream_engine.errors import BadRequest

NTP_UNIX_OFFSET = 2208988800.0


def parse_time(text: str, what: str = "time") -> float:
    """NTP seconds from ``3767040000``, ``2019-05-01``, ``2019-05-01T06:30`` or ``...Z``/``+02:00``.

    Times without a zone are UTC. Raises :class:`BadRequest` quoting the text otherwise.
    """
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise BadRequest(f"{what} {text!r} is not a finite number of NTP seconds")
        return value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{what} {text!r} is neither an ISO 8601 time (2019-05-01T06:30:00Z) nor NTP seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() + NTP_UNIX_OFFSET


def ntp_to_input(seconds: float) -> str:
    """NTP seconds as the value of an HTML ``datetime-local`` input (UTC, to the second)."""
    moment = datetime.fromtimestamp(float(seconds) - NTP_UNIX_OFFSET, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
