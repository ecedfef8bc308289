"""The operator's desk (issue #17): the approvals page a person can trust in thirty seconds, driven
in Debian's headless Chromium, with axe-core checking it in the same browser.

The server is the real HTTP transport against the local test exchange; the agent is `mcp.Client`
with its bearer token under `approve_above_notional: "80"`; the operator is Chromium signed in
with an operator token. Screenshots are taken at 1280 and 390 px wide into the test's own folder;
set BINANCE_MCP_SCREENSHOTS=DIR to keep them there (that is how docs/approvals-*.png were made).

axe-core comes from npm (`npm install axe-core@4`) into `tests/.cache/axe` (git-ignored), installed
by the session fixture below when missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from binance_mcp.stores.approvals import canonical_arguments, open_approval_store
from binance_mcp.stores.tokens import TokenStore
from tests import chromium
from tests.fake_binance import FakeBinance
from tests.test_approvals_page import Browser, placed
from tests.test_http import Running, connected, running

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent
AXE_DIR = ROOT / ".cache" / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"

POLICY = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "allow", "approve_above_notional": "80"}},
    "budgets": {"daily_notional": {"USDT": "1000"}},
}
# a LIMIT BUY valued at its limit price: 0.0015 × 60000 = 90 USDT, above the 80 that needs a human
LIMIT = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "quantity": "0.0015",
    "price": "60000",
    "time_in_force": "GTC",
}
# ≈97.5 USDT at the test exchange's 65000
MARKET = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0015"}


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, installed from npm into tests/.cache/axe when missing."""
    if not AXE_JS.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("the accessibility check needs npm (Node.js) to install axe-core")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(AXE_DIR), "axe-core@4"],
            check=True,
            timeout=300,
        )
    return AXE_JS.read_text()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    kept = os.environ.get("BINANCE_MCP_SCREENSHOTS")
    folder = Path(kept) if kept else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@asynccontextmanager
async def desk_browser(width: int = 1280) -> AsyncIterator[Browser]:
    reason = chromium.missing()
    if reason is not None:
        pytest.fail(f"the approvals page needs a real browser: {reason}")
    manager = chromium.chromium(width=width, height=900)
    driver = await anyio.to_thread.run_sync(manager.__enter__)
    try:
        yield Browser(driver)
    finally:
        await anyio.to_thread.run_sync(manager.__exit__, None, None, None)


@asynccontextmanager
async def desk(tmp_path: Path, fake: FakeBinance) -> AsyncIterator[tuple[Running, str]]:
    async with running(tmp_path, fake, policy=POLICY, agents=("research-bot",)) as server:
        with TokenStore.in_state_dir(server.app.state_dir) as store:
            operator = store.add("anna", operator=True)
        yield server, operator


async def signed_in(chrome: Browser, server: Running, operator: str) -> str:
    page = server.base + "/approvals"
    await chrome.get(page)
    await chrome.sign_in(operator)
    return page


async def wait_until(chrome: Browser, script: str, seconds: float = 20) -> Any:
    """Wait (bounded) until `script` returns something truthy in the page; returns it."""

    def wait() -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(chrome.driver, seconds, poll_frequency=0.2).until(
            lambda driver: driver.execute_script(script)
        )

    return await chrome.do(wait)


async def click(chrome: Browser, selector: str) -> None:
    """Click a button that submits a form, found afresh on each try (the live page may have just
    patched the card), and wait for the next page."""

    def act() -> None:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        driver = chrome.driver
        old = driver.find_element("tag name", "html")

        def clicked(driver: Any) -> bool:
            try:
                driver.find_element("css selector", selector).click()
            except WebDriverException:
                return False
            return True

        WebDriverWait(driver, 15, poll_frequency=0.2).until(clicked)
        WebDriverWait(driver, 15).until(expected_conditions.staleness_of(old))
        WebDriverWait(driver, 15).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    await chrome.do(act)


async def js(chrome: Browser, script: str, *args: Any) -> Any:
    return await chrome.do(lambda: chrome.driver.execute_script(script, *args))


