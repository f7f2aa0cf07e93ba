"""Command line of the virtual meter (console script ``acesm-meter``; also ``python -m meter.cli``).

``serve``      run a meter on TCP (IEC 62056-9-7 wrapper), HDLC over TCP, a serial line or an
               emulated optical probe (IEC 62056-21 mode E, then HDLC); prints one READY line.
``decode``     show a hex wrapper PDU, HDLC frame or bare APDU as text (Gurux's translator idea),
               deciphering glo-/ded-/general-ciphered APDUs when keys are given.
``listen``     receive pushes (DATA-NOTIFICATIONs over the wrapper) and print one line each.
``metrology``  offline tools of meter.metrology (``metrology evaluate FILE.json``).
``firmware``   ``firmware make``: a signed test image for Image transfer (its format:
               meter/security/firmware_image.py).
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from meter import __version__
from meter import profile as profiles
from meter.device.port_setups import opening_factory, tcp_udp_setup
from meter.errors import MeterError
from meter.persistence.lock import StateLock
from meter.security.certificates import SELF_SIGNED_DAYS
from meter.timebase import MAX_SCALE, Timebase
from meter.transport.faults import LinkFaults, parse_faults
from meter.transport.logfilter import RepeatFilter
from meter.transport.pcap import DEFAULT_MAX_BYTES, AssociationKeys, association_keys
from meter.transport.rfc2217 import parse_rfc2217_url
from meter.transport.push import PushSource
from meter.transport.service import Device as ServedDevice
from meter.transport.service import MeterService, ServeConfig, loop_factory
from meter.transport.tcp import DEFAULT_HOST, DEFAULT_MAX_UNSENT, DEFAULT_PORT, parse_host_port

if TYPE_CHECKING:  # the fleet's parts load only for `fleet`
    from meter.device.fleet import Identity
    from meter.persistence.store import Store

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "acesm"  # profiles/acesm.toml beside the package (meter.profile.resolve)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# The simulated times the meter can live at: its self-signed certificates (made at first start,
# valid from a day before to SELF_SIGNED_DAYS after) must be representable in X.509, which the
# cryptography package takes from 1950 (RFC 5280 4.1.2.5: UTCTime from 1950) to 9999
# (GeneralizedTime); a COSEM date-time (year up to 0xFFFE) holds all of that.
EARLIEST_TIME = datetime(1950, 1, 2, tzinfo=UTC)
LATEST_START = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - timedelta(days=SELF_SIGNED_DAYS + 1)


# --- argument types ------------------------------------------------------------------------


def _duration(text: str) -> float:
    """``90d``, ``12h``, ``30m``, ``45s``, ``2w`` -> seconds. A bare number is refused: ``90``
    meant days to some and seconds to the meter."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"bad duration {text!r}: a number and a unit, s m h d or w (e.g. 90d, 12h, 30m)")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def _timestamp(text: str) -> float:
    """ISO 8601 date-time -> UTC epoch seconds; a time without an offset is UTC."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        inside = EARLIEST_TIME <= moment <= LATEST_START
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"bad ISO date-time {text!r}") from None
    if not inside:
        raise argparse.ArgumentTypeError(
            f"{text!r} is outside the times the meter can live at "
            f"({EARLIEST_TIME:%Y-%m-%d} to {LATEST_START:%Y-%m-%d}, UTC)")
    return moment.timestamp()


def _time_scale(text: str) -> float:
    value = _positive(text)
    if value > MAX_SCALE:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_SCALE:g} (a simulated day per real second: faster, the meter cannot "
            f"live through every capture as fast as its clock runs); for long spans use --history")
    return value


def _faults(text: str) -> dict[str, float | int]:
    try:
        return parse_faults(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _optical(text: str) -> str | tuple[str, int]:
    """``pty`` or ``rfc2217://[HOST:]PORT`` (-> (host, port))."""
    if text == "pty":
        return text
    try:
        return parse_rfc2217_url(text, DEFAULT_HOST)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (pty or rfc2217://[HOST:]PORT)") from None


def _byte_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of bytes, got {text!r}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(re.sub(r"[\s:]|0x", "", text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex: {text!r}") from None


# --- parser --------------------------------------------------------------------------------


def _control_arguments(parser: argparse.ArgumentParser, what: str = "") -> None:
    """--control and --control-token (serve, fleet)."""
    parser.add_argument("--control", type=_address, metavar="[HOST:]PORT",
                        help=f"the control API{what} (HTTP/JSON, OpenAPI at /openapi.json; host "
                             f"default {DEFAULT_HOST}; README: Control API)")
    parser.add_argument("--control-token", metavar="TOKEN",
                        default=os.environ.get("ACESM_CONTROL_TOKEN") or None,
                        help="every control request needs 'Authorization: Bearer TOKEN' "
                             "(required off loopback; default $ACESM_CONTROL_TOKEN)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acesm-meter", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the meter")
    serve.add_argument("--profile", default=DEFAULT_PROFILE,
                       help="meter profile: a TOML path or a bundled name (default: acesm)")
    serve.add_argument("--state", type=Path,
                       help="state directory (default: ~/.local/state/acesm-meter/<serial>)")
    default_tcp = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
    serve.add_argument("--tcp", type=_address, nargs="?", const=default_tcp,
                       metavar="[HOST:]PORT",
                       help=f"wrapper framing over TCP (default {default_tcp}; the default medium)")
    serve.add_argument("--hdlc-over-tcp", type=_address, metavar="[HOST:]PORT",
                       help="HDLC framing over TCP")
    serve.add_argument("--serial", metavar="PORT|URL|pty",
                       help="HDLC on a serial port or pyserial URL; 'pty' creates a pty pair")
    serve.add_argument("--serial-baud", type=int, default=9600, help="serial line speed (8N1)")
    serve.add_argument("--optical", type=_optical, nargs="?", const="pty",
                       metavar="pty|rfc2217://[HOST:]PORT",
                       help="emulate an optical probe (IEC 62056-21 mode E, then HDLC) on a new "
                            "pty (the default) or as an RFC 2217 server (host default "
                            f"{DEFAULT_HOST})")
    serve.add_argument("--pcap", type=Path, metavar="FILE",
                       help="capture every wrapper/HDLC exchange to FILE as pcapng, the "
                            "associations' keys to FILE.keys (README: Traces)")
    serve.add_argument("--pcap-max-bytes", type=_byte_count, default=DEFAULT_MAX_BYTES,
                       metavar="N", help="stop capturing when a capture file would pass N bytes "
                                         f"(default {DEFAULT_MAX_BYTES})")
    serve.add_argument("--faults", type=_faults, default={}, metavar="SPEC",
                       help="link faults on every medium, e.g. delay=0.2,jitter=0.1,drop=0.05,"
                            "seed=7 (README: Link faults)")
    serve.add_argument("--time-scale", type=_time_scale, default=1.0, metavar="N",
                       help=f"simulated seconds per real second (at most {MAX_SCALE:g})")
    serve.add_argument("--start", type=_timestamp, metavar="ISO-DATETIME",
                       help="simulated start time (default: now; no offset means UTC)")
    serve.add_argument("--history", type=_duration, metavar="DURATION",
                       help="the meter has run this long by now (e.g. 90d; a unit is required): "
                            "back-fills the past on a new state, what it missed on an existing one")
    serve.add_argument("-v", "--verbose", action="count", default=0,
                       help="-v: debug logging with every APDU decoded; -vv: also raw bytes")
    _control_arguments(serve)
    serve.add_argument("--scenario", type=Path, metavar="FILE",
                       help="run a scenario (TOML timeline, README: Scenarios) from the start")
    serve.set_defaults(run=_serve)

    fleet = commands.add_parser("fleet", help="run N live meters in one process (issue 12)")
    fleet.add_argument("--count", type=int, required=True, metavar="N", help="meters in the fleet")
    fleet.add_argument("--base-port", type=int, default=DEFAULT_PORT, metavar="P",
                       help=f"meter i's wrapper port is P + i (default {DEFAULT_PORT})")
    fleet.add_argument("--host", default=DEFAULT_HOST, help=f"where to listen ({DEFAULT_HOST})")
    fleet.add_argument("--profile", default=DEFAULT_PROFILE,
                       help="the profile every meter is made from (serial, title, keys vary)")
    fleet.add_argument("--advertise", metavar="HOST",
                       help="the host the CSV names (default: --host)")
    fleet.add_argument("--seed", default="acesm", help="the key derivation's seed (README: Fleets)")
    fleet.add_argument("--state", type=Path, help="the fleet's state directory (default: "
                       "~/.local/state/acesm-meter/fleet-<first serial>-<count>)")
    fleet.add_argument("--hdlc", action="store_true",
                       help="HDLC over TCP too, meter i on P + N + i")
    fleet.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/K",
                       help="serve slice I of K of the numbering (0 <= I < K)")
    fleet.add_argument("--csv", type=Path, metavar="FILE",
                       help="write the head end's CSV here (default: print it on stdout)")
    fleet.add_argument("--resident", type=_resident, default="all", metavar="M",
                       help="meters kept built at most besides those in use (default all; "
                            "~0.2 MB each); built after READY, then as they are wanted")
    fleet.add_argument("--time-scale", type=_time_scale, default=1.0, metavar="N")
    fleet.add_argument("--start", type=_timestamp, metavar="ISO-DATETIME")
    fleet.add_argument("--history", type=_duration, metavar="DURATION",
                       help="the fleet has run this long by now (back-filled per meter when "
                            "it is first built)")
    fleet.add_argument("--faults", type=_faults, default={}, metavar="SPEC",
                       help="link faults on every meter's listeners, as serve's (README: Link "
                            "faults; one meter's own: POST /meters/ID/faults)")
    fleet.add_argument("-v", "--verbose", action="count", default=0)
    _control_arguments(fleet, " (a fleet's: every meter under /meters/ID; README: Fleets)")
    fleet.set_defaults(run=_fleet)

    decode = commands.add_parser(
        "decode", help="decode a hex wrapper PDU, HDLC frame or APDU, or a capture")
    decode.add_argument("hex", type=_hex, nargs="?", help="the bytes, in hex (spaces allowed)")
    decode.add_argument("--pcap", type=Path, metavar="FILE",
                        help="every message of a capture (serve --pcap), deciphered with its "
                             "key log")
    decode.add_argument("--keys", type=Path, metavar="FILE",
                        help="the capture's key log (default FILE.keys beside it)")
    decode.add_argument("--key-ek", type=_hex, help="global unicast encryption key")
    decode.add_argument("--key-ak", type=_hex, help="authentication key")
    decode.add_argument("--system-title", type=_hex,
                        help="the sender's system title (for glo-/ded- ciphering)")
    decode.set_defaults(run=_decode)

    listen = commands.add_parser("listen", help="receive pushes and print one line per notification")
    listen.add_argument("address", type=_address, metavar="[HOST:]PORT",
                        help=f"where to listen (host default {DEFAULT_HOST}; port 0: any free one)")
    listen.add_argument("--key-ek", type=_hex, help="global unicast encryption key")
    listen.add_argument("--key-ak", type=_hex, help="authentication key")
    listen.add_argument("--count", type=int, metavar="N", help="exit after N notifications")
    listen.add_argument("-v", "--verbose", action="count", default=0,
                        help="each notification decoded in full below its line")
    listen.set_defaults(run=_listen)

    profile = commands.add_parser("profile", help="meter profile tools")
    profile_tools = profile.add_subparsers(dest="tool", required=True)
    check = profile_tools.add_parser(
        "check", help="validate a profile (a path or a bundled name) without serving")
    check.add_argument("profile", help="the profile: a TOML path or a bundled name")
    check.set_defaults(run=_profile_check)
    objects = profile_tools.add_parser(
        "objects", help="list every object of a profile and what each association may do with it")
    objects.add_argument("profile", nargs="?", default=DEFAULT_PROFILE,
                         help="the profile: a TOML path or a bundled name (default: acesm)")
    objects.add_argument("--format", choices=("md", "csv", "json"), default="md")
    objects.set_defaults(run=_profile_objects)

    metrology = commands.add_parser("metrology", help="metrology tools")
    tools = metrology.add_subparsers(dest="tool", required=True)
    evaluate = tools.add_parser("evaluate", help="evaluate a metrology scenario file")
    evaluate.add_argument("args", nargs=argparse.REMAINDER, help="FILE.json and its options")
    evaluate.set_defaults(run=_metrology_evaluate)

    _ctl_parser(commands)

    firmware = commands.add_parser("firmware", help="firmware image tools")
    firmware_tools = firmware.add_subparsers(dest="tool", required=True)
    make = firmware_tools.add_parser("make", help="build a signed ACESM firmware image")
    make.add_argument("--version", dest="firmware_version", required=True,
                      help="firmware identifier it activates as (1..64 ASCII characters)")
    make.add_argument("--key", type=Path, required=True,
                      help="manufacturer private key, PEM (P-256); the profile names its public key")
    make.add_argument("--payload", type=Path, help="firmware payload file (default: --size bytes)")
    make.add_argument("--size", type=int, default=200 * 1024,
                      help="bytes of generated payload when no --payload (default 204800)")
    make.add_argument("-o", "--out", type=Path, required=True, help="image file to write")
    make.set_defaults(run=_firmware_make)

    token = commands.add_parser("token", help="prepayment token tools")
    token_tools = token.add_subparsers(dest="tool", required=True)
    token_make = token_tools.add_parser(
        "make", help="make a top-up token for Token gateway enter (meter/security/prepay_token.py)")
    token_make.add_argument("--amount", type=int, required=True,
                            help="credit in the account currency's smallest unit (cents)")
    token_make.add_argument("--meter", required=True,
                            help="the meter's system title, 16 hex digits ([meter] system_title)")
    token_make.add_argument("--key", help="the meter's token key, hex (default: the token_key of "
                                          "--profile's token gateway)")
    token_make.add_argument("--profile", default="acesm-prepay",
                            help="profile naming the token key when no --key (default acesm-prepay)")
    token_make.add_argument("--id", type=int, dest="token_id",
                            help="token id, 1..2^32-1, used once by the meter (default: seconds "
                                 "since 2020-01-01, so ids made later are higher)")
    token_make.set_defaults(run=_token_make)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (MeterError, OSError, ValueError) as exc:
        # Operator errors (bad profile, port in use, missing device): one line, no traceback.
        sys.stderr.write(f"acesm-meter: error: {exc}\n")
        return 1


# --- serve ---------------------------------------------------------------------------------


def _setup_logging(verbose: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # No flood from repeated records (refused connections, accept() failures at the fd limit).
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatFilter())
    # Raw hex of every chunk only at -vv; -v keeps to decoded APDUs.
    logging.getLogger("meter.transport.wire").setLevel(
        logging.DEBUG if verbose >= 2 else logging.INFO
    )
    # The format above shows no caller, thread or process: a record need not look them up
    # (the logging HOWTO's "Optimization"; a connection logs a few INFO records, ~10 us each
    # with them).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # no caller lookup (sys._getframe walk) per record


def _state_dir(serial: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "acesm-meter" / serial


class _StopSignals:
    """SIGTERM and SIGINT before the event loop serves (during a back-fill): noted and polled
    between back-fill chunks, so the meter stops with its state committed instead of dying
    mid-transaction (or printing a KeyboardInterrupt traceback). The loop installs its own."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: int | None = None
        for signum in self.SIGNALS:
            signal.signal(signum, self._note)

    def _note(self, signum: int, _frame: object) -> None:
        self.received = signum

    def __call__(self) -> bool:
        return self.received is not None


def _serve(args: argparse.Namespace) -> int:
    from meter.device import Device  # the device (and numpy) load only for `serve`

    _setup_logging(args.verbose)
    stop = _StopSignals()
    profile_path = profiles.resolve(args.profile)
    profile = profiles.load(profile_path)
    timebase = Timebase(start=args.start, scale=args.time_scale)
    if args.history and timebase.start - args.history < EARLIEST_TIME.timestamp():
        raise MeterError(f"--history reaches back before {EARLIEST_TIME:%Y-%m-%d}, "
                         "the earliest time the meter can live at")
    state = args.state or _state_dir(str(profile.meter["serial"]))
    tcp = args.tcp
    if tcp is None and not (args.hdlc_over_tcp or args.serial or args.optical):
        tcp = (DEFAULT_HOST, DEFAULT_PORT)
    config = ServeConfig(
        tcp=tcp,
        hdlc_tcp=args.hdlc_over_tcp,
        serial=args.serial,
        serial_baud=args.serial_baud,
        optical=args.optical == "pty",
        optical_rfc2217=None if isinstance(args.optical, str) else args.optical,
        max_connections=_optional_int(profile.limits.get("max_connections")),
        max_unsent_bytes=int(profile.limits.get("max_unsent_bytes", DEFAULT_MAX_UNSENT)),
        pcap=args.pcap,
        pcap_max_bytes=args.pcap_max_bytes,
    )
    # Start-up order (issue 7): the state directory's lock first (one meter per state: two
    # would reuse invocation counters), the listeners next (a port in use fails before the
    # state is touched), and only then the device (keys made, power events logged).
    lock = StateLock.acquire(state)
    device: Device | None = None
    opening = False

    def open_device() -> Device:
        nonlocal device, opening
        opening = True
        device = Device.open(profile_path, state, timebase, history=args.history,
                             lock=lock, stop=stop,
                             progress=_Progress("history back-fill", timebase.monotonic))
        return device

    try:
        # The optical sign-on offers the device's HDLC setup comm_speed, the wrapper listener
        # follows its TCP-UDP setup (neither before the device is open).
        openings = opening_factory(str(profile.meter["manufacturer"]),
                                   lambda: () if device is None else device.directory)
        def keys() -> list[AssociationKeys]:  # for the capture's key log (serve --pcap)
            return association_keys(device)

        service = MeterService(None, timebase, openings,
                               lambda: None if device is None else tcp_udp_setup(device.directory),
                               keys, LinkFaults(**args.faults))
        control = _control(args, profile_path, lambda: device, timebase, keys, service)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(_run(service, config, open_device, stop, timebase.now, control))
    finally:
        if device is not None:
            device.close()  # releases the lock
        elif opening:
            lock.release()  # a failed open may have written state: the directory stays
        else:
            lock.discard()  # nothing was written: leave the state directory as it was
    return 0


class _Served(ServedDevice, PushSource, Protocol):
    """What the service drives of a device: requests, ticks and pushes."""

    def press_button(self) -> enum.IntEnum: ...


#: The signal that presses the customer's button on the supply relay (``kill -USR1 PID``).
BUTTON_SIGNAL = signal.SIGUSR1


def _press_button(device: _Served, now: Callable[[], float]) -> None:
    """The customer's button on the supply relay (meter/cosem/disconnect_control.py): a relay
    ready for reconnection closes; a connected one opens where control_mode has manual
    disconnection. A press the mode refuses is logged; the meter serves on."""
    try:
        device.tick(now())
        log.info("button pressed: supply relay %s", device.press_button().name)
    except MeterError as exc:
        log.warning("button pressed, nothing moved: %s", exc)


def _shard(text: str) -> tuple[int, int]:
    from meter.device.fleet import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Progress:
    """``label: 42% …`` rewritten in place on a terminal (stderr), at most ten times a second;
    nothing at all when stderr is not a terminal (issue 12 item 7)."""

    def __init__(self, label: str, clock: Callable[[], float]) -> None:
        self._label = label
        self._clock = clock
        self._shown = -1.0
        self._on = sys.stderr.isatty()

    def __call__(self, fraction: float, detail: str = "") -> None:
        if not self._on:
            return
        now = self._clock()
        if fraction < 1.0 and now - self._shown < 0.1:
            return
        self._shown = now
        sys.stderr.write(f"\r{self._label}: {100 * fraction:3.0f}% {detail}\x1b[K")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _resident(text: str) -> int:
    """``--resident``: a count, or ``all`` (as many as a fleet can have)."""
    from meter.device.fleet import MAX_COUNT

    return MAX_COUNT if text == "all" else int(text)


def _fleet(args: argparse.Namespace) -> int:
    import resource

    from meter.device.fleet import identities
    from meter.persistence.store import Store, fleet_checkpoint_pages

    _setup_logging(args.verbose)
    profile = profiles.load(profiles.resolve(args.profile))
    count = args.count
    if count < 1:
        raise MeterError("--count must be at least 1")
    hdlc_base = args.base_port + count if args.hdlc else None
    ids = identities(profile, count, args.seed, args.base_port, hdlc_base, args.shard)
    # One descriptor per listener (a built meter holds none: its counter files are mapped
    # without one, meter/persistence/counters.py): take what the hard limit allows.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = len(ids) * (2 if args.hdlc else 1) + 256
    if soft < need and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    state = args.state or _state_dir(f"fleet-{profile.meter['serial']}-{count}")
    timebase = Timebase(start=args.start, scale=args.time_scale)
    lock = StateLock.acquire(state)  # first: a refused start writes nothing (issue 7)
    try:
        store = Store.open(state, checkpoint_pages=fleet_checkpoint_pages(len(ids)))
        try:
            _run_fleet(args, profile, ids, store, state, timebase)
        finally:
            store.close()  # after the fleet closed every meter (a second close does nothing)
    finally:
        lock.release()
    return 0


def _run_fleet(args: argparse.Namespace, profile: profiles.Profile, ids: list[Identity],
               store: Store, state: Path, timebase: Timebase) -> None:
    """The fleet on its locked, open store until SIGTERM/SIGINT (``fleet``)."""
    import dataclasses

    from meter.device.fleet import Fleet, csv_text
    from meter.transport.fleet import FleetService
    from meter.transport.fleet_faults import FleetFaults

    fleet = Fleet(profile, store, state, timebase, ids, history=args.history,
                  resident=args.resident)
    progress = _Progress(f"fleet: {len(ids)} meters listening", timebase.monotonic)
    service = FleetService(fleet, timebase, args.host, hdlc=args.hdlc,
                           progress=lambda n, total: progress(n / total, f"{n}/{total}"),
                           faults=FleetFaults(LinkFaults(**args.faults)))
    fleet.on_built, fleet.on_released = service.built, service.released
    fleet.is_busy = service.busy
    control = None
    if args.control is not None:
        from meter.control.fleet import FleetControl  # aiohttp loads only here

        control = FleetControl(fleet, timebase, profiles.resolve(args.profile).stem,
                               args.control_token, service.wake, service.faults)
        control.attach(service)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in _StopSignals.SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        warming: asyncio.Task[None] | None = None
        control_line = ""
        try:
            if control is not None:  # first: a port in use fails before 10,000 listeners
                host, port = await control.start(*args.control)
                control_line = f" control={host}:{port}"
            await service.start()
            # The CSV once the listeners are up: a wrapper port a head end set (TCP-UDP setup,
            # persisted) is listed where the meter listens.
            bound = [dataclasses.replace(m, port=service.wrapper_port(m.index) or m.port)
                     for m in ids]
            table = csv_text(profile, bound, args.advertise or args.host)
            if args.csv is not None:
                args.csv.write_text(table)
            else:
                sys.stdout.write(table)
                sys.stdout.flush()
            first, last = ids[0], ids[-1]
            sys.stdout.write(f"READY fleet={len(ids)} tcp={args.host}:{first.port}-{last.port}"
                             + (f" hdlc={args.host}:{first.hdlc_port}-{last.hdlc_port}"
                                if args.hdlc else "") + f" shard={args.shard[0]}/{args.shard[1]}"
                             + control_line + "\n")
            sys.stdout.flush()
            # After READY the fleet builds its --resident meters, serving meanwhile.
            warmed = _Progress(f"fleet: {min(args.resident, len(ids))} meters built",
                               timebase.monotonic)
            warming = asyncio.create_task(
                service.warm(lambda n, total: warmed(n / total, f"{n}/{total}")))
            await stop.wait()
            log.info("stopping")
        finally:
            if warming is not None:
                warming.cancel()
            if control is not None:
                await control.aclose()
            await service.aclose()

    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(run())
    finally:
        fleet.close()


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


async def _run(service: MeterService, config: ServeConfig,
               open_device: Callable[[], _Served], signals: _StopSignals,
               now: Callable[[], float], control: _Control | None = None) -> None:
    loop = asyncio.get_running_loop()
    try:
        await service.bind(config)
        control_line = "" if control is None else await control.start(service)
        # The back-fill runs here, synchronously: ``signals`` (not yet the loop's handlers)
        # catches a stop during it.
        device = open_device()
        stop = asyncio.Event()
        for signum in _StopSignals.SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        loop.add_signal_handler(BUTTON_SIGNAL, _press_button, device, now)
        if signals():  # came before the loop's handlers were in place
            log.info("stopping (signal %d)", signals.received)
            return
        # Which loop really runs (uvloop only when installed): benchmarks label their figures
        # by it. Logged once the device is open, so that a refused start (state locked, port
        # in use) prints its one error line only.
        log.info("event loop: %s",
                 "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio")
        pushes = device if control is None else control.server.pushes(device)
        ready = await service.start(config, device, pushes=pushes)
        if control is not None:
            control.begin()
        # Program output, not a log record: tests and tools wait for this one line.
        sys.stdout.write(ready.line() + control_line + "\n")
        sys.stdout.flush()
        await stop.wait()
        log.info("stopping")
    finally:
        if control is not None:
            await control.server.aclose()
        await service.aclose()


class _Control:
    """serve --control / --scenario: the control API and the scenario given at start."""

    def __init__(self, server: Any, address: tuple[str, int] | None,
                 scenario: tuple[str, str] | None) -> None:
        self.server = server  # meter.control.server.ControlServer (aiohttp loads only here)
        self._address = address
        self._scenario = scenario

    async def start(self, service: MeterService) -> str:
        """Listen (before the device opens: a port in use fails first); the READY field."""
        service.stack_tap = self.server.tap
        if self._address is None:
            return ""
        host, port = await self.server.start(*self._address)
        return f" control={host}:{port}"

    def begin(self) -> None:
        if self._scenario is not None:
            self.server.load_scenario(*self._scenario)


def _control(args: argparse.Namespace, profile_path: Path, device: Callable[[], Any],
             timebase: Timebase, keys: Callable[[], Any], service: MeterService) -> _Control | None:
    if args.control is None and args.scenario is None:
        return None
    from meter.control.server import ControlServer, is_loopback
    from meter.control.timeline import Timeline

    if args.control is not None and not is_loopback(args.control[0]) and not args.control_token:
        raise MeterError(f"--control on {args.control[0]} (not loopback) needs --control-token")
    scenario = None
    if args.scenario is not None:
        text = args.scenario.read_text()
        Timeline.parse(text, str(args.scenario))  # a bad file fails before anything starts
        scenario = (text, str(args.scenario))
    server = ControlServer(device, timebase, profile_path.stem, keys, args.control_token,
                           service.wake, service.faults)
    return _Control(server, args.control, scenario)


# --- ctl: the control API from the command line -----------------------------------------------


def _ctl_parser(commands: Any) -> None:
    ctl = commands.add_parser("ctl", help="talk to a running meter's control API (serve --control)")
    ctl.add_argument("--url", default=os.environ.get("ACESM_CONTROL_URL", "http://127.0.0.1:8080"),
                     help="the control API (default $ACESM_CONTROL_URL or http://127.0.0.1:8080)")
    ctl.add_argument("--token", default=os.environ.get("ACESM_CONTROL_TOKEN") or None,
                     help="bearer token (default $ACESM_CONTROL_TOKEN)")
    ctl.add_argument("--meter", metavar="ID",
                     help="a fleet's meter ID (GET /meters lists them; default: the fleet itself)")
    ops = ctl.add_subparsers(dest="op", required=True)
    for name, text in (("state", "clock, registers, relays, tariff, last events"),
                       ("time", "true time, meter time, time scale"),
                       ("associations", "connections and their associations"),
                       ("display", "the display text"), ("metrics", "Prometheus counters"),
                       ("scenario", "the running scenario's progress"),
                       ("openapi", "the API description"),
                       ("meters", "a fleet's meters (fleet --control)")):
        ops.add_parser(name, help=text)
    read = ops.add_parser("read", help="one attribute of an object, as a GET reads it")
    read.add_argument("obis")
    read.add_argument("attribute", type=int, nargs="?", default=2)
    trace = ops.add_parser("trace", help="recent APDUs of a connection, described")
    trace.add_argument("id", type=int)
    outage = ops.add_parser("outage", help="no supply for DURATION (e.g. 90s, 5m)")
    outage.add_argument("duration")
    outage.add_argument("--phases", help="e.g. A,C (default all)")
    for kind in ("sag", "swell"):
        p = ops.add_parser(kind, help=f"a voltage {kind} for DURATION")
        p.add_argument("duration")
        p.add_argument("--scale", type=float, help="voltage factor (sag < 1 < swell)")
        p.add_argument("--phases", help="e.g. A,C (default all)")
    load = ops.add_parser("load", help="the load from now on")
    load.add_argument("--current", type=float, help="amperes per phase")
    load.add_argument("--pf", type=float, help="power factor")
    tamper = ops.add_parser("tamper", help="a tamper input on or off")
    tamper.add_argument("kind")
    tamper.add_argument("state", choices=("on", "off"))
    button = ops.add_parser("button", help="press a relay's button")
    button.add_argument("relay", nargs="?")
    drift = ops.add_parser("drift", help="the clock runs PPM fast (negative: slow) from now")
    drift.add_argument("ppm", type=float)
    set_time = ops.add_parser("set-time", help="set the meter's clock (ISO 8601)")
    set_time.add_argument("time")
    jump = ops.add_parser("jump", help="time passes (e.g. 1d); negative sets the clock back")
    jump.add_argument("by")
    scale = ops.add_parser("scale", help="simulated seconds per real second")
    scale.add_argument("scale", type=float)
    push = ops.add_parser("push", help="trigger a push setup")
    push.add_argument("obis")
    expect = ops.add_parser("expect", help="compare an attribute with a JSON value")
    expect.add_argument("obis")
    expect.add_argument("value", help="a JSON value (3, 1.5, true, \"text\")")
    expect.add_argument("--attribute", type=int, default=2)
    expect.add_argument("--op", dest="compare", default="==", help="== != < <= > >=")
    faults = ops.add_parser("faults", help="the link faults in force and their counters; SPEC "
                            "changes them live (README: Link faults)")
    faults.add_argument("spec", nargs="?", type=_faults, metavar="SPEC",
                        help="e.g. delay=0.2,drop=0.05 (as serve --faults)")
    faults.add_argument("--reset", action="store_true", help="zero the counters")
    faults.add_argument("--fleet", action="store_true",
                        help="the fleet's meter (--meter) back on the fleet-wide faults")
    run = ops.add_parser("run", help="load a scenario file (TOML)")
    run.add_argument("file", type=Path)
    call = ops.add_parser("call", help="any request: METHOD PATH [JSON body]")
    call.add_argument("method", choices=("GET", "POST"))
    call.add_argument("path")
    call.add_argument("body", nargs="?")
    ctl.set_defaults(run=_ctl)


def _ctl(args: argparse.Namespace) -> int:
    import json

    from meter.control import Client, ControlError

    client = Client(args.url, args.token, meter=args.meter)
    phases = getattr(args, "phases", None)
    chosen = None if phases is None else [p.strip() for p in phases.split(",") if p.strip()]
    calls: dict[str, Callable[[], Any]] = {
        "state": client.state, "time": client.time, "associations": client.associations,
        "display": client.display, "metrics": client.metrics, "scenario": client.scenario,
        "openapi": client.openapi, "meters": client.meters,
        "read": lambda: client.read(args.obis, args.attribute),
        "trace": lambda: client.trace(args.id),
        "outage": lambda: client.outage(args.duration, chosen),
        "sag": lambda: client.sag(args.duration, args.scale, chosen),
        "swell": lambda: client.swell(args.duration, args.scale, chosen),
        "load": lambda: client.load(args.current, args.pf),
        "tamper": lambda: client.tamper(args.kind, args.state == "on"),
        "button": lambda: client.button(args.relay),
        "drift": lambda: client.drift(args.ppm),
        "set-time": lambda: client.set_time(args.time),
        "jump": lambda: client.jump(args.by),
        "scale": lambda: client.time_scale(args.scale),
        "push": lambda: client.push(args.obis),
        "expect": lambda: client.expect(args.obis, json.loads(args.value), args.attribute,
                                        args.compare),
        "run": lambda: client.load_scenario(args.file.read_text()),
        "faults": lambda: _ctl_faults(client, args),
        "call": lambda: client.request(args.method, args.path,
                                       None if args.body is None else json.loads(args.body)),
    }
    try:
        answer = calls[args.op]()
    except ControlError as exc:
        sys.stderr.write(f"acesm-meter ctl: {exc}\n")
        return 2
    text = answer if isinstance(answer, str) else json.dumps(answer, indent=2)
    sys.stdout.write(text.rstrip("\n") + "\n")
    if args.op == "expect" and isinstance(answer, dict) and not answer.get("ok"):
        return 3
    return 0


def _ctl_faults(client: Any, args: argparse.Namespace) -> Any:
    """``ctl faults``: GET /faults, or POST the SPEC, ``--reset``, ``--fleet``."""
    settings: dict[str, Any] = dict(args.spec or {})
    if args.reset:
        settings["reset_counters"] = True
    if args.fleet:
        settings["fleet"] = True  # alone, or the fleet's control API says why not
    return client.set_faults(**settings) if settings else client.faults()


# --- profile check -------------------------------------------------------------------------


def _profile_check(args: argparse.Namespace) -> int:
    """Every problem of the profile on stderr (exit 1, through main), or one line saying so."""
    profile = profiles.load(args.profile)
    sys.stdout.write(f"{profile.path}: ok ({len(profile.objects)} objects, "
                     f"{len(profile.associations)} associations)\n")
    return 0


def _profile_objects(args: argparse.Namespace) -> int:
    """The object catalogue (meter/device/catalogue.py) on stdout."""
    from meter.device import catalogue

    profile = profiles.load(profiles.resolve(args.profile))
    sys.stdout.write(catalogue.render(profile, catalogue.catalogue(profile), args.format))
    return 0


# --- decode --------------------------------------------------------------------------------


def _decode(args: argparse.Namespace) -> int:
    if args.pcap is not None:
        return _decode_pcap(args.pcap, args.keys)
    if args.hex is None:
        raise MeterError("decode needs HEX or --pcap FILE")
    text = describe_bytes(args.hex, ek=args.key_ek, ak=args.key_ak, system_title=args.system_title)
    sys.stdout.write(text + "\n")
    return 0


def _decode_pcap(path: Path, key_path: Path | None) -> int:
    """Each message of a capture, as ``decode HEX`` shows it, deciphered with the key log's
    keys: a client's system title and dedicated key from its AARQ, the meter's title from the
    key log."""
    from meter.apdu import decode_apdu
    from meter.apdu.acse import AARQ
    from meter.apdu.ciphered import CipheredApdu, GeneralDedCiphering
    from meter.apdu.initiate import InitiateRequest
    from meter.control.decipher import decipher as _decipher
    from meter.transport.pcap import key_log_path
    from meter.transport.pcap_read import KeyLog, read_messages

    key_path = key_path or key_log_path(path)
    keys = KeyLog.read(key_path) if key_path.exists() else KeyLog()
    client_titles: dict[str, bytes] = {}
    dedicated_keys: dict[str, bytes] = {}
    for m in read_messages(path):
        when = datetime.fromtimestamp(m.time, UTC).strftime("%H:%M:%S.%f")
        head = f"{when} {m.flow} {'client -> meter' if m.inbound else 'meter -> client'}"
        if not m.data:
            sys.stdout.write(f"{head}: {m.note}\n\n")
            continue
        k = keys.at(m.client_sap, m.time)
        try:
            apdu = decode_apdu(m.apdu) if m.apdu else None
            if k is None:
                text = describe_bytes(m.data)
            else:
                if isinstance(apdu, AARQ):  # a new association: its title, its dedicated key
                    client_titles[m.flow] = apdu.calling_ap_title or b""
                    dedicated_keys.pop(m.flow, None)
                    plain = _decipher(apdu, k.encryption_key, k.authentication_key, None)
                    initiate = decode_apdu(plain) if plain else None
                    if isinstance(initiate, InitiateRequest) and initiate.dedicated_key:
                        dedicated_keys[m.flow] = initiate.dedicated_key
                ek = k.encryption_key
                if isinstance(apdu, GeneralDedCiphering) or (
                        isinstance(apdu, CipheredApdu) and not apdu.is_global):
                    ek = dedicated_keys.get(m.flow, ek)
                title = client_titles.get(m.flow) if m.inbound else k.server_system_title
                text = describe_bytes(m.data, ek=ek, ak=k.authentication_key,
                                      system_title=title or None)
        except (MeterError, ValueError) as exc:
            text = f"{m.data.hex(' ').upper()}\n(not decoded: {exc})"
        sys.stdout.write(f"{head}\n{text}\n\n")
    return 0


def describe_bytes(
    data: bytes,
    *,
    ek: bytes | None = None,
    ak: bytes | None = None,
    system_title: bytes | None = None,
) -> str:
    """Readable text of a wrapper PDU, an HDLC frame or a bare APDU (raises MeterError)."""
    from meter.apdu import decode_apdu
    from meter.apdu.describe import describe
    from meter.control.decipher import decipher as _decipher
    from meter.link.wrapper import HEADER_SIZE, VERSION, WrapperPdu

    lines: list[str] = []
    payload = data
    if len(data) >= HEADER_SIZE and int.from_bytes(data[:2], "big") == VERSION:
        pdu = WrapperPdu.from_bytes(data)
        lines.append(
            f"wrapper: wPort {pdu.source_wport} -> {pdu.destination_wport}, "
            f"{len(pdu.payload)} byte APDU"
        )
        payload = pdu.payload
    elif data[:1] == _HDLC_FLAG:
        header, payload = _hdlc_info(data)
        lines.append(header)
        if not payload:
            return "\n".join(lines)
    apdu = decode_apdu(payload)
    lines.append(describe(apdu))
    plain = _decipher(apdu, ek, ak, system_title)
    if plain is not None:
        lines.append("deciphered:")
        lines.append(describe(decode_apdu(plain)))
    return "\n".join(lines)


_HDLC_FLAG = b"\x7e"
# LLC header in front of an APDU in an HDLC I-frame (IEC 62056-46 / Green Book 8.4.2.4):
# destination LSAP E6, source LSAP E6 (command) or E7 (response), quality 00.
_LLC_HEADERS = (b"\xe6\xe6\x00", b"\xe6\xe7\x00")


def _hdlc_info(data: bytes) -> tuple[str, bytes]:
    from meter.link.hdlc.frame import Control, HdlcFrame

    frame = HdlcFrame.from_bytes(data)
    control = Control.from_byte(frame.control)
    header = (
        f"hdlc: {control.kind.value} {_hdlc_address(frame.source)} -> "
        f"{_hdlc_address(frame.destination)}, P/F={int(control.pf)}"
    )
    if control.kind.value in ("I", "RR", "RNR"):
        header += f" N(R)={control.nr}"
    if control.kind.value == "I":
        header += f" N(S)={control.ns}"
    if frame.segmented:
        header += ", segmented"
    info = frame.info
    if control.kind.value in ("I", "UI") and info[:3] in _LLC_HEADERS:
        return header, info[3:]
    if info:
        header += f", information {info.hex(' ').upper()}"
    return header, b""


def _hdlc_address(address: Any) -> str:
    if address.lower is None:
        return f"{address.upper}"
    return f"{address.upper}/{address.lower}"


# --- listen --------------------------------------------------------------------------------


class MalformedPush(MeterError):
    """What arrived is no (decipherable) DATA-NOTIFICATION."""


def describe_push(payload: bytes, ek: bytes | None = None,
                  ak: bytes | None = None) -> tuple[str, str]:
    """(one line, full text) of a pushed APDU: a DATA-NOTIFICATION, plain or in a ciphering
    envelope (deciphered when ``ek`` is given, else shown as the envelope); raises MalformedPush
    for anything else, or an envelope the keys do not open."""
    from meter.apdu import DataNotification, decode_apdu
    from meter.apdu.ciphered import CipheredApdu, GeneralDedCiphering, GeneralGloCiphering
    from meter.apdu.describe import describe
    from meter.codec.cosem_time import CosemDateTime
    from meter.control.decipher import decipher as _decipher

    try:
        apdu = decode_apdu(payload)
        envelope = ""
        if isinstance(apdu, (CipheredApdu, GeneralGloCiphering, GeneralDedCiphering)):
            envelope = f" {type(apdu).__name__} IC={apdu.invocation_counter}"
            if ek is None:
                return f"{envelope.strip()} (not deciphered: no --key-ek)", describe(apdu)
            apdu = decode_apdu(_decipher(apdu, ek, ak, None) or b"")
        if not isinstance(apdu, DataNotification):
            raise MalformedPush(f"{type(apdu).__name__} is no DataNotification")
        when = "-"
        if apdu.date_time is not None:
            when = CosemDateTime.from_bytes(apdu.date_time).to_datetime().isoformat()
    except (MeterError, ValueError) as exc:
        raise MalformedPush(str(exc) or type(exc).__name__) from exc
    line = (f"DataNotification id={apdu.long_invoke_id_and_priority & 0xFFFFFF} time={when}"
            f"{envelope} {_compact(apdu.body)}")
    return line, describe(apdu)


def _compact(value: Any) -> str:
    """An A-XDR value on one line: structures {..}, arrays [..], octet strings in hex."""
    from meter.codec.axdr import Array, OctetString, Structure

    if isinstance(value, (Structure, Array)):
        inner = ", ".join(_compact(v) for v in value.items)
        return f"{{{inner}}}" if isinstance(value, Structure) else f"[{inner}]"
    if isinstance(value, OctetString):
        return value.value.hex()
    return repr(value.to_python())


def _listen(args: argparse.Namespace) -> int:
    """Until SIGINT/SIGTERM or --count notifications: exit 0; a malformed one: exit 2."""
    from meter.link.wrapper import WrapperPdu
    from meter.transport.listen import serve_pushes

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="acesm-meter: %(message)s")
    received = 0

    def show(peer: str, pdu: WrapperPdu) -> bool:
        nonlocal received
        line, detail = describe_push(pdu.payload, args.key_ek, args.key_ak)
        sys.stdout.write(f"{peer} wport {pdu.source_wport}->{pdu.destination_wport} {line}\n")
        if args.verbose:
            sys.stdout.write(detail + "\n")
        sys.stdout.flush()
        received += 1
        return args.count is not None and received >= args.count

    def listening(host: str, port: int) -> None:
        # Program output, as serve's READY: tools wait for this line.
        sys.stdout.write(f"LISTENING {host}:{port}\n")
        sys.stdout.flush()

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(serve_pushes(args.address[0], args.address[1], show, listening))


# --- metrology -----------------------------------------------------------------------------


def _metrology_evaluate(args: argparse.Namespace) -> int:
    from meter.metrology.evaluate import main as evaluate

    result = evaluate(list(args.args))
    return int(result or 0)


# --- firmware ------------------------------------------------------------------------------


def _firmware_make(args: argparse.Namespace) -> int:
    """Write the image; print its size and the profile line naming the key's public half."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from meter.security.ecc import point_bytes
    from meter.security.firmware_image import make_image

    key = load_pem_private_key(args.key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{args.key}: not an EC private key")
    # A generated payload is a repeating counter: the same --size gives the same image bytes
    # before the signature.
    payload = (args.payload.read_bytes() if args.payload is not None
               else bytes(i & 0xFF for i in range(args.size)))
    image = make_image(args.firmware_version, payload, key)
    args.out.write_bytes(image)
    sys.stdout.write(f"{args.out}: {len(image)} bytes, version {args.firmware_version}; "
                     f"manufacturer_key = \"{point_bytes(key.public_key()).hex().upper()}\"\n")
    return 0


# --- token ---------------------------------------------------------------------------------

#: 2020-01-01T00:00:00Z: the epoch of default token ids.
_TOKEN_EPOCH = 1577836800


def _token_make(args: argparse.Namespace) -> int:
    """Print the token as 52 hex digits (the octet-string a head end sends to enter)."""
    from meter.security.prepay_token import make_token

    if args.key is not None:
        key = bytes.fromhex(args.key)
    else:
        loaded = profiles.load(args.profile)
        keys = [o.options["token_key"] for o in loaded.objects
                if o.kind == "token_gateway" and "token_key" in o.options]
        if not keys:
            raise ValueError(f"profile {args.profile} has no token gateway with a token_key; give --key")
        key = bytes.fromhex(str(keys[0]))
    token_id = args.token_id if args.token_id is not None else int(Timebase().now()) - _TOKEN_EPOCH
    token = make_token(key, bytes.fromhex(args.meter), token_id, args.amount)
    sys.stdout.write(f"{token.hex().upper()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
