"""Binance error responses: one exception carrying (HTTP status, code, msg), plus the exact message texts."""

from __future__ import annotations


class ApiError(Exception):
    """Raised anywhere in request handling; the HTTP layer turns it into `{"code": ..., "msg": ...}`."""

    def __init__(self, http_status: int, code: int, msg: str) -> None:
        super().__init__(f"{http_status} {code} {msg}")
        self.http_status = http_status
        self.code = code
        self.msg = msg

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def not_required(name: str) -> ApiError:
    return ApiError(400, -1106, f"Parameter '{name}' sent when not required.")


def illegal_chars(name: str, legal: str) -> ApiError:
    return ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def invalid_value(name: str) -> ApiError:
    return ApiError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def too_much_precision(name: str) -> ApiError:
    return ApiError(400, -1111, f"Parameter '{name}' has too much precision.")


def filter_failure(name: str) -> ApiError:
    return ApiError(400, -1013, f"Filter failure: {name}")


def rejected(msg: str) -> ApiError:
    """-2010 NEW_ORDER_REJECTED, the matching engine's refusal of a new order."""
    return ApiError(400, -2010, msg)


def rejected_cancel(msg: str) -> ApiError:
    """-2011 CANCEL_REJECTED."""
    return ApiError(400, -2011, msg)


INVALID_SYMBOL = (400, -1121, "Invalid symbol.")
BAD_SIGNATURE = (400, -1022, "Signature for this request is not valid.")
KEY_FORMAT = (401, -2014, "API-key format invalid.")
KEY_REJECTED = (401, -2015, "Invalid API-key, IP, or permissions for action.")
TS_AHEAD = (400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
TS_OUTSIDE = (400, -1021, "Timestamp for this request is outside of the recvWindow.")
DUPLICATE_PARAM = (400, -1101, "Duplicate values for a parameter detected.")
UNKNOWN_ORDER = (400, -2011, "Unknown order sent.")
NO_SUCH_ORDER = (400, -2013, "Order does not exist.")
BOTH_IDS_EMPTY = (
    400,
    -1102,
    "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
)
CLIENT_ID_MISMATCH = (400, -2039, "Client order ID is not correct for this order ID.")
INVALID_INTERVAL = (400, -1120, "Invalid interval.")
BAD_COMBINATION = (400, -1128, "Combination of optional parameters invalid.")
RANGE_24H = (400, -1127, "More than 24 hours between startTime and endTime.")
INVALID_TICKER_TYPE = (400, -1139, "Invalid ticker type.")
SYMBOL_TWICE = (400, -1151, "Symbol is present multiple times in the list.")
STATUS_MISMATCH = (400, -1220, "The symbol's status does not match the requested symbolStatus.")
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
DUPLICATE_ORDER = "Duplicate order sent."
WOULD_TAKE = "Order would immediately match and take."
WOULD_TRIGGER = "Order would trigger immediately."
UNKNOWN_MSG = "An unknown error occurred while processing the request."
EXEC_UNKNOWN_MSG = (
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
)


def error(spec: tuple[int, int, str]) -> ApiError:
    """Build an ApiError from one of the (status, code, msg) constants above."""
    return ApiError(*spec)
