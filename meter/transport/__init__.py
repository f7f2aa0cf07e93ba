"""The edges: asyncio TCP, serial lines and the optical probe; the only code doing real I/O.

Each medium pumps bytes and deadlines into sans-IO stacks (meter.stack) made by the device;
see meter.transport.service for running a device on several media at once.
"""
