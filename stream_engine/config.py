"""Settings: ``config/default.py``, then ``config/local.py``, then ``STREAM_ENGINE_<KEY>`` variables."""

from __future__ import annotations

import ast
import os
import runpy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from stream_engine.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "STREAM_ENGINE_"
#: ``STREAM_ENGINE_<KEY>`` variables that are not settings: the config folder, the install's
#: home, and the switch that makes the Cassandra-marked tests fail instead of skip (the name the
#: Cassandra backend's specification gives it).
NOT_SETTINGS = frozenset({"CONFIG", "HOME", "TEST_CASSANDRA"})
PATH_SETTINGS = ("DATA_DIR", "PRELOAD", "LOG_DIR", "PID_FILE", "ASYNC_DIR")


class Settings(Mapping[str, Any]):
    """Read-only settings with attribute access (``settings.STORE``).

    Paths named in ``PATH_SETTINGS`` are resolved against the repository root.
    """

    def __init__(self, values: Mapping[str, Any]):
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no setting named {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def path(self, name: str) -> Path:
        """A path setting, absolute (relative values are taken from the repository root)."""
        p = Path(os.path.expanduser(str(self._values[name])))
        return p if p.is_absolute() else REPO_ROOT / p

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (checked like the originals)."""
        values = {**self._values, **changes}
        _validate(values)
        return Settings(values)


def _module_settings(path: Path) -> dict[str, Any]:
    namespace = runpy.run_path(str(path))
    return {k: v for k, v in namespace.items() if k.isupper()}


def _parse_env_value(raw: str, default: Any) -> Any:
    if isinstance(default, str):
        return raw
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


#: Settings that were replaced, and what to set instead.
REPLACED = {
    "CASSANDRA_WRITE_ROWS": "this setting was replaced by CASSANDRA_ROWS: use \"with-ingest\" for "
    "True (rows written by every ingest), \"background\" (the default: the server writes them soon "
    "after) or \"off\" for False",
}


def load_settings(
    config_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load and check every setting; a bad one raises :class:`ConfigError` naming it."""
    config_dir = config_dir or REPO_ROOT / "config"
    environ = os.environ if environ is None else environ
    values = _module_settings(config_dir / "default.py")
    local = config_dir / "local.py"
    if local.exists():
        for key, value in _module_settings(local).items():
            if key in REPLACED:
                raise ConfigError(f"config/local.py sets {key}: {REPLACED[key]}")
            if key not in values:
                raise ConfigError(f"config/local.py sets unknown setting {key!r}")
            values[key] = value
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :]
        if key in REPLACED:
            raise ConfigError(f"environment variable {name}: {REPLACED[key]}")
        if key not in values:
            if key in NOT_SETTINGS:
                continue
            hint = (" (test-only variables are named TEST_STREAM_ENGINE_*)"
                    if key.startswith("TEST_") else "")
            raise ConfigError(
                f"environment variable {name} names no setting{hint}; known settings: "
                + ", ".join(sorted(values))
            )
        values[key] = _parse_env_value(raw, values[key])
    if isinstance(values.get("CASSANDRA_HOSTS"), str):
        values["CASSANDRA_HOSTS"] = [h.strip() for h in values["CASSANDRA_HOSTS"].split(",") if h.strip()]
    _validate(values)
    return Settings(values)


def _require(values: Mapping[str, Any], key: str, ok: bool, expected: str) -> None:
    if not ok:
        raise ConfigError(f"setting {key} = {values.get(key)!r} is invalid: expected {expected}")


