"""ECC key pairs, PKCS#10 requests and X.509 certificates of security suites 1 and 2
(Green Book DLMS UA 1000-2 9.2.6 "Public key certificates and their management"; Blue Book
Security setup v1 methods generate_key_pair .. remove_certificate and attribute certificates).

Everything is done by ``cryptography``; this module only fixes the DLMS conventions:

* suite 1 = NIST P-256 with ECDSA-SHA-256, suite 2 = P-384 with ECDSA-SHA-384;
* the subject of an entity's certificate is ``CN=<system title as 16 upper-case hex digits>``
  (Gurux ``GXAsn1Converter.systemTitleToSubject`` builds exactly that);
* certificate_type follows the key usage: digitalSignature -> digital signature (0),
  keyAgreement -> key agreement (1), both -> TLS (2) (Gurux ``GXDLMSConverter``
  ``keyUsageToCertificateType``); anything else is "other" (3);
* in attribute ``certificates`` and in certificate_identification by serial, serial_number is
  the DER INTEGER of the serial and issuer the DER of the issuer Name (Gurux
  ``exportCertificateBySerial`` sends ``GXAsn1Integer`` and an ASN.1 issuer).

:func:`check_certificate` is what the meter checks before it trusts an imported certificate,
after RFC 5280 6.1.3 (validity, issuer name, signature of each certificate on the path) with
the path cut to one CA: the key is on the suite's curve, the meter time is inside the validity,
a key usage names the use the certificate is filed under, a CA is self-signed with
basicConstraints cA, and once a CA is known a client or server certificate must be issued by it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from meter.errors import SecurityError
from meter.security.ecc import CURVES

__all__ = [
    "CertificateEntity",
    "CertificateInfo",
    "CertificateType",
    "PrivateKey",
    "certificate_request",
    "check_certificate",
    "der_integer",
    "generate_private_key",
    "load_private_key",
    "parse_certificate",
    "private_key_der",
    "public_key_der",
    "self_signed_certificate",
    "subject_for",
    "suite_of",
]

PrivateKey = ec.EllipticCurvePrivateKey

_HASHES: dict[int, type[hashes.SHA256 | hashes.SHA384]] = {1: hashes.SHA256, 2: hashes.SHA384}
#: Lifetime of the certificates the meter makes for its own keys (a head end replaces them
#: with CA-issued ones through import_certificate).
SELF_SIGNED_DAYS = 20 * 366


class CertificateEntity(enum.IntEnum):
    """certificate_entity of Security setup v1."""

    SERVER = 0
    CLIENT = 1
    CERTIFICATION_AUTHORITY = 2
    OTHER = 3


class CertificateType(enum.IntEnum):
    """certificate_type of Security setup v1; 0-2 are also the key_pair_type of methods 4/5."""

    DIGITAL_SIGNATURE = 0
    KEY_AGREEMENT = 1
    TLS = 2
    OTHER = 3


def _suite(suite: int) -> int:
    if suite not in CURVES:
        raise SecurityError(f"security suite {suite} has no public-key algorithms")
    return suite


def generate_private_key(suite: int) -> PrivateKey:
    """A fresh key pair on the suite's curve."""
    return ec.generate_private_key(CURVES[_suite(suite)]())


def private_key_der(key: PrivateKey) -> bytes:
    """PKCS#8 DER, unencrypted (the state directory is the meter's protected memory)."""
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(der: bytes) -> PrivateKey:
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SecurityError(f"stored private key unreadable: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SecurityError("stored private key is not an EC key")
    return key


def public_key_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def suite_of(key: PrivateKey) -> int:
    """The suite whose curve ``key`` is on."""
    for suite, curve in CURVES.items():
        if isinstance(key.curve, curve):
            return suite
    raise SecurityError(f"curve {key.curve.name} belongs to no security suite")


def subject_for(system_title: bytes) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, system_title.hex().upper())])


def _key_usage(key_type: CertificateType) -> x509.KeyUsage:
    signs = key_type in (CertificateType.DIGITAL_SIGNATURE, CertificateType.TLS)
    agrees = key_type in (CertificateType.KEY_AGREEMENT, CertificateType.TLS)
    return x509.KeyUsage(digital_signature=signs, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=agrees,
                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                         decipher_only=False)


def certificate_request(key: PrivateKey, system_title: bytes, key_type: CertificateType) -> bytes:
    """DER PKCS#10 request for ``key``, subject CN = system title, signed by ``key`` itself."""
    suite = suite_of(key)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(subject_for(system_title))
           .add_extension(_key_usage(key_type), critical=True)
           .sign(key, _HASHES[suite]()))
    return csr.public_bytes(serialization.Encoding.DER)


def self_signed_certificate(key: PrivateKey, system_title: bytes, key_type: CertificateType,
                            serial: int, now: dt.datetime) -> bytes:
    """DER X.509 v3 certificate of ``key`` issued by itself (what the meter holds until a CA's
    certificate is imported)."""
    suite = suite_of(key)
    name = subject_for(system_title)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
            .add_extension(_key_usage(key_type), critical=True)
            .sign(key, _HASHES[suite]()))
    return cert.public_bytes(serialization.Encoding.DER)


def der_integer(value: int) -> bytes:
    """DER INTEGER (tag 2) of a non-negative int: the serial_number octet-string."""
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # +1: a leading 0 keeps it positive
    if len(body) > 127:
        raise SecurityError("serial number too long")
    return bytes((0x02, len(body))) + body


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """One certificate as the meter stores and lists it (attribute ``certificates``)."""

    der: bytes
    entity: CertificateEntity
    type: CertificateType
    serial: bytes  # DER INTEGER
    issuer: bytes  # DER Name
    subject: bytes  # DER Name
    subject_alt_name: bytes  # DER of the extension value, or b""
    system_title: bytes | None  # from the subject's CN, when it is one
    public_key: bytes  # SubjectPublicKeyInfo DER


