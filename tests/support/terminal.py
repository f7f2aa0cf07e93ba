"""A pseudo-terminal for tests of what a command shows on a terminal only (progress lines)."""

from __future__ import annotations

import os
import pty
import threading

__all__ = ["Terminal"]


class Terminal:
    """A pty whose output is read as it comes (a full pty buffer would block the writer)."""

    def __init__(self) -> None:
        self._controller, self.fd = pty.openpty()
        self.text = b""
        self._reader = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Terminal:
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
        self._reader.join(10)
        os.close(self._controller)

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._controller, 65536)
            except OSError:  # the terminal's other side closed
                return
            if not chunk:
                return
            self.text += chunk
