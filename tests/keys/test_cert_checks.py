"""What import_certificate (Security setup method 6) checks before it trusts a certificate
(meter.security.certificates.check_certificate): curve of the suite, validity at the meter
clock, key usage, and the chain to an imported CA. Each rule both ways; a refusal answers
other-reason and leaves the certificate list as it was. Certificates are made here with
``cryptography``, playing the CA and the head end."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support import SERVER_TITLE, SETUP, START, MemoryClient, Meter

from meter.codec import axdr
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.errors import ActionResult, DataAccessResult
from meter.security.certificates import der_integer

from .helpers import SUITE1_SETUP

CLOCK = Obis.parse("0.0.1.0.0.255")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
NOW = dt.datetime.fromtimestamp(START, dt.UTC)
YEAR = dt.timedelta(days=365)
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
SIGNING, AGREEMENT, OTHER_TYPE = 0, 1, 3
SERVER, CLIENT, CA = 0, 1, 2
Key = ec.EllipticCurvePrivateKey


def cn(title: bytes) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, title.hex().upper())])


def usage(*, signing: bool = False, agreement: bool = False, enciphering: bool = False,
          cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signing, content_commitment=False, key_encipherment=enciphering,
                         data_encipherment=False, key_agreement=agreement, key_cert_sign=cert_sign,
                         crl_sign=cert_sign, encipher_only=False, decipher_only=False)


def make(public: ec.EllipticCurvePublicKey, subject: x509.Name, signer: Key, *,
         issuer: x509.Name = CA_NAME, key_usage: x509.KeyUsage | None = None, ca: bool | None = None,
         before: dt.datetime = NOW, after: dt.datetime = NOW + YEAR,
         algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None) -> axdr.OctetString:
    """DER certificate of ``public`` signed by ``signer``; signing key usage unless told."""
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
               .serial_number(x509.random_serial_number()).not_valid_before(before).not_valid_after(after)
               .add_extension(key_usage or usage(signing=True), critical=True))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    cert = builder.sign(signer, algorithm or hashes.SHA256())
    return axdr.OctetString(cert.public_bytes(serialization.Encoding.DER))


def client_cert(signer: Key, curve: ec.EllipticCurve | None = None, **kw: object) -> axdr.OctetString:
    """A head end's certificate (P-256 unless ``curve``) issued by ``signer``."""
    public = ec.generate_private_key(curve or ec.SECP256R1()).public_key()
    return make(public, cn(CLIENT_TITLE), signer, **kw)  # type: ignore[arg-type]


def ca_cert(key: Key, **kw: object) -> axdr.OctetString:
    """A self-signed root: basicConstraints cA, keyCertSign."""
    kw.setdefault("key_usage", usage(cert_sign=True))
    kw.setdefault("ca", True)
    return make(key.public_key(), CA_NAME, key, **kw)  # type: ignore[arg-type]


def listed(client: MemoryClient, setup: Obis = SUITE1_SETUP) -> list[tuple[object, ...]]:
    value = client.get(64, setup, 6)
    return [tuple(i.to_python() for i in s.items) for s in value.items]  # type: ignore[attr-defined]


def accepted(client: MemoryClient, cert: axdr.OctetString, setup: Obis = SUITE1_SETUP) -> bool:
    """Import ``cert``; True when it was stored, False when refused with nothing stored."""
    before = listed(client, setup)
    result, data = client.action_result(setup, 6, cert)
    assert data is None
    if result == ActionResult.SUCCESS:
        return True
    assert result == ActionResult.OTHER_REASON
    assert listed(client, setup) == before
    return False


def set_meter_clock(client: MemoryClient, when: dt.datetime) -> None:
    value = axdr.OctetString(CosemDateTime.from_datetime(when).to_bytes())
    assert client.set(8, CLOCK, 2, value) == DataAccessResult.SUCCESS


@pytest.fixture
def ca_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


# --- 1. the key is on the curve of the setup's suite -------------------------------------------

def test_key_must_be_on_the_suite_curve(meter1: Meter, ca_key: Key) -> None:
    client = meter1.management()
    assert not accepted(client, client_cert(ca_key, curve=ec.SECP384R1()))  # P-384 on suite 1
    assert accepted(client, client_cert(ca_key, curve=ec.SECP256R1()))
    # Suite 0 has no public-key algorithms: no curve fits.
    assert not accepted(client, client_cert(ca_key), SETUP)
    assert listed(client, SETUP) == []


# --- 2. validity at the meter clock ---------------------------------------------------------------

def test_validity_is_judged_on_the_meter_clock(meter1: Meter, ca_key: Key) -> None:
    client = meter1.management()
    later = NOW + dt.timedelta(hours=1)
    assert not accepted(client, client_cert(ca_key, before=later))  # not yet valid
    assert not accepted(client, client_cert(ca_key, before=NOW - YEAR, after=NOW - dt.timedelta(seconds=1)))
    assert accepted(client, client_cert(ca_key, before=NOW, after=NOW))  # both bounds inclusive
    # The meter clock moves (clock synchronisation), the true time does not: the clock decides.
    set_meter_clock(client, later + dt.timedelta(minutes=5))
    assert meter1.timebase.t == START
    assert accepted(client, client_cert(ca_key, before=later))
    assert not accepted(client, client_cert(ca_key, before=NOW - YEAR, after=later))


