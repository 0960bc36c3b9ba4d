"""The server's own camera feeds the overlay; without one the newest browser session does."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

from vivicam.realtime.app import open_driver
from vivicam.realtime.serve.server import Server, ice_host_addresses


def test_server_camera_feeds_the_overlay_and_stops(shared) -> None:
    config = dataclasses.replace(shared.config, camera="idle")
    server = Server(config, shared, None)
    assert server.newest() is None
    server.start_camera(open_driver("idle"))
    try:
        end = time.monotonic() + 20
        while server.camera_session.latest is None and time.monotonic() < end:
            time.sleep(0.05)
        assert server.newest() is server.camera_session
        assert server.camera_session.latest.image.shape == (480, 640, 3)
    finally:
        asyncio.run(server.stop())
    assert not [t for t in threading.enumerate() if t.name in ("vivicam-camera", "vivicam-session-camera")]


def test_full_server_names_the_limit(shared) -> None:
    server = Server(dataclasses.replace(shared.config, max_sessions=1), shared, None)
    assert server.refusal() is None
    server._opening = 1  # one session on its way in
    assert "--max-sessions" in server.refusal() and "1 of 1" in server.refusal()


def test_ice_candidates_stay_on_the_listening_address() -> None:
    import aioice.ice

    original = aioice.ice.get_host_addresses
    with ice_host_addresses("127.0.0.1"):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    with ice_host_addresses("localhost"):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
    with ice_host_addresses("0.0.0.0"):
        assert aioice.ice.get_host_addresses is original
    assert aioice.ice.get_host_addresses is original
