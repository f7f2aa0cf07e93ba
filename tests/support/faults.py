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
