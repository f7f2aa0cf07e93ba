"""Security setup methods 4-8 and attribute 6 on a suite-1 Security setup (Blue Book 4.4.7,
Green Book 9.2.6), through the management association; certificates made here with
``cryptography`` play the CA and the head end."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support import SERVER_TITLE, SETUP, MemoryClient, Meter

from meter.codec import axdr
from meter.errors import ActionResult
from meter.security.certificates import der_integer

from .helpers import SUITE1_SETUP

CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
SIGNING, AGREEMENT = 0, 1
SERVER, CLIENT = 0, 1


def cn(title: bytes) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, title.hex().upper())])


def issue(public: ec.EllipticCurvePublicKey, subject: x509.Name, ca_key: ec.EllipticCurvePrivateKey,
          serial: int, *, signing: bool = True) -> x509.Certificate:
    usage = x509.KeyUsage(digital_signature=signing, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=not signing, key_cert_sign=False,
                          crl_sign=False, encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
            .public_key(public).serial_number(serial)
            .not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=365))
            .add_extension(usage, critical=True)
            .sign(ca_key, hashes.SHA256()))


def der(cert: x509.Certificate) -> axdr.OctetString:
    return axdr.OctetString(cert.public_bytes(serialization.Encoding.DER))


def by_entity(entity: int, key_type: int, title: bytes) -> axdr.Structure:
    return axdr.Structure((axdr.Enum(0), axdr.Structure((
        axdr.Enum(entity), axdr.Enum(key_type), axdr.OctetString(title)))))


def by_serial(cert: x509.Certificate) -> axdr.Structure:
    return axdr.Structure((axdr.Enum(1), axdr.Structure((
        axdr.OctetString(der_integer(cert.serial_number)),
        axdr.OctetString(cert.issuer.public_bytes())))))


def certificates(client: MemoryClient) -> list[tuple[object, ...]]:
    value = client.get(64, SUITE1_SETUP, 6)
    return [tuple(i.to_python() for i in s.items) for s in value.items]  # type: ignore[attr-defined]


def export(client: MemoryClient, ident: axdr.Data) -> x509.Certificate:
    result, data = client.action_result(SUITE1_SETUP, 7, ident)
    assert result == 0 and isinstance(data, axdr.OctetString)
    return x509.load_der_x509_certificate(data.value)


def test_first_start_makes_key_pairs_with_certificates(meter1: Meter) -> None:
    client = meter1.management()
    listed = certificates(client)
    assert sorted((e, t) for e, t, *_ in listed) == [(SERVER, SIGNING), (SERVER, AGREEMENT)]
    for key_type in (SIGNING, AGREEMENT):
        cert = export(client, by_entity(SERVER, key_type, SERVER_TITLE))
        assert cert.subject == cn(SERVER_TITLE)
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
        cert.verify_directly_issued_by(cert)  # self-signed until a CA's certificate comes
    # Suite 0 has no key pairs and refuses to make one.
    assert certificates_of_suite0(client) == []
    assert client.action_result(SETUP, 4, axdr.Enum(SIGNING))[0] == ActionResult.OTHER_REASON


def certificates_of_suite0(client: MemoryClient) -> list[object]:
    return list(client.get(64, SETUP, 6).items)  # type: ignore[attr-defined]


def test_generate_key_pair_and_csr(meter1: Meter) -> None:
    client = meter1.management()
    old = export(client, by_entity(SERVER, SIGNING, SERVER_TITLE)).public_key()
    assert client.action_result(SUITE1_SETUP, 4, axdr.Enum(SIGNING)) == (0, None)
    result, data = client.action_result(SUITE1_SETUP, 5, axdr.Enum(SIGNING))
    assert result == 0 and isinstance(data, axdr.OctetString)
    csr = x509.load_der_x509_csr(data.value)
    assert csr.is_signature_valid
    assert csr.subject == cn(SERVER_TITLE)
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    assert csr.public_key() != old
    # The meter's certificate now certifies the new key.
    assert export(client, by_entity(SERVER, SIGNING, SERVER_TITLE)).public_key() == csr.public_key()
    assert client.action_result(SUITE1_SETUP, 4, axdr.Enum(3))[0] == ActionResult.OTHER_REASON
    assert client.action_result(SUITE1_SETUP, 5, axdr.Enum(2))[0] == ActionResult.OTHER_REASON  # no TLS pair
    meter1.restart()
    again = meter1.management()
    assert export(again, by_entity(SERVER, SIGNING, SERVER_TITLE)).public_key() == csr.public_key()


def test_import_export_remove_round_trip(meter1: Meter) -> None:
    ca = ec.generate_private_key(ec.SECP256R1())
    client = meter1.management()
    # The head end has the meter's CSR signed by its CA and imports the result.
    _, data = client.action_result(SUITE1_SETUP, 5, axdr.Enum(SIGNING))
    csr = x509.load_der_x509_csr(data.value)  # type: ignore[union-attr]
    server_cert = issue(csr.public_key(), csr.subject, ca, 1001)  # type: ignore[arg-type]
    assert client.action_result(SUITE1_SETUP, 6, der(server_cert)) == (0, None)
    # ...and its own signing certificate.
    head_end = ec.generate_private_key(ec.SECP256R1())
    client_cert = issue(head_end.public_key(), cn(CLIENT_TITLE), ca, 2002)
    assert client.action_result(SUITE1_SETUP, 6, der(client_cert)) == (0, None)
    listed = certificates(client)
    assert (SERVER, SIGNING, der_integer(1001), server_cert.issuer.public_bytes(),
            cn(SERVER_TITLE).public_bytes(), b"") in listed
    assert (CLIENT, SIGNING, der_integer(2002), client_cert.issuer.public_bytes(),
            cn(CLIENT_TITLE).public_bytes(), b"") in listed
    assert len(listed) == 3  # the self-signed signing certificate was replaced
    assert export(client, by_entity(SERVER, SIGNING, SERVER_TITLE)) == server_cert
    assert export(client, by_serial(client_cert)) == client_cert
    meter1.restart()
    client = meter1.management()
    assert export(client, by_entity(CLIENT, SIGNING, CLIENT_TITLE)) == client_cert
    assert client.action_result(SUITE1_SETUP, 8, by_serial(client_cert)) == (0, None)
    assert client.action_result(SUITE1_SETUP, 7, by_serial(client_cert))[0] == ActionResult.OTHER_REASON
    assert client.action_result(SUITE1_SETUP, 8, by_entity(SERVER, SIGNING, SERVER_TITLE)) == (0, None)
    assert [(e, t) for e, t, *_ in certificates(client)] == [(SERVER, AGREEMENT)]


@pytest.mark.parametrize("what", ["foreign server key", "garbage", "rsa"])
def test_unusable_certificates_are_refused(meter1: Meter, what: str) -> None:
    client = meter1.management()
    before = certificates(client)
    ca = ec.generate_private_key(ec.SECP256R1())
    if what == "foreign server key":
        param = der(issue(ec.generate_private_key(ec.SECP256R1()).public_key(), cn(SERVER_TITLE), ca, 7))
    elif what == "garbage":
        param = axdr.OctetString(b"\x30\x82\x01\x00" + bytes(40))
    else:
        from cryptography.hazmat.primitives.asymmetric import rsa
        key = rsa.generate_private_key(65537, 1024)
        param = der(issue(key.public_key(), cn(CLIENT_TITLE), ca, 8))  # type: ignore[arg-type]
    assert client.action_result(SUITE1_SETUP, 6, param)[0] == ActionResult.OTHER_REASON
    assert certificates(client) == before


@pytest.mark.parametrize("ident", [
    axdr.Structure((axdr.Enum(2), axdr.NullData())),
    axdr.Structure((axdr.Enum(0), axdr.Structure((axdr.Enum(1), axdr.Enum(0), axdr.OctetString(bytes(8)))))),
])
def test_unknown_identification_is_refused(meter1: Meter, ident: axdr.Data) -> None:
    client = meter1.management()
    assert client.action_result(SUITE1_SETUP, 7, ident)[0] == ActionResult.OTHER_REASON
    assert client.action_result(SUITE1_SETUP, 8, ident)[0] == ActionResult.OTHER_REASON
    assert client.action_result(SUITE1_SETUP, 7, axdr.Enum(0))[0] == ActionResult.TYPE_UNMATCHED
