"""The tool names and their declared risk: the one list every other module reads.

The ten first tools keep their order; the order-list, order, fills and amend tools follow, then
the order preview.
"""

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
    PLACE_ORDER_LIST = "place_order_list"
    CANCEL_ORDER_LIST = "cancel_order_list"
    GET_ORDER_LISTS = "get_order_lists"
    GET_ORDER = "get_order"
    GET_MY_TRADES = "get_my_trades"
    AMEND_ORDER = "amend_order"
    GET_ORDER_PREVIEW = "get_order_preview"


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
    ToolName.PLACE_ORDER_LIST: Risk.FINANCIAL,
    ToolName.CANCEL_ORDER_LIST: Risk.DESTRUCTIVE,
    ToolName.GET_ORDER_LISTS: Risk.ACCOUNT,
    ToolName.GET_ORDER: Risk.ACCOUNT,
    ToolName.GET_MY_TRADES: Risk.ACCOUNT,
    # a decrease only: it takes back part of an order, as a cancel does, and spends nothing new
    ToolName.AMEND_ORDER: Risk.DESTRUCTIVE,
    # reads the account (open orders, today's budget) and the policy; sends nothing
    ToolName.GET_ORDER_PREVIEW: Risk.ACCOUNT,
}

# Tools that place orders: the policy's order-only fields (sides, order_types, max_quantity,
# max_notional, max_price_deviation_pct, max_open_orders, approve_above_notional, dry_run) apply to
# these, on every leg of the order.
ORDER_TOOLS: frozenset[str] = frozenset({ToolName.PLACE_ORDER, ToolName.PLACE_ORDER_LIST})

# Tools that place or change an order without a rule of their own: the rule place_order gets at a
# level of the policy (its exact name's, else the glob it falls under) is theirs too, so that
# constraining place_order constrains every way to place or change an order. Only a rule with the
# tool's own exact name counts as its own: a glob (`"*"`, `"place_*"`) does not.
TAKES_RULE_OF: dict[str, str] = {
    ToolName.PLACE_ORDER_LIST: ToolName.PLACE_ORDER,
    ToolName.AMEND_ORDER: ToolName.PLACE_ORDER,
}

# Tools that change the account (place, cancel, amend): under dry run none of them reaches
# Binance. place_order is sent to the test endpoint (POST /api/v3/order/test), place_order_list
# leg by leg to the same endpoint; the others have no test endpoint and are refused.
DRY_RUN_SIMULATED: frozenset[str] = ORDER_TOOLS
DRY_RUN_REFUSED: frozenset[str] = frozenset(
    {ToolName.CANCEL_ORDER, ToolName.CANCEL_ALL_ORDERS, ToolName.CANCEL_ORDER_LIST, ToolName.AMEND_ORDER}
)

# Tools that take a `symbol` argument (optional for get_open_orders, get_order_lists), for policy
# `symbols` constraints.
SYMBOL_TOOLS: frozenset[str] = frozenset(TOOL_NAMES) - {
    ToolName.GET_ACCOUNT_INFO,
    ToolName.GET_LIMITS,
    ToolName.GET_ORDER_PREVIEW,
}
