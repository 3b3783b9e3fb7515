"""The embedded store's schema: its tables, its format version, upgrades, the write generation.

What the tables hold is described in ``embedded.py``.
"""

from __future__ import annotations

import sqlite3
import time

SCHEMA_VERSION = 4  # 3: the ``quality`` table (data-quality records); 4: ``chunks.one_dep``
#: Statements taking a file of an older format to this one (``user_version`` -> script).
_UPGRADES = {
    1: "ALTER TABLE streams ADD COLUMN generation INTEGER NOT NULL DEFAULT 0; "
    "ALTER TABLE streams ADD COLUMN modified REAL NOT NULL DEFAULT 0; "
    "ALTER TABLE assets ADD COLUMN generation INTEGER NOT NULL DEFAULT 0; "
    "ALTER TABLE assets ADD COLUMN modified REAL NOT NULL DEFAULT 0;",
    2: "CREATE TABLE IF NOT EXISTS quality (kind TEXT NOT NULL, id INTEGER NOT NULL, record TEXT NOT NULL, "
    "PRIMARY KEY (kind, id));",
    3: "ALTER TABLE chunks ADD COLUMN one_dep INTEGER;",  # NULL for the chunks already there: not known
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY, subsite TEXT NOT NULL, node TEXT NOT NULL, sensor TEXT NOT NULL,
    method TEXT NOT NULL, stream TEXT NOT NULL, bin_seconds INTEGER NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0, modified REAL NOT NULL DEFAULT 0,
    UNIQUE (subsite, node, sensor, method, stream));
CREATE TABLE IF NOT EXISTS columns (
    id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, name TEXT NOT NULL, dtype TEXT NOT NULL,
    width INTEGER, UNIQUE (stream_id, name));
CREATE TABLE IF NOT EXISTS partitions (
    stream_id INTEGER NOT NULL, bin INTEGER NOT NULL, count INTEGER NOT NULL,
    first REAL NOT NULL, last REAL NOT NULL, PRIMARY KEY (stream_id, bin)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, bin INTEGER NOT NULL,
    first_time REAL NOT NULL, first_dep INTEGER NOT NULL,
    last_time REAL NOT NULL, last_dep INTEGER NOT NULL, count INTEGER NOT NULL, one_dep INTEGER,
    UNIQUE (stream_id, bin, first_time, first_dep));
CREATE TABLE IF NOT EXISTS chunk_data (
    chunk_id INTEGER NOT NULL, column_id INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (chunk_id, column_id));
CREATE TABLE IF NOT EXISTS assets (
    refdes TEXT PRIMARY KEY, events TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0, modified REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS quality (
    kind TEXT NOT NULL, id INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (kind, id));
"""


def upgrade(conn: sqlite3.Connection) -> int:
    """Bring an older file to :data:`SCHEMA_VERSION` in one transaction; returns its version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        while version in _UPGRADES:
            for statement in _UPGRADES[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            version += 1
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
    return version


def next_generation(conn: sqlite3.Connection) -> tuple[int, float]:
    """The generation and time to stamp on what a write transaction changes.

    Larger than every generation in the file (streams and assets share one counter), so a
    token never comes back after a change; only call it inside ``BEGIN IMMEDIATE``.
    """
    row = conn.execute(
        "SELECT max(coalesce((SELECT max(generation) FROM streams), 0), "
        "coalesce((SELECT max(generation) FROM assets), 0))"
    ).fetchone()
    return int(row[0]) + 1, time.time()
