"""The approvals page (issue 10) in a real headless browser, and its refusals over plain HTTP.

The server is the real HTTP transport on a loopback port, against the local test exchange; the
agent is `mcp.Client` with its bearer token, under `approve_above_notional: "80"`; the operator
is Chromium (Debian's, through chromium-driver and selenium) signing in with an operator token.
Browser calls block, so they run in a worker thread while the server answers on the event loop.

Set BINANCE_MCP_SCREENSHOT=PATH to write the page with one pending request to PATH (the screenshots
in docs/ come from tests/test_operators_desk.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx2
import pytest

from binance_mcp.account import AccountKey
from binance_mcp.stores.approvals import canonical_arguments, open_approval_store
from binance_mcp.stores.tokens import TokenStore
from tests import chromium
from tests.conftest import API_KEY
from tests.fake_binance import FakeBinance
from tests.test_http import Running, connected, http_client, running

pytestmark = pytest.mark.anyio

POLICY = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "allow", "approve_above_notional": "80"}},
    "budgets": {"daily_notional": {"USDT": "1000"}},
}
# ≈98.48 USDT at the test exchange's 65000 (97.5 + the 1 % market allowance): above the 80 that needs a human
ORDER = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "MARKET",
    "quantity": "0.0015",
    "client_order_id": "desk-42",
}

ACCOUNT = str(AccountKey.of("testnet", API_KEY))


def placed(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.path == "/api/v3/order" and r.method == "POST"]


@asynccontextmanager
async def server_with_operator(tmp_path: Path, fake: FakeBinance) -> AsyncIterator[tuple[Running, str]]:
    async with running(tmp_path, fake, policy=POLICY, agents=("research-bot",)) as server:
        with TokenStore.in_state_dir(server.app.state_dir) as store:
            operator = store.add("anna", operator=True)
        yield server, operator


class Browser:
    """A Chromium whose blocking calls run in a worker thread."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def do(self, action: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(action, *args)

    async def get(self, url: str) -> None:
        await self.do(self.driver.get, url)

    async def text(self) -> str:
        return await self.do(lambda: self.driver.find_element("tag name", "body").text)

    async def submit(self, action: Callable[[], None]) -> None:
        """Do something that submits a form, and wait until the next page has replaced this one."""

        def act() -> None:
            from selenium.webdriver.support import expected_conditions
            from selenium.webdriver.support.ui import WebDriverWait

            old = self.driver.find_element("tag name", "html")
            action()
            WebDriverWait(self.driver, 15).until(expected_conditions.staleness_of(old))
            WebDriverWait(self.driver, 15).until(
                lambda driver: driver.execute_script("return document.readyState") == "complete"
            )

        await self.do(act)

    async def click(self, selector: str) -> None:
        await self.submit(lambda: self.driver.find_element("css selector", selector).click())

    async def sign_in(self, token: str) -> None:
        def fill() -> None:
            self.driver.find_element("id", "token").send_keys(token)
            self.driver.find_element("css selector", "button[name=sign-in]").click()

        await self.submit(fill)


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    reason = chromium.missing()
    if reason is not None:
        pytest.fail(f"the approvals page needs a real browser: {reason}")
    driver = await anyio.to_thread.run_sync(chromium.chromium)
    entered = await anyio.to_thread.run_sync(driver.__enter__)
    try:
        yield Browser(entered)
    finally:
        await anyio.to_thread.run_sync(driver.__exit__, None, None, None)


# --------------------------------------------------------------------------- the browser


