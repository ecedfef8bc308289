"""A reviewer's attempts to break the operator's desk (issue #17): a card whose market price comes
and goes while the page is open, a mainnet request with no amount, hostile text in a request, an
order list, through the real HTTP transport, the test exchange and headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from binance_mcp.stores.approvals import open_approval_store
from binance_mcp.stores.tokens import TokenStore
from tests.fake_binance import FakeBinance, Status
from tests.test_http import connected
from tests.test_operators_desk import (
    LIMIT,
    MARKET,
    card_selector,
    click,
    desk,
    desk_browser,
    js,
    screenshot,
    signed_in,
    wait_until,
)

pytestmark = pytest.mark.anyio

ROWS = (
    "return [...document.querySelectorAll(arguments[0] + ' dl.facts dt')]"
    ".map(dt => [dt.textContent, dt.nextElementSibling.innerText])"
)


async def test_a_price_that_comes_back_keeps_every_row_of_a_live_card_in_its_place(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with desk(tmp_path, fake) as (server, operator), desk_browser() as chrome:
        async with connected(server.url, server.tokens["research-bot"]) as client:
            first = (await client.call_tool("place_order", LIMIT)).structured_content["approval_id"]
        # the exchange does not answer the page's price reads: the card says the price is unknown
        fake.inject(Status(400, -1121, "Invalid symbol."), "GET", "/api/v3/ticker/price", times=1000)
        await signed_in(chrome, server, operator)
        card = card_selector(first)
        rows = dict(await js(chrome, ROWS, card))
        assert rows["Price now"].startswith("unknown") and "Limit" not in rows, rows
        await js(chrome, "window.stillThisPage = true")
        # the exchange answers again: the live page (not reloaded) shows the price and the limit's distance
        fake.clear_faults()
        await anyio.sleep(5.5)  # the page's own price cache (PRICE_FRESH_S) must lapse first
        await wait_until(chrome, "return document.body.innerText.includes('65000 (unchanged since asked')")
        assert await js(chrome, "return window.stillThisPage") is True
        rows = dict(await js(chrome, ROWS, card))
        assert rows["Limit"] == "the limit 60000 is 7.69 % below the market", rows
        assert rows["Budget after"] == "910 of 1000 USDT left today after this order", rows
        assert rows["Time left"].endswith(" left"), rows
        assert rows["Sent only while"].startswith("its value moves at most 1 % against you"), rows
        heading = await js(chrome, "return document.querySelector(arguments[0] + ' h3').textContent", card)
        assert heading == "BUY 0.0015 BTCUSDT LIMIT at 60000 (≈90 USDT) on TESTNET"
        assert "ago" in rows["Asked by"] or "just now" in rows["Asked by"], rows


async def test_a_mainnet_request_with_no_amount_can_be_approved_on_its_second_step(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with desk(tmp_path, fake) as (server, operator), desk_browser() as chrome:
        with open_approval_store(server.app.state_dir) as store:
            asked = store.request(
                tool="cancel_order",
                account="mainnet:feedfacecafebeef",
                agent="research-bot",
                arguments_key='{"order_id":12,"symbol":"ETHUSDT"}',
                question="cancel_order ETHUSDT order 12 on MAINNET — approve?",
                details={"tool": "cancel_order", "symbol": "ETHUSDT", "order_id": "12", "network": "mainnet",
                         "agent": "research-bot", "threshold": "every call", "rule": "rules.cancel_order"},
            )  # fmt: skip
        await signed_in(chrome, server, operator)
        await click(chrome, f"{card_selector(asked.id)} button[name=approve]")
        asked_again = await chrome.text()
        assert "Approve cancel order order 12 ETHUSDT with real money?" in asked_again, asked_again
        await click(chrome, "button[name=confirm-approve]")
        with open_approval_store(server.app.state_dir) as store:
            decided = store.get(asked.id)
        assert decided is not None and decided.status == "approved", (decided, await chrome.text())


HOSTILE = '"><img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


async def test_hostile_text_in_a_request_is_shown_as_text(tmp_path: Path, fake: FakeBinance) -> None:
    async with desk(tmp_path, fake) as (server, operator), desk_browser() as chrome:
        with open_approval_store(server.app.state_dir) as store:
            asked = store.request(
                tool="place_order",
                account=server.app.guard.services.account,
                agent=HOSTILE,
                arguments_key="{}",
                question=f"BUY 1 {HOSTILE} — approve?",
                details={"tool": "place_order", "symbol": HOSTILE, "side": HOSTILE, "quantity": "1",
                         "client_order_id": HOSTILE, "agent": HOSTILE, "session": HOSTILE, "rule": HOSTILE,
                         "threshold": HOSTILE, "notional": f"1 {HOSTILE}", "valued_by": HOSTILE,
                         "network": "testnet"},
            )  # fmt: skip
            store.deny(asked.id, via="page", by=HOSTILE)
            store.request(
                tool="place_order",
                account=server.app.guard.services.account,
                agent=HOSTILE,
                arguments_key="{}",
                question=f"BUY 1 {HOSTILE} — approve?",
                details={"tool": "place_order", "symbol": HOSTILE, "agent": HOSTILE, "network": "testnet"},
            )
        await signed_in(chrome, server, operator)
        await anyio.sleep(6)  # one live update too
        assert await js(chrome, "return window.pwned === undefined && !document.querySelector('main img')")
        assert HOSTILE in await chrome.text()


async def test_an_order_list_and_a_market_order_on_the_desk(tmp_path: Path, fake: FakeBinance) -> None:
    """Screenshots for a person to look at (BINANCE_MCP_SCREENSHOTS=DIR keeps them)."""
    kept = os.environ.get("BINANCE_MCP_SCREENSHOTS")
    shots = Path(kept) if kept else tmp_path
    async with desk(tmp_path, fake) as (server, operator), desk_browser() as chrome:
        oco = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
            {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.002", "price": "70000"},
            {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.002", "price": "59900", "stop_price": "60000"},
        ]}  # fmt: skip
        async with connected(server.url, server.tokens["research-bot"]) as client:
            market = (await client.call_tool("place_order", MARKET)).structured_content
            listed = (await client.call_tool("place_order_list", oco)).structured_content
        assert market["error"] == "approval_required", market
        await signed_in(chrome, server, operator)
        fake.set_price("BTCUSDT", "64000")
        await anyio.sleep(6)
        text = await chrome.text()
        await screenshot(chrome, shots / "review-1280.png", 1280)
        await screenshot(chrome, shots / "review-390.png", 390)
        assert "64000" in text, text
        print(listed, text)


async def test_an_attacker_gets_no_file_no_decision_and_no_other_agents_denial(
    tmp_path: Path, fake: FakeBinance
) -> None:
    import re

    import httpx2

    async with desk(tmp_path, fake) as (server, operator):
        page = server.base + "/approvals"
        async with httpx2.AsyncClient() as http:
            # the page's own files and nothing else
            for path in (
                "/approvals/../pyproject.toml",
                "/approvals/%2e%2e/%2e%2e/pyproject.toml",
                "/approvals/..%2f..%2fpyproject.toml",
                "/approvals/static/page.js/../../__init__.py",
                "/approvals/page.js%00.py",
                "/approvals/approval_card.py",
            ):
                got = await http.get(server.base + path)
                assert got.status_code in (401, 404, 405) and "import" not in got.text, (
                    path,
                    got.status_code,
                )
            script = await http.get(page + "/page.js")
            assert script.status_code == 200 and "use strict" in script.text
            shown = await http.get(page, headers={"Authorization": f"Bearer {operator}"})
            policy = shown.headers["content-security-policy"]
            assert "script-src 'self';" in policy and "unsafe" not in policy and "<script>" not in shown.text
        async with connected(server.url, server.tokens["research-bot"]) as client:
            asked = (await client.call_tool("place_order", MARKET)).structured_content["approval_id"]
        async with httpx2.AsyncClient(headers={"Origin": server.base}) as http:
            await http.get(page, headers={"Authorization": f"Bearer {operator}"})  # a session cookie
            # no CSRF token, a wrong one, another origin: nothing is decided
            assert (await http.post(f"{page}/{asked}/approve", data={})).status_code == 403
            assert (await http.post(f"{page}/{asked}/approve", data={"csrf": "x"})).status_code == 403
            shown = await http.get(page)
            csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text).group(1)  # type: ignore[union-attr]
            elsewhere = await http.post(
                f"{page}/{asked}/deny", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
            )
            assert elsewhere.status_code == 403
            with open_approval_store(server.app.state_dir) as store:
                assert store.get(asked).status == "pending"  # type: ignore[union-attr]
            # the operator denies: research-bot's identical call is declined, with who and when ...
            assert (await http.post(f"{page}/{asked}/deny", data={"csrf": csrf})).status_code == 303
        async with connected(server.url, server.tokens["research-bot"]) as client:
            again = (await client.call_tool("place_order", MARKET)).structured_content
        assert again["error"] == "approval_declined" and again["declined_by"] == "anna", again
        assert again["declined_at"], again
        # ... another agent's identical call is asked afresh, not refused by that denial
        with TokenStore.in_state_dir(server.app.state_dir) as tokens:
            other = tokens.add("other-bot")
        async with connected(server.url, other) as client:
            theirs = (await client.call_tool("place_order", MARKET)).structured_content
        assert theirs["error"] == "approval_required", theirs


def test_no_token_can_be_named_like_the_anonymous_operator(tmp_path: Path) -> None:
    import subprocess
    import sys

    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "binance_mcp",
            "tokens",
            "add",
            "loopback:anonymous",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode != 0 and "Traceback" not in made.stderr, made
    assert "bmcp_" not in made.stdout + made.stderr


async def test_a_used_approval_shows_the_order_or_list_id_status_and_plain_amounts(
    tmp_path: Path, fake: FakeBinance
) -> None:
    import httpx2

    from tests.test_http import running

    policy = {
        "version": "1",
        "default": "allow",
        "rules": {
            "place_order": {"action": "allow", "approve_above_notional": "80"},
            "place_order_list": {"action": "allow", "approve_above_notional": "80"},
        },
    }
    oco = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
        {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.002", "price": "70000"},
        {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.002", "price": "59900", "stop_price": "60000"},
    ]}  # fmt: skip
    async with running(tmp_path, fake, policy=policy, agents=("research-bot",)) as server:
        with TokenStore.in_state_dir(server.app.state_dir) as tokens:
            operator = tokens.add("anna", operator=True)
        async with connected(server.url, server.tokens["research-bot"]) as client:
            asked = (await client.call_tool("place_order_list", oco)).structured_content
            assert asked["error"] == "approval_required", asked
            with open_approval_store(server.app.state_dir) as store:
                store.approve(asked["approval_id"], via="cli", by="cli:anna")
            done = await client.call_tool("place_order_list", oco)
            market = (await client.call_tool("place_order", MARKET)).structured_content
            with open_approval_store(server.app.state_dir) as store:
                store.approve(market["approval_id"], via="cli", by="cli:anna")
            filled = (await client.call_tool("place_order", MARKET)).structured_content
        assert not done.is_error, done.content
        listed = done.structured_content
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {operator}"}) as http:
            shown = (await http.get(server.base + "/approvals")).text
        said = f"Result: order list {listed['order_list_id']}, {listed['list_order_status']}"
        assert said in shown, shown[shown.find("Result") - 200 :]
        # amounts as people write them, not as the exchange pads them
        assert f"Result: order {filled['order_id']}, FILLED, filled 0.0015, for 97.5</p>" in shown, shown


async def test_a_pause_holds_across_a_decision(tmp_path: Path, fake: FakeBinance) -> None:
    async with desk(tmp_path, fake) as (server, operator), desk_browser() as chrome:
        async with connected(server.url, server.tokens["research-bot"]) as client:
            first = (await client.call_tool("place_order", MARKET)).structured_content["approval_id"]
            second = (await client.call_tool("place_order", LIMIT)).structured_content["approval_id"]
        await signed_in(chrome, server, operator)
        await js(chrome, "document.getElementById('live-control').click()")
        # the operator paused to read, then denies one: the page that comes back is still paused
        await click(chrome, f"{card_selector(first)} button[name=deny]")
        control = await js(
            chrome,
            "const c = document.getElementById('live-control'); return [c.getAttribute('aria-pressed'), c.textContent];",
        )
        assert control == ["true", "Resume updates"], control
        fetches = (
            "return performance.getEntriesByType('resource').filter(e => /\\/approvals$/.test(e.name)).length"
        )
        async with connected(server.url, server.tokens["research-bot"]) as client:
            third = (
                await client.call_tool("place_order", {**MARKET, "quantity": "0.0016"})
            ).structured_content
        await anyio.sleep(6)  # longer than one update period
        assert await js(chrome, fetches) == 0
        assert not await js(chrome, f"return document.querySelector('{card_selector(third['approval_id'])}')")
        assert await js(chrome, f"return !!document.querySelector('{card_selector(second)}')")
        # resuming shows what arrived meanwhile
        await js(chrome, "document.getElementById('live-control').click()")
        await wait_until(chrome, f"return document.querySelector('{card_selector(third['approval_id'])}')")
