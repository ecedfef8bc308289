"""The money model (issue #15), through `mcp.Client` against the test exchange: every order valued
at a bound it cannot exceed (or an estimate from the book, marked so), limits that compare the
largest single execution, a budget that holds the worst path and settles from fills, approvals
that cover what the human saw in both directions and the order they were shown, and a preview
that lets an agent size an order to fit on the first try."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from binance.client import Client as BinanceClient
from mcp import Client
from mcp_types import ElicitResult

from binance_mcp.stores.approvals import open_approval_store
from tests.conftest import ALLOW_ALL
from tests.fake_binance import ExecuteThenFail, FakeBinance
from tests.order_lists import with_leg

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


def bundled_testnet_trader() -> dict[str, Any]:
    """The bundled policy the issue's reproductions ran on (approval above 200 USDT, max_notional 1000)."""
    policy = json.loads((ROOT / "binance_mcp" / "policies" / "testnet-trader.json").read_text())
    policy.pop("$schema", None)
    return policy


def allow_lists(**rule: Any) -> dict[str, Any]:
    return {
        "version": "1",
        "default": "allow",
        "rules": {
            "place_order": {"action": "allow", **rule},
            "place_order_list": {"action": "allow", **rule},
        },
    }


def posts(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path.startswith("/api/v3/order")]


