"""A response of the application server on its way out: the encoded xDLMS APDU and what sealing
it needs to know, so nothing downstream reads the encoded bytes to learn what they are."""

from __future__ import annotations

from dataclasses import dataclass

from meter import apdu as A


@dataclass(slots=True)
class Reply:
    tag: int  # the APDU's tag: its kind (an exception-response, a get-response...)
    data: bytes  # the encoded APDU
    #: access_mode v3 response bits of what the request touched: the least protection its
    #: response must carry (Blue Book 4.4.3 access_mode v3).
    protection: int = 0


def exception(state: A.StateError, service: A.ServiceError, invocation_counter: int | None = None) -> Reply:
    """An exception-response (Green Book 9.5): the answer to a request no service can take."""
    return Reply(A.ExceptionResponse.TAG,
                 A.ExceptionResponse(state, service, invocation_counter).to_bytes())
