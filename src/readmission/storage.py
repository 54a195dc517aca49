"""The two databases and their tables, created by code, identical on MariaDB/MySQL and SQLite.

``raw_data_db`` holds what the data source sent (``diabetes_raw``, ``ingestion_log``,
``quarantine``); ``clean_data_db`` holds what ``prepare`` derives from it
(``diabetes_clean``, ``train_data``, ``validation_data``, ``test_data``) and the
``drift`` of every ingested batch against the champion's training data.

Bulk writes use the fastest idempotent path of each backend: ``LOAD DATA LOCAL
INFILE ... IGNORE`` on MySQL (PyMySQL with ``local_infile``; the CSV is made by pyarrow
in memory and streamed to the server, never written to disk), ``executemany``
with ``INSERT OR IGNORE`` on SQLite. Both skip rows whose unique key exists. On
MySQL, ``IGNORE`` also turns a bad value (one too long for its column...) into a
warning: a bulk write with any warning other than a skipped duplicate raises
:class:`LoadWarningError`, so the caller's transaction writes nothing.
"""

from __future__ import annotations

import logging
import os
import ssl
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from readmission import schema
from readmission.config import get_settings

logger = logging.getLogger(__name__)

RAW_TABLE = "diabetes_raw"
INGESTION_LOG_TABLE = "ingestion_log"
QUARANTINE_TABLE = "quarantine"
CLEAN_TABLE = "diabetes_clean"
SPLIT_TABLES: dict[str, str] = {"train": "train_data", "validation": "validation_data", "test": "test_data"}
LABEL_COLUMN = "label"
DRIFT_TABLE = "drift"

DUPLICATE_KEY_WARNING = 1062
"""MySQL's warning for a row skipped by ``IGNORE`` because its key exists (expected, counted as a duplicate)."""


class LoadWarningError(Exception):
    """The server accepted a bulk write only with warnings (truncated or converted values): nothing is kept."""


def _raw_type(column: schema.Column, *, wide: bool = False) -> sa.types.TypeEngine[Any]:
    if column.kind is schema.Kind.IDENTIFIER:
        return sa.BigInteger()
    if column.is_integer:
        return sa.Integer()
    if column.kind is schema.Kind.ICD9 and not wide:
        return sa.String(8)
    if column.kind in (schema.Kind.CATEGORY, schema.Kind.TARGET) and not wide:
        return sa.String(max(len(level) for level in column.levels))
    return sa.String(64)


TABLE_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
"""Tables store any text as sent (a server's latin1 default would turn a quarantined value into '?')."""

# --------------------------------------------------------------------------- raw_data_db

raw_metadata = sa.MetaData()

diabetes_raw = sa.Table(
    RAW_TABLE,
    raw_metadata,
    *(
        sa.Column(
            c.name,
            _raw_type(c),
            primary_key=c.name == "encounter_id",
            autoincrement=False,
            nullable=c.nullable,
        )
        for c in schema.COLUMNS
    ),
    sa.Column("batch_number", sa.Integer, nullable=False),
    sa.Column("ingested_at", sa.DateTime, nullable=False),
    **TABLE_OPTIONS,
)
"""One row per encounter; ``encounter_id`` is the unique key that makes ingestion idempotent.

A write-optimised landing table: no secondary index (one on ``patient_nbr`` cost
17 % of the bulk load); lookups by patient use the clean tables, which have it."""

