"""The Cassandra keyspace layout: stream tables from the preload dictionary, and the store's own tables.

Stream tables follow the OOI layout (``preload-database/generate_cql.py``): one table per
non-virtual stream, named after it, partition key ``(subsite, node, sensor, bin)``, clustering
``method, time, deployment, id``; every stored parameter a column. Types as OOI mapped them: int8,
int16, int32, uint8, uint16 -> ``int``; int64, uint32, uint64 -> ``bigint`` (uint64 keeps its bits);
float32/64 -> ``double``; strings -> ``text``; booleans -> ``boolean``; array parameters ->
``blob`` (see :mod:`stream_engine.store.cassandra_columnar`). The exact numpy dtype of each
column of each stream is kept in ``stream_columns``, so values read back are the values written.

The store's own tables:

* ``stream_metadata``     one row per stream key: bin size, write generation (a ``timeuuid`` set
  by every write; the stream's change token until ``partition_metadata`` has one).
* ``stream_columns``      the stored columns of a stream key, in the order they appeared.
* ``partition_metadata``  the partition index: (stream key, bin) -> count, first, last, and the
  bin's visible chunk version (null: the bin lives in the rows only) and the version whose
  records all have rows; and, static (one per stream), the stream's write generation, moved
  with the bins so that one read gives the index and the token of that very state.
* ``column_chunks``       each bin's records column-wise in a few large cells
  (``cassandra_chunks.py``).
* ``asset_events``        asset-management events per reference designator (JSON text).
* ``store_state``         one row whose ``generation`` moves on with every commit (change token).
* ``async_jobs``            export-job records shared by every server node (``cassandra_jobs.py``).
* ``store_leases``        leases of cluster-wide background work (the row deriver of
  ``cassandra_deriver.py``: its holder, renewed with a TTL, and what it reports pending).
* ``quality_annotation``, ``quality_qartod``, ``quality_qc``: data-quality records, one table per
  kind (``cassandra_quality.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_engine.store.base import DEPLOYMENT, QUALITY_KINDS, TIME, ColumnInfo
from stream_engine.store.records import STRING_DTYPE

__all__ = [
    "KEY_COLUMNS",
    "METADATA_TABLES",
    "TableSpec",
    "cql_type",
    "dictionary_tables",
    "keyspace_cql",
    "schema_cql",
    "schema_differences",
    "stream_table_cql",
]

# The OOI primary key columns, with their CQL types, in table order.
KEY_COLUMNS: dict[str, str] = {
    "subsite": "text",
    "node": "text",
    "sensor": "text",
    "bin": "bigint",
    "method": "text",
    TIME: "double",
    DEPLOYMENT: "int",
    "id": "uuid",
}
PARTITION_KEY = ("subsite", "node", "sensor", "bin")
CLUSTERING = ("method", TIME, DEPLOYMENT, "id")
_STREAM_KEY = "subsite text, node text, sensor text, method text, stream text"
_STREAM_PK = "(subsite, node, sensor, method, stream)"

METADATA_TABLES: dict[str, str] = {
    "stream_metadata": f"{_STREAM_KEY}, bin_seconds int, generation timeuuid, PRIMARY KEY ({_STREAM_PK})",
    "stream_columns": f"{_STREAM_KEY}, position int, name text, dtype text, width int, "
    f"PRIMARY KEY ({_STREAM_PK}, position)",
    "partition_metadata": f"{_STREAM_KEY}, bin bigint, count bigint, first double, last double, "
    f"chunk_version timeuuid, rows_version timeuuid, generation timeuuid static, PRIMARY KEY ({_STREAM_PK}, bin)",
    "column_chunks": "subsite text, node text, sensor text, method text, stream text, bin bigint, "
    "version timeuuid, name text, chunk int, count int, data blob, "
    "PRIMARY KEY ((subsite, node, sensor, method, stream, bin), version, name, chunk)",
    "asset_events": "refdes text PRIMARY KEY, events text, generation timeuuid",
    "store_state": "id int PRIMARY KEY, generation timeuuid",
    "async_jobs": "id text PRIMARY KEY, state text, node text, updated timestamp, body text",
    "store_leases": "name text PRIMARY KEY, holder text, pending_bins bigint, pending_records bigint, "
    "rows_written bigint, updated timestamp",
    # one table per kind of data-quality record (cassandra_quality.py)
    **{f"quality_{kind}": "part int, id bigint, record text, next_id bigint static, PRIMARY KEY (part, id)"
       for kind in QUALITY_KINDS},
}
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_CQL_OF_KIND = {"i1": "int", "i2": "int", "i4": "int", "u1": "int", "u2": "int", "i8": "bigint",
                "u4": "bigint", "u8": "bigint", "f4": "double", "f8": "double", "b1": "boolean"}


def check_identifier(name: str, what: str) -> str:
    """``name`` if it can be a Cassandra table or column name (letters, digits, ``_``; <= 48)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"{what} {name!r} cannot be a Cassandra name: use letters, digits and '_' (starting "
            "with a letter), at most 48 characters"
        )
    return name