# --- 3. key usage fits the type the certificate is filed under ------------------------------------

def test_key_usage_must_name_the_filed_use(meter1: Meter, ca_key: Key) -> None:
    client = meter1.management()
    assert not accepted(client, client_cert(ca_key, key_usage=usage(enciphering=True)))
    assert accepted(client, client_cert(ca_key, key_usage=usage(signing=True)))
    assert accepted(client, client_cert(ca_key, key_usage=usage(agreement=True)))
    filed = [t for e, t, *_ in listed(client) if e == CLIENT]  # in import order
    assert filed == [SIGNING, AGREEMENT]
    # A CA's key usage must allow certificate signing.
    assert not accepted(client, ca_cert(ca_key, key_usage=usage(signing=True)))
    assert accepted(client, ca_cert(ca_key))


def test_without_key_usage_the_certificate_is_filed_as_other(meter1: Meter, ca_key: Key) -> None:
    client = meter1.management()
    cert = x509.load_der_x509_certificate(client_cert(ca_key).value)
    bare = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(CA_NAME)
            .public_key(cert.public_key()).serial_number(77)
            .not_valid_before(NOW).not_valid_after(NOW + YEAR).sign(ca_key, hashes.SHA256()))
    assert accepted(client, axdr.OctetString(bare.public_bytes(serialization.Encoding.DER)))
    assert (CLIENT, OTHER_TYPE, der_integer(77)) in [row[:3] for row in listed(client)]


# --- 4. the chain to an imported CA -----------------------------------------------------------------

def test_without_a_ca_any_issuer_is_accepted(meter1: Meter) -> None:
    client = meter1.management()
    head_end = ec.generate_private_key(ec.SECP256R1())
    assert accepted(client, make(head_end.public_key(), cn(CLIENT_TITLE), head_end, issuer=cn(CLIENT_TITLE)))


def test_a_ca_must_be_self_signed_with_basic_constraints(meter1: Meter, ca_key: Key) -> None:
    client = meter1.management()
    root = ec.generate_private_key(ec.SECP256R1())
    # Names itself as issuer but is signed by another key.
    assert not accepted(client, make(ca_key.public_key(), CA_NAME, root, key_usage=usage(cert_sign=True), ca=True))
    # Without basicConstraints cA it is no CA: keyCertSign alone then names no use it is filed for...
    assert not accepted(client, ca_cert(ca_key, ca=False))
    # ...and with a signing usage it is filed as entity "other" and starts no chain checks.
    assert accepted(client, ca_cert(ca_key, ca=False, key_usage=usage(signing=True, cert_sign=True)))
    assert CA not in [e for e, *_ in listed(client)]
    assert accepted(client, client_cert(root))
    assert accepted(client, ca_cert(ca_key))
    assert CA in [e for e, *_ in listed(client)]


def test_with_a_ca_client_certificates_must_be_issued_by_it(meter1: Meter, ca_key: Key) -> None:
    client = meter1.management()
    assert accepted(client, ca_cert(ca_key))
    rogue = ec.generate_private_key(ec.SECP256R1())
    assert not accepted(client, client_cert(rogue))  # issuer name right, signature wrong
    assert not accepted(client, client_cert(ca_key, issuer=cn(CLIENT_TITLE)))  # signature right, issuer wrong
    assert not accepted(client, client_cert(ca_key, algorithm=hashes.SHA512()))  # no suite algorithm
    assert accepted(client, client_cert(ca_key))
    assert accepted(client, client_cert(ca_key, algorithm=hashes.SHA384()))  # as the certificate says
    # Server certificates too: the meter's CSR signed by the rogue, then by the CA.
    _, data = client.action_result(SUITE1_SETUP, 5, axdr.Enum(SIGNING))
    csr = x509.load_der_x509_csr(data.value)  # type: ignore[union-attr]
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert not accepted(client, make(public, cn(SERVER_TITLE), rogue))
    assert accepted(client, make(public, cn(SERVER_TITLE), ca_key))
    # Removing the CA (method 8, by serial) brings back the behaviour without one.
    serial = next(row[2] for row in listed(client) if row[0] == CA)
    assert client.action_result(SUITE1_SETUP, 8, axdr.Structure((axdr.Enum(1), axdr.Structure((
        axdr.OctetString(serial), axdr.OctetString(CA_NAME.public_bytes())))))) == (0, None)  # type: ignore[arg-type]
    assert accepted(client, client_cert(rogue))


def test_an_expired_ca_issues_nothing(meter1: Meter, ca_key: Key) -> None:
    client = meter1.management()
    assert accepted(client, ca_cert(ca_key, after=NOW + dt.timedelta(days=1)))
    set_meter_clock(client, NOW + dt.timedelta(days=2))
    assert not accepted(client, client_cert(ca_key, before=NOW - YEAR))


def test_the_chain_survives_a_restart(meter1: Meter, ca_key: Key) -> None:
    client = meter1.management()
    assert accepted(client, ca_cert(ca_key))
    meter1.restart()
    client = meter1.management()
    assert not accepted(client, client_cert(ec.generate_private_key(ec.SECP256R1())))
    assert accepted(client, client_cert(ca_key))