async def screenshot(chrome: Browser, path: Path, width: int) -> None:
    """The whole page at `width` px wide, as a PNG."""

    def shoot() -> None:
        driver = chrome.driver
        driver.set_window_size(width, 900)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(int(height) + 140, 600), 4000))
        driver.save_screenshot(str(path))

    await chrome.do(shoot)
    assert path.stat().st_size > 10_000, path


async def axe_violations(chrome: Browser, source: str) -> list[dict[str, Any]]:
    """Serious and critical violations axe-core finds on the page as it is now."""

    def run() -> Any:
        driver = chrome.driver
        driver.execute_script(source)
        driver.set_script_timeout(60)
        return driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));"
        )

    found = await chrome.do(run)
    assert isinstance(found, list), found
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:160] for n in v["nodes"][:3]]}
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def card_selector(approval_id: str) -> str:
    return f'section.card[data-key="{approval_id}"]'


# --------------------------------------------------------------------------- the browser


async def test_a_testnet_card_says_what_a_person_needs_and_the_page_stays_live(
    tmp_path: Path, fake: FakeBinance, axe_source: str, shots: Path
) -> None:
    async with desk(tmp_path, fake) as (server, operator), desk_browser() as chrome:
        agent = server.tokens["research-bot"]
        page = await signed_in(chrome, server, operator)

        # the empty page: nothing waits, and it still updates itself
        assert "Nothing is waiting for approval." in await chrome.text()
        assert await js(chrome, "return document.title") == "Approvals · binance-mcp"
        await js(chrome, "window.stillThisPage = true")
        await screenshot(chrome, shots / "approvals-empty.png", 1280)
        assert await axe_violations(chrome, axe_source) == []

        # 1. a request arrives while the page is open: it appears without a reload, the title counts it
        async with connected(server.url, agent) as client:
            asked = await client.call_tool("place_order", LIMIT)
        assert asked.is_error and asked.structured_content["error"] == "approval_required"
        first = asked.structured_content["approval_id"]
        await wait_until(chrome, f"return document.querySelector('{card_selector(first)}')")
        assert await js(chrome, "return window.stillThisPage") is True  # patched in place, not reloaded
        assert await js(chrome, "return document.title") == "(1) waiting · Approvals · binance-mcp"

        # the card: a labelled region with the question as its heading
        region = await js(
            chrome,
            "const s = document.querySelector(arguments[0]);"
            "const h = document.getElementById(s.getAttribute('aria-labelledby'));"
            "return [h.tagName, h.textContent];",
            card_selector(first),
        )
        assert region[0] == "H3"
        assert region[1].startswith("BUY 0.0015 BTCUSDT LIMIT at 60000 (≈90 USDT) on TESTNET")

        # the market moves: the card shows the price now, the move since, the limit's distance
        fake.set_price("BTCUSDT", "66000")
        await wait_until(chrome, "return document.body.innerText.includes('66000 (+1.54 % since asked')")
        text = await chrome.text()
        assert "≈90 USDT — valued at its limit price 60000" in text
        assert "66000 (+1.54 % since asked (65000 → 66000))" in text
        assert "the limit 60000 is 9.09 % below the market" in text
        # the reason, the budget after, who asked, the time left
        assert "orders above 80 USDT need a human\nrules.place_order.approve_above_notional" in text
        assert "910 of 1000 USDT left today after this order" in text
        session = server.audit("place_order")[-1].session
        shown = "research-bot · " if session.startswith("agent:") else f"research-bot · session {session} · "
        assert shown in text
        assert re.search(r"(59|60) minutes left", text), text
        assert "TESTNET · not real money" in text
        # buttons named with the order; times human with UTC on hover
        labels = await chrome.do(
            lambda: [
                button.accessible_name
                for button in chrome.driver.find_elements("css selector", f"{card_selector(first)} button")
            ]
        )
        assert labels == ["Approve BUY 0.0015 BTCUSDT ≈90 USDT", "Deny BUY 0.0015 BTCUSDT ≈90 USDT"]
        hover = await js(
            chrome, "return document.querySelector(arguments[0] + ' time').title", card_selector(first)
        )
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", hover)
        assert "just now" in text or "seconds ago" in text

        # 2. keyboard focus stays put while another request arrives; a visible focus ring
        await js(
            chrome,
            "document.querySelector(arguments[0] + ' button[name=deny]').focus()",
            card_selector(first),
        )
        ring = await js(
            chrome,
            "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth];",
        )
        assert ring == ["solid", "3px"]
        async with connected(server.url, agent) as client:
            second = (await client.call_tool("place_order", MARKET)).structured_content["approval_id"]
        await wait_until(chrome, f"return document.querySelector('{card_selector(second)}')")
        focused = await js(
            chrome,
            "const a = document.activeElement; return [a.name, a.closest('section.card').dataset.key];",
        )
        assert focused == ["deny", first]
        assert await js(chrome, "return document.title") == "(2) waiting · Approvals · binance-mcp"
        assert await js(chrome, "return window.stillThisPage") is True
        await screenshot(chrome, shots / "approvals-testnet-1280.png", 1280)
        await screenshot(chrome, shots / "approvals-testnet-390.png", 390)
        assert await axe_violations(chrome, axe_source) == []
        await chrome.do(chrome.driver.set_window_size, 1280, 900)

        # 3. pause: no fetch while paused; resuming fetches at once
        fetches = (
            "return performance.getEntriesByType('resource').filter(e => /\\/approvals$/.test(e.name)).length"
        )
        await js(chrome, "document.getElementById('live-control').click()")
        assert (
            await js(chrome, "return document.getElementById('live-control').getAttribute('aria-pressed')")
            == "true"
        )
        paused_at = await js(chrome, fetches)
        await anyio.sleep(6)  # longer than one update period
        assert await js(chrome, fetches) == paused_at
        await js(chrome, "document.getElementById('live-control').click()")
        await wait_until(chrome, f"{fetches} > {paused_at}")

        # 4. deny the first: a notice of its kind; the agent's identical call gets the decline, not a new question
        await click(chrome, f"{card_selector(first)} button[name=deny]")
        note = await js(
            chrome, "const n = document.querySelector('.note'); return [n.className, n.getAttribute('role')];"
        )
        assert note == ["note ok", "status"]
        async with connected(server.url, agent) as client:
            again = await client.call_tool("place_order", LIMIT)
        declined = again.structured_content
        assert again.is_error and declined["error"] == "approval_declined", declined
        assert declined["declined_by"] == "anna" and declined["approval_id"] == first
        assert "anna denied this identical call at" in declined["reason"]
        with open_approval_store(server.app.state_dir) as store:
            assert len(store.list()) == 1  # no new question: only the MARKET request waits

        # 5. approve the second: it moves to the top, "waiting for the agent", with its expiry
        await click(chrome, f"{card_selector(second)} button[name=approve]")
        top = await js(
            chrome, "return document.querySelector('main [data-region]:not([hidden]) h2').textContent"
        )
        assert top == "Approved — waiting for the agent (1)"
        text = await chrome.text()
        assert "Nothing is sent until the agent calls again" in text and "expires in" in text
        # a second click of the same button says it is already done, as information, not an error
        csrf = await js(chrome, "return document.querySelector('input[name=csrf]').value")
        await js(
            chrome,
            "return fetch(arguments[0], {method: 'POST', redirect: 'manual', body: new URLSearchParams({csrf: arguments[1]})})"
            ".then(r => r.status)",
            f"{page}/{second}/approve",
            csrf,
        )
        await chrome.get(page)
        note = await js(
            chrome, "const n = document.querySelector('.note'); return [n.className, n.textContent];"
        )
        assert note[0] == "note info" and "already approved" in note[1], note

        # 6. the agent's call goes through once; the decided card shows the order, its status and fills
        async with connected(server.url, agent) as client:
            done = await client.call_tool("place_order", MARKET)
        assert not done.is_error, done.content
        order_id = done.structured_content["order_id"]
        assert len(placed(fake)) == 1
        await chrome.get(page)
        used = await js(
            chrome, "return document.querySelector(arguments[0]).innerText", card_selector(second)
        )
        assert f"Result: order {order_id}, FILLED, filled 0.0015" in used, used
        audit = server.audit("place_order")[-1]
        assert audit.approved_by == "anna" and audit.approved_via == "page"

        # dark mode is respected
        await chrome.do(
            chrome.driver.execute_cdp_cmd,
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
        )
        assert await js(chrome, "return getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
        assert await axe_violations(chrome, axe_source) == []


async def test_the_script_is_the_pages_own_and_the_page_works_without_it(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with desk(tmp_path, fake) as (server, operator), desk_browser(390) as chrome:
        async with connected(server.url, server.tokens["research-bot"]) as client:
            first = (await client.call_tool("place_order", LIMIT)).structured_content["approval_id"]
        await chrome.do(
            chrome.driver.execute_cdp_cmd, "Emulation.setScriptExecutionDisabled", {"value": True}
        )
        page = await signed_in(chrome, server, operator)
        html = await chrome.do(lambda: chrome.driver.page_source)
        assert first in html and '<script src="/approvals/page.js" defer=""></script>' in html
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # nothing inline
        assert not re.search(r"\son[a-z]+=|\sstyle=", html)
        # the refresh link shows a request that came in meanwhile; the pause control stays hidden
        async with connected(server.url, server.tokens["research-bot"]) as client:
            second = (await client.call_tool("place_order", MARKET)).structured_content["approval_id"]
        assert second not in await chrome.text()
        await click(chrome, "a[href='/approvals']")
        assert second in await chrome.do(lambda: chrome.driver.page_source)
        assert not await chrome.do(lambda: chrome.driver.find_element("id", "live-control").is_displayed())
        # and a decision works with the plain forms
        await click(chrome, f"{card_selector(first)} button[name=approve]")
        assert "Approved — waiting for the agent (1)" in await chrome.text()
    (tmp_path / "csp").mkdir()
    async with desk(tmp_path / "csp", fake) as (server, operator):
        import httpx2

        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {operator}"}) as http:
            answer = await http.get(server.base + "/approvals")
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            # an action after the session ended: says nothing was done, and links back
        async with httpx2.AsyncClient(cookies={"bmcp_approvals_1": "gone"}) as stale:
            ended = await stale.post(f"{server.base}/approvals/{first}/approve", data={"csrf": "x"})
            assert ended.status_code == 401 and "Nothing was done" in ended.text
            assert '<a href="/approvals">Back to the approvals page</a>' in ended.text
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {operator}"}) as http:
            script = await http.get(server.base + "/approvals/page.js")
            assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
            assert "patch" in script.text
        assert page


async def test_a_mainnet_card_is_unmistakable_and_approving_repeats_the_amount(
    tmp_path: Path, fake: FakeBinance, axe_source: str, shots: Path
) -> None:
    async with desk(tmp_path, fake) as (server, operator), desk_browser() as chrome:
        # a mainnet server shares this state dir: its request is on the same page
        details = {
            "tool": "place_order",
            "side": "SELL",
            "quantity": "0.05",
            "symbol": "ETHUSDT",
            "type": "MARKET",
            "notional": "175.00 USDT",
            "valued_by": "valued at the market price 3500",
            "daily_budget": "5000 USDT",
            "market_price": "3500",
            "network": "mainnet",
            "agent": "research-bot",
            "session": "5c0ffee1d2e3",
            "rule": "rules.place_order",
            "threshold": "above 80 USDT",
            "client_order_id": "(generated)",
        }
        with open_approval_store(server.app.state_dir) as store:
            asked = store.request(
                tool="place_order",
                account="mainnet:feedfacecafebeef",
                agent="research-bot",
                arguments_key=canonical_arguments(
                    {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.05"},
                    drop_client_order_id=True,
                ),
                question="SELL 0.05 ETHUSDT MARKET (≈175 USDT) on MAINNET — approve?",
                details=details,
            )
            testnet = store.request(
                tool="place_order",
                account=server.app.guard.services.account,
                agent="research-bot",
                arguments_key="{}",
                question="BUY 0.0015 BTCUSDT MARKET (≈97.5 USDT) on TESTNET — approve?",
                details={**details, "network": "testnet", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.0015",
                         "notional": "97.50 USDT", "market_price": "65000", "daily_budget": "1000 USDT",
                         "valued_by": "valued at the market price 65000"},
                pending_ttl_s=100,  # little time left: urgent
            )  # fmt: skip
        fake.set_price("ETHUSDT", "3000")
        page = await signed_in(chrome, server, operator)
        card = card_selector(asked.id)
        banner = await js(
            chrome,
            "const b = document.querySelector(arguments[0] + ' .banner');"
            "return [b.textContent, getComputedStyle(b).backgroundColor];",
            card,
        )
        assert banner[0] == "MAINNET · real money"
        testnet_colours = await js(
            chrome,
            "return [...document.querySelectorAll(arguments[0] + ' *')].map(e => getComputedStyle(e).backgroundColor)",
            card_selector(testnet.id),
        )
        assert banner[1] not in testnet_colours  # a colour no testnet card uses
        text = await js(chrome, "return document.querySelector(arguments[0]).innerText", card)
        assert "3000 (-14.29 % since asked (3500 → 3000))" in text  # the price now, not only the one asked at
        urgent = await js(
            chrome,
            "const l = document.querySelector(arguments[0] + ' .left.urgent'); return l && l.textContent;",
            card_selector(testnet.id),
        )
        assert re.fullmatch(r"(1 minute )?\d+ seconds? left", urgent), urgent
        assert "4825 of 5000 USDT left today after this order" in text  # its own server's budget
        budgets = await js(chrome, "return document.querySelector('.budgets').innerText")
        assert re.search(r"MAINNET key feedfacecafebeef\s+USDT\s+5000\s+0\s+0\s+5000", budgets), budgets
        await screenshot(chrome, shots / "approvals-mainnet-1280.png", 1280)
        await screenshot(chrome, shots / "approvals-mainnet-390.png", 390)
        assert await axe_violations(chrome, axe_source) == []
        await chrome.do(chrome.driver.set_window_size, 1280, 900)

        # approving takes a second, explicit step that repeats the amount
        label = await chrome.do(
            lambda: chrome.driver.find_element("css selector", f"{card} button[name=approve]").accessible_name
        )
        assert label == "Approve on MAINNET SELL 0.05 ETHUSDT ≈175 USDT (asks to confirm)"
        await click(chrome, f"{card} button[name=approve]")
        confirm = await chrome.text()
        assert "Approve SELL 0.05 ETHUSDT ≈175 USDT with real money?" in confirm
        assert "Yes, approve 175.00 USDT on MAINNET" in confirm
        with open_approval_store(server.app.state_dir) as store:
            assert store.get(asked.id).status == "pending"  # type: ignore[union-attr]
        await screenshot(chrome, shots / "approvals-mainnet-confirm-390.png", 390)
        await chrome.do(chrome.driver.set_window_size, 1280, 900)
        await click(chrome, "button[name=confirm-approve]")
        with open_approval_store(server.app.state_dir) as store:
            decided = store.get(asked.id)
        assert decided is not None and decided.status == "approved" and decided.decided_by == "anna"
        assert page


async def test_a_request_like_a_recent_denial_says_so(tmp_path: Path, fake: FakeBinance) -> None:
    async with desk(tmp_path, fake) as (server, operator), desk_browser() as chrome:
        key = canonical_arguments(MARKET, drop_client_order_id=True)
        account = server.app.guard.services.account
        long_ago = datetime.now(UTC) - timedelta(minutes=30)  # beyond the approval_ttl (600 s)
        with open_approval_store(server.app.state_dir) as store:
            old = store.request(
                tool="place_order", account=account, agent="research-bot", arguments_key=key,
                question="BUY 0.0015 BTCUSDT MARKET (≈97.5 USDT) on TESTNET — approve?", now=long_ago,
            )  # fmt: skip
            store.deny(old.id, via="page", by="anna", now=long_ago + timedelta(seconds=5))
        async with connected(server.url, server.tokens["research-bot"]) as client:
            asked = await client.call_tool("place_order", MARKET)
        new = asked.structured_content["approval_id"]
        assert new != old.id  # after the ttl, a human is asked again ...
        await signed_in(chrome, server, operator)
        said = await js(
            chrome, "return document.querySelector(arguments[0] + ' .declined').innerText", card_selector(new)
        )
        assert (
            said.startswith("The same call was denied by anna 29 minutes ago") and old.id in said
        )  # ... told so


async def test_the_anonymous_loopback_operator_is_no_agent_and_the_audit_says_so(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with running(tmp_path, fake, policy=POLICY, agents=()) as server:
        import httpx2

        async with connected(server.url) as client:
            asked = (await client.call_tool("place_order", MARKET)).structured_content["approval_id"]
        async with httpx2.AsyncClient() as http:
            shown = await http.get(server.base + "/approvals")
            assert "Signed in as <b>loopback:anonymous</b>" in shown.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text).group(1)  # type: ignore[union-attr]
            assert (
                await http.post(f"{server.base}/approvals/{asked}/approve", data={"csrf": csrf})
            ).status_code == 303
            health = (await http.get(server.base + "/healthz")).json()
            assert health["state"] == "sqlite"
        async with connected(server.url) as client:
            assert not (await client.call_tool("place_order", MARKET)).is_error
        record = server.audit("place_order")[-1]
        assert record.client == "local" and record.approved_by == "loopback:anonymous"


# --------------------------------------------------------------------------- PostgreSQL


async def test_a_postgresql_servers_page_shows_the_budgets_get_limits_reports(
    tmp_path: Path, fake: FakeBinance, postgres_url: str
) -> None:
    import httpx2

    from binance_mcp.config import build_config
    from binance_mcp.http.serve import HttpService
    from binance_mcp.http.settings import prepare_http
    from binance_mcp.server import build_app
    from tests.conftest import API_KEY, API_SECRET, write_policy

    policy = {**POLICY, "budgets": {"daily_notional": {"USDT": "5000"}}}
    config = build_config(
        network_flag="testnet",
        base_url_flag=fake.base_url,
        policy_flag=str(write_policy(tmp_path, policy)),
        state_dir_flag=str(tmp_path / "state"),
        state_url_flag=postgres_url,
        env={"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET},
    )
    app = build_app(config)
    settings = prepare_http("127.0.0.1", 0, [], app.state_dir, state_url=postgres_url)
    service = HttpService(app, settings, on_ready=lambda: None)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(service.run)
            with anyio.fail_after(10):
                await service.ready.wait()
            async with connected(service.url) as client:
                small = {**MARKET, "quantity": "0.001"}  # ≈65 USDT: no human needed
                assert not (await client.call_tool("place_order", small)).is_error
                limits = (await client.call_tool("get_limits", {})).structured_content
            (budget,) = limits["budgets"]
            assert Decimal(budget["traded"]) + Decimal(budget["held"]) > 0
            base = service.url.removesuffix("/mcp")
            async with httpx2.AsyncClient() as http:
                shown = (await http.get(base + "/approvals")).text
                health = (await http.get(base + "/healthz")).json()
            row = re.search(
                r"<td class=\"where\">TESTNET</td><td>USDT</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>"
                r"<td>([^<]+)</td>",
                shown,
            )
            assert row is not None, shown
            assert [Decimal(cell) for cell in row.groups()] == [
                Decimal(budget["limit"]), Decimal(budget["traded"]), Decimal(budget["held"]), Decimal(budget["left"])
            ]  # fmt: skip
            assert health["state"] == "postgresql"
            service.stop()
    finally:
        app.close()
    assert not (
        tmp_path / "state" / "budgets.sqlite3"
    ).exists()  # nothing read from (or made in) the state dir