def cql_type(info: ColumnInfo) -> str:
    """The CQL type a column of ``info``'s dtype and shape is stored as (the OOI mapping)."""
    if info.shape:
        return "blob"
    if info.dtype == STRING_DTYPE:
        return "text"
    dt = np.dtype(info.dtype)
    return _CQL_OF_KIND[f"{dt.kind}{dt.itemsize}"]


def quote(name: str) -> str:
    """A column name as a CQL identifier (quoted, so case and reserved words survive)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A stream table: its name and its parameter columns (name -> CQL type), key columns excluded."""

    name: str
    columns: dict[str, str]


def stream_table_cql(keyspace: str, spec: TableSpec) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one stream table in the OOI layout."""
    columns = [f"{name} {kind}" for name, kind in KEY_COLUMNS.items()]
    columns += [f"{quote(name)} {kind}" for name, kind in spec.columns.items() if name not in KEY_COLUMNS]
    key = f"PRIMARY KEY (({', '.join(PARTITION_KEY)}), {', '.join(CLUSTERING)})"
    return f"CREATE TABLE IF NOT EXISTS {keyspace}.{spec.name} (\n    " + ",\n    ".join([*columns, key]) + "\n)"


def keyspace_cql(keyspace: str, replication: Mapping[str, Any]) -> str:
    """``CREATE KEYSPACE IF NOT EXISTS`` with the replication map given."""
    items = ", ".join(f"'{k}': '{v}'" for k, v in replication.items())
    return f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{{items}}}"


def metadata_cql(keyspace: str) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for the store's own tables."""
    return [f"CREATE TABLE IF NOT EXISTS {keyspace}.{name} ({body})" for name, body in METADATA_TABLES.items()]


def dictionary_tables(preload: Any) -> list[TableSpec]:
    """One :class:`TableSpec` per non-virtual stream of the preload dictionary, sorted by name.

    Stored parameters only: derived products (parameter functions) are never stored.
    """
    specs = []
    for name in sorted(preload.streams):
        definition = preload.streams[name]
        if definition.is_virtual or not _IDENTIFIER.match(name) or name in METADATA_TABLES:
            continue
        columns: dict[str, str] = {}
        for pid in definition.parameter_ids:
            parameter = preload.parameters.get(pid)
            if parameter is None or parameter.is_function or parameter.name in KEY_COLUMNS:
                continue
            dtype = np.dtype(parameter.dtype)
            info = ColumnInfo(parameter.name, STRING_DTYPE if dtype.kind == "U" else dtype.str,
                              (1,) if parameter.is_array else ())
            columns[parameter.name] = cql_type(info)
        specs.append(TableSpec(name, columns))
    return specs


def schema_cql(keyspace: str, replication: Mapping[str, Any], tables: Iterable[TableSpec]) -> list[str]:
    """Every statement that creates the keyspace, the store's tables and the stream tables."""
    return [keyspace_cql(keyspace, replication), *metadata_cql(keyspace),
            *(stream_table_cql(keyspace, spec) for spec in tables)]


def _cql_type_name(column: Any) -> str:
    return str(getattr(column, "cql_type", "")).lower()


def schema_differences(keyspace_meta: Any, keyspace: str, tables: Iterable[TableSpec]) -> list[str]:
    """How a keyspace (driver ``KeyspaceMetadata`` or ``None``) differs from the expected layout.

    Missing keyspace or tables, missing columns, other column types, other primary keys. Columns
    the dictionary does not name are allowed (parameters added by later writes).
    """
    if keyspace_meta is None:
        return [f"keyspace {keyspace!r} does not exist"]
    found = keyspace_meta.tables
    problems = []
    for name, body in METADATA_TABLES.items():
        if name not in found:
            problems.append(f"table {keyspace}.{name} is missing")
            continue
        for column in body.split(", PRIMARY KEY")[0].split(", "):
            if " PRIMARY KEY" in column:
                column = column.replace(" PRIMARY KEY", "")
            col, kind = column.split()[:2]  # a third word: "static"
            have = found[name].columns.get(col)
            if have is None or _cql_type_name(have) != kind:
                problems.append(
                    f"table {keyspace}.{name} column {col} is "
                    + ("missing" if have is None else f"{_cql_type_name(have)}, expected {kind}")
                )
    for spec in tables:
        table = found.get(spec.name)
        if table is None:
            problems.append(f"stream table {keyspace}.{spec.name} is missing")
            continue
        pk = tuple(c.name for c in table.partition_key)
        ck = tuple(c.name for c in table.clustering_key)
        if pk != PARTITION_KEY or ck != CLUSTERING:
            problems.append(
                f"stream table {keyspace}.{spec.name} has primary key (({', '.join(pk)}), "
                f"{', '.join(ck)}); the OOI layout is (({', '.join(PARTITION_KEY)}), {', '.join(CLUSTERING)})"
            )
        for col, kind in {**KEY_COLUMNS, **spec.columns}.items():
            have = table.columns.get(col)
            if have is None:
                problems.append(f"stream table {keyspace}.{spec.name} lacks column {col} ({kind})")
            elif _cql_type_name(have) != kind:
                problems.append(
                    f"stream table {keyspace}.{spec.name} column {col} is {_cql_type_name(have)}; "
                    f"the dictionary needs {kind}"
                )
    return problems
