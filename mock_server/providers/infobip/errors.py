"""Infobip codes as data: HTTP service exceptions, message statuses and message errors; the one error renderer.

Sources: spec/providers/infobip.md §9 (statuses and errors: groups, ids, names from Infobip's "Response status and
error codes" table) and §10 (the `requestError.serviceException` envelope). Short descriptions are verbatim where a
payload shows them (§9 list); the others, marked [I], abridge the table's long description.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from aiohttp import web

from ...core.errors import ProviderError, reason_header
from ...httputil import dumps

# Infobip answers `application/json;charset=UTF-8`, without a space (infobip.md §10: the 2017 401 response headers);
# the 2018 Python client parses error bodies only when the type starts with application/json.
CONTENT_TYPE = "application/json;charset=UTF-8"


class ServiceException(Enum):
    """HTTP-level failures: the status and the `serviceException` messageId/text (infobip.md §10)."""

    #                      HTTP  messageId                   text
    BAD_REQUEST = (400, "BAD_REQUEST", "Bad request")
    UNAUTHORIZED = (401, "UNAUTHORIZED", "Invalid login details")  # verbatim, 97 bytes with the envelope
    FORBIDDEN = (403, "FORBIDDEN", "Forbidden")
    SCENARIO_NOT_FOUND = (404, "NOT_FOUND", "Scenario not found")  # [I] OAS: "scenario not found", no example body
    NOT_FOUND = (404, "NOT_FOUND", "Not found")  # [I] unknown path under /omni
    METHOD_NOT_ALLOWED = (405, "METHOD_NOT_ALLOWED", "Method not allowed")  # [I]
    TOO_LARGE = (413, "REQUEST_ENTITY_TOO_LARGE", "Request entity too large")  # [I]
    TOO_MANY_REQUESTS = (429, "TOO_MANY_REQUESTS", "Too many requests")
    GENERAL_ERROR = (500, "GENERAL_ERROR", "Something went wrong. Please contact support.")

    def __init__(self, http_status: int, message_id: str, text: str) -> None:
        self.http_status = http_status
        self.message_id = message_id
        self.text = text


class OmniStatus(Enum):
    """Message status codes (infobip.md §9.1); `name` is the member name."""

    #                                     groupId groupName       id  description
    MESSAGE_ACCEPTED = (0, "ACCEPTED", 0, "Message accepted")  # SMS API form (seed page)
    PENDING_WAITING_DELIVERY = (1, "PENDING", 3, "Message sent, waiting for delivery report")  # [I]
    PENDING_ENROUTE = (1, "PENDING", 7, "Message sent to next instance")
    PENDING_ACCEPTED = (1, "PENDING", 26, "Message accepted, pending for delivery")
    UNDELIVERABLE_REJECTED_OPERATOR = (2, "UNDELIVERABLE", 4, "Message rejected by operator")
    UNDELIVERABLE_NOT_DELIVERED = (2, "UNDELIVERABLE", 9, "Message sent not delivered")
    UNDELIVERABLE_NOT_SENT = (2, "UNDELIVERABLE", 31, "Message not sent")  # [I]
    DELIVERED_TO_OPERATOR = (3, "DELIVERED", 2, "Message delivered to operator")  # [I]
    DELIVERED_TO_HANDSET = (3, "DELIVERED", 5, "Message delivered to handset")
    EXPIRED_EXPIRED = (4, "EXPIRED", 15, "Message expired")  # [I]
    EXPIRED_DLR_UNKNOWN = (4, "EXPIRED", 29, "Message expired, delivery report unknown")  # [I]
    REJECTED_NETWORK = (5, "REJECTED", 6, "Network is forbidden")  # [I]
    REJECTED_PREFIX_MISSING = (5, "REJECTED", 8, "Number prefix missing")  # [I]
    REJECTED_DND = (5, "REJECTED", 10, "Destination on DND list")  # [I]
    REJECTED_SOURCE = (5, "REJECTED", 11, "Invalid source address")  # [I]
    REJECTED_NOT_ENOUGH_CREDITS = (5, "REJECTED", 12, "Not enough credits")
    REJECTED_SENDER = (5, "REJECTED", 13, "Sender rejected")  # [I]
    REJECTED_DESTINATION_BLOCKLISTED = (5, "REJECTED", 14, "Destination blocklisted")  # [I]
    REJECTED_PREPAID_PACKAGE_EXPIRED = (5, "REJECTED", 17, "Prepaid package expired")  # [I]
    REJECTED_DESTINATION_NOT_REGISTERED = (5, "REJECTED", 18, "Destination not registered")  # [I]
    REJECTED_ROUTE_NOT_AVAILABLE = (5, "REJECTED", 19, "Route not available")  # [I]
    REJECTED_FLOODING_FILTER = (5, "REJECTED", 20, "Rejected by flooding filter")  # [I]
    REJECTED_SYSTEM_ERROR = (5, "REJECTED", 21, "System error")  # [I]
    REJECTED_DUPLICATE_MESSAGE_ID = (5, "REJECTED", 23, "Duplicate message id")  # [I]
    REJECTED_INVALID_UDH = (5, "REJECTED", 24, "Invalid UDH")  # [I]
    REJECTED_MESSAGE_TOO_LONG = (5, "REJECTED", 25, "Message too long")  # [I]
    MISSING_TO = (5, "REJECTED", 51, "Missing destination")  # [I]
    REJECTED_DESTINATION = (5, "REJECTED", 52, "Invalid destination address")  # [I]

    def __init__(self, group_id: int, group_name: str, id_: int, description: str) -> None:
        self.group_id = group_id
        self.group_name = group_name
        self.id_ = id_
        self.description = description

    def to_json(self) -> dict[str, Any]:
        return {"groupId": self.group_id, "groupName": self.group_name, "id": self.id_, "name": self.name,
                "description": self.description}


class OmniErrorCode(Enum):
    """Message error codes (infobip.md §9.2): the classic 2016-19 set and those the mock emits."""

    #                                        groupId groupName           id   description                 permanent
    NO_ERROR = (0, "OK", 0, "No Error", False)
    EC_UNKNOWN_SUBSCRIBER = (1, "HANDSET_ERRORS", 1, "Unknown Subscriber", True)  # [I]
    EC_ABSENT_SUBSCRIBER_SM = (1, "HANDSET_ERRORS", 6, "Absent Subscriber", False)  # seed page's Viber report
    EC_ABSENT_SUBSCRIBER = (1, "HANDSET_ERRORS", 27, "Absent Subscriber", False)  # [I]
    EC_SYSTEM_FAILURE = (1, "HANDSET_ERRORS", 34, "System Failure", False)  # [I]
    EC_INVALID_DESTINATION_ADDRESS = (2, "USER_ERRORS", 351, "Invalid destination address", False)  # [I]
    EC_IMSI_BLACKLISTED = (2, "USER_ERRORS", 2049, "IMSI blacklisted", True)  # [I]
    EC_BLACKLISTED_DESTINATIONADDRESS = (2, "USER_ERRORS", 2052, "Destination address blacklisted", True)  # [I]
    EC_BLACKLISTED_SENDERADDRESS = (2, "USER_ERRORS", 2053, "Sender address blacklisted", True)  # [I]
    EC_INVALID_PDU_FORMAT = (2, "USER_ERRORS", 4096, "Invalid PDU format", True)  # [I]
    EC_MESSAGE_CANCELED = (2, "USER_ERRORS", 4100, "Message canceled", True)  # [I]
    EC_VALIDITY_EXPIRED = (2, "USER_ERRORS", 4101, "Validity expired", True)  # [I]
    EC_DESTINATION_FLOODING = (2, "USER_ERRORS", 4103, "Destination flooding", True)  # [I]
    EC_DESTINATION_TXT_FLOODING = (2, "USER_ERRORS", 4104, "Destination text flooding", True)  # [I]
    EC_BEARER_SERVICE_NOT_PROVISIONED = (3, "OPERATOR_ERRORS", 10, "Bearer service not provisioned", True)  # [I]
    EC_SS_INCOMPATIBILITY = (3, "OPERATOR_ERRORS", 20, "SS incompatibility", False)  # [I]
    EC_RESOURCE_LIMITATION = (3, "OPERATOR_ERRORS", 51, "Resource limitation", True)  # [I]
    EC_UNKNOWN_ALPHABET = (3, "OPERATOR_ERRORS", 71, "Unknown alphabet", False)  # [I]
    EC_INVALID_RESPONSE_RECEIVED = (3, "OPERATOR_ERRORS", 501, "Invalid response received", False)  # [I]
    EC_TIME_OUT = (3, "OPERATOR_ERRORS", 2048, "Time out", False)  # [I]
    EC_DEST_ADDRESS_BLACKLISTED = (3, "OPERATOR_ERRORS", 2050, "Destination address blacklisted", True)  # [I]

    def __init__(self, group_id: int, group_name: str, id_: int, description: str, permanent: bool) -> None:
        self.group_id = group_id
        self.group_name = group_name
        self.id_ = id_
        self.description = description
        self.permanent = permanent

    def to_json(self) -> dict[str, Any]:
        return {"groupId": self.group_id, "groupName": self.group_name, "id": self.id_, "name": self.name,
                "description": self.description, "permanent": self.permanent}


# Status groups a log query's `generalStatus` may name (infobip.md §2, OAS `IpCoreGeneralStatus`).
GENERAL_STATUSES = ("ACCEPTED", "PENDING", "UNDELIVERABLE", "DELIVERED", "EXPIRED", "REJECTED")


class InfobipError(ProviderError):
    """An Infobip failure; `extra["validation_errors"]` ({field: [message]}) is rendered when present."""

    code: ServiceException


def error_body(exc: ProviderError) -> dict[str, Any]:
    code: ServiceException = exc.code
    # `message_id`: an injected provider_code fault that names no serviceException of the table (render_fault).
    exception: dict[str, Any] = {"messageId": exc.extra.get("message_id", code.message_id), "text": code.text}
    if exc.extra.get("validation_errors"):
        exception["validationErrors"] = exc.extra["validation_errors"]
    return {"requestError": {"serviceException": exception}}


def render_error(exc: ProviderError) -> web.Response:
    """The single place Infobip errors become HTTP: the code's status, the envelope, X-Mock-Reason."""
    status = exc.http_status or exc.code.http_status
    headers = {"Content-Type": CONTENT_TYPE, **reason_header(exc.reason)}
    if status == 405 and exc.extra.get("allow"):
        headers["Allow"] = ", ".join(exc.extra["allow"])
    return web.Response(body=dumps(error_body(exc)).encode("utf-8"), status=status, headers=headers)


def render_fault(request: web.Request, *, status: int | None, code: Any, reason: str) -> web.Response:
    """An injected fault (/_mock/faults) in Infobip's envelope. `http_error`: the serviceException of that status
    (GENERAL_ERROR for a 5xx the table does not name). `provider_code`: a serviceException messageId (`UNAUTHORIZED`,
    `TOO_MANY_REQUESTS`, …) answered with its own status; another messageId is a 400 that carries it."""
    table = [e for e in ServiceException if e is not ServiceException.SCENARIO_NOT_FOUND]  # NOT_FOUND: the generic one
    if code is not None:
        wanted = str(code).upper()
        known = next((e for e in table if e.message_id == wanted), None)
        if known is not None:
            return render_error(InfobipError(known, reason))
        return render_error(InfobipError(ServiceException.BAD_REQUEST, reason, message_id=str(code)))
    status = status or 500
    known = next((e for e in table if e.http_status == status), ServiceException.GENERAL_ERROR)
    return render_error(InfobipError(known, reason, http_status=status))