def _validate(values: Mapping[str, Any]) -> None:
    v = values
    _require(v, "STORE", v.get("STORE") in ("embedded", "cassandra"), "'embedded' or 'cassandra'")
    for key in PATH_SETTINGS:
        _require(v, key, isinstance(v.get(key), str | os.PathLike) and str(v.get(key)) != "", "a path")
    bind = v.get("BIND")
    _require(
        v,
        "BIND",
        isinstance(bind, str) and bind.rpartition(":")[2].isdigit() and bool(bind.rpartition(":")[0]),
        "HOST:PORT",
    )
    for key in ("WORKERS", "THREADS", "CASSANDRA_PORT", "CASSANDRA_CONCURRENCY", "CASSANDRA_FETCH_SIZE", "CASSANDRA_BATCH_ROWS", "DAP_MAX_RESPONSE_BYTES", "DAP_BLOCK_BYTES", "DAP_COMPUTE_RECORDS", "DAP_COMPUTE_THREADS",
                "UI_HARD_LIMIT", "QUERY_CHUNK_RECORDS", "ESTIMATE_RECORDS_PER_SECOND"):
        _require(v, key, isinstance(v.get(key), int) and not isinstance(v.get(key), bool) and v[key] > 0, "a positive integer")
    for key in ("SEND_TIMEOUT",):
        val = v.get(key)
        _require(v, key, isinstance(val, int | float) and not isinstance(val, bool) and val > 0, "a positive number of seconds")
    no_bound, glibc_policy = "a whole number, 0 or more (0: no bound)", "a whole number of bytes, 0 or more (0: glibc's own policy)"
    for key, what in (("MAX_CLIENT_REQUESTS", no_bound), ("MAX_CLIENT_IDLE_CONNECTIONS", no_bound),
                      ("MALLOC_ARENAS", no_bound), ("MALLOC_MMAP_THRESHOLD", glibc_policy),
                      ("MALLOC_TRIM_THRESHOLD", glibc_policy)):
        val = v.get(key)
        _require(v, key, isinstance(val, int) and not isinstance(val, bool) and val >= 0, what)
    _require(v, "MALLOC_MMAP_THRESHOLD", v["MALLOC_MMAP_THRESHOLD"] <= 32 * 1024 * 1024,
             "at most 33554432 (32 MiB, glibc's ceiling)")
    _require(v, "MALLOC_TRIM_THRESHOLD", (v["MALLOC_MMAP_THRESHOLD"] > 0) == (v["MALLOC_TRIM_THRESHOLD"] > 0),
             "0 when MALLOC_MMAP_THRESHOLD is 0 and more than 0 when it is not (set both or neither: "
             "setting one alone fixes the other at glibc's 128 KiB)")
    for key in ("JOB_PROCESSES", "JOB_MAX_ACTIVE", "JOB_RETENTION_SECONDS", "JOB_SPLIT_RECORDS",
                "JOB_SUBJOB_PROCESSES"):
        _require(v, key, isinstance(v.get(key), int) and not isinstance(v.get(key), bool) and v[key] > 0, "a positive integer")
    _require(v, "CASSANDRA_ROWS", v.get("CASSANDRA_ROWS") in ("background", "with-ingest", "off"),
             "'background', 'with-ingest' or 'off'")
    _require(v, "CASSANDRA_ROWS_PAUSE", isinstance(v.get("CASSANDRA_ROWS_PAUSE"), int | float)
             and not isinstance(v.get("CASSANDRA_ROWS_PAUSE"), bool) and v["CASSANDRA_ROWS_PAUSE"] >= 0,
             "a share of the turn's time, 0 or more")
    for key in ("CASSANDRA_ROWS_BATCH", "CASSANDRA_ROWS_LEASE_SECONDS"):
        _require(v, key, isinstance(v.get(key), int) and not isinstance(v.get(key), bool) and v[key] > 0,
                 "a positive integer")
    for key in ("MAX_DEPTH_VARIANCE", "MAX_INTERPOLATION_GAP", "CASSANDRA_CONNECT_TIMEOUT", "CASSANDRA_QUERY_TIMEOUT",
                "CASSANDRA_ROWS_POLL_SECONDS"):
        val = v.get(key)
        _require(v, key, isinstance(val, int | float) and not isinstance(val, bool) and val > 0, "a positive number")
    for key in ("COMPUTE_CACHE_BYTES", "DAP_CACHE_BYTES", "DAP_SHARED_CACHE_BYTES"):
        cache = v.get(key)
        _require(v, key, isinstance(cache, int) and not isinstance(cache, bool) and cache >= 0,
                 "a whole number of bytes, 0 or more (0 turns the cache off)")
    _require(v, "REQUIRE_DEPLOYMENT", isinstance(v.get("REQUIRE_DEPLOYMENT"), bool), "True or False")
    _require(v, "LOG_LEVEL", v.get("LOG_LEVEL") in ("DEBUG", "INFO", "WARNING", "ERROR"), "DEBUG, INFO, WARNING or ERROR")
    hosts = v.get("CASSANDRA_HOSTS")
    _require(v, "CASSANDRA_HOSTS", isinstance(hosts, list | tuple) and bool(hosts) and all(isinstance(h, str) for h in hosts), "a list of host names")
    rep = v.get("CASSANDRA_REPLICATION")
    _require(v, "CASSANDRA_REPLICATION", isinstance(rep, dict) and "class" in rep, "a replication map with a 'class'")
    pv = v.get("CASSANDRA_PROTOCOL_VERSION")
    _require(v, "CASSANDRA_PROTOCOL_VERSION", pv is None or (isinstance(pv, int) and 3 <= pv <= 6), "None or an integer 3..6")
