"""The hourly time base of the METBK flux products (DPS 1341-00370 and the original ``make_hourly_data``).

Records are grouped in hours counted from the first record's time: hour ``k`` holds the records
with ``floor((t - t0) / 3600) == k``. Each non-empty hour gives one record, at ``t0 + 1800 + 3600 k``
(its middle), holding the mean of each variable over the hour. Empty hours give no record.
"""

from __future__ import annotations

import numpy as np

from stream_engine.functions.arrays import as_float


def hour_numbers(timestamp) -> np.ndarray:
    """The hour (counted from the first record) each record falls in."""
    t = np.atleast_1d(as_float(timestamp))
    return np.floor((t - t[0]) / 3600.0).astype(np.int64)


def hourly_means(timestamp, *values) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Hourly means of ``values`` (each scalar or one value per record) and the hours' times.

    Returns
    -------
    (means, times)
        One array per value, and the NTP times of the non-empty hours' middles.
    """
    t = np.atleast_1d(as_float(timestamp))
    if t.size == 0:
        return tuple(np.empty(0) for _ in values), np.empty(0)
    hours = hour_numbers(t)
    counts = np.bincount(hours).astype(np.float64)
    filled = counts != 0
    means = []
    for value in values:
        v = np.broadcast_to(as_float(value), t.shape)
        means.append(np.bincount(hours, v)[filled] / counts[filled])
    times = (t[0] + 1800.0 + 3600.0 * np.arange(len(counts)))[filled]
    return tuple(means), times
