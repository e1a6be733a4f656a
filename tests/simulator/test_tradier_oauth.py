"""Tradier's OAuth token endpoints in the simulator: code exchange, rotating refresh tokens, the retry grace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
import websockets

from simulator.testing import SimulatorHandle, running_simulator
from tests.simulator.helpers import frozen_config

CLIENT = ("SIMCLIENT", "SIMCLIENTSECRET")
PAIR_KEYS = {"access_token", "refresh_token", "expires_in", "issued_at", "scope", "status"}


@pytest_asyncio.fixture
async def http(sim: SimulatorHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Accept": "application/json"}, timeout=10) as c:
        yield c


async def refresh(http: httpx.AsyncClient, token: str, auth: tuple[str, str] = CLIENT) -> httpx.Response:
    return await http.post("/v1/oauth/refreshtoken", auth=auth,
                           data={"grant_type": "refresh_token", "refresh_token": token})


async def profile_status(http: httpx.AsyncClient, access_token: str) -> int:
    answer = await http.get("/v1/user/profile", headers={"Authorization": f"Bearer {access_token}"})
    return answer.status_code


async def test_the_admin_token_comes_with_a_refresh_token_that_rotates(sim: SimulatorHandle,
                                                                       http: httpx.AsyncClient) -> None:
    issued = await sim.admin.issue_token("ACC1", ttl_seconds=600)
    assert issued["token"] and issued["refresh_token"] and issued["client_id"] == "SIMCLIENT"
    answer = await refresh(http, issued["refresh_token"])
    assert answer.status_code == 200, answer.text
    pair = answer.json()
    assert set(pair) == PAIR_KEYS and pair["status"] == "approved" and pair["expires_in"] == 600
    assert pair["refresh_token"] != issued["refresh_token"] and pair["access_token"] != issued["token"]
    assert await profile_status(http, pair["access_token"]) == 200
    assert "trade" in pair["scope"].split()
    # the new refresh token works once too; then the first one is dead even within the grace window
    assert (await refresh(http, pair["refresh_token"])).status_code == 200
    dead = await refresh(http, issued["refresh_token"])
    assert dead.status_code == 400 and "errors" in dead.json()


async def test_the_same_refresh_retried_within_the_grace_window_answers_the_same_pair(
        sim: SimulatorHandle, http: httpx.AsyncClient) -> None:
    token = (await sim.admin.issue_token("ACC1"))["refresh_token"]
    first = (await refresh(http, token)).json()
    again = await refresh(http, token)  # the answer was lost: the client repeats the same call
    assert again.status_code == 200 and again.json() == first
    assert await profile_status(http, first["access_token"]) == 200


async def test_after_the_grace_window_a_used_refresh_token_is_refused() -> None:
    async with (running_simulator(frozen_config(oauth_refresh_grace_seconds=0)) as sim,
                httpx.AsyncClient(base_url=sim.base_url, headers={"Accept": "application/json"}) as http):
        token = (await sim.admin.issue_token("ACC1"))["refresh_token"]
        assert (await refresh(http, token)).status_code == 200
        used = await refresh(http, token)
        assert used.status_code == 400
        assert used.json() == {"errors": {"error": "Refresh token has already been used"}}


async def test_a_wrong_client_or_secret_is_401_and_changes_nothing(sim: SimulatorHandle,
                                                                   http: httpx.AsyncClient) -> None:
    token = (await sim.admin.issue_token("ACC1"))["refresh_token"]
    for auth in (("SIMCLIENT", "wrong"), ("OTHER", "SIMCLIENTSECRET")):
        refused = await refresh(http, token, auth)
        assert refused.status_code == 401 and refused.json() == {"errors": {"error": "Invalid client credentials"}}
    no_basic = await http.post("/v1/oauth/refreshtoken", headers={"Authorization": "Bearer SIMTOKEN"},
                               data={"grant_type": "refresh_token", "refresh_token": token})
    assert no_basic.status_code == 401
    assert (await refresh(http, token)).status_code == 200  # the refused calls did not use the token up


async def test_unknown_token_and_bad_grant_are_400(http: httpx.AsyncClient) -> None:
    unknown = await refresh(http, "not-a-token")
    assert unknown.status_code == 400 and unknown.json() == {"errors": {"error": "Invalid refresh token"}}
    wrong = await http.post("/v1/oauth/refreshtoken", auth=CLIENT, data={"grant_type": "password"})
    assert wrong.status_code == 400 and "grant_type" in wrong.json()["errors"]["error"]


async def test_an_authorization_code_is_exchanged_once(sim: SimulatorHandle, http: httpx.AsyncClient) -> None:
    approved = await http.get("/v1/oauth/authorize", params={
        "client_id": "SIMCLIENT", "scope": "read,write,market,trade,stream", "state": "s1",
        "redirect_uri": "https://partner.example/cb"})
    assert approved.status_code == 302
    location = httpx.URL(approved.headers["location"])
    assert location.host == "partner.example" and location.params["state"] == "s1"
    code = location.params["code"]
    exchange: dict[str, Any] = {"grant_type": "authorization_code", "code": code}
    answer = await http.post("/v1/oauth/accesstoken", auth=CLIENT, data=exchange)
    assert answer.status_code == 200 and set(answer.json()) == PAIR_KEYS
    assert answer.json()["expires_in"] == 86399
    assert await profile_status(http, answer.json()["access_token"]) == 200
    again = await http.post("/v1/oauth/accesstoken", auth=CLIENT, data=exchange)
    assert again.status_code == 400  # codes are single use
    refresh_grant = await http.post("/v1/oauth/accesstoken", auth=CLIENT,
                                    data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert refresh_grant.status_code == 400  # refreshing has its own endpoint


async def test_expiring_a_token_closes_the_tradier_events_socket_opened_with_it(
        sim: SimulatorHandle, http: httpx.AsyncClient) -> None:
    issued = await sim.admin.issue_token("ACC1")
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    session = (await http.post("/v1/accounts/events/session", headers=bearer)).json()["stream"]["sessionid"]
    async with websockets.connect(sim.base_url.replace("http", "ws") + "/v1/accounts/events") as ws:
        await ws.send(json.dumps({"events": ["order"], "sessionid": session, "excludeAccounts": []}))
        await asyncio.sleep(0.3)  # no acknowledgement comes: give the subscription a moment
        closed = await sim.admin.expire_token(issued["token"], close_streams=True)
        assert closed["streams_closed"] == 1
        await ws.wait_closed()
