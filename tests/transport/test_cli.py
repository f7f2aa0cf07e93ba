from __future__ import annotations

import socket
from pathlib import Path

import pytest
from support.process import MeterProcess

from meter import cli
from meter.security import gcm

H = bytes.fromhex

# Green Book Table 40: glo-get-request (SC 0x30) of get-request-normal for the Clock
# 0.0.1.0.0.255 attribute 2, sent under system title 4D4D4D0000BC614E with IC 0x01234567
# (the same vector as tests/security/test_gcm.py).
EK = H("000102030405060708090A0B0C0D0E0F")
AK = H("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
TITLE = H("4D4D4D0000BC614E")
GLO_GET = H("C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B")
GET = "C0 01 C1 00 03 01 00 01 08 00 FF 02 00"
# AARQ of a public client (LN referencing, no security) proposing conformance 0x001E1D.
AARQ = H("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF")


def test_decode_bare_apdu(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", GET]) == 0
    out = capsys.readouterr().out
    assert out.startswith("GetRequestNormal")
    assert "1.0.1.8.0.255" in out


def test_decode_wrapper_pdu(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "0001 0010 0001 000D " + GET]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "wrapper: wPort 16 -> 1, 13 byte APDU"
    assert "GetRequestNormal" in out


def test_decode_deciphers_with_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert gcm.unprotect(0x30, TITLE, 0x01234567, EK, AK, GLO_GET[7:]) == H(
        "C0010000080000010000FF0200"
    )
    args = ["decode", GLO_GET.hex(), "--key-ek", EK.hex(), "--key-ak", AK.hex()]
    assert cli.main([*args, "--system-title", TITLE.hex()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CipheredApdu")
    plain = out.split("deciphered:\n", 1)[1]
    assert plain.startswith("GetRequestNormal") and "0.0.1.0.0.255" in plain


def test_decode_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "FF FF"]) == 1
    assert cli.main(["decode", GLO_GET.hex(), "--key-ek", EK.hex()]) == 1  # no system title
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("acesm-meter: error:") for line in err)


def test_decode_rejects_bad_hex() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["decode", "xyz"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("text", "seconds"), [("90d", 90 * 86400), ("12h", 43200), ("30m", 1800), ("45s", 45.0)]
)
def test_duration(text: str, seconds: float) -> None:
    assert cli._duration(text) == seconds  # noqa: SLF001


def test_start_is_utc_unless_an_offset_is_given() -> None:
    assert cli._timestamp("2024-01-01T00:00:00") == 1704067200.0  # noqa: SLF001
    assert cli._timestamp("2024-01-01T01:00:00+01:00") == 1704067200.0  # noqa: SLF001


def test_serve_options_parse() -> None:
    args = cli.build_parser().parse_args(
        ["serve", "--tcp", "--hdlc-over-tcp", "0", "--time-scale", "60", "--history", "90d"]
    )
    assert args.tcp == ("127.0.0.1", 4059)
    assert args.hdlc_over_tcp == ("127.0.0.1", 0)
    assert args.time_scale == 60.0 and args.history == 90 * 86400
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--time-scale", "0"])


def test_serve_prints_ready_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    meter = MeterProcess(tmp_path, "--tcp", "127.0.0.1:0", "--hdlc-over-tcp", "127.0.0.1:0",
                         "--serial", "pty")
    try:
        fields = meter.wait_ready()
        assert meter.line.startswith("READY "), meter.log_text()
        assert set(fields) == {"tcp", "hdlc", "serial"}
        assert all(meter.port(k) > 0 for k in ("tcp", "hdlc"))
        assert Path(fields["serial"]).exists()
        with socket.create_connection(meter.address(), timeout=10) as conn:
            conn.sendall(H("0001 0010 0001") + len(AARQ).to_bytes(2, "big") + AARQ)
            header = _recv_exactly(conn, 8)
            assert header[:6] == H("0001 0001 0010")  # wrapper v1, wPort 1 -> 16
            aare = _recv_exactly(conn, int.from_bytes(header[6:], "big"))
            assert aare[0] == 0x61  # AARE
        assert meter.stop()[0] == 0
    finally:
        meter.kill()


def test_metrology_evaluate_delegates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.json"
    assert cli.main(["metrology", "evaluate", str(missing)]) == 1
    assert "none.json" in capsys.readouterr().err


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        assert chunk, f"connection closed after {out.hex()}"
        out += chunk
    return out
