"""The /health answer (stream_engine/web/health.py): a cached store check that never makes a
probe wait for the store, and says "starting", "ok" or "unavailable"."""

from __future__ import annotations

import json
import threading
import time

from stream_engine.config import Settings
from stream_engine.errors import STORE_TROUBLE_MESSAGE, StoreUnavailable
from stream_engine.web.health import HealthMonitor


class _Store:
    def __init__(self, gate: threading.Event, fail: bool = False) -> None:
        self.gate, self.fail, self.checks = gate, fail, 0

    def change_token(self) -> int:
        self.gate.wait(30)
        self.checks += 1
        if self.fail:
            raise StoreUnavailable("the embedded store /secret/path/stream_engine.sqlite3 does not exist")
        return self.checks


class _Context:
    def __init__(self, store: _Store) -> None:
        self._store = store
        self.settings = Settings({"STORE": "embedded", "COMPUTE_CACHE_BYTES": 0, "DAP_CACHE_BYTES": 0})
        self.row_deriver = None  # Cassandra only

    @property
    def store(self) -> _Store:
        return self._store


def _answer(monitor: HealthMonitor) -> tuple[int, dict]:
    status, body = monitor.answer({"state": "serving"})
    return status, json.loads(body)


def _settle(monitor: HealthMonitor, status_wanted: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = _answer(monitor)[1]
        if body["status"] == status_wanted:
            return body
        time.sleep(0.05)
    raise AssertionError(f"never {status_wanted}")


def test_a_slow_first_check_answers_starting_then_ok_and_probes_never_wait() -> None:
    gate = threading.Event()
    store = _Store(gate)
    monitor = HealthMonitor(_Context(store), interval=0.2)
    status, body = _answer(monitor)  # waits FIRST_CHECK_WAIT at most, then says so
    assert status == 200 and body["status"] == "starting" and body["store"]["ok"] is None
    assert body["worker"]["state"] == "serving" and body["worker"]["pid"] > 0
    gate.set()
    body = _settle(monitor, "ok")
    assert body["store"] == {**body["store"], "backend": "embedded", "ok": True, "message": None}
    gate.clear()  # the store hangs now: probes keep the last verdict while the new check runs
    time.sleep(0.3)
    for _ in range(3):
        status, body = _answer(monitor)
        assert status == 200 and body["status"] == "ok"
    assert store.checks == 1, "one check at a time"
    gate.set()


def test_an_unreadable_store_is_503_without_its_path() -> None:
    gate = threading.Event()
    gate.set()
    monitor = HealthMonitor(_Context(_Store(gate, fail=True)), interval=0.2)
    body = _settle(monitor, "unavailable")
    status, _ = _answer(monitor)
    assert status == 503 and body["store"]["ok"] is False
    assert body["store"]["message"] == STORE_TROUBLE_MESSAGE and "/secret" not in json.dumps(body)
