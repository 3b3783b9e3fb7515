"""Fixtures for the export tests: the demo mooring in an embedded store, the curated dictionary,
and helpers that export a demo stream and check a file with the IOOS compliance checker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.demo import fill_demo
from stream_engine.preload import load_preload
from stream_engine.store.embedded import EmbeddedStore


@pytest.fixture(scope="session")
def curated():
    return load_preload(REPO_ROOT / "preload_database")


@pytest.fixture(scope="session")
def export_settings():
    return load_settings(environ={})


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory, curated) -> Path:
    folder = tmp_path_factory.mktemp("exports") / "data"
    with EmbeddedStore(folder) as store:
        fill_demo(store, curated)
    return folder


@pytest.fixture(scope="session")
def demo_store(demo_dir):
    with EmbeddedStore(demo_dir) as store:
        yield store


def stream_body(key, parameters=(), **options) -> dict:
    """An original request body for one stream."""
    return {"streams": [{"subsite": key.subsite, "node": key.node, "sensor": key.sensor,
                         "method": key.method, "stream": key.stream,
                         "parameters": list(parameters)}], **options}


def compliance_failures(path: Path, tmp_path: Path) -> dict[str, list[str]]:
    """High-priority failures of ``cf:1.8`` and ``acdd:1.3`` for one file: check -> messages."""
    import warnings

    with warnings.catch_warnings():  # the checker's own deprecation notices (its SOS checker)
        warnings.simplefilter("ignore", DeprecationWarning)
        from compliance_checker.runner import CheckSuite, ComplianceChecker

        CheckSuite.load_all_available_checkers()
        report = tmp_path / f"{path.stem}.compliance.json"
        ComplianceChecker.run_checker(str(path), ["cf:1.8", "acdd:1.3"], 0, "normal",
                                      output_filename=str(report), output_format="json")
    results = json.loads(report.read_text())
    failures: dict[str, list[str]] = {}
    for checker, result in results.items():
        for item in result.get("high_priorities", []):
            if item["value"][0] < item["value"][1]:
                failures.setdefault(checker, []).append(f"{item['name']}: {item['msgs']}")
    return failures


@pytest.fixture(scope="session", params=["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)])
def export_backend(request) -> str:
    """The store the export server serves: every server test runs once per backend, with the
    same expectations (the oracle is the engine over the embedded demo store)."""
    return request.param


@pytest.fixture(scope="session")
def demo_keyspace(request, curated):
    """The demo streams in a Cassandra keyspace laid out from the dictionary: (node, store)."""
    node = request.getfixturevalue("cassandra_node")
    with node.laid_out(curated) as store:
        fill_demo(store, curated)
        yield node, store


@pytest.fixture(scope="session")
def backend_env(request, export_backend) -> dict[str, str]:
    """The environment that points a server at the backend's store."""
    if export_backend == "embedded":
        return {}
    node, store = request.getfixturevalue("demo_keyspace")
    return node.settings_env(store.keyspace)


@pytest.fixture(scope="session")
def async_dir(tmp_path_factory, export_backend) -> Path:
    return tmp_path_factory.mktemp(f"async_{export_backend}")


@pytest.fixture(scope="session")
def export_server(demo_dir, async_dir, backend_env, tmp_path_factory):
    """``stream-engine serve`` over the demo streams (embedded or Cassandra) on a loopback port."""
    from live_server import start_server

    server = start_server(demo_dir, tmp_path_factory.mktemp("logs"), threads=4,
                          extra_env={"STREAM_ENGINE_ASYNC_DIR": str(async_dir), **backend_env})
    try:
        yield server
    finally:
        server.stop()


def post(url: str, body, timeout: float = 120.0) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` (JSON-encoded unless bytes): status, headers, body; errors returned."""
    import urllib.error
    import urllib.request

    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
