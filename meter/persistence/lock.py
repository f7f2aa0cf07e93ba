"""One process per state directory: an OS lock held for the life of the meter process.

Two meters on one state directory would each resume the server invocation counters from the
same persisted mark and send the same values under the same key (GCM IV reuse, Green Book
9.2.3.3.7). The lock is a POSIX record lock (``lockf``) on ``<state>/lock``: it belongs to the
process, so the kernel drops it however the process ends (``kill -9`` included) and a stale
lock file never blocks a restart. The file holds the owner's PID, for the refusal message.
Nothing else in the directory is written before the lock is held.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from meter.persistence.store import StoreError

__all__ = ["LOCK_NAME", "StateLock"]

log = logging.getLogger(__name__)

LOCK_NAME = "lock"


class StateLock:
    """The exclusive lock of one state directory. Build it with :meth:`acquire`."""

    __slots__ = ("_created", "_fd", "_previous", "directory")

    def __init__(self, directory: Path, fd: int, created: list[Path], previous: bytes) -> None:
        self.directory = directory
        self._created = created  # what acquire() made, deepest last (discard() removes it)
        self._fd: int | None = fd
        self._previous = previous  # the lock file's content before (the last owner's PID)

    @classmethod
    def acquire(cls, state_dir: str | os.PathLike[str]) -> StateLock:
        """Lock ``state_dir`` (creating it if needed) or raise StoreError naming the owner's PID."""
        directory = Path(state_dir)
        path = directory / LOCK_NAME
        created = [p for p in (directory, path) if not p.exists()]
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create state directory {directory}: {exc}") from exc
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"state directory {directory} is in use by another meter (PID {owner}); "
                "give each meter its own --state") from None
        previous = os.pread(fd, 32, 0)
        _write(fd, f"{os.getpid()}\n".encode())
        log.debug("locked state directory %s", directory)
        return cls(directory, fd, created, previous)

    def release(self) -> None:
        """Give the directory up (closing the file drops the process's lock on it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Release, and undo what :meth:`acquire` created: a start that failed before writing
        any state leaves no state directory behind (or the one that was there, as it was)."""
        if self._fd is not None and self._previous:
            _write(self._fd, self._previous)
        self.release()
        for path in reversed(self._created):
            try:
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()
            except OSError as exc:
                log.warning("could not remove %s: %s", path, exc)
        self._created = []


def _write(fd: int, content: bytes) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, content, 0)
