"""The session controls the page uses: avatars, switch, recalibrate, stats, close."""

from __future__ import annotations

import asyncio
import time

from aiohttp.test_utils import TestClient, TestServer

from vivicam.realtime.serve.server import Server, _Peer
from vivicam.realtime.serve.session import Session


class NoFace:
    def track(self, image):
        return None

    def close(self) -> None:
        pass


class FakePeerConnection:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def test_session_controls(shared) -> None:
    server = Server(shared.config, shared, None)
    session = Session(shared, tracker=NoFace())
    pc = FakePeerConnection()
    server._peers[session.id] = _Peer(session, pc)
    base = f"/session/{session.id}"

    async def run() -> None:
        async with TestClient(TestServer(server.app())) as client:
            assert (await (await client.get("/avatars")).json()) == {"avatars": ["astronaut.png"]}
            assert (await client.post(f"{base}/recalibrate")).status == 200
            assert (await client.post(f"{base}/avatar", json={"index": 0})).status == 200
            bad = await client.post(f"{base}/avatar", json={"index": 3})
            assert bad.status == 400 and "out of range" in (await bad.json())["error"]
            assert (await client.post(f"{base}/avatar", data="nonsense")).status == 400
            stats = await (await client.get(f"{base}/stats")).json()
            assert set(stats) == {"fps", "camera_fps", "latency_ms", "latency_p95_ms", "dropped"}
            assert (await client.get("/session/nope/stats")).status == 404
            assert (await client.post(f"{base}/close")).status == 200
            assert server.session_count == 0 and session.closed and pc.closed
            assert (await client.post(f"{base}/close")).status == 200  # closing twice is fine
            assert (await client.post("/offer", data="{}")).status == 400

    asyncio.run(run())


def test_full_server_refuses_with_the_reason(shared) -> None:
    import dataclasses

    server = Server(dataclasses.replace(shared.config, max_sessions=1), shared, None)
    session = Session(shared, tracker=NoFace())
    server._peers[session.id] = _Peer(session, FakePeerConnection())

    async def run() -> tuple[int, dict]:
        async with TestClient(TestServer(server.app())) as client:
            response = await client.post("/offer", json={"type": "offer", "sdp": "v=0\r\n"})
            return response.status, await response.json()

    try:
        status, body = asyncio.run(run())
    finally:
        session.close()
    assert status == 503 and "--max-sessions" in body["error"]


def test_idle_sessions_are_reaped(shared) -> None:
    import dataclasses

    server = Server(dataclasses.replace(shared.config, session_idle_s=0.4), shared, None)
    session = Session(shared, tracker=NoFace())
    server._peers[session.id] = _Peer(session, FakePeerConnection())

    async def run() -> None:
        await server.start()
        end = time.monotonic() + 10
        while server.session_count and time.monotonic() < end:
            await asyncio.sleep(0.05)
        await server.stop()

    asyncio.run(run())
    assert server.session_count == 0 and session.closed