ingestion_log = sa.Table(
    INGESTION_LOG_TABLE,
    raw_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_number", sa.Integer, nullable=False, index=True),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("received", sa.Integer, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False),
    sa.Column("duplicates", sa.Integer, nullable=False),
    sa.Column("quarantined", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    **TABLE_OPTIONS,
)
"""One row per ingestion run of a batch (a re-run adds a row with ``inserted`` 0)."""

quarantine = sa.Table(
    QUARANTINE_TABLE,
    raw_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_number", sa.Integer, nullable=False),
    sa.Column("row_hash", sa.String(64), nullable=False),
    sa.Column("encounter_id", sa.BigInteger, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("quarantined_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("batch_number", "row_hash", name="uq_quarantine_batch_row"),
    **TABLE_OPTIONS,
)
"""Rows that failed validation, kept verbatim (JSON) with every reason; one copy per batch."""


# --------------------------------------------------------------------------- clean_data_db


def _clean_column(name: str) -> sa.Column[Any]:
    if name == LABEL_COLUMN:
        return sa.Column(name, sa.SmallInteger, nullable=False)
    column = schema.BY_NAME.get(name)
    if column is None:
        return sa.Column(name, sa.String(64), nullable=True)
    if column.kind is schema.Kind.IDENTIFIER:
        return sa.Column(name, sa.BigInteger, nullable=False, primary_key=name == "encounter_id", autoincrement=False)
    return sa.Column(name, _raw_type(column, wide=True), nullable=True)


@cache
def clean_metadata() -> sa.MetaData:
    """The clean tables, whose columns are ``features.CLEAN_COLUMNS`` (imported on first use)."""
    from readmission import features

    metadata = sa.MetaData()
    for table_name in (CLEAN_TABLE, *SPLIT_TABLES.values()):
        sa.Table(
            table_name,
            metadata,
            *(_clean_column(name) for name in features.CLEAN_COLUMNS),
            sa.Index(f"ix_{table_name}_patient_nbr", "patient_nbr"),
            **TABLE_OPTIONS,
        )
    sa.Table(
        DRIFT_TABLE,
        metadata,
        sa.Column("batch_number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("feature", sa.String(64), primary_key=True),
        sa.Column("psi", sa.Float, nullable=False),
        sa.Column("unseen_share", sa.Float, nullable=False),
        sa.Column("missing_rate", sa.Float, nullable=False),
        sa.Column("reference_missing_rate", sa.Float, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("note", sa.String(255), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=True),
        sa.Column("computed_at", sa.DateTime, nullable=False),
    )  # one row per batch and feature (readmission.drift); a re-check replaces the batch's rows
    return metadata


def clean_table(name: str) -> sa.Table:
    return clean_metadata().tables[name]


# --------------------------------------------------------------------------- engines


@cache
def get_engine(url: str, ssl_ca: str | None = None) -> sa.Engine:
    """One pooled engine per URL (and CA bundle). MySQL: TLS with ``?ssl=true`` in the URL (system CAs) or
    ``ssl_ca`` (``DATABASE_SSL_CA``), the server's certificate and name verified; no ``LOCAL INFILE``
    (only :func:`loading` connections may send a file, and only their own)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "mysql" and parsed.get_driver_name() == "pymysql":
        tls = parsed.query.get("ssl", "false")
        if tls not in _FALSE and tls not in _TRUE:
            raise ValueError(f"?ssl= must be true or false in the database URL, got {tls!r}")
        parsed = parsed.difference_update_query(["ssl"])
        connect_args = {"charset": "utf8mb4"}
        if tls in _TRUE or ssl_ca:
            connect_args["ssl"] = ssl.create_default_context(cafile=ssl_ca or None)  # verifies cert and host name
    engine = sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True, pool_recycle=3600)
    if connect_args:
        _LOADER_ARGS[engine] = (parsed, connect_args)
    return engine


_TRUE = ("true", "1", "yes", "required")
_FALSE = ("false", "0", "no", "")
_LOADER_ARGS: dict[sa.Engine, tuple[sa.URL, dict[str, Any]]] = {}
"""How to open a connection like the engine's, for :func:`loading` (MySQL via PyMySQL only)."""


@cache
def loading_engine(engine: sa.Engine) -> sa.Engine:
    """A sibling of ``engine`` whose connections may answer ``LOCAL INFILE`` requests, each only for the
    file its own ``LOAD DATA`` statement names (:func:`_guard_local_files`); the engine itself never may."""
    if engine not in _LOADER_ARGS or not _guard_local_files():
        return engine  # SQLite, or a PyMySQL without the hook: LOAD DATA is refused and multi-row INSERT used
    url, connect_args = _LOADER_ARGS[engine]
    return sa.create_engine(
        url, connect_args={**connect_args, "local_infile": True}, pool_pre_ping=True, pool_recycle=3600, pool_size=2
    )


@cache
def _guard_local_files() -> bool:
    """Make PyMySQL answer a ``LOCAL INFILE`` request only with its connection's own bulk write (True if in place).

    A rogue or compromised server can answer any statement with "send me /etc/...": PyMySQL would send
    that file on a connection opened with ``local_infile``. The guard never opens a file: it sends the CSV
    held in memory by the connection's running ``LOAD DATA`` (:class:`BulkFile`), and only when the server
    asks for the name that statement gave it; any other request is refused."""
    import pymysql.connections  # only MySQL engines need the driver (SQLite runs without it)
    import pymysql.err

    if getattr(pymysql.connections, "_send_local_file", None) is None:
        logger.warning("PyMySQL has no _send_local_file hook: bulk loads use multi-row INSERT")
        return False

    def send_own_file_only(filename: str | bytes, conn: Any) -> None:
        outgoing: _Outgoing | None = getattr(conn, "readmission_local_file", None)
        if outgoing is None or os.fsencode(filename) != outgoing.name:
            logger.error("refused the database server's request for local file %r", filename)
            raise pymysql.err.OperationalError(2068, f"refused to send {filename!r}: not this connection's own file")
        view = memoryview(outgoing.data)
        for start in range(0, len(view), outgoing.packet_bytes):  # PyMySQL sends the closing empty packet
            conn.write_packet(view[start : start + outgoing.packet_bytes])

    pymysql.connections._send_local_file = send_own_file_only
    return True


@dataclass(frozen=True)
class _Outgoing:
    """What a loader connection may send: the CSV of its running ``LOAD DATA``, under the name it gave."""

    name: bytes
    data: Any
    """A buffer (``pyarrow.Buffer``, bytes)."""
    packet_bytes: int


def raw_engine(url: str | None = None) -> sa.Engine:
    """The raw database engine with its tables created (``RAW_DATABASE_URL`` by default)."""
    settings = get_settings()
    engine = get_engine(url or settings.resolved_raw_database_url, settings.database_ssl_ca)
    raw_metadata.create_all(engine)
    return engine


def clean_engine(url: str | None = None) -> sa.Engine:
    """The clean database engine with its tables created (``CLEAN_DATABASE_URL`` by default)."""
    settings = get_settings()
    engine = get_engine(url or settings.resolved_clean_database_url, settings.database_ssl_ca)
    clean_metadata().create_all(engine)
    return engine


def is_mysql(conn: sa.Connection | sa.Engine) -> bool:
    return conn.dialect.name in ("mysql", "mariadb")


@contextmanager
def loading(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction for bulk writes (``bulk_insert_frame``): committed at exit, rolled back on error.

    On MySQL its connection comes from a sibling pool that may send ``LOAD DATA LOCAL`` files (each
    statement only its own temporary file); other connections of the engine never send a file."""
    with loading_engine(engine).begin() as conn:
        yield conn


def rows_by_key(
    conn: sa.Connection, table: sa.Table, names: Iterable[str], keys: list[Any], *, chunk: int = 5000
) -> dict[Any, tuple[Any, ...]]:
    """``{key: row}`` of the stored rows whose primary key is in ``keys``; the row has the columns ``names``."""
    (key_column,) = table.primary_key.columns
    columns = [table.c[name] for name in names]
    found: dict[Any, tuple[Any, ...]] = {}
    for start in range(0, len(keys), chunk):
        statement = sa.select(key_column, *columns).where(key_column.in_(keys[start : start + chunk]))
        for row in conn.execute(statement):
            found[row[0]] = tuple(row[1:])
    return found


# --------------------------------------------------------------------------- bulk writes


def insert_ignore(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts), skipping those whose unique key exists; the number inserted."""
    if not rows:
        return 0
    statement = sa.insert(table)
    if is_mysql(conn):
        statement = statement.prefix_with("IGNORE")
    elif conn.dialect.name == "sqlite":
        statement = statement.prefix_with("OR IGNORE")
    else:  # pragma: no cover - other backends are not supported
        raise NotImplementedError(f"insert-ignore is not implemented for {conn.dialect.name}")
    return int(conn.execute(statement, rows).rowcount)


def bulk_insert_frame(
    conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, *, prepared: BulkFile | None = None
) -> int:
    """Insert every row of ``frame`` into ``table`` skipping existing keys; the number inserted.

    Runs inside the caller's transaction. ``frame`` holds exactly the table's columns
    (extra columns are ignored); missing values may be ``None`` or NaN. ``prepared``: the
    same rows already serialised by :func:`bulk_file` (MySQL), e.g. while the previous batch loaded.
    """
    names = [c.name for c in table.columns if c.name in frame.columns]
    if frame.empty or not is_mysql(conn):
        return 0 if frame.empty else _executemany_or_ignore(conn, table, frame[names])
    return _load_data_infile(conn, prepared or bulk_file(table, frame[names], conn.dialect))


def _python_rows(frame: pd.DataFrame) -> Iterable[tuple[Any, ...]]:
    """Rows as tuples of plain Python values with ``None`` for missing values."""
    columns = []
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "iub":
            columns.append(series.tolist())
            continue
        values = series.to_numpy(dtype=object, copy=True)
        values[series.isna().to_numpy()] = None
        columns.append(values.tolist())
    return zip(*columns, strict=True)


def _executemany_or_ignore(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """``INSERT OR IGNORE`` (SQLite) or ``INSERT IGNORE`` (MySQL: PyMySQL's executemany sends multi-row
    statements) of every row of ``frame``; returns the rows inserted."""
    mysql = is_mysql(conn)
    preparer = conn.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in frame.columns)
    placeholders = ", ".join(("%s" if mysql else "?") for _ in frame.columns)
    verb = "INSERT IGNORE" if mysql else "INSERT OR IGNORE"
    sql = f"{verb} INTO {preparer.format_table(table)} ({columns}) VALUES ({placeholders})"
    rows = list(_python_rows(frame))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if not mysql:
            cursor.executemany(sql, rows)
            return int(cursor.rowcount)
        inserted = 0
        for start in range(0, len(rows), _CHUNK_ROWS):  # warnings are reported per statement
            chunk = rows[start : start + _CHUNK_ROWS]
            cursor.executemany(sql, chunk)
            count = int(cursor.rowcount)
            _raise_on_warnings(cursor, table, len(chunk), count)
            inserted += count
        return inserted
    finally:
        cursor.close()


_CHUNK_ROWS = 1000
"""Rows per multi-row ``INSERT IGNORE`` (one statement each, well below ``max_allowed_packet``)."""


def _raise_on_warnings(cursor: Any, table: sa.Table, rows: int, inserted: int) -> None:
    """Raise :class:`LoadWarningError` when the last statement left warnings other than skipped duplicates."""
    cursor.execute("SELECT @@warning_count")
    (count,) = cursor.fetchone()
    if int(count) <= rows - inserted:  # one warning per skipped duplicate
        return
    cursor.execute("SHOW WARNINGS LIMIT 20")
    problems = [f"{code} {message}" for _level, code, message in cursor.fetchall() if code != DUPLICATE_KEY_WARNING]
    raise LoadWarningError(
        f"loading {rows} rows into {table.name} gave {int(count) - (rows - inserted)} warning(s) "
        f"besides skipped duplicates; nothing was kept: {'; '.join(problems[:5]) or 'see SHOW WARNINGS'}"
    )


def _plain_csv(arrow: Any) -> Any:
    """``arrow`` as unquoted CSV with ``\\N`` for NULL (a ``pyarrow.Buffer``); None when a value needs
    quoting or escaping (a delimiter, quote, line break or backslash)."""
    import pyarrow as pa  # pyarrow takes a second to import: only for a MySQL bulk load
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    columns = []
    for column in arrow.columns:
        if column.null_count:
            is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            column = pc.fill_null(column if is_text else pc.cast(column, pa.string()), "\\N")
        columns.append(column)
    sink = pa.BufferOutputStream()
    try:
        pacsv.write_csv(
            pa.table(columns, names=arrow.column_names),
            sink,
            pacsv.WriteOptions(include_header=False, quoting_style="none"),
        )
    except pa.ArrowInvalid:  # a delimiter, quote or line break inside a value
        return None
    data = sink.getvalue()
    # Every backslash must be one of the NULL markers: one in a value would be read as an escape.
    markers = sum(column.null_count for column in arrow.columns)
    if np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == ord("\\")) != markers:
        return None
    return data


def _quoted_csv(arrow: Any) -> Any:
    """``arrow`` as CSV with every string quoted (``"`` doubled inside) and an empty field for NULL."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(arrow, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()


@dataclass(frozen=True)
class BulkFile:
    """Rows serialised as CSV in memory, with the ``LOAD DATA LOCAL INFILE`` statement that reads them (MySQL).

    Nothing is written to disk: the statement names ``name`` (no such file exists), and the loader
    connection answers the server's request for that name with ``data`` (:func:`_guard_local_files`)."""

    table: sa.Table
    frame: pd.DataFrame
    name: str
    data: Any
    """The CSV (a ``pyarrow.Buffer``)."""
    sql: str


def bulk_file(table: sa.Table, frame: pd.DataFrame, dialect: sa.Dialect) -> BulkFile:
    """Serialise ``frame`` (the table's columns) as CSV for ``LOAD DATA LOCAL INFILE ... IGNORE`` (no connection
    needed, so it can run while another batch loads).

    Plain CSV with ``\\N`` for NULL when no value needs quoting (validated raw rows never
    do); otherwise quoted CSV where an empty field means NULL.
    """
    import pyarrow as pa  # pyarrow takes a second to import: only for a MySQL bulk load

    preparer = dialect.identifier_preparer
    # One thread: pyarrow's pool costs more CPU than it saves on a batch, and the caller may be
    # loading another batch meanwhile (ingest.ingest_many).
    arrow = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
    names = ", ".join(preparer.quote(name) for name in frame.columns)
    name = f"readmission-{table.name}-{uuid.uuid4().hex}.csv"
    data = _plain_csv(arrow)
    if data is not None:
        sql = (
            f"LOAD DATA LOCAL INFILE %s IGNORE INTO TABLE {preparer.format_table(table)} "
            "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n' "
            f"({names})"
        )
        return BulkFile(table, frame, name, data, sql)
    targets = []
    assignments = []
    for index, column in enumerate(frame.columns):
        quoted = preparer.quote(column)
        if table.columns[column].nullable:
            # pyarrow writes a missing value as an empty field; "" is never valid data here.
            targets.append(f"@v{index}")
            assignments.append(f"{quoted} = NULLIF(@v{index}, '')")
        else:
            targets.append(quoted)
    set_clause = f" SET {', '.join(assignments)}" if assignments else ""
    sql = (
        f"LOAD DATA LOCAL INFILE %s IGNORE INTO TABLE {preparer.format_table(table)} "
        "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
        f"LINES TERMINATED BY '\\n' ({', '.join(targets)}){set_clause}"
    )
    return BulkFile(table, frame, name, _quoted_csv(arrow), sql)


def _load_data_infile(conn: sa.Connection, file: BulkFile) -> int:
    """``LOAD DATA LOCAL INFILE ... IGNORE`` of a :class:`BulkFile` (multi-row INSERT if the server refuses)."""
    dbapi = conn.connection.dbapi_connection
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    try:
        _allow_file(dbapi, file, _packet_bytes(dbapi, cursor))
        try:
            cursor.execute(file.sql, (file.name,))
        finally:
            _allow_file(dbapi, None)
        inserted = int(cursor.rowcount)
        _raise_on_warnings(cursor, file.table, len(file.frame), inserted)
        return inserted
    except Exception as error:
        code = error.args[0] if error.args else None
        if code not in _LOCAL_INFILE_DISABLED:
            raise
        logger.warning("LOAD DATA LOCAL INFILE is disabled on the server (set local_infile=1 there); "
                       "using multi-row INSERT IGNORE")  # fmt: skip
    finally:
        cursor.close()
    return _executemany_or_ignore(conn, file.table, file.frame)


_MAX_PACKET_BYTES = 4 << 20
"""The largest packet of ``LOCAL INFILE`` data sent: few packets, so a thread preparing the next batch
(holding the GIL) rarely delays the send."""


def _packet_bytes(dbapi_connection: Any, cursor: Any) -> int:
    """The packet size for a connection's ``LOCAL INFILE`` data: half the smaller of the client's and the
    server's ``max_allowed_packet`` (asked once per connection), at most ``_MAX_PACKET_BYTES``."""
    cached: int | None = getattr(dbapi_connection, "readmission_packet_bytes", None)
    if cached is None:
        cursor.execute("SELECT @@max_allowed_packet")
        (server,) = cursor.fetchone()
        cached = max(1024, min(_MAX_PACKET_BYTES, int(server) // 2, int(dbapi_connection.max_allowed_packet) // 2))
        dbapi_connection.readmission_packet_bytes = cached
    return cached


def _allow_file(dbapi_connection: Any, file: BulkFile | None, packet_bytes: int = _MAX_PACKET_BYTES) -> None:
    """Let a loader connection send ``file``'s data (only it) to the server; ``None``: nothing at all."""
    dbapi_connection.readmission_local_file = (
        None if file is None else _Outgoing(os.fsencode(file.name), file.data, packet_bytes)
    )


_LOCAL_INFILE_DISABLED = frozenset({1148, 2068, 3948, 4166})
"""MySQL/MariaDB error codes meaning the server or client refuses ``LOAD DATA LOCAL``."""


def replace_table(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """Replace the whole content of ``table`` with ``frame`` inside the caller's transaction."""
    conn.execute(sa.delete(table))
    return bulk_insert_frame(conn, table, frame)


def read_table(conn: sa.Connection | sa.Engine, table: sa.Table) -> pd.DataFrame:
    """The whole table as a DataFrame: int64 for NOT NULL integers, object (None for NULL) otherwise."""
    with _connection(conn) as connection:
        result = connection.execute(sa.select(table))
        rows = result.cursor.fetchall() if result.cursor is not None else []
        names = list(result.keys())
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    data: dict[str, Any] = {}
    for name, values in zip(names, columns, strict=True):
        column = table.columns[name]
        if isinstance(column.type, sa.Integer) and not column.nullable:
            data[name] = np.array(values, dtype=np.int64)
        elif isinstance(column.type, sa.DateTime):
            data[name] = pd.to_datetime(pd.Series(values, dtype=object))
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data, columns=names)


def count_rows(conn: sa.Connection | sa.Engine, table: sa.Table) -> int:
    with _connection(conn) as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@contextmanager
def _connection(conn: sa.Connection | sa.Engine) -> Iterator[sa.Connection]:
    """Use a given connection as is, or open (and close) one from an engine."""
    if isinstance(conn, sa.Connection):
        yield conn
    else:
        with conn.connect() as opened:
            yield opened
