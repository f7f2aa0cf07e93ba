"""Crash-safe state of the meter: an embedded SQLite store and invocation counters.

Imports codec, errors and the standard library (sqlite3) only.
"""