def asking(asked: list[str], before_answer: Any = None) -> Any:
    async def callback(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        if before_answer is not None:
            before_answer()
        return ElicitResult(action="accept", content={"approve": True})

    return callback


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert result.structured_content is not None, result.content[0].text
    return result.structured_content


def oto_sell_then_buy(price: str, sell: str, buy: str, **pending: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "type": "OTO", "legs": [
        {"side": "SELL", "type": "LIMIT", "quantity": sell, "price": price},
        {"side": "BUY", "quantity": buy} | pending,
    ]}  # fmt: skip


# -- 1. a pending leg is valued at the price at which its working order fills -----------------------


async def test_a_pending_stop_buy_is_valued_at_the_working_orders_price_not_todays(
    build: Any, fake: FakeBinance
) -> None:
    """Issue: "≈199.88 USDT", no human asked; the pending BUY filled for 221.26 when the price reached
    74750. It is valued at that price now (plus the allowance: a stop fills at its trigger or worse)."""
    app = build(bundled_testnet_trader())
    small = oto_sell_then_buy("74750", "0.0001", "0.00296", type="STOP_LOSS", stop_price="65000.01")
    large = with_leg(small, 1, quantity="0.01525")
    async with Client(app.server) as client:
        asked = await call(client, "place_order_list", small)
        over = await call(client, "place_order_list", large)
    assert asked["error"] == "approval_required", asked
    assert "≈223.48 USDT" in asked["reason"]  # 0.00296 × 74750 = 221.26, + 1 %
    assert over["error"] == "policy_denied" and over["rule"].endswith("max_notional"), over
    assert (over["limit"], Decimal(over["value"]) >= Decimal("1139.94")) == ("1000", True)
    assert posts(fake) == []


async def test_the_value_bounds_what_the_pending_buy_then_pays(build: Any, fake: FakeBinance) -> None:
    """The same OTO let through: what the pending BUY pays once the SELL fills stays within the value."""
    app = build(ALLOW_ALL)
    oto = oto_sell_then_buy("74750", "0.0001", "0.00296", type="STOP_LOSS", stop_price="65000.01")
    async with Client(app.server) as client:
        result = await client.call_tool("place_order_list", oto)
    assert not result.is_error and "≈223.48 USDT" in result.content[0].text, result.content[0].text
    fake.set_price("BTCUSDT", "74750")  # the SELL fills; its pending BUY goes on the book
    fake.set_price("BTCUSDT", "74750.01")  # and triggers at once: it is far above its stop
    buy = next(order for order in fake.orders if order.side == "BUY" and order.type == "STOP_LOSS")
    assert buy.status == "FILLED"
    assert Decimal("221.26") <= buy.cummulative_quote_qty <= Decimal("223.48")


async def test_a_pending_market_buy_after_a_high_sell_is_valued_at_that_sells_price(
    build: Any, fake: FakeBinance
) -> None:
    """Issue: working SELL 0.0001 @ 320000 + pending MARKET BUY 0.0025, "≈194.5", spent 800 USDT."""
    app = build(allow_lists(approve_above_notional="200"))
    oto = oto_sell_then_buy("320000", "0.0001", "0.0025", type="MARKET")
    async with Client(app.server) as client:
        asked = await call(client, "place_order_list", oto)
    assert asked["error"] == "approval_required", asked
    assert "≈808 USDT" in asked["reason"] and "an estimate" in asked["reason"]  # 0.0025 × 320000, + 1 %
    assert posts(fake) == []


async def test_an_oto_that_trades_2600_does_not_fit_a_2000_budget(build: Any, fake: FakeBinance) -> None:
    """Issue: valued 1950, traded 2600, and get_limits still said 50 USDT left."""
    policy = allow_lists(constraints={"max_notional": "2000"}) | {
        "budgets": {"daily_notional": {"USDT": "2000"}}
    }
    app = build(policy)
    oto = with_leg(oto_sell_then_buy("130000", "0.01", "0.01", type="MARKET"), 0, type="LIMIT_MAKER")
    async with Client(app.server) as client:
        refused = await call(client, "place_order_list", oto)
        limits = await call(client, "get_limits", {})
    assert refused["error"] == "policy_denied" and refused["rule"] == "budgets.daily_notional.USDT", refused
    assert Decimal(refused["value"]) >= Decimal("2600")  # 1300 sold, then 1300 (+ 1 %) bought
    assert (refused["traded"], refused["held"], refused["left"]) == ("0", "0", "2000")
    [budget] = limits["budgets"]
    assert (budget["traded"], budget["held"], budget["left"]) == ("0", "0", "2000")
    assert "spent" not in budget
    assert posts(fake) == []


async def test_a_pending_trailing_buy_starts_at_the_working_orders_price(
    build: Any, fake: FakeBinance
) -> None:
    """Issue: trailing pending legs valued at today's price (1982.5 shown, ≥ 2665 possible)."""
    app = build(allow_lists(constraints={"max_notional": "1500"}))
    oto = oto_sell_then_buy(
        "74000", "0.0001", "0.02", type="STOP_LOSS", trailing_delta=500
    )  # today: 0.02 × 65000 × 1.05 = 1365; after the SELL fills: 0.02 × 74000 × 1.05 (+ 1 %)
    async with Client(app.server) as client:
        refused = await call(client, "place_order_list", oto)
    assert refused["error"] == "policy_denied" and refused["rule"].endswith("max_notional"), refused
    at_stop = Decimal("0.02") * 74000 * Decimal("1.05") * Decimal("1.01")
    assert at_stop <= Decimal(refused["value"]) <= at_stop * Decimal("1.001")  # + the book's levels for 0.02
    assert posts(fake) == []


async def test_a_trailing_sell_is_an_estimate_and_a_policy_may_refuse_it(
    build: Any, fake: FakeBinance
) -> None:
    """Issue: a trailing STOP_LOSS SELL (delta 100, 0.003) was shown ≈195 and brought 891 after the
    price ran up: nothing bounds it, so it is marked an estimate, and `uncapped_orders` can refuse it."""
    trailing = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_LOSS",
        "quantity": "0.003",
        "trailing_delta": 100,
    }
    app = build(allow_lists(approve_above_notional="10000"))
    strict = build(allow_lists(constraints={"uncapped_orders": "refuse"}))
    async with Client(app.server) as client:
        preview = await call(client, "get_order_preview", {"tool": "place_order", "arguments": trailing})
    async with Client(strict.server) as client:
        refused = await call(client, "place_order", trailing)
        capped = await call(
            client,
            "place_order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.003", "price": "64000"},
        )
    assert preview["valued_as"] == "estimate" and "follows the price up" in preview["how"], preview
    assert refused["error"] == "policy_denied" and refused["rule"].endswith("uncapped_orders"), refused
    assert "give it a limit price" in refused["reason"]
    assert "error" not in capped, capped
    assert len(posts(fake)) == 1


async def test_a_market_order_is_valued_from_the_book_it_fills_against(build: Any, fake: FakeBinance) -> None:
    """A MARKET BUY by quantity walks the book: the estimate reads the same book, plus the allowance,
    and what it then pays stays within it."""
    app = build(ALLOW_ALL)
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}
    async with Client(app.server) as client:
        preview = await call(client, "get_order_preview", {"tool": "place_order", "arguments": buy})
        placed = await call(client, "place_order", buy)
    paid = sum(Decimal(fill["price"]) * Decimal(fill["quantity"]) for fill in placed["fills"])
    assert len(placed["fills"]) > 1 and paid > Decimal("6500")  # slipped through several levels
    assert paid <= Decimal(preview["value"]) <= paid * Decimal("1.0101")
    assert preview["valued_as"] == "estimate" and "order book" in preview["how"]


