"""Security setup (class 64 v1) method 3 key_agreement for suites 1 and 2 (Blue Book 4.4.7;
Green Book DLMS UA 1000-2 9.2.3.4.6.5, Ephemeral Unified Model C(2e, 0s, ECC CDH) with the
ephemeral keys signed by each side's static signing key).

Parameters: array of {key_id enum, key_ciphered_data octet-string}; key_ciphered_data is the
client's ephemeral public key Q_U (x || y) followed by its signature (raw r || s) over
key_id (one octet) || Q_U -- the layout of Gurux ``GXDLMSSecuritySetup.keyAgreement`` /
``getEphemeralPublicKeyData``, which replaces the point's 0x04 prefix by the key_id. The meter
answers the same structure with its own ephemeral key Q_V signed by its signing key.

The signature is checked against the client signing certificates imported into this Security
setup; the one that verifies names the client (PartyUInfo of the KDF). The agreed key is
KDF(Z, AlgorithmID, ST_client, ST_server) (meter.security.ecc.derive_key), AlgorithmID the DER
content of the OID of the suite's cipher: AES-GCM-128 2.16.756.5.8.3.0 for suite 1, AES-GCM-256
2.16.756.5.8.3.1 for suite 2 (Green Book 9.2.3.4.6.5 table "algorithm ID"; Gurux
``GXSecure.getAlgorithmId``). Nothing changes unless every entry verifies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives.asymmetric import ec

from meter.codec.axdr import Array, Data, Enum, OctetString, Structure
from meter.cosem.base import expect, fields, out_of_range
from meter.errors import SecurityError
from meter.security import ecc
from meter.security.keys import KeyId

log = logging.getLogger(__name__)

__all__ = ["AGREEABLE", "ALGORITHM_ID", "agree"]

ALGORITHM_ID = {1: bytes.fromhex("60857405080300"), 2: bytes.fromhex("60857405080301")}
_KEY_BYTES = {1: 16, 2: 32}
#: Keys a key_agreement may set (the master key only travels by key_transfer's wrap).
AGREEABLE = frozenset({KeyId.GLOBAL_UNICAST, KeyId.GLOBAL_BROADCAST, KeyId.AUTHENTICATION})

#: (system title, public key) of each client signing certificate of the Security setup.
ClientKeys = Iterable[tuple[bytes, ec.EllipticCurvePublicKey]]


def agree(parameters: Data | None, suite: int, server_title: bytes, server_key: ec.EllipticCurvePrivateKey | None,
          clients: ClientKeys,
          new_ephemeral: Callable[[], ec.EllipticCurvePrivateKey]) -> tuple[dict[KeyId, bytes], Data]:
    """The agreed keys and the method's return value; AccessError
    other-reason when anything does not verify, type-unmatched for a malformed structure."""
    if suite not in ALGORITHM_ID or server_key is None:
        raise out_of_range(f"key_agreement needs suite 1 or 2 and a signing key (suite {suite})")
    entries = expect(parameters, Array, "key_agreement").items
    if not entries:
        raise out_of_range("key_agreement without keys")
    candidates = list(clients)
    size = 2 * ((server_key.curve.key_size + 7) // 8)  # x || y, and r || s alike
    agreed: dict[KeyId, bytes] = {}
    answers = []
    for entry in entries:
        key_id, data = fields(entry, 2, "key_agreement_data")
        kid = expect(key_id, Enum, "key_id").value
        blob = expect(data, OctetString, "key_ciphered_data").value
        if kid not in AGREEABLE or KeyId(kid) in agreed:
            raise out_of_range(f"key_id {kid} cannot be agreed (or twice)")
        if len(blob) != 2 * size:
            raise out_of_range(f"key_ciphered_data of {len(blob)} octets")
        point, signature = blob[:size], blob[size:]
        signed = bytes((kid,)) + point
        client = next((title for title, key in candidates
                       if key.curve.name == server_key.curve.name and ecc.verify(key, signature, signed)),
                      None)
        if client is None:
            raise out_of_range("key_agreement: no client signing certificate verifies it")
        try:
            peer = ecc.point_key(suite, point)
            ephemeral = new_ephemeral()
            z = ecc.ecdh(ephemeral, peer)
        except SecurityError as exc:
            raise out_of_range(f"key_agreement: {exc}") from None
        agreed[KeyId(kid)] = ecc.derive_key(z, ALGORITHM_ID[suite], client, server_title,
                                                       _KEY_BYTES[suite], server_key.curve)
        mine = ecc.point_bytes(ephemeral.public_key())
        answers.append(Structure((Enum(kid), OctetString(
            mine + ecc.sign(server_key, bytes((kid,)) + mine)))))
        log.info("key_agreement of %s with client %s", KeyId(kid).name, client.hex())
    return agreed, Array(tuple(answers))
