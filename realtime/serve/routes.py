"""The HTTP side: pages, signalling (SDP offer → answer) and the session
controls, as an aiohttp application over a :class:`~vivicam.realtime.serve.server.Server`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from vivicam.errors import InputError
from vivicam.realtime.serve.auth import token_middleware
from vivicam.realtime.serve.pages import INDEX_HTML, OVERLAY_HTML

# the running Server (routes reach it through the app; no import back into server.py)
SERVER: "web.AppKey[Any]" = web.AppKey("server")
_NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status, headers=_NO_STORE)


async def _offer_of(request: web.Request) -> dict[str, str]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="expected a JSON body") from None
    if not isinstance(body, dict) or body.get("type") != "offer" or not isinstance(body.get("sdp"), str):
        raise web.HTTPBadRequest(text='expected {"type": "offer", "sdp": "..."}')
    return {"sdp": body["sdp"], "type": "offer"}


async def _no_content() -> web.Response:
    return web.Response(status=204)


async def index(request: web.Request) -> web.Response:
    return web.Response(text=INDEX_HTML, content_type="text/html", headers=_NO_STORE)


async def overlay(request: web.Request) -> web.Response:
    return web.Response(text=OVERLAY_HTML, content_type="text/html", headers=_NO_STORE)


async def avatars(request: web.Request) -> web.Response:
    return web.json_response({"avatars": request.app[SERVER].shared.names()}, headers=_NO_STORE)


async def offer(request: web.Request) -> web.Response:
    server = request.app[SERVER]
    description = await _offer_of(request)
    refusal = server.refusal()
    if refusal is not None:
        return _error(503, refusal)
    answer = await server.open_session(description)
    return web.json_response(answer, headers=_NO_STORE)


async def overlay_offer(request: web.Request) -> web.Response:
    answer = await request.app[SERVER].open_overlay(await _offer_of(request))
    return web.json_response(answer, headers=_NO_STORE)


def _session(request: web.Request) -> Any:
    session = request.app[SERVER].session(request.match_info["sid"])
    if session is None:
        raise web.HTTPNotFound(text="no such session (it was closed)")
    return session


async def recalibrate(request: web.Request) -> web.Response:
    _session(request).recalibrate()
    return web.json_response({"ok": True}, headers=_NO_STORE)


async def switch_avatar(request: web.Request) -> web.Response:
    session = _session(request)
    server = request.app[SERVER]
    try:
        index = int((await request.json())["index"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return _error(400, 'expected {"index": N}')
    if not 0 <= index < len(server.shared.paths):
        return _error(400, f"avatar index {index} is out of range (0..{len(server.shared.paths) - 1})")
    try:
        await server.in_thread(session.switch_avatar, index)
    except InputError as exc:
        return _error(422, str(exc))
    return web.json_response({"ok": True, "avatar": index}, headers=_NO_STORE)


async def stats(request: web.Request) -> web.Response:
    session = _session(request)
    recent = session.stats.recent()["latency"]
    median, p95 = recent["median"], recent["p95"]
    return web.json_response(
        {
            "fps": round(session.stats.fps(), 2),  # output frames, in-between ones included
            "camera_fps": round(session.camera_fps(), 2),  # camera frames rendered (what the page paces to)
            # camera frame's arrival to the avatar frame rendered, recent frames; NaN before the first
            "latency_ms": None if median != median else round(median, 1),
            "latency_p95_ms": None if p95 != p95 else round(p95, 1),
            "dropped": sum(session.stats.dropped().values()),
        },
        headers=_NO_STORE,
    )


async def close(request: web.Request) -> web.Response:
    await request.app[SERVER].close_session(request.match_info["sid"])
    return web.json_response({"ok": True}, headers=_NO_STORE)


def make_app(server: Any, token: str | None) -> web.Application:
    """The application; every route behind the token when one is set."""
    app = web.Application(middlewares=[token_middleware(token)] if token else [])
    app[SERVER] = server
    app.router.add_get("/", index)
    app.router.add_get("/overlay", overlay)
    app.router.add_get("/favicon.ico", lambda request: _no_content())
    app.router.add_get("/avatars", avatars)
    app.router.add_post("/offer", offer)
    app.router.add_post("/overlay/offer", overlay_offer)
    app.router.add_post("/session/{sid}/recalibrate", recalibrate)
    app.router.add_post("/session/{sid}/avatar", switch_avatar)
    app.router.add_get("/session/{sid}/stats", stats)
    app.router.add_post("/session/{sid}/close", close)
    return app
