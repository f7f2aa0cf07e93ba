"""Security setup (class_id 64, version 1; Blue Book "Security setup", cosem-reference.md §2.2).

security_policy is a v1 bit set (bit 2 authenticated request, 3 encrypted request, 4 signed
request, 5 authenticated response, 6 encrypted response, 7 signed response; bits 0-1 unused).
The policy can only be strengthened (Blue Book: security_activate must not lower it): a new policy
must keep every bit already set. A write of attribute 2 follows the same rule.

Methods 2-8 (key_transfer, key_agreement, generate_key_pair, generate_certificate_request,
import_certificate, export_certificate, remove_certificate) and attribute 6 (certificates) are
served by a :class:`KeyStore` the device injects (meter/device/keys.py: cryptography and storage
stay out of the object model); without one the methods answer other-reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from meter.codec.axdr import Array, Data, Enum, OctetString
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, REQUEST_PROTECTION, RESPONSE_PROTECTION, expect, in_range,
    on_action, on_set, out_of_range)
from meter.cosem.profile_entry import ProfileEntry
from meter.errors import AccessError, DataAccessResult

#: The bits a security_policy may hold (bits 0-1 are unused in v1).
POLICY_BITS = int(REQUEST_PROTECTION | RESPONSE_PROTECTION)


class KeyStore(Protocol):
    """Keys and certificates behind one Security setup. Each method takes the method's A-XDR
    parameters and raises AccessError (cosem.base conventions) when it refuses them."""

    def key_transfer(self, parameters: Data | None, ctx: Context) -> None: ...

    def key_agreement(self, parameters: Data | None, ctx: Context) -> Data: ...

    def generate_key_pair(self, parameters: Data | None, ctx: Context) -> None: ...

    def generate_certificate_request(self, parameters: Data | None, ctx: Context) -> Data: ...

    def import_certificate(self, parameters: Data | None, ctx: Context) -> None: ...

    def export_certificate(self, parameters: Data | None, ctx: Context) -> Data: ...

    def remove_certificate(self, parameters: Data | None, ctx: Context) -> None: ...

    def certificates(self) -> Data:
        """Attribute 6: array of certificate_info."""
        ...


class SecuritySetup(CosemObject):
    CLASS_ID = 64
    VERSION = 1
    NAME = "security_setup"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "security_policy", Enum, default=Enum(0)),
        Attr(3, "security_suite", Enum, default=Enum(0)),
        Attr(4, "client_system_title", OctetString, static=False, default=OctetString(b"")),
        Attr(5, "server_system_title", OctetString, default=OctetString(bytes(8))),
        Attr(6, "certificates", Array, static=False, default=Array()),
    )
    METHODS = (
        Method(1, "security_activate"),
        Method(2, "key_transfer"),
        Method(3, "key_agreement"),
        Method(4, "generate_key_pair"),
        Method(5, "generate_certificate_request"),
        Method(6, "import_certificate"),
        Method(7, "export_certificate"),
        Method(8, "remove_certificate"),
    )

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """Policy and suite from the entry; the server system title is the meter's."""
        return {**super().profile_values(entry),
                "security_policy": Enum(entry.int_option("security_policy", 0)),
                "security_suite": Enum(entry.int_option("security_suite", 0)),
                "server_system_title": OctetString(entry.system_title)}

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Called with the new policy after it changed (the server protects what follows).
        self.on_policy: Callable[[int], None] | None = None
        self._key_store: KeyStore | None = None

    def use_key_store(self, store: KeyStore) -> None:
        """Serve methods 2-8 and the certificates attribute from ``store``."""
        self._key_store = store
        self.bind(6, store.certificates)

    def _keys(self, method: str) -> KeyStore:
        if self._key_store is None:
            raise AccessError(DataAccessResult.OTHER_REASON, f"{method} not implemented")
        return self._key_store

    @property
    def policy(self) -> int:
        return self.int_value("security_policy")

    def _activate(self, value: Data | None) -> None:
        new = expect(value, Enum, "security_policy").value
        if new & ~POLICY_BITS or new & self.policy != self.policy:
            raise out_of_range("security_policy may only be strengthened")
        self.store("security_policy", Enum(new))
        if self.on_policy is not None:
            self.on_policy(new)

    @on_set("security_policy")
    def write_security_policy(self, value: Data, ctx: Context) -> None:
        self._activate(value)

    @on_action("security_activate")
    def security_activate(self, parameters: Data | None, ctx: Context) -> None:
        self._activate(parameters)

    @on_set("security_suite")
    def write_security_suite(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Enum, "security_suite").value, 0, 2, "security_suite")
        self.store("security_suite", value)

    @on_set("server_system_title")
    def write_server_system_title(self, value: Data, ctx: Context) -> None:
        if len(expect(value, OctetString, "system title").value) != 8:
            raise out_of_range("a system title has 8 octets")
        self.store("server_system_title", value)

    # --- key and certificate management (the injected key store) -------------------------------

    @on_action("key_transfer")
    def key_transfer(self, parameters: Data | None, ctx: Context) -> None:
        self._keys("key_transfer").key_transfer(parameters, ctx)

    @on_action("key_agreement")
    def key_agreement(self, parameters: Data | None, ctx: Context) -> Data:
        return self._keys("key_agreement").key_agreement(parameters, ctx)

    @on_action("generate_key_pair")
    def generate_key_pair(self, parameters: Data | None, ctx: Context) -> None:
        self._keys("generate_key_pair").generate_key_pair(parameters, ctx)

    @on_action("generate_certificate_request")
    def generate_certificate_request(self, parameters: Data | None, ctx: Context) -> Data:
        return self._keys("generate_certificate_request").generate_certificate_request(
            parameters, ctx)

    @on_action("import_certificate")
    def import_certificate(self, parameters: Data | None, ctx: Context) -> None:
        self._keys("import_certificate").import_certificate(parameters, ctx)

    @on_action("export_certificate")
    def export_certificate(self, parameters: Data | None, ctx: Context) -> Data:
        return self._keys("export_certificate").export_certificate(parameters, ctx)

    @on_action("remove_certificate")
    def remove_certificate(self, parameters: Data | None, ctx: Context) -> None:
        self._keys("remove_certificate").remove_certificate(parameters, ctx)