def _system_title(name: x509.Name) -> bytes | None:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) != 1:
        return None
    cn = cns[0].value
    try:
        title = bytes.fromhex(cn if isinstance(cn, str) else cn.decode())
    except (ValueError, UnicodeDecodeError):
        return None
    return title if len(title) == 8 else None


def _certificate_type(cert: x509.Certificate) -> CertificateType:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return CertificateType.OTHER
    if usage.digital_signature and usage.key_agreement:
        return CertificateType.TLS
    if usage.digital_signature:
        return CertificateType.DIGITAL_SIGNATURE
    if usage.key_agreement:
        return CertificateType.KEY_AGREEMENT
    return CertificateType.OTHER


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def parse_certificate(der: bytes, server_system_title: bytes) -> CertificateInfo:
    """Read a DER certificate; SecurityError if it is not one or its key is not ECC.

    The entity: a CA certificate (basicConstraints cA) is a certification authority, a subject
    naming the server's system title the server, another system title a client, else other.
    """
    try:
        cert = x509.load_der_x509_certificate(bytes(der))
        public = cert.public_key()
        extensions = cert.extensions  # parses them: a malformed extension fails here
        subject = cert.subject
        issuer = cert.issuer
        serial = cert.serial_number
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension) as exc:
        raise SecurityError(f"not a usable X.509 certificate: {exc}") from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or not any(
            isinstance(public.curve, c) for c in CURVES.values()):
        raise SecurityError("certificate key is not on P-256 or P-384")
    if serial < 0:
        raise SecurityError("negative certificate serial number")
    title = _system_title(subject)
    if _is_ca(cert):
        entity = CertificateEntity.CERTIFICATION_AUTHORITY
    elif title is None:
        entity = CertificateEntity.OTHER
    elif title == server_system_title:
        entity = CertificateEntity.SERVER
    else:
        entity = CertificateEntity.CLIENT
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value.public_bytes()
    except x509.ExtensionNotFound:
        san = b""
    return CertificateInfo(
        der=bytes(der), entity=entity, type=_certificate_type(cert), serial=der_integer(serial),
        issuer=issuer.public_bytes(), subject=subject.public_bytes(),
        subject_alt_name=san, system_title=title, public_key=public_key_der(public))


#: The signature algorithms of suites 1 and 2 (Green Book 9.2.3.1: ECDSA with SHA-256 / SHA-384).
_SIGNATURE_ALGORITHMS = frozenset((SignatureAlgorithmOID.ECDSA_WITH_SHA256,
                                   SignatureAlgorithmOID.ECDSA_WITH_SHA384))


def _load(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise SecurityError(f"not a usable X.509 certificate: {exc}") from None


def _check_curve(cert: x509.Certificate, suite: int) -> None:
    curve = CURVES.get(suite)
    if curve is None:
        raise SecurityError(f"security suite {suite} takes no certificates")
    if not isinstance(cert.public_key().curve, curve):  # type: ignore[union-attr]
        raise SecurityError(f"certificate key is not on the curve of security suite {suite}")


def _valid_at(cert: x509.Certificate, now: float) -> bool:
    return cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp()


def _check_key_usage(cert: x509.Certificate, info: CertificateInfo) -> None:
    """A present key usage must allow what the certificate is filed for (RFC 5280 4.2.1.3).

    The type a certificate is filed under comes from its key usage (digitalSignature ->
    signing, keyAgreement -> key agreement, both -> TLS), so the two can only disagree when the
    usage names neither: such an end-entity certificate is refused. A CA must allow keyCertSign.
    """
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if info.entity == CertificateEntity.CERTIFICATION_AUTHORITY:
        if not usage.key_cert_sign:
            raise SecurityError("CA certificate whose key usage lacks keyCertSign")
    elif info.type == CertificateType.OTHER:
        raise SecurityError("key usage allows neither digitalSignature nor keyAgreement")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``cert`` names ``issuer``'s subject as its issuer and carries an ECDSA-SHA-256/384
    signature that verifies with ``issuer``'s key."""
    if cert.signature_algorithm_oid not in _SIGNATURE_ALGORITHMS:
        return False
    try:
        cert.verify_directly_issued_by(issuer)  # issuer name == subject, then the signature
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def check_certificate(info: CertificateInfo, suite: int, now: float,
                      authorities: Sequence[CertificateInfo]) -> None:
    """SecurityError unless the meter may trust ``info`` (see the module docstring).

    ``suite`` is the Security setup's, ``now`` the meter clock (UTC seconds), ``authorities``
    the CA certificates already imported into that Security setup.
    """
    cert = _load(info.der)
    _check_curve(cert, suite)
    if not _valid_at(cert, now):
        raise SecurityError("certificate not valid at the meter time")
    _check_key_usage(cert, info)
    if info.entity == CertificateEntity.CERTIFICATION_AUTHORITY:
        # parse_certificate files a certificate as CA only for basicConstraints cA = true.
        if not _issued_by(cert, cert):
            raise SecurityError("CA certificate is not self-signed")
    elif info.entity in (CertificateEntity.CLIENT, CertificateEntity.SERVER) and authorities:
        # Our decision: with no CA imported the meter trusts what the management association
        # imports (the Green Book lets a meter of a test system run without a CA); once a CA is
        # in, a client or server certificate must be issued by one that is valid now.
        cas = (_load(ca.der) for ca in authorities)
        if not any(_valid_at(ca, now) and _issued_by(cert, ca) for ca in cas):
            raise SecurityError("certificate not issued by an imported CA")
