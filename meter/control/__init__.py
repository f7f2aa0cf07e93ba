"""The control API of a running meter (``serve --control``; issue 12 items 1, 2, 6): HTTP/JSON on
the meter's own event loop (server.py), one vocabulary of operations (ops.py) shared with the
TOML scenarios (timeline.py), the connections counted and traced at the edge (taps.py), and a
small client (client.py). An edge layer: it drives the device as the transports do.

Importing this package loads only the client (stdlib); the server loads aiohttp.
"""

from meter.control.client import Client, ControlError

__all__ = ["Client", "ControlError"]