async def test_an_operator_approves_in_the_browser_and_the_agents_call_goes_through_once(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with server_with_operator(tmp_path, fake) as (server, operator), browser() as chrome:
        page = server.base + "/approvals"
        agent = server.tokens["research-bot"]

        # 1. the agent asks; over HTTP nobody in the client may approve: it gets an approval id
        async with connected(server.url, agent) as client:
            asked = await client.call_tool("place_order", ORDER)
        refusal = asked.structured_content
        assert asked.is_error and refusal["error"] == "approval_required"
        approval_id = refusal["approval_id"]
        assert placed(fake) == []

        # 2. without signing in, the browser sees only the sign-in form
        await chrome.get(page)
        before = await chrome.text()
        assert "Operator token" in before and approval_id not in before

        # 3. an agent's token does not sign in
        await chrome.sign_in(agent)
        refused = await chrome.text()
        assert "agents cannot approve" in refused and approval_id not in refused

        # 4. the operator signs in once and sees the order as the agent asked for it
        await chrome.get(page)
        await chrome.sign_in(operator)
        shown = await chrome.text()
        assert "Signed in as anna" in shown and "Waiting for you (1)" in shown
        assert approval_id in shown
        assert "BUY 0.0015 BTCUSDT MARKET (≈98.48 USDT) on TESTNET" in shown  # 97.5 + the 1 % allowance
        assert "minutes left" in shown
        assert re.search(r"USDT\s+1000\s+0\s+0\s+1000", shown)  # today's budget: limit, traded, held, left
        html = await chrome.do(lambda: chrome.driver.page_source)
        assert '<script src="/approvals/page.js"' in html  # it keeps itself up to date (its own script)
        assert 'name="viewport"' in html
        cookie = await chrome.do(
            lambda: chrome.driver.get_cookie(f"bmcp_approvals_{server.base.rsplit(':', 1)[1]}")
        )
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        if os.environ.get("BINANCE_MCP_SCREENSHOT"):
            await chrome.do(chrome.driver.save_screenshot, os.environ["BINANCE_MCP_SCREENSHOT"])

        # 5. a POST without the CSRF token, with the operator's own session, is refused
        async with httpx2.AsyncClient(cookies={cookie["name"]: cookie["value"]}) as http:
            forged = await http.post(f"{page}/{approval_id}/approve", data={"csrf": ""})
            assert forged.status_code == 403 and "CSRF" in forged.text
            missing = await http.post(f"{page}/{approval_id}/approve", data={})
            assert missing.status_code == 403
        with open_approval_store(server.app.state_dir) as store:
            assert store.get(approval_id).status == "pending"  # type: ignore[union-attr]

        # 6. approve with the button
        await chrome.click("button[name=approve]")
        after = await chrome.text()
        assert f"Approved {approval_id}" in after and "Waiting for you (0)" in after
        assert "Approved by anna" in after and "Approved — waiting for the agent (1)" in after
        with open_approval_store(server.app.state_dir) as store:
            decided = store.get(approval_id)
        assert decided is not None and (decided.decided_by, decided.decided_via) == ("anna", "page")

        # 7. the agent's identical call goes through, exactly once
        async with connected(server.url, agent) as client:
            first = await client.call_tool("place_order", ORDER)
            second = await client.call_tool("place_order", ORDER)
        assert not first.is_error, first.content
        # the same call again reuses its client order id: refused before anyone is asked
        assert second.is_error and second.structured_content["error"] == "invalid_arguments"
        assert second.structured_content["field"] == "client_order_id"
        assert len(placed(fake)) == 1

        # 8. the page shows it used, with who decided
        await chrome.get(page)
        final = await chrome.text()
        assert "used" in final and "approved by anna" in final and "Waiting for you (0)" in final
        # the order traded 97.5 of today's budget (it filled: nothing stays held)
        assert re.search(r"USDT\s+1000\s+97\.50*\s+0\s+902\.50*", final), final


async def test_a_browser_without_a_token_or_with_a_foreign_origin_gets_nothing(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with server_with_operator(tmp_path, fake) as (server, _operator), browser() as chrome:
        with open_approval_store(server.app.state_dir) as store:
            asked = store.request(
                tool="place_order",
                account=ACCOUNT,
                agent="research-bot",
                arguments_key=canonical_arguments(ORDER, drop_client_order_id=False),
                question="BUY 0.0015 BTCUSDT MARKET on TESTNET — approve?",
            )
        await chrome.get(server.base + "/approvals")
        assert asked.id not in await chrome.text()
        # a page on another origin posting a form to the page: refused before anything runs
        await chrome.get(server.base.replace("127.0.0.1", "localhost") + "/approvals")
        text = await chrome.text()
        assert asked.id not in text


# --------------------------------------------------------------------------- plain HTTP


async def test_no_token_and_an_agent_token_cannot_open_the_page(tmp_path: Path, fake: FakeBinance) -> None:
    async with server_with_operator(tmp_path, fake) as (server, operator):
        page = server.base + "/approvals"
        with open_approval_store(server.app.state_dir) as store:
            asked = store.request(
                tool="place_order",
                account=ACCOUNT,
                agent="research-bot",
                arguments_key="k",
                question="BUY 1 BTCUSDT MARKET on TESTNET — approve?",
            )
        async with http_client() as http:
            anonymous = await http.get(page)
            assert anonymous.status_code == 401 and asked.id not in anonymous.text
            assert "Operator token" in anonymous.text
        async with http_client(server.tokens["research-bot"]) as http:
            agent = await http.get(page)
            assert agent.status_code == 403 and "agents cannot approve" in agent.text
            assert asked.id not in agent.text
        async with http_client("bmcp_not-a-token") as http:
            assert (await http.get(page)).status_code == 401
        async with http_client(operator) as http:
            allowed = await http.get(page)
            assert allowed.status_code == 200 and asked.id in allowed.text
            for header, value in (
                ("x-frame-options", "DENY"),
                ("cache-control", "no-store"),
                ("x-content-type-options", "nosniff"),
            ):
                assert allowed.headers[header] == value
            assert "frame-ancestors 'none'" in allowed.headers["content-security-policy"]


async def test_a_foreign_origin_is_refused_as_on_mcp(tmp_path: Path, fake: FakeBinance) -> None:
    async with server_with_operator(tmp_path, fake) as (server, operator):
        async with http_client(operator, Origin="https://evil.example") as http:
            answer = await http.get(server.base + "/approvals")
            assert answer.status_code == 403
            posted = await http.post(server.base + "/approvals/apr-AAAA-BBBB/approve", data={"csrf": "x"})
            assert posted.status_code == 403
        async with http_client(operator, Host="evil.example") as http:
            assert (await http.get(server.base + "/approvals")).status_code == 421


async def test_a_sign_in_needs_its_csrf_token_and_a_revoked_operator_is_signed_out(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with server_with_operator(tmp_path, fake) as (server, operator):
        page = server.base + "/approvals"
        async with httpx2.AsyncClient() as http:
            no_csrf = await http.post(page + "/sign-in", data={"token": operator})
            assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
            form = await http.get(page)
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            signed_in = await http.post(page + "/sign-in", data={"token": operator, "csrf": csrf})
            assert signed_in.status_code == 303
            assert (await http.get(page)).status_code == 200
            with TokenStore.in_state_dir(server.app.state_dir) as store:
                store.add("ben", operator=True)
                store.revoke("anna")
            ended = await http.get(page)  # the session ended with the token
            assert ended.status_code == 401 and "Operator token" in ended.text


async def test_everything_shown_is_escaped(tmp_path: Path, fake: FakeBinance) -> None:
    async with server_with_operator(tmp_path, fake) as (server, operator):
        with open_approval_store(server.app.state_dir) as store:
            store.request(
                tool="place_order",
                account=ACCOUNT,
                agent="research-bot",
                arguments_key="k",
                question='Cancel order "<script>alert(1)</script>" — approve?',
                details={"client_order_id": "<img src=x onerror=alert(1)>", "agent": "research-bot"},
            )
        async with http_client(operator) as http:
            text = (await http.get(server.base + "/approvals")).text
        assert "<script>alert" not in text and "<img src=x" not in text
        assert (
            "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;img src=x onerror=alert(1)&gt;" in text
        )


async def test_open_on_loopback_until_an_operator_token_exists(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake, policy=POLICY, agents=()) as server:  # no token: /mcp is open
        page = server.base + "/approvals"
        async with httpx2.AsyncClient() as http:
            opened = await http.get(page)
            assert opened.status_code == 200 and "Signed in as <b>loopback:anonymous</b>" in opened.text
            with TokenStore.in_state_dir(server.app.state_dir) as store:
                store.add("anna", operator=True)
            assert (await http.get(page)).status_code == 401  # now a sign-in is needed


async def test_agent_tokens_and_no_operator_token_tell_how_to_make_one(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with (
        running(tmp_path, fake, policy=POLICY, agents=("research-bot",)) as server,
        http_client() as http,
    ):
        answer = await http.get(server.base + "/approvals")
        assert answer.status_code == 403
        assert "binance-mcp tokens add NAME --operator" in answer.text


async def test_an_approval_not_yet_used_can_be_withdrawn_on_the_page(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with server_with_operator(tmp_path, fake) as (server, operator):
        page = server.base + "/approvals"
        key = canonical_arguments(ORDER, drop_client_order_id=False)
        call = {
            "tool": "place_order",
            "account": ACCOUNT,
            "agent": "research-bot",
        }
        with open_approval_store(server.app.state_dir) as store:
            asked = store.request(
                **call, arguments_key=key, question="BUY 0.0015 BTCUSDT MARKET on TESTNET — approve?"
            )
            store.approve(asked.id, by="cli:ann")
        async with http_client(operator) as http:
            shown = await http.get(page)
            assert "Withdraw approval" in shown.text and "Approved by cli:ann" in shown.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text).group(1)  # type: ignore[union-attr]
            withdrawn = await http.post(f"{page}/{asked.id}/revoke", data={"csrf": csrf})
            assert withdrawn.status_code == 303
            after = await http.get(page)
            assert f"Withdrew the approval {asked.id}" in after.text and "withdrawn by anna" in after.text
        with open_approval_store(server.app.state_dir) as store:
            assert store.take(**call, arguments_key=key) is None
            assert store.get(asked.id).revoked_by == "anna"  # type: ignore[union-attr]
