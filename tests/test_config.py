"""Settings: defaults, config/local.py, STREAM_ENGINE_<KEY> variables, validation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.errors import ConfigError


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(REPO_ROOT / "config" / "default.py", folder / "default.py")
    return folder


def test_defaults_load(config_dir: Path) -> None:
    settings = load_settings(config_dir, environ={})
    assert settings.STORE == "embedded"
    assert settings.BIND == "127.0.0.1:12576"
    assert settings.WORKERS == 2 and settings.THREADS == 16
    assert settings.path("LOG_DIR") == REPO_ROOT / "logs"
    assert settings.path("PID_FILE") == REPO_ROOT / "stream_engine.pid"


def test_local_py_overrides_defaults(config_dir: Path) -> None:
    (config_dir / "local.py").write_text('BIND = "0.0.0.0:9000"\nWORKERS = 7\n')
    settings = load_settings(config_dir, environ={})
    assert settings.BIND == "0.0.0.0:9000"
    assert settings.WORKERS == 7
    assert settings.THREADS == 16


def test_local_py_unknown_setting_is_named(config_dir: Path) -> None:
    (config_dir / "local.py").write_text("WORKRES = 3\n")
    with pytest.raises(ConfigError, match="WORKRES"):
        load_settings(config_dir, environ={})


def test_environment_wins_and_is_parsed_as_literal(config_dir: Path) -> None:
    (config_dir / "local.py").write_text("WORKERS = 7\n")
    environ = {
        "STREAM_ENGINE_WORKERS": "5",
        "STREAM_ENGINE_REQUIRE_DEPLOYMENT": "True",
        "STREAM_ENGINE_MAX_DEPTH_VARIANCE": "2.5",
        "STREAM_ENGINE_CASSANDRA_HOSTS": "db1,db2",
        "STREAM_ENGINE_DATA_DIR": "/srv/stream-engine",
        "UNRELATED": "x",
    }
    settings = load_settings(config_dir, environ=environ)
    assert settings.WORKERS == 5
    assert settings.REQUIRE_DEPLOYMENT is True
    assert settings.MAX_DEPTH_VARIANCE == 2.5
    assert settings.CASSANDRA_HOSTS == ["db1", "db2"]
    assert settings.path("DATA_DIR") == Path("/srv/stream-engine")


def test_unknown_environment_key_is_named(config_dir: Path) -> None:
    with pytest.raises(ConfigError, match="STREAM_ENGINE_WORKRES"):
        load_settings(config_dir, environ={"STREAM_ENGINE_WORKRES": "3"})


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("STORE", "sqlite"),
        ("BIND", "localhost"),
        ("BIND", ":8080"),
        ("WORKERS", "0"),
        ("WORKERS", "two"),
        ("THREADS", "-1"),
        ("LOG_LEVEL", "LOUD"),
        ("CASSANDRA_ROWS", "sometimes"),
        ("CASSANDRA_ROWS_BATCH", "0"),
        ("MALLOC_MMAP_THRESHOLD", "-1"),
        ("MALLOC_MMAP_THRESHOLD", "67108864"),  # above glibc's 32 MiB ceiling
        ("MALLOC_TRIM_THRESHOLD", "0"),  # while MALLOC_MMAP_THRESHOLD is set: both or neither
    ],
)
def test_bad_value_names_the_setting(config_dir: Path, key: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=rf"setting {key} = .*{raw}"):
        load_settings(config_dir, environ={f"STREAM_ENGINE_{key}": raw})


def test_the_replaced_write_rows_setting_says_what_to_set_instead(config_dir: Path) -> None:
    assert load_settings(config_dir, environ={}).CASSANDRA_ROWS == "background"
    with pytest.raises(ConfigError, match="STREAM_ENGINE_CASSANDRA_WRITE_ROWS.*CASSANDRA_ROWS.*with-ingest"):
        load_settings(config_dir, environ={"STREAM_ENGINE_CASSANDRA_WRITE_ROWS": "True"})
    (config_dir / "local.py").write_text("CASSANDRA_WRITE_ROWS = False\n")
    with pytest.raises(ConfigError, match="config/local.py sets CASSANDRA_WRITE_ROWS.*\"off\" for False"):
        load_settings(config_dir, environ={})


def test_replace_checks_the_new_value(config_dir: Path) -> None:
    settings = load_settings(config_dir, environ={})
    assert settings.replace(BIND="127.0.0.1:1").BIND == "127.0.0.1:1"
    with pytest.raises(ConfigError, match="BIND"):
        settings.replace(BIND="nowhere")


def test_test_only_variables_have_a_prefix_of_their_own(config_dir: Path) -> None:
    settings = load_settings(config_dir, environ={"TEST_STREAM_ENGINE_OOI_DIR": "/x"})
    assert settings.STORE == "embedded"
    with pytest.raises(ConfigError, match="TEST_STREAM_ENGINE_"):
        load_settings(config_dir, environ={"STREAM_ENGINE_TEST_OOI_DIR": "/x"})
    # the one exception: the switch that makes Cassandra tests fail instead of skip, by its
    # specified name, is not a setting and not an error
    assert load_settings(config_dir, environ={"STREAM_ENGINE_TEST_CASSANDRA": "1"}).STORE == "embedded"


def test_ci_fails_instead_of_skipping_without_the_reference_data(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "CI": "true", "TEST_STREAM_ENGINE_OOI_DIR": str(tmp_path / "absent")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(REPO_ROOT / "tests" / "test_config.py"), "-k", "defaults_load"],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )
    assert result.returncode != 0
    assert "OOI reference data" in result.stdout + result.stderr
