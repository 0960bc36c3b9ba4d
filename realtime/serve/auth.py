"""Who may talk to the server: anyone on loopback; off loopback, only requests
that carry the token (``?token=`` or an ``Authorization: Bearer`` header),
page, signalling and overlay alike."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Awaitable, Callable

from aiohttp import web

from vivicam.errors import InputError

def is_loopback(host: str) -> bool:
    """True when ``host`` (a --host value) only listens on this machine.
    An unresolvable or wildcard name (``0.0.0.0``, ``::``, a host name) is not."""
    text = host.strip().strip("[]")
    if text.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None) -> tuple[str | None, bool]:
    """(token to demand, whether it was generated). Loopback needs none unless
    one is given; elsewhere a missing token is generated."""
    if token is not None:
        if len(token) < 8 or not token.isprintable() or " " in token:
            raise InputError("--token must be at least 8 printable characters without spaces")
        return token, False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(18), True


def _presented(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer "):].strip()
    return request.query.get("token")


def token_middleware(token: str) -> Callable:
    """An aiohttp middleware answering 401 to every request without ``token``."""
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        given = _presented(request)
        if given is None or not hmac.compare_digest(given.encode(), expected):
            return web.json_response({"error": "this vivicam server needs its token: open the URL it printed"},
                                     status=401)
        return await handler(request)

    return check
