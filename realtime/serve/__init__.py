"""``vivicam serve``: the avatar in a browser (``/``) and as a transparent OBS
overlay (``/overlay``), over WebRTC (aiortc) and HTTP (aiohttp).

:func:`serve` is the library entry point the CLI wraps: it prepares the engine
and avatar, listens until Ctrl-C (or ``stop`` is set), and returns a summary.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable

from vivicam.realtime.serve.config import ServeConfig

log = logging.getLogger(__name__)


def serve(
    config: ServeConfig,
    *,
    on_status: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Run the server until Ctrl-C or ``stop``. Bad input (no avatar, a bad
    token, a missing camera) raises the typed errors of :mod:`vivicam.errors`
    before anything listens."""
    from vivicam.realtime.serve.auth import resolve_token
    from vivicam.realtime.serve.server import create, prepare, running, url_of

    from vivicam.threads import ensure_applied

    ensure_applied()  # library callers get the thread policy too (a no-op after the CLI's)
    status = on_status or (lambda text: log.info("%s", text))
    resolve_token(config.host, config.token)  # a bad --token is reported before the slow start-up
    camera = None
    if config.camera is not None:
        from vivicam.realtime.app import open_driver

        camera = open_driver(config.camera, size=tuple(config.size))
    try:
        shared = prepare(config, status)
    except BaseException:
        if camera is not None:
            camera.close()
        raise
    summary: dict[str, Any] = {}

    server, generated = create(config, shared)
    token = server.token

    async def main() -> None:
        async with running(server, camera):
            if generated:
                status("this server is reachable from other machines: a token was generated")
            status(f"open {url_of(config.host, server.port, token)} (avatar page)")
            status(f"OBS browser source: {url_of(config.host, server.port, token, 'overlay')}")
            status("Ctrl-C stops the server")
            try:
                while stop is None or not stop.is_set():
                    await asyncio.sleep(0.2)
            finally:
                summary["sessions_opened"] = server.sessions_opened

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        status("stopped")
    return summary


__all__ = ["ServeConfig", "serve"]