# -- 2. limits compare the largest single execution; the budget holds the path and settles -------


async def test_the_budget_holds_an_open_order_and_settles_to_what_it_traded(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ALLOW_ALL | {"budgets": {"daily_notional": {"USDT": "5000"}}})
    resting = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "64000"}
    async with Client(app.server) as client:
        await call(client, "place_order", resting)
        held = (await call(client, "get_limits", {}))["budgets"][0]
        fake.set_price("BTCUSDT", "63900")  # it fills, at its limit price
        settled = (await call(client, "get_limits", {}))["budgets"][0]
    assert (held["traded"], held["held"], held["left"]) == ("0", "640", "4360")
    assert (settled["traded"], settled["held"], settled["left"]) == ("640", "0", "4360")


async def test_a_bracket_closed_without_trading_its_exit_gives_the_exit_back(
    build: Any, fake: FakeBinance
) -> None:
    """An OTOCO is held at its entry plus its larger exit; once done, the budget keeps what traded."""
    app = build(ALLOW_ALL | {"budgets": {"daily_notional": {"USDT": "5000"}}})
    bracket = {"symbol": "BTCUSDT", "type": "OTOCO", "legs": [
        {"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "64000"},
        {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.01", "price": "70000"},
        {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "60000", "stop_price": "60500"},
    ]}  # fmt: skip
    async with Client(app.server) as client:
        placed = await call(client, "place_order_list", bracket)
        held = (await call(client, "get_limits", {}))["budgets"][0]
        await call(
            client, "cancel_order_list", {"symbol": "BTCUSDT", "order_list_id": placed["order_list_id"]}
        )
        settled = (await call(client, "get_limits", {}))["budgets"][0]
    assert (held["traded"], held["held"]) == ("0", "1340")  # 640 in, then 700 out at most
    assert (settled["traded"], settled["held"], settled["left"]) == ("0", "0", "5000")


# -- 3. an approval covers the order the human saw, in both directions ----------------------------


async def test_a_sell_that_would_bring_less_than_the_human_saw_is_asked_again(
    build: Any, fake: FakeBinance
) -> None:
    """Issue: a MARKET SELL 0.05 ETHUSDT shown ≈175 (market 3500); the price fell to 3000 while the
    question was open; the human accepted and it sold for 150."""
    fake.set_price("ETHUSDT", "3500")
    app = build(allow_lists(approve_above_notional="100"))
    asked: list[str] = []
    sell = {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.05"}
    async with Client(
        app.server, elicitation_callback=asking(asked, lambda: fake.set_price("ETHUSDT", "3000"))
    ) as client:
        refused = await call(client, "place_order", sell)
    assert "valued at the market price 3500" in asked[0] and "at most 1 % against you" in asked[0]
    assert refused["error"] == "approval_required", refused
    assert "fell from" in refused["reason"] and "market price now 3000" in refused["reason"]
    assert posts(fake) == []


async def test_a_cancel_approved_by_client_id_never_cancels_another_order_with_that_id(
    build: Any, fake: FakeBinance
) -> None:
    """Issue, reproduction (a): approve a cancel of K2; that order fills; a new order reuses K2; the
    approved call then cancelled the new order, which the human never saw."""
    policy = ALLOW_ALL | {"rules": {"cancel_order": {"action": "require_approval"}}}
    app = build(policy)
    sell = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.0001", "price": "66000",
            "client_order_id": "K2"}  # fmt: skip
    cancel = {"symbol": "BTCUSDT", "client_order_id": "K2"}
    async with Client(app.server) as client:
        first = await call(client, "place_order", sell)
        asked = await call(client, "cancel_order", cancel)
        assert asked["error"] == "approval_required" and f"order id {first['order_id']}" in asked["reason"]
        with open_approval_store(app.state_dir) as approvals:
            approvals.approve(asked["approval_id"])
        fake.set_price("BTCUSDT", "66000")  # the approved order fills
        other = BinanceClient(fake.api_key, fake.api_secret, ping=False)
        other.API_URL = fake.base_url + "/api"
        reused = other.create_order(symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", quantity="0.0001",
                                    price="60000", stopPrice="60500", timeInForce="GTC", newClientOrderId="K2")  # fmt: skip
        again = await call(client, "cancel_order", cancel)
    assert again["error"] == "approval_required", again  # a new question, about the new order
    assert f"order id {reused['orderId']}" in again["reason"]
    assert [o.status for o in fake.orders if o.order_id == reused["orderId"]] == ["NEW"]


# -- 7. the preview, and the agent's bracket task ---------------------------------------------------

BRACKET_ENTRY = {"symbol": "BTCUSDT", "type": "OTOCO", "legs": [
    {"side": "BUY", "type": "LIMIT", "price": "65000"},
    {"side": "SELL", "type": "LIMIT_MAKER", "price": "67000"},
    {"side": "SELL", "type": "STOP_LOSS_LIMIT", "price": "62900", "stop_price": "63000"},
]}  # fmt: skip


async def test_the_largest_protected_entry_without_a_human_goes_through_on_the_first_try(
    build: Any, fake: FakeBinance
) -> None:
    """The agent's task: open the largest position that needs no human, protected by a take-profit
    and a stop-loss. It reads get_limits and the preview first; the bracket's size differs from an
    unprotected LIMIT entry's only by what the exits' worst prices add (67000 / 65000: 3 %)."""
    app = build(allow_lists(approve_above_notional="200"))
    unprotected = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "65000"}
    bracket = with_leg(BRACKET_ENTRY, quantity="0.01")
    async with Client(app.server) as client:
        limits = await call(client, "get_limits", {})
        assert limits["orders"]["no_approval_max"] == "200"
        plain = await call(client, "get_order_preview", {"tool": "place_order", "arguments": unprotected})
        preview = await call(client, "get_order_preview", {"tool": "place_order_list", "arguments": bracket})
        largest = preview["largest_without_human"]
        fits = [fit["quantity"] for fit in largest["legs"]]  # each leg's, in the order of legs
        sized = bracket | {
            "legs": [leg | {"quantity": q} for leg, q in zip(bracket["legs"], fits, strict=True)]
        }
        placed = await call(client, "place_order_list", sized)
        more = [str(Decimal(q) + Decimal("0.00001")) for q in fits]
        one_more = bracket | {
            "legs": [leg | {"quantity": q} for leg, q in zip(bracket["legs"], more, strict=True)]
        }
        over = await call(client, "get_order_preview", {"tool": "place_order_list", "arguments": one_more})
    assert preview["decision"] == "approval" and preview["human_asked"] is True and preview["sent"] is False
    assert {
        "bound": "approve_above_notional",
        "limit": "200",
        "value": "670",
        "unit": "USDT",
    }.items() <= preview["bounds"][0].items()
    assert "error" not in placed, placed  # placed on the first try, no human asked
    assert over["decision"] == "approval"
    protected, alone = (
        Decimal(largest["legs"][0]["quantity"]),
        Decimal(plain["largest_without_human"]["quantity"]),
    )
    assert (protected, alone) == (Decimal("0.00298"), Decimal("0.00307"))
    assert Decimal("1") < alone / protected < Decimal("1.05")  # a few percent, not half
    assert [r.path for r in posts(fake)] == ["/api/v3/orderList/otoco"]  # the previews sent nothing


async def test_the_preview_says_why_an_order_would_be_refused(build: Any, fake: FakeBinance) -> None:
    policy = allow_lists(constraints={"max_notional": "500"}, approve_above_notional="200")
    app = build(policy | {"budgets": {"daily_notional": {"USDT": "1000"}}})
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "65000"}
    async with Client(app.server) as client:
        preview = await call(client, "get_order_preview", {"tool": "place_order", "arguments": buy})
        bad = await call(
            client, "get_order_preview", {"tool": "place_order", "arguments": buy | {"price": "abc"}}
        )
    assert preview["decision"] == "refused" and preview["refusal"]["rule"].endswith("max_notional")
    bounds = {bound["bound"]: bound for bound in preview["bounds"]}
    assert (bounds["max_notional"]["limit"], bounds["max_notional"]["value"], bounds["max_notional"]["passes"]) == (
        "500", "650", False
    )  # fmt: skip
    assert (bounds["approve_above_notional"]["passes"], bounds["approve_above_notional"]["value"]) == (
        False,
        "650",
    )
    budget = bounds["budgets.daily_notional"]
    assert (budget["limit"], budget["value"], budget["unit"], budget["passes"]) == (
        "1000",
        "650",
        "USDT",
        True,
    )
    assert bad["decision"] == "refused" and bad["refusal"]["error"] == "invalid_arguments"
    assert posts(fake) == []
    with open_approval_store(app.state_dir) as approvals:
        assert approvals.list(include_decided=True) == []  # no approval was requested


