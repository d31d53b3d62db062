"""The schema has one truth: a warehouse upgraded through every migration from schema version 1
is the warehouse `schema.sql` creates (tables, columns, types, defaults, constraints, indexes,
views)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from flows.warehouse import store as wh

DATA = Path(__file__).resolve().parent / "data"


def shape(db: Path) -> dict[str, Any]:
    """What a warehouse file is made of, in a form two files can be compared by."""
    with duckdb.connect(str(db), read_only=True) as con:

        def q(sql: str) -> set[tuple[Any, ...]]:
            return set(con.execute(sql).fetchall())

        return {
            "tables": q("SELECT table_name FROM duckdb_tables() WHERE NOT internal"),
            "columns": q(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM duckdb_columns() WHERE NOT internal AND table_name IN "
                "(SELECT table_name FROM duckdb_tables() WHERE NOT internal)"
            ),
            "constraints": q(
                "SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints() "
                "WHERE constraint_type <> 'NOT NULL'"
            ),
            "indexes": q("SELECT table_name, index_name, sql FROM duckdb_indexes()"),
            "views": q("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal"),
        }


def test_replaying_every_migration_gives_schema_sql(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.duckdb"
    with wh.connect(fresh):
        pass
    upgraded = tmp_path / "v1.duckdb"
    with duckdb.connect(str(upgraded)) as raw:
        raw.execute((DATA / "schema_v1.sql").read_text(encoding="utf-8"))
        raw.execute("INSERT INTO schema_info (version) VALUES (1)")
    assert [m.name[:3] for m in wh.migrations(1)] == [
        f"{v:03d}" for v in range(2, wh.SCHEMA_VERSION + 1)
    ]
    with wh.connect(upgraded) as con:
        assert wh.schema_version(con) == wh.SCHEMA_VERSION
    want, got = shape(fresh), shape(upgraded)
    assert want["tables"] and want["views"]
    for part in want:
        assert got[part] == want[part], (
            part,
            sorted(want[part] - got[part]),
            sorted(got[part] - want[part]),
        )
