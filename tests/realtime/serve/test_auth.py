"""Access: loopback needs no token; any other --host demands one on every request."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from aiohttp.test_utils import TestClient, TestServer

from vivicam.errors import InputError
from vivicam.realtime.serve.auth import is_loopback, resolve_token


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    assert resolve_token(host, None) == (None, False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-pc.local"])
def test_other_hosts_get_a_generated_token(host: str) -> None:
    assert not is_loopback(host)
    token, generated = resolve_token(host, None)
    assert generated and token and len(token) >= 16
    assert resolve_token(host, None)[0] != token  # not a fixed secret


def test_given_token_is_used_and_checked() -> None:
    assert resolve_token("0.0.0.0", "long-enough-token") == ("long-enough-token", False)
    with pytest.raises(InputError, match="at least 8"):
        resolve_token("0.0.0.0", "short")


def _statuses(server, requests) -> list[int]:
    async def run() -> list[int]:
        async with TestClient(TestServer(server.app())) as client:  # listens on 127.0.0.1 only
            out = []
            for method, path, headers in requests:
                response = await client.request(method, path, headers=headers, json={} if method == "POST" else None)
                out.append(response.status)
            return out

    return asyncio.run(run())


def test_non_loopback_host_demands_the_token_everywhere(shared) -> None:
    from vivicam.realtime.serve.server import create

    config = dataclasses.replace(shared.config, host="0.0.0.0")  # the app's rule; nothing listens there
    server, generated = create(config, shared)
    assert generated
    token = server.token
    without = [("GET", "/", {}), ("GET", "/overlay", {}), ("GET", "/avatars", {}), ("POST", "/offer", {}),
               ("POST", "/overlay/offer", {}), ("GET", "/session/s1/stats", {}), ("GET", f"/?token={token}x", {}),
               ("GET", "/", {"Authorization": "Bearer wrong-token"})]
    assert _statuses(server, without) == [401] * len(without)
    with_token = [("GET", f"/?token={token}", {}), ("GET", f"/overlay?token={token}", {}),
                  ("GET", "/avatars", {"Authorization": f"Bearer {token}"}),
                  ("POST", f"/offer?token={token}", {})]  # an empty offer: past the door, then refused
    assert _statuses(server, with_token) == [200, 200, 200, 400]


def test_loopback_host_serves_without_token(shared) -> None:
    from vivicam.realtime.serve.server import create

    server, generated = create(shared.config, shared)
    assert not generated and server.token is None
    assert _statuses(server, [("GET", "/", {}), ("GET", "/overlay", {})]) == [200, 200]


def test_pages_have_the_contract_elements(shared) -> None:
    from vivicam.realtime.serve.pages import INDEX_HTML, OVERLAY_HTML

    assert 'id="start"' in INDEX_HTML and '<video id="avatar"' in INDEX_HTML
    assert '<canvas id="overlay"' in OVERLAY_HTML and "background: transparent" in OVERLAY_HTML
    for page in (INDEX_HTML, OVERLAY_HTML):
        assert "iceServers: []" in page  # host candidates only: no STUN/TURN