async def test_get_my_trades_sums_what_it_returns(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        await call(client, "place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                                           "price": "65000"})  # fmt: skip
        await call(client, "place_order", {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                           "quantity": "0.004", "price": "66000"})  # fmt: skip
        fake.set_price("BTCUSDT", "66000")
        trades = await call(client, "get_my_trades", {"symbol": "BTCUSDT"})
    summary = trades["summary"]
    assert (summary["bought_quantity"], summary["bought_quote"], summary["average_buy_price"]) == (
        "0.01",
        "650",
        "65000",
    )
    assert (summary["sold_quantity"], summary["sold_quote"], summary["average_sell_price"]) == (
        "0.004",
        "264",
        "66000",
    )
    assert summary["commission"] == {"BTC": "0.00001", "USDT": "0.264"}
    assert (summary["round_trip_quantity"], summary["realised"]) == ("0.004", "4")


async def test_a_market_order_sent_capped_is_a_bound_the_exchange_enforces(
    build: Any, fake: FakeBinance
) -> None:
    """`cap_pct`: the MARKET order goes out as a LIMIT IOC at the book's price for it + 0.5 %, so it
    passes a policy that refuses uncapped orders, and what it pays stays under its value."""
    app = build(allow_lists(constraints={"uncapped_orders": "refuse"}))
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1", "cap_pct": "0.5"}
    async with Client(app.server) as client:
        preview = await call(client, "get_order_preview", {"tool": "place_order", "arguments": buy})
        placed = await call(client, "place_order", buy)
    [sent] = posts(fake)
    cap = Decimal(sent.params["price"])
    assert (sent.params["type"], sent.params["timeInForce"]) == ("LIMIT", "IOC")
    assert preview["valued_as"] == "bound" and "sent as LIMIT IOC" in preview["how"], preview
    paid = sum(Decimal(fill["price"]) * Decimal(fill["quantity"]) for fill in placed["fills"])
    assert placed["status"] == "FILLED" and len(placed["fills"]) > 1
    assert all(Decimal(fill["price"]) <= cap for fill in placed["fills"])
    assert paid <= Decimal("0.1") * cap <= Decimal(preview["value"])


async def test_an_amend_approved_by_client_id_never_amends_another_order_with_that_id(
    build: Any, fake: FakeBinance
) -> None:
    """The same for amend_order: the approval names the exchange order the human was shown."""
    app = build(ALLOW_ALL | {"rules": {"amend_order": {"action": "require_approval"}}})
    sell = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.0002", "price": "66000",
            "client_order_id": "K3"}  # fmt: skip
    amend = {"symbol": "BTCUSDT", "client_order_id": "K3", "new_quantity": "0.0001"}
    async with Client(app.server) as client:
        first = await call(client, "place_order", sell)
        asked = await call(client, "amend_order", amend)
        assert asked["error"] == "approval_required" and f"order {first['order_id']}" in asked["reason"]
        with open_approval_store(app.state_dir) as approvals:
            approvals.approve(asked["approval_id"])
        fake.set_price("BTCUSDT", "66000")  # the approved order fills
        other = BinanceClient(fake.api_key, fake.api_secret, ping=False)
        other.API_URL = fake.base_url + "/api"
        reused = other.create_order(symbol="BTCUSDT", side="SELL", type="LIMIT_MAKER", quantity="0.0002",
                                    price="67000", newClientOrderId="K3")  # fmt: skip
        again = await call(client, "amend_order", amend)
    assert again["error"] == "approval_required", again
    assert f"order {reused['orderId']}" in again["reason"]
    [kept] = [o for o in fake.orders if o.order_id == reused["orderId"]]
    assert (kept.status, kept.orig_qty) == ("NEW", Decimal("0.0002"))


async def test_a_capped_market_order_whose_answer_was_lost_is_found_as_sent(
    build: Any, fake: FakeBinance
) -> None:
    """The LIMIT IOC it went out as is what a lost answer is matched against: found, not sent again."""
    app = build(ALLOW_ALL)
    fake.inject(ExecuteThenFail(http_status=503), "POST", "/api/v3/order")
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "cap_pct": "1"}
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", buy)
    assert not result.is_error, result.content[0].text
    assert result.structured_content["recovered"] is True and "sent as LIMIT IOC" in result.content[0].text
    assert len(posts(fake)) == 1 and [o.type for o in fake.orders] == ["LIMIT"]
