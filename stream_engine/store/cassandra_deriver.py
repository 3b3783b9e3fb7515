"""The background row deriver: writes the OOI rows that lag the column chunks, one per cluster.

With ``CASSANDRA_ROWS = "background"`` an ingest writes column chunks only (what Stream Engine
serves) and leaves its bins' OOI rows pending (:mod:`~stream_engine.store.cassandra_rows`). Every
server process runs a :class:`RowDeriver` thread; at most one of them, across every process and
machine serving the keyspace, derives at a time:

* **Lease.** The deriver holds the row ``store_leases['row-deriver']``, claimed with a lightweight
  transaction (``INSERT ... IF NOT EXISTS USING TTL``) and renewed (``UPDATE ... USING TTL ... IF
  holder = me``) every third of ``CASSANDRA_ROWS_LEASE_SECONDS``. A holder that dies stops
  renewing; its row expires (the cluster's clock, not the servers') and the next process to look
  claims it. Renewals also publish what is pending, so every server's ``/health`` can report it.
  The lease keeps the work single, not correct: two derivers (a holder paused past its lease,
  ``stream-engine cassandra derive-rows`` run by hand) write the same rows.
* **Bounded turns.** A turn re-reads one bin's index row, writes the rows of at most
  ``CASSANDRA_ROWS_BATCH`` records of it and returns; the thread then waits
  ``CASSANDRA_ROWS_PAUSE`` times the turn's duration, so requests keep most of the cluster.
* **Resumable.** Rows are written from the chunks with the ids the chunks keep, so a bin
  derived twice (after a crash half-way, or by a new holder) ends with the same rows; a bin's
  rows count as complete only once the last slice is written (``rows_version`` set).
* **Yields to ingests.** A bin rewritten by an ingest while it is derived is taken up again at
  its new version (its index row is read before every slice, and the completing update is
  conditioned on the version derived); rows written from the older version are overwritten.

Finding work: the whole partition index (one row per bin) is read when the keyspace's change
token has moved since the last look (every write moves it), and at least every
:data:`RESCAN_SECONDS`; otherwise an idle deriver costs one single-row read per poll.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from stream_engine.errors import StoreUnavailable
from stream_engine.store.cassandra_chunks import VersionGone
from stream_engine.store.cassandra_rows import (
    ROWS_BACKGROUND,
    ROWS_OFF,
    BinRows,
    PendingBin,
    bin_state,
    pending_bins,
)

if TYPE_CHECKING:
    from stream_engine.store.cassandra import CassandraStore

__all__ = ["LEASE_NAME", "RESCAN_SECONDS", "RowDeriver", "RowLease"]

logger = logging.getLogger("stream_engine.store")

LEASE_NAME = "row-deriver"
#: Seconds after which the partition index is read again even if the change token did not move
#: (a write interrupted before it moved the token can leave a bin pending).
RESCAN_SECONDS = 60.0


class RowLease:
    """The cluster-wide lease of one kind of background work (a row of ``store_leases``)."""

    def __init__(self, store: CassandraStore, holder: str, seconds: int, name: str = LEASE_NAME) -> None:
        self.store = store
        self.holder = holder
        self.seconds = int(seconds)
        self.name = name
        self._table = f"{store.keyspace}.store_leases"

    def claim(self) -> bool:
        """Take the lease if nobody holds it; whether this holder holds it now."""
        applied, found = self.store.conn.conditional(
            f"INSERT INTO {self._table} (name, holder, updated) VALUES (?, ?, toTimestamp(now())) "
            "IF NOT EXISTS USING TTL ?", (self.name, self.holder, self.seconds), doing="claim the row deriver's lease")
        return applied or self.holder in found

    def renew(self, pending_bins: int | None, pending_records: int | None, rows_written: int) -> bool:
        """Extend the lease and publish what is pending; whether this holder still holds it."""
        applied, _ = self.store.conn.conditional(
            f"UPDATE {self._table} USING TTL ? SET holder=?, pending_bins=?, pending_records=?, rows_written=?, "
            "updated=toTimestamp(now()) WHERE name=? IF holder=?",
            (self.seconds, self.holder, pending_bins, pending_records, rows_written, self.name, self.holder),
            doing="renew the row deriver's lease")
        return applied

    def release(self) -> None:
        """Give the lease up (if still held), so another process takes over at once."""
        self.store.conn.conditional(f"DELETE FROM {self._table} WHERE name=? IF holder=?", (self.name, self.holder),
                                    doing="release the row deriver's lease")

    def read(self) -> dict[str, Any] | None:
        """The lease as it stands: holder, what it published, seconds left; ``None`` if unheld."""
        rows = self.store.conn.execute(
            f"SELECT holder, pending_bins, pending_records, rows_written, updated, TTL(holder) FROM {self._table} "
            "WHERE name=?", (self.name,), doing="read the row deriver's lease")
        if not rows or rows[0][0] is None:
            return None
        holder, bins, records, written, updated, ttl = rows[0]
        return {"holder": holder, "pending_bins": bins, "pending_records": records, "rows_written": written,
                "updated": updated.isoformat() + "Z" if updated is not None else None, "expires_in": ttl}


class RowDeriver:
    """Writes pending OOI rows in the background while its process holds the lease (see the
    module docstring); with ``mode`` ``"off"`` it only watches what is pending, for ``/health``.
    (With ``"with-ingest"`` writes leave nothing pending, but bins left pending before, by
    another mode or an interrupted write, are derived too.)

    Parameters
    ----------
    store
        A store of its own (its connection carries the deriver's traffic only).
    mode
        ``CASSANDRA_ROWS``; ``"off"`` never derives.
    batch
        Records whose rows one turn writes.
    pause
        Share of a turn's time waited after it.
    lease_seconds, poll_seconds
        Lease duration; seconds between looks while idle (or not holding the lease).
    """

    def __init__(self, store: CassandraStore, *, mode: str = ROWS_BACKGROUND, batch: int = 5000, pause: float = 0.5,
                 lease_seconds: int = 30, poll_seconds: float = 2.0) -> None:
        self.store = store
        self.mode = mode
        self.batch = int(batch)
        self.pause = float(pause)
        self.poll = float(poll_seconds)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = RowLease(store, self.holder, lease_seconds)
        self.rows_written = 0
        self._holding = False
        self._renewed = 0.0
        self._queue: list[PendingBin] = []
        self._current: BinRows | None = None
        self._scanned_token: Any = None
        self._scanned_at = -RESCAN_SECONDS
        self._pending: tuple[int, int] | None = None  # (bins, records) as last known
        self._checked_at: float | None = None
        self._deriver: str | None = None
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> None:
        """Run in a daemon thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cassandra-row-deriver", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and give the lease up."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._holding:
            self._holding = False
            try:
                self.lease.release()
            except StoreUnavailable as exc:
                logger.warning("row deriver: could not release its lease (it expires by itself): %s", exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            worked = False
            try:
                worked = self.step()
                self._error = None
            except StoreUnavailable as exc:
                self._error = exc.client_message()
                self._current = None
                logger.warning("row deriver: %s", exc)
            except Exception:  # the thread must live on; the next look starts afresh
                self._error = "the row deriver failed; see the error log"
                self._current, self._queue = None, []
                logger.exception("row deriver: unexpected failure")
            self._stop.wait((time.monotonic() - began) * self.pause if worked else self.poll)

    # -- one step ----------------------------------------------------------------------------------

    def step(self) -> bool:
        """One look or one turn; whether rows were written (or a bin's state moved on)."""
        if self.mode == ROWS_OFF:
            self._watch(use_lease=False)
            return False
        if not self._hold_lease():
            self._watch(use_lease=True)
            return False
        self._deriver = self.holder
        return self.turn()

    def _hold_lease(self) -> bool:
        now = time.monotonic()
        if self._holding and now - self._renewed < self.lease.seconds / 3:
            return True
        try:
            if self._holding:
                bins, records = self._pending or (None, None)
                held = self.lease.renew(bins, records, self.rows_written)
            else:
                held = self.lease.claim()
        except StoreUnavailable:
            if now - self._renewed >= self.lease.seconds:
                self._lose()
            raise
        if held:
            if not self._holding:
                logger.info("row deriver: this process (%s) derives the OOI rows", self.holder)
            self._holding, self._renewed = True, now
        else:
            self._lose()
        return held

    def _lose(self) -> None:
        if self._holding:
            logger.info("row deriver: %s lost its lease", self.holder)
        self._holding = False
        self._current, self._queue = None, []

    def _watch(self, *, use_lease: bool) -> None:
        """Know what is pending without deriving: from the holder's lease row, else by reading
        the partition index when it may have changed."""
        if use_lease:
            lease = self.lease.read()
            if lease is not None:
                self._deriver = lease["holder"]
                if lease["pending_bins"] is not None:
                    self._pending = (int(lease["pending_bins"]), int(lease["pending_records"] or 0))
                    self._checked_at = time.monotonic()
                return
        self._deriver = None
        if self._rescan_due():
            self._scan()

    def _rescan_due(self) -> bool:
        token = self.store.change_token()
        due = token != self._scanned_token or time.monotonic() - self._scanned_at >= RESCAN_SECONDS
        if due:
            self._scanned_token = token  # read before the scan: a write after it is seen next time
        return due

    def _scan(self) -> None:
        self._scanned_at = time.monotonic()
        self._queue = pending_bins(self.store)
        self._pending = (len(self._queue), sum(p.state.partition.count for p in self._queue))
        self._checked_at = time.monotonic()

    def turn(self) -> bool:
        """Write the rows of at most ``batch`` records of one pending bin (completing the bin
        when they are its last); whether there was anything to do."""
        if self._current is None:
            if not self._queue:
                if not self._rescan_due():
                    return False
                self._scan()
                if not self._queue:
                    return False
            pending = self._queue.pop(0)
            self._current = BinRows(self.store, pending.key, pending.state, self.store.columns(pending.key))
        current = self._current
        state = bin_state(self.store, current.key, current.state.bin)
        if state is None or state.rows_complete:  # done by someone else, or the bin emptied
            self._current = None
            self._count_done(max(current.state.partition.count - current.done, 0), bins=1)
            return True
        if state.version != current.state.version:  # an ingest rewrote the bin: derive its new version
            current = self._current = BinRows(self.store, current.key, state, self.store.columns(current.key))
        try:
            written = current.write(self.batch)
        except VersionGone:
            return True  # rewritten as we read it: the next turn reads the new version
        self.rows_written += written
        self._count_done(written, bins=0)
        if current.written:
            self._current = None
            if current.finish():
                self._count_done(current.state.partition.count - current.needed, bins=1)
        return True

    def _count_done(self, records: int, *, bins: int) -> None:
        if self._pending is not None:
            self._pending = (max(self._pending[0] - bins, 0), max(self._pending[1] - records, 0))

    # -- reporting ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``/health`` reports: the mode, bins whose rows are pending and their records (as
        last known, ``None`` before the first look; an upper bound, only new and changed records
        get rows), which process derives, and the last failure."""
        pending = self._pending
        return {
            "mode": self.mode,
            "pending_bins": pending[0] if pending else None,
            "pending_records": pending[1] if pending else None,
            "checked_seconds_ago": (round(time.monotonic() - self._checked_at, 1)
                                    if self._checked_at is not None else None),
            "deriver": self._deriver,
            "this_process_derives": self._holding,
            "rows_written_here": self.rows_written,
            "error": self._error,
        }
