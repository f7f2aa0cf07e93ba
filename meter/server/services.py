"""xDLMS GET, SET and ACTION services of one application association (Green Book 9.3.6-9.3.8).

This is the one place that turns errors into results on the wire: an :class:`AccessError` becomes
its data-access-result / action-result, any other exception from an object is a bug that is
logged and answered ``other-reason``; the association and the connection keep working.

Block transfer both ways: a response that does not fit the client's max-receive-PDU-size is sent
in blocks (GET with-datablock, ACTION with-pblock), and requests may arrive in blocks (SET
with-datablock, ACTION with-pblock). Only one long transfer per service is in progress at a time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meter import apdu as A
from meter.apdu.initiate import Conformance
from meter.codec import axdr
from meter.codec.buffer import encode_length
from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN
from meter.cosem.base import Context, CosemObject
from meter.cosem.names import CURRENT_ASSOCIATION
from meter.cosem.registry import ObjectDirectory
from meter.errors import AccessError, ActionResult, DataAccessResult, DecodeError, StoreError
from meter.server.access_bits import (
    METHOD_ACCESS,
    READ,
    REQUEST_PROTECTION,
    RESPONSE_PROTECTION,
    WRITE,
)
from meter.server.blocks import Incoming, Outgoing, block_size, decode_data_sequence, pieces_of
from meter.server.reply import Reply, exception

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """What one request may make the meter hold or do ([limits] of the profile; the defaults
    are what the bundled profiles need with room to spare)."""

    #: max_request_bytes: the most a SET or ACTION may send in blocks (the data reassembled).
    #: The largest request the profiles take (a certificate, a key transfer, capture_objects)
    #: is a few kB; a client that goes on sending blocks gets long-set/long-action-aborted.
    request_bytes: int = 65536
    #: max_response_bytes: the most one GET may produce. A full load profile (40,000 rows of
    #: ~40 bytes) is 1.6 MB; more (the buffer named K times in a list) is scope-of-access-violated.
    response_bytes: int = 4 * 1024 * 1024
    #: max_list_items: attributes in one GET-with-list (SET/ACTION lists are bounded by the
    #: request size); more are all answered scope-of-access-violated.
    list_items: int = 64

    @classmethod
    def from_profile(cls, limits: Mapping[str, Any]) -> ServiceLimits:
        default = cls()
        return cls(int(limits.get("max_request_bytes", default.request_bytes)),
                   int(limits.get("max_response_bytes", default.response_bytes)),
                   int(limits.get("max_list_items", default.list_items)))

#: The response APDU of each request APDU (by tag): what every reply of its service is, short
#: of an exception-response.
_RESPONSE_TAG = {
    A.GetRequestNormal.TAG: A.GetResponseNormal.TAG,
    A.SetRequestNormal.TAG: A.SetResponseNormal.TAG,
    A.ActionRequestNormal.TAG: A.ActionResponseNormal.TAG,
}


#: An association's access rights on one object: access_mode by attribute, by method.
_Rights = tuple[Mapping[int, int], Mapping[int, int]]
_NO_RIGHTS: _Rights = ({}, {})


@dataclass(frozen=True, slots=True)
class RequestSecurity:
    """How the request arrived (security control of its envelope), as access_mode v3 bits."""

    bits: int = 0  # AccessMode.AUTHENTICATED_REQUEST | ENCRYPTED_REQUEST | DIGITALLY_SIGNED_REQUEST


PLAIN = RequestSecurity()


#: Bytes before the data of a get-response-normal (tag, choice, invoke-id, result choice) and of
#: a get-response-with-list (tag, choice, invoke-id; the count is in the data).
_NORMAL_HEADER = 4
_LIST_HEADER = 3
#: The answer to a request whose response would pass a bound of ServiceLimits: it asks for
#: more than the meter serves in one go (Green Book: the scope of access is violated).
_TOO_MUCH = DataAccessResult.SCOPE_OF_ACCESS_VIOLATED


def _to_action_result(result: DataAccessResult) -> ActionResult:
    try:
        return ActionResult(int(result))
    except ValueError:
        return ActionResult.OTHER_REASON


class Services:
    """GET/SET/ACTION for one association. ``handle`` takes a decoded request and returns its
    :class:`Reply`."""

    def __init__(
        self,
        directory: ObjectDirectory,
        association: AssociationLN,
        conformance: Conformance,
        max_send_pdu: int,
        make_context: Callable[[], Context],
        envelope_overhead: int = 0,
        limits: ServiceLimits = ServiceLimits(),
    ) -> None:
        self._directory = directory
        self._association = association
        self._conformance = conformance
        self._max_send = max_send_pdu
        self._make_context = make_context
        self._context: Context | None = None
        self._block_size = block_size(max_send_pdu, envelope_overhead)
        self._limit = max_send_pdu - envelope_overhead
        self._max_request = limits.request_bytes
        self._max_response = limits.response_bytes
        self._max_items = limits.list_items
        self._get_out: Outgoing | None = None
        self._action_out: Outgoing | None = None
        self._set_in: Incoming[A.SetRequestWithFirstDataBlock | A.SetRequestWithListAndFirstDataBlock] \
            | None = None
        self._action_in: Incoming[A.ActionRequestWithFirstPBlock | A.ActionRequestWithListAndFirstPBlock] \
            | None = None
        self._response_protection = 0
        # The services this association negotiated (Green Book 9.4.6.1), fixed for its life:
        # one dict lookup per request instead of a conformance check.
        self._handlers = _negotiated(int(conformance))

    @property
    def conformance(self) -> Conformance:
        return self._conformance

    @property
    def max_send(self) -> int:
        """The client's max-receive-PDU-size: no response of this association may be longer."""
        return self._max_send

    @property
    def get_block_sent(self) -> int | None:
        """The number of the block a GET with blocks sent last while more are to come (None:
        no such transfer under way). Link faults cut after a given block (transport/faults.py)."""
        return None if self._get_out is None else self._get_out.sent

    # --- dispatch ----------------------------------------------------------------------------

    def handle(self, req: A.Apdu, sec: RequestSecurity = PLAIN) -> Reply:
        self._response_protection = 0
        entry = self._handlers.get(type(req))
        if entry is None:  # unknown, or not negotiated
            return exception(A.StateError.SERVICE_NOT_ALLOWED, A.ServiceError.SERVICE_NOT_SUPPORTED)
        handler, tag = entry
        data = handler(self, req, sec)
        return Reply(tag, data, self._response_protection)

    def may_invoke(self, desc: A.CosemMethodDescriptor, sec: RequestSecurity) -> tuple[ActionResult, int]:
        """Whether this association may invoke the method (SUCCESS, else why not) and the
        response protection its access mode asks for; for an ACTION the server runs itself."""
        self._response_protection = 0
        return self._invoke_denied(desc, sec), self._response_protection

    def _ctx(self) -> Context:
        """The association's context: the same for every request, so built once."""
        if self._context is None:
            self._context = self._make_context()
        return self._context

    # --- object resolution and access checks -----------------------------------------------

    def _resolve(self, class_id: int, obis: Obis) -> tuple[CosemObject, _Rights]:
        """The object ``obis`` names for this association, with this association's rights on
        it; AccessError if it names none."""
        obj: CosemObject | None
        rights = self._association.access_of(obis)
        if obis == CURRENT_ASSOCIATION:
            obj = self._association
        else:
            obj = self._directory.get(obis) if rights is not None else None
        if obj is None:
            raise AccessError(DataAccessResult.OBJECT_UNDEFINED)
        if obj.CLASS_ID != class_id:
            raise AccessError(DataAccessResult.OBJECT_CLASS_INCONSISTENT)
        return obj, rights or _NO_RIGHTS

    def _check_protection(self, required: int, sec: RequestSecurity) -> None:
        if required & REQUEST_PROTECTION & ~sec.bits:
            raise AccessError(DataAccessResult.READ_WRITE_DENIED, "request not protected enough")
        self._response_protection |= required & RESPONSE_PROTECTION

    def _read(self, desc: A.CosemAttributeDescriptor, access: A.SelectiveAccess | None,
              sec: RequestSecurity) -> axdr.Data | DataAccessResult:
        try:
            obj, rights = self._resolve(desc.class_id, desc.instance_id)
            mode = int(rights[0].get(desc.attribute_id, 0))
            if not mode & READ:
                if not obj.has_attribute(desc.attribute_id):
                    raise AccessError(DataAccessResult.OBJECT_UNDEFINED)
                raise AccessError(DataAccessResult.READ_WRITE_DENIED)
            self._check_protection(mode, sec)
            if desc.attribute_id == 1 and access is None:
                # The name the object was addressed by: the current association answers to
                # 0.0.40.0.0.255 as listed in its object_list, not with its instance's name.
                return axdr.OctetString(desc.instance_id.to_bytes())
            if access is not None:
                if not self._conformance & Conformance.SELECTIVE_ACCESS:
                    raise AccessError(DataAccessResult.SCOPE_OF_ACCESS_VIOLATED)
                return obj.get(desc.attribute_id, self._ctx(), access.selector,
                               access.parameters)
            return obj.get(desc.attribute_id, self._ctx())
        except AccessError as exc:
            log.info("GET %s/%s: %s", desc.instance_id, desc.attribute_id, exc)
            return exc.result
        except Exception:  # an object's bug must not take the association down
            log.exception("GET %s/%s failed", desc.instance_id, desc.attribute_id)
            return DataAccessResult.OTHER_REASON

    def _writable(self, desc: A.CosemAttributeDescriptor, sec: RequestSecurity) -> CosemObject:
        """The object whose attribute this association may write; AccessError if not."""
        obj, rights = self._resolve(desc.class_id, desc.instance_id)
        mode = int(rights[0].get(desc.attribute_id, 0))
        return self._granted(obj, mode, WRITE, lambda: obj.has_attribute(desc.attribute_id), sec)

    def _write_denied(self, desc: A.CosemAttributeDescriptor, sec: RequestSecurity) -> DataAccessResult:
        """SUCCESS if this association may write the attribute, else why not."""
        try:
            self._writable(desc, sec)
            return DataAccessResult.SUCCESS
        except AccessError as exc:
            log.info("SET %s/%s: %s", desc.instance_id, desc.attribute_id, exc)
            return exc.result

    def _write(self, desc: A.CosemAttributeDescriptor, access: A.SelectiveAccess | None,
               value: axdr.Data, sec: RequestSecurity) -> DataAccessResult:
        try:
            obj = self._writable(desc, sec)
            if access is not None:
                obj.set(desc.attribute_id, value, self._ctx(), access.selector,
                        access.parameters)
            else:
                obj.set(desc.attribute_id, value, self._ctx())
            self._ctx().persist()  # a value the store does not hold must not take effect
            return DataAccessResult.SUCCESS
        except AccessError as exc:
            log.info("SET %s/%s: %s", desc.instance_id, desc.attribute_id, exc)
            return exc.result
        except StoreError as exc:
            log.error("SET %s/%s not stored, undone: %s", desc.instance_id, desc.attribute_id, exc)
            return DataAccessResult.TEMPORARY_FAILURE
        except Exception:
            log.exception("SET %s/%s failed", desc.instance_id, desc.attribute_id)
            return DataAccessResult.OTHER_REASON

    def _invocable(self, desc: A.CosemMethodDescriptor, sec: RequestSecurity) -> CosemObject:
        """The object whose method this association may invoke; AccessError if not."""
        obj, rights = self._resolve(desc.class_id, desc.instance_id)
        mode = int(rights[1].get(desc.method_id, 0))
        return self._granted(obj, mode, METHOD_ACCESS, lambda: obj.has_method(desc.method_id), sec)

    def _granted(self, obj: CosemObject, mode: int, needed: int, defined: Callable[[], bool],
                 sec: RequestSecurity) -> CosemObject:
        """``obj`` if the association's ``mode`` grants ``needed`` and the request carries the
        protection it asks for; AccessError if not (object-undefined where the class has no such
        attribute or method, read-write-denied where it has one this association may not use)."""
        if not mode & needed:
            raise AccessError(DataAccessResult.READ_WRITE_DENIED if defined()
                              else DataAccessResult.OBJECT_UNDEFINED)
        self._check_protection(mode, sec)
        return obj

    def _invoke_denied(self, desc: A.CosemMethodDescriptor, sec: RequestSecurity) -> ActionResult:
        """SUCCESS if this association may invoke the method, else why not."""
        try:
            self._invocable(desc, sec)
            return ActionResult.SUCCESS
        except AccessError as exc:
            log.info("ACTION %s/%s: %s", desc.instance_id, desc.method_id, exc)
            return _to_action_result(exc.result)

    def _invoke(self, desc: A.CosemMethodDescriptor, params: axdr.Data | None,
                sec: RequestSecurity) -> tuple[ActionResult, axdr.Data | None]:
        try:
            obj = self._invocable(desc, sec)
            data = obj.action(desc.method_id, params, self._ctx())
            self._ctx().persist()
            return ActionResult.SUCCESS, data
        except AccessError as exc:
            log.info("ACTION %s/%s: %s", desc.instance_id, desc.method_id, exc)
            return _to_action_result(exc.result), None
        except StoreError as exc:
            log.error("ACTION %s/%s not stored, undone: %s", desc.instance_id, desc.method_id, exc)
            return ActionResult.TEMPORARY_FAILURE, None
        except Exception:
            log.exception("ACTION %s/%s failed", desc.instance_id, desc.method_id)
            return ActionResult.OTHER_REASON, None

    # --- GET ---------------------------------------------------------------------------------

    def _get_normal(self, req: A.GetRequestNormal, sec: RequestSecurity) -> bytes:
        self._get_out = None  # a new request aborts any long GET in progress
        result = self._read(req.attribute, req.access, sec)
        if isinstance(result, DataAccessResult):
            return A.GetResponseNormal(req.invoke_id_and_priority, result).to_bytes()
        pieces = pieces_of(result)
        length = sum(map(len, pieces))
        if length > self._max_response:
            log.info("GET response of %d bytes over the %d allowed", length, self._max_response)
            return A.GetResponseNormal(req.invoke_id_and_priority, _TOO_MUCH).to_bytes()
        if length + _NORMAL_HEADER <= self._limit:
            return A.GetResponseNormal.encode_raw(req.invoke_id_and_priority, b"".join(pieces))
        return self._start_get_blocks(req.invoke_id_and_priority, pieces)

    def _get_with_list(self, req: A.GetRequestWithList, sec: RequestSecurity) -> bytes:
        self._get_out = None
        if len(req.items) > self._max_items:
            log.info("GET-with-list of %d items over the %d allowed", len(req.items), self._max_items)
            return A.GetResponseWithList(req.invoke_id_and_priority,
                                         tuple(_TOO_MUCH for _ in req.items)).to_bytes()
        # Read until the response would pass its bound; the rest is not even read. The raw
        # data of a with-list long GET is the encoded SEQUENCE OF Get-Data-Result: kept in
        # pieces, so a profile buffer in it is not joined either.
        budget = self._max_response
        pieces = [encode_length(len(req.items))]
        for d, a in req.items:
            result = self._read(d, a, sec) if budget >= 0 else _TOO_MUCH
            if not isinstance(result, DataAccessResult):
                encoded = pieces_of(result)
                budget -= sum(map(len, encoded))
                if budget >= 0:
                    pieces.append(b"\x00")  # Get-Data-Result: data
                    pieces.extend(encoded)
                    continue
                log.info("GET-with-list response over the %d bytes allowed", self._max_response)
                result = _TOO_MUCH
            pieces.append(bytes((1, result)))  # Get-Data-Result: data-access-result
        if sum(map(len, pieces)) + _LIST_HEADER <= self._limit:
            return A.GetResponseWithList.encode_raw(req.invoke_id_and_priority, b"".join(pieces))
        return self._start_get_blocks(req.invoke_id_and_priority, pieces)

    def _start_get_blocks(self, iip: int, pieces: Sequence[bytes]) -> bytes:
        if not self._conformance & Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ:
            log.info("response of %d bytes needs block transfer, which was not negotiated",
                     sum(map(len, pieces)))
            return A.GetResponseNormal(iip, DataAccessResult.OTHER_REASON).to_bytes()
        self._get_out = Outgoing(pieces, self._block_size, response_protection=self._response_protection)
        return self._next_get_block(iip, 1)

    def _next_get_block(self, iip: int, n: int) -> bytes:
        out = self._get_out
        assert out is not None
        self._response_protection |= out.response_protection
        last, chunk = out.next_block()
        out.sent = n
        if last:
            self._get_out = None
        return A.GetResponseWithDataBlock(iip, last, n, chunk).to_bytes()

    def _get_next(self, req: A.GetRequestNext, sec: RequestSecurity) -> bytes:
        iip = req.invoke_id_and_priority
        out = self._get_out
        if out is None:
            return A.GetResponseWithDataBlock(iip, True, req.block_number,
                                              DataAccessResult.NO_LONG_GET_IN_PROGRESS).to_bytes()
        if req.block_number != out.sent:
            # The client acknowledges the block it received; anything else aborts the transfer.
            self._get_out = None
            return A.GetResponseWithDataBlock(iip, True, req.block_number,
                                              DataAccessResult.LONG_GET_ABORTED).to_bytes()
        return self._next_get_block(iip, out.sent + 1)

    # --- SET ---------------------------------------------------------------------------------

    def _set_normal(self, req: A.SetRequestNormal, sec: RequestSecurity) -> bytes:
        self._set_in = None
        result = self._write(req.attribute, req.access, req.value, sec)
        return A.SetResponseNormal(req.invoke_id_and_priority, result).to_bytes()

    def _set_with_list(self, req: A.SetRequestWithList, sec: RequestSecurity) -> bytes:
        self._set_in = None
        if len(req.items) != len(req.values):
            results = tuple(DataAccessResult.TYPE_UNMATCHED for _ in req.items)
        else:
            results = tuple(self._write(d, a, v, sec) for (d, a), v in zip(req.items, req.values, strict=True))
        return A.SetResponseWithList(req.invoke_id_and_priority, results).to_bytes()

    def _set_first_block(self, req: A.SetRequestWithFirstDataBlock | A.SetRequestWithListAndFirstDataBlock,
                         sec: RequestSecurity) -> bytes:
        self._set_in = Incoming(req, req.block_number, bytearray(req.raw_data))
        if req.block_number != 1:
            return self._set_abort(req.invoke_id_and_priority, req.block_number,
                                   DataAccessResult.DATA_BLOCK_NUMBER_INVALID)
        # Rights are checked before any data is kept: a client that may write none of the
        # attributes gets its answer now, not after it sent every block.
        items = req.items if isinstance(req, A.SetRequestWithListAndFirstDataBlock) \
            else ((req.attribute, req.access),)
        results = tuple(self._write_denied(d, sec) for d, _ in items)
        if all(r != DataAccessResult.SUCCESS for r in results):
            self._set_in = None
            if isinstance(req, A.SetRequestWithListAndFirstDataBlock):
                return A.SetResponseLastDataBlockWithList(req.invoke_id_and_priority, results,
                                                          req.block_number).to_bytes()
            return A.SetResponseLastDataBlock(req.invoke_id_and_priority, results[0],
                                              req.block_number).to_bytes()
        if len(req.raw_data) > self._max_request:
            return self._set_abort(req.invoke_id_and_priority, req.block_number,
                                   DataAccessResult.LONG_SET_ABORTED)
        if req.last_block:
            return self._set_complete(req.invoke_id_and_priority, sec)
        return A.SetResponseDataBlock(req.invoke_id_and_priority, req.block_number).to_bytes()

    def _set_block(self, req: A.SetRequestWithDataBlock, sec: RequestSecurity) -> bytes:
        pending = self._set_in
        if pending is None:
            return self._set_abort(req.invoke_id_and_priority, req.block_number,
                                   DataAccessResult.NO_LONG_SET_IN_PROGRESS)
        if req.block_number != pending.block_number + 1:
            return self._set_abort(req.invoke_id_and_priority, req.block_number,
                                   DataAccessResult.DATA_BLOCK_NUMBER_INVALID)
        if len(pending.data) + len(req.raw_data) > self._max_request:
            log.info("long SET over %d bytes aborted", self._max_request)
            return self._set_abort(req.invoke_id_and_priority, req.block_number,
                                   DataAccessResult.LONG_SET_ABORTED)
        pending.block_number = req.block_number
        pending.data += req.raw_data
        if req.last_block:
            return self._set_complete(req.invoke_id_and_priority, sec)
        return A.SetResponseDataBlock(req.invoke_id_and_priority, req.block_number).to_bytes()

    def _set_abort(self, iip: int, block_number: int, result: DataAccessResult) -> bytes:
        pending, self._set_in = self._set_in, None
        if pending is not None and isinstance(pending.first, A.SetRequestWithListAndFirstDataBlock) \
                and pending.first.items:
            return A.SetResponseLastDataBlockWithList(
                iip, tuple(result for _ in pending.first.items), block_number).to_bytes()
        return A.SetResponseLastDataBlock(iip, result, block_number).to_bytes()

    def _set_complete(self, iip: int, sec: RequestSecurity) -> bytes:
        pending = self._set_in
        assert pending is not None
        self._set_in = None
        first, n, data = pending.first, pending.block_number, bytes(pending.data)
        if isinstance(first, A.SetRequestWithFirstDataBlock):
            try:
                value = axdr.decode(data)
            except DecodeError:
                return A.SetResponseLastDataBlock(iip, DataAccessResult.TYPE_UNMATCHED, n).to_bytes()
            return A.SetResponseLastDataBlock(iip, self._write(first.attribute, first.access, value, sec),
                                              n).to_bytes()
        items = first.items  # a with-list SET: the raw data is the SEQUENCE OF Data
        try:
            values = decode_data_sequence(data)
        except DecodeError:
            values = ()
        if len(values) != len(items):
            results = tuple(DataAccessResult.TYPE_UNMATCHED for _ in items)
        else:
            results = tuple(self._write(d, a, v, sec) for (d, a), v in zip(items, values, strict=True))
        return A.SetResponseLastDataBlockWithList(iip, results, n).to_bytes()

    # --- ACTION ------------------------------------------------------------------------------

    def _action_normal(self, req: A.ActionRequestNormal, sec: RequestSecurity) -> bytes:
        self._action_in = self._action_out = None
        result, data = self._invoke(req.method, req.parameters, sec)
        return self._action_reply(req.invoke_id_and_priority, result, data)

    def _action_reply(self, iip: int, result: ActionResult, data: axdr.Data | None) -> bytes:
        response = A.ActionResponseNormal(iip, result, data).to_bytes()
        if len(response) <= self._limit or data is None:
            return response
        if not self._conformance & Conformance.BLOCK_TRANSFER_WITH_ACTION:
            return A.ActionResponseNormal(iip, ActionResult.OTHER_REASON).to_bytes()
        self._action_out = Outgoing([data.to_bytes()], self._block_size,
                                     response_protection=self._response_protection)
        return self._next_action_block(iip, 1)

    def _next_action_block(self, iip: int, n: int) -> bytes:
        out = self._action_out
        assert out is not None
        self._response_protection |= out.response_protection
        last, chunk = out.next_block()
        out.sent = n
        if last:
            self._action_out = None
        return A.ActionResponseWithPBlock(iip, last, n, chunk).to_bytes()

    def _action_next(self, req: A.ActionRequestNextPBlock, sec: RequestSecurity) -> bytes:
        out = self._action_out
        if out is None or req.block_number != out.sent:
            self._action_out = None
            result = ActionResult.NO_LONG_ACTION_IN_PROGRESS if out is None \
                else ActionResult.LONG_ACTION_ABORTED
            return A.ActionResponseNormal(req.invoke_id_and_priority, result).to_bytes()
        return self._next_action_block(req.invoke_id_and_priority, out.sent + 1)

    def _action_with_list(self, req: A.ActionRequestWithList, sec: RequestSecurity) -> bytes:
        self._action_in = self._action_out = None
        results: tuple[tuple[ActionResult, axdr.Data | None], ...]
        if len(req.methods) != len(req.parameters):
            results = tuple((ActionResult.TYPE_UNMATCHED, None) for _ in req.methods)
        else:
            results = tuple(self._invoke(m, p, sec)
                            for m, p in zip(req.methods, req.parameters, strict=True))
        return A.ActionResponseWithList(req.invoke_id_and_priority, results).to_bytes()

    def _action_first_block(self, req: A.ActionRequestWithFirstPBlock | A.ActionRequestWithListAndFirstPBlock,
                            sec: RequestSecurity) -> bytes:
        self._action_out = None
        self._action_in = Incoming(req, req.block_number, bytearray(req.raw_data))
        if req.block_number != 1:
            self._action_in = None
            return A.ActionResponseNormal(req.invoke_id_and_priority, ActionResult.OTHER_REASON).to_bytes()
        # Rights first, as for SET: nothing is kept for a method this client may not invoke.
        methods = req.methods if isinstance(req, A.ActionRequestWithListAndFirstPBlock) else (req.method,)
        results = tuple(self._invoke_denied(m, sec) for m in methods)
        if all(r != ActionResult.SUCCESS for r in results):
            self._action_in = None
            if isinstance(req, A.ActionRequestWithListAndFirstPBlock):
                return A.ActionResponseWithList(req.invoke_id_and_priority,
                                                tuple((r, None) for r in results)).to_bytes()
            return A.ActionResponseNormal(req.invoke_id_and_priority, results[0]).to_bytes()
        if len(req.raw_data) > self._max_request:
            self._action_in = None
            return A.ActionResponseNormal(req.invoke_id_and_priority,
                                          ActionResult.LONG_ACTION_ABORTED).to_bytes()
        if req.last_block:
            return self._action_complete(req.invoke_id_and_priority, sec)
        return A.ActionResponseNextPBlock(req.invoke_id_and_priority, req.block_number).to_bytes()

    def _action_block(self, req: A.ActionRequestWithPBlock, sec: RequestSecurity) -> bytes:
        pending = self._action_in
        if pending is None or req.block_number != pending.block_number + 1:
            self._action_in = None
            result = ActionResult.NO_LONG_ACTION_IN_PROGRESS if pending is None \
                else ActionResult.LONG_ACTION_ABORTED
            return A.ActionResponseNormal(req.invoke_id_and_priority, result).to_bytes()
        if len(pending.data) + len(req.raw_data) > self._max_request:
            log.info("long ACTION over %d bytes aborted", self._max_request)
            self._action_in = None
            return A.ActionResponseNormal(req.invoke_id_and_priority,
                                          ActionResult.LONG_ACTION_ABORTED).to_bytes()
        pending.block_number = req.block_number
        pending.data += req.raw_data
        if req.last_block:
            return self._action_complete(req.invoke_id_and_priority, sec)
        return A.ActionResponseNextPBlock(req.invoke_id_and_priority, req.block_number).to_bytes()

    def _action_complete(self, iip: int, sec: RequestSecurity) -> bytes:
        pending = self._action_in
        assert pending is not None
        self._action_in = None
        data = bytes(pending.data)
        first = pending.first
        if isinstance(first, A.ActionRequestWithFirstPBlock):
            try:
                params: axdr.Data | None = axdr.decode(data) if data else None
            except DecodeError:
                return A.ActionResponseNormal(iip, ActionResult.TYPE_UNMATCHED).to_bytes()
            result, out = self._invoke(first.method, params, sec)
            return self._action_reply(iip, result, out)
        methods = first.methods
        try:
            values = decode_data_sequence(data)
        except DecodeError:
            values = ()
        results: tuple[tuple[ActionResult, axdr.Data | None], ...]
        if len(values) != len(methods):
            results = tuple((ActionResult.TYPE_UNMATCHED, None) for _ in methods)
        else:
            results = tuple(self._invoke(m, p, sec) for m, p in zip(methods, values, strict=True))
        return A.ActionResponseWithList(iip, results).to_bytes()

    _HANDLERS: dict[type[A.Apdu], Callable[..., bytes]] = {
        A.GetRequestNormal: _get_normal,
        A.GetRequestNext: _get_next,
        A.GetRequestWithList: _get_with_list,
        A.SetRequestNormal: _set_normal,
        A.SetRequestWithList: _set_with_list,
        A.SetRequestWithFirstDataBlock: _set_first_block,
        A.SetRequestWithListAndFirstDataBlock: _set_first_block,
        A.SetRequestWithDataBlock: _set_block,
        A.ActionRequestNormal: _action_normal,
        A.ActionRequestNextPBlock: _action_next,
        A.ActionRequestWithList: _action_with_list,
        A.ActionRequestWithFirstPBlock: _action_first_block,
        A.ActionRequestWithListAndFirstPBlock: _action_first_block,
        A.ActionRequestWithPBlock: _action_block,
    }

    # The conformance bit each request needs (Green Book 9.4.6.1).
    _NEEDS: dict[type, Conformance] = {
        A.GetRequestNormal: Conformance.GET,
        A.GetRequestNext: Conformance.GET,
        A.GetRequestWithList: Conformance.GET | Conformance.MULTIPLE_REFERENCES,
        A.SetRequestNormal: Conformance.SET,
        A.SetRequestWithList: Conformance.SET | Conformance.MULTIPLE_REFERENCES,
        A.SetRequestWithFirstDataBlock: Conformance.SET | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE,
        A.SetRequestWithListAndFirstDataBlock: Conformance.SET | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE,
        A.SetRequestWithDataBlock: Conformance.SET | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE,
        A.ActionRequestNormal: Conformance.ACTION,
        A.ActionRequestNextPBlock: Conformance.ACTION,
        A.ActionRequestWithList: Conformance.ACTION | Conformance.MULTIPLE_REFERENCES,
        A.ActionRequestWithFirstPBlock: Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION,
        A.ActionRequestWithListAndFirstPBlock: Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION,
        A.ActionRequestWithPBlock: Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION,
    }


_Handlers = dict[type[A.Apdu], tuple[Callable[..., bytes], int]]


@functools.lru_cache(maxsize=64)
def _negotiated(conformance: int) -> _Handlers:
    """The handler and response tag of each request a conformance block allows; the same
    (read-only) table for every association that negotiated that block, made once: clients
    propose few distinct blocks, and a new one costs a dozen flag tests."""
    return {kind: (handler, _RESPONSE_TAG[kind.TAG])
            for kind, handler in Services._HANDLERS.items()
            if not Services._NEEDS[kind] or Services._NEEDS[kind] & conformance}
