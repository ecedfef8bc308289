"""The ten tool names and their declared risk: the one list every other module reads."""

from enum import StrEnum


class ToolName(StrEnum):
    GET_PRICE = "get_price"
    GET_ORDERBOOK = "get_orderbook"
    GET_KLINES = "get_klines"
    GET_24HR_TICKER = "get_24hr_ticker"
    GET_SYMBOL_INFO = "get_symbol_info"
    GET_LIMITS = "get_limits"
    GET_ACCOUNT_INFO = "get_account_info"
    GET_OPEN_ORDERS = "get_open_orders"
    GET_ORDER_HISTORY = "get_order_history"
    PLACE_ORDER = "place_order"
    CANCEL_ORDER = "cancel_order"
    CANCEL_ALL_ORDERS = "cancel_all_orders"


class Risk(StrEnum):
    """What a tool can do to the user's account, as the guard and `policy explain` see it."""

    READ = "read"  # public market data, no keys
    ACCOUNT = "account"  # reads the account, needs keys
    FINANCIAL = "financial"  # places orders: spends money
    DESTRUCTIVE = "destructive"  # cancels orders


TOOL_NAMES: tuple[str, ...] = tuple(name.value for name in ToolName)

TOOL_RISK: dict[str, Risk] = {
    ToolName.GET_PRICE: Risk.READ,
    ToolName.GET_ORDERBOOK: Risk.READ,
    ToolName.GET_KLINES: Risk.READ,
    ToolName.GET_24HR_TICKER: Risk.READ,
    ToolName.GET_SYMBOL_INFO: Risk.READ,
    ToolName.GET_LIMITS: Risk.READ,
    ToolName.GET_ACCOUNT_INFO: Risk.ACCOUNT,
    ToolName.GET_OPEN_ORDERS: Risk.ACCOUNT,
    ToolName.GET_ORDER_HISTORY: Risk.ACCOUNT,
    ToolName.PLACE_ORDER: Risk.FINANCIAL,
    ToolName.CANCEL_ORDER: Risk.DESTRUCTIVE,
    ToolName.CANCEL_ALL_ORDERS: Risk.DESTRUCTIVE,
}

# Tools that take a `symbol` argument (optional for get_open_orders), for policy `symbols` constraints.
SYMBOL_TOOLS: frozenset[str] = frozenset(TOOL_NAMES) - {ToolName.GET_ACCOUNT_INFO, ToolName.GET_LIMITS}
