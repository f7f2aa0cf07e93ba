"""access_mode v3 bits (Blue Book 4.4.3) as plain ints, for the per-request checks.

IntFlag arithmetic builds enum members, several microseconds per request; these are the same
bits, defined once. Security setup v1 security_policy uses the same positions 2-7 (Blue Book
4.4.7), so the policy's bits combine with these directly.
"""

from __future__ import annotations

from meter.cosem.base import AccessMode, MethodAccessMode

READ = int(AccessMode.READ)
WRITE = int(AccessMode.WRITE)
METHOD_ACCESS = int(MethodAccessMode.ACCESS)

AUTHENTICATED_REQUEST = int(AccessMode.AUTHENTICATED_REQUEST)
ENCRYPTED_REQUEST = int(AccessMode.ENCRYPTED_REQUEST)
SIGNED_REQUEST = int(AccessMode.DIGITALLY_SIGNED_REQUEST)
AUTHENTICATED_RESPONSE = int(AccessMode.AUTHENTICATED_RESPONSE)
ENCRYPTED_RESPONSE = int(AccessMode.ENCRYPTED_RESPONSE)
SIGNED_RESPONSE = int(AccessMode.DIGITALLY_SIGNED_RESPONSE)

REQUEST_PROTECTION = AUTHENTICATED_REQUEST | ENCRYPTED_REQUEST | SIGNED_REQUEST
RESPONSE_PROTECTION = AUTHENTICATED_RESPONSE | ENCRYPTED_RESPONSE | SIGNED_RESPONSE
