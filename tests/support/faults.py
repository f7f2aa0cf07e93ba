"""Faults injected under the meter: a store whose disk is full."""

from __future__ import annotations

import sqlite3


class DiskFull:
    """Stands in for a Store's SQLite connection (``store._db``): every COMMIT fails as on a
    full disk, everything else goes through."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


class Recording:
    """Stands in for a Store's SQLite connection (``store._db``): every statement it runs goes
    on ``seen`` (BEGIN and COMMIT too, which a trace callback does not see)."""

    def __init__(self, db: sqlite3.Connection, seen: list[str]) -> None:
        self._db, self._seen = db, seen

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        self._seen.append(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: object) -> sqlite3.Cursor:
        self._seen.append(sql)
        return self._db.executemany(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)
