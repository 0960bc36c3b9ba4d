"""The server's life: prepare the engine and avatars once, accept sessions,
release them (page closed, peer gone, idle), stop cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from vivicam.errors import DeviceError
from vivicam.realtime.serve.auth import is_loopback, resolve_token
from vivicam.realtime.serve.config import REAP_EVERY_S, ServeConfig
from vivicam.realtime.serve.routes import make_app
from vivicam.realtime.serve.session import Session, Shared
from vivicam.realtime.serve.tracks import AvatarTrack, OverlayTrack, feed

log = logging.getLogger(__name__)

EXECUTOR_THREADS = 4


@dataclass(eq=False)
class _Peer:
    session: Session
    pc: RTCPeerConnection
    tasks: list[asyncio.Task] = field(default_factory=list)


@contextlib.contextmanager
def ice_host_addresses(host: str) -> Iterator[None]:
    """Offer ICE host candidates on the address the server listens on only:
    127.0.0.1 for a loopback server (aioice leaves loopback out by default,
    and no other address may carry a loopback server's media); every address
    for a wildcard host. aiortc has no setting for it, hence the patch."""
    import aioice.ice

    original = aioice.ice.get_host_addresses
    text = host.strip().strip("[]")
    if is_loopback(text):
        addresses = ["::1"] if text == "::1" else ["127.0.0.1"]
    elif text in ("0.0.0.0", "::", ""):
        addresses = None
    else:
        addresses = [text]
    if addresses is not None:
        aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=True: list(addresses)
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


def release_free_memory() -> bool:
    """Hand freed heap memory back to the system (glibc's ``malloc_trim``;
    elsewhere a no-op returning False). glibc gives new threads their own
    malloc arenas and keeps what they freed: without this every session's
    worker thread left a few MB behind (measured ~2 MB per session)."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return False


class Server:
    """Sessions and peers of one running server (all methods on its event loop)."""

    def __init__(self, config: ServeConfig, shared: Shared, token: str | None) -> None:
        self.config = config
        self.shared = shared
        self.token = token
        self._peers: dict[str, _Peer] = {}
        self._opening = 0
        self._overlays: set[RTCPeerConnection] = set()
        self.camera_session: Session | None = None
        self._camera_thread: threading.Thread | None = None
        self._camera_stop = threading.Event()
        self._reaper: asyncio.Task | None = None
        self.sessions_opened = 0
        self.port = config.port

    # -- sessions --------------------------------------------------------------
    def session(self, sid: str) -> Session | None:
        peer = self._peers.get(sid)
        return None if peer is None else peer.session

    @property
    def session_count(self) -> int:
        return len(self._peers)

    def newest(self) -> Session | None:
        """The overlay's source: the server's camera, else the newest browser session."""
        if self.camera_session is not None:
            return self.camera_session
        live = [p.session for p in self._peers.values() if not p.session.closed]
        return max(live, key=lambda s: s.opened_s) if live else None

    def refusal(self) -> str | None:
        """Why a new session cannot open now (None: it can)."""
        in_use = len(self._peers) + self._opening
        limit = self.config.max_sessions
        if in_use >= limit:
            return (f"this vivicam server is full: {in_use} of {limit} sessions are in use. "
                    "Close another vivicam page, or restart the server with a higher --max-sessions.")
        return None

    async def in_thread(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args))

    async def open_session(self, offer: dict[str, str]) -> dict[str, Any]:
        self._opening += 1
        try:
            session = await self.in_thread(Session, self.shared)  # a tracker graph takes a moment to build
        finally:
            self._opening -= 1
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peer = _Peer(session, pc)
        self._peers[session.id] = peer
        self.sessions_opened += 1

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind != "video":
                return
            pc.addTrack(AvatarTrack(session))
            peer.tasks.append(asyncio.ensure_future(feed(track, session)))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close_session(session.id)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(**offer))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception:
            await self.close_session(session.id)
            raise web.HTTPBadRequest(text="the offer could not be answered (no video in it?)") from None
        log.info("session %s opened (%d in use)", session.id, len(self._peers))
        answer = pc.localDescription
        return {"sdp": answer.sdp, "type": answer.type, "session": session.id, "avatar": session.avatar_index}

    async def close_session(self, sid: str) -> None:
        """Release a session: its worker thread, tracker, tracks and peer (idempotent)."""
        peer = self._peers.pop(sid, None)
        if peer is None:
            return
        for task in peer.tasks:
            task.cancel()
        await self.in_thread(peer.session.close)
        await peer.pc.close()
        await self.in_thread(release_free_memory)
        log.info("session %s closed (%d in use)", sid, len(self._peers))

    async def open_overlay(self, offer: dict[str, str]) -> dict[str, Any]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._overlays.add(pc)
        pc.addTrack(OverlayTrack(self.newest, self.config.size))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._overlays.discard(pc)
                await pc.close()

        try:
            await pc.setRemoteDescription(RTCSessionDescription(**offer))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception:
            self._overlays.discard(pc)
            await pc.close()
            raise web.HTTPBadRequest(text="the overlay offer could not be answered") from None
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    async def _reap(self) -> None:
        """Close sessions whose browser stopped sending (a vanished peer)."""
        while True:
            await asyncio.sleep(min(REAP_EVERY_S, self.config.session_idle_s / 2))
            now = time.monotonic()
            for sid, peer in list(self._peers.items()):
                if now - peer.session.last_input_s > self.config.session_idle_s:
                    log.info("session %s: no camera frame for %.0f s; closing it", sid, now - peer.session.last_input_s)
                    await self.close_session(sid)

    # -- the server's own camera -------------------------------------------------
    def _camera_loop(self, source: Any) -> None:
        try:
            for frame in source.frames():
                if self._camera_stop.is_set():
                    break
                if frame is not None and self.camera_session is not None:
                    self.camera_session.submit(frame)
        except Exception:  # the overlay keeps its last frame; the server stays up
            log.exception("the overlay camera stopped")
        finally:
            source.close()

    def start_camera(self, source: Any) -> None:
        self.camera_session = Session(self.shared, name="camera", camera_fps=getattr(source, "fps", None))
        self._camera_thread = threading.Thread(target=self._camera_loop, args=(source,),
                                               name="vivicam-camera", daemon=True)
        self._camera_thread.start()

    # -- life ----------------------------------------------------------------------
    async def start(self) -> None:
        self._reaper = asyncio.ensure_future(self._reap())

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for sid in list(self._peers):
            await self.close_session(sid)
        for pc in list(self._overlays):
            await pc.close()
        self._overlays.clear()
        self._camera_stop.set()
        if self.camera_session is not None:
            await self.in_thread(self.camera_session.close)
        if self._camera_thread is not None:
            await self.in_thread(self._camera_thread.join, 5.0)

    def app(self) -> web.Application:
        return make_app(self, self.token)


def prepare(config: ServeConfig, on_status: Callable[[str], None] | None = None) -> Shared:
    """The engine and the first usable avatar, prepared before the server listens."""
    from vivicam.realtime.app import avatar_paths, first_usable_avatar, make_engine, tell_avatar_note

    paths = avatar_paths(config.avatar)
    engine = make_engine(config.engine, **config.engine_options)
    shared = Shared(config, engine, paths)
    start, state = first_usable_avatar(paths, shared.cache, on_status, folder=Path(config.avatar).is_dir())
    tell_avatar_note(state, paths[start], on_status)
    shared.start = start
    return shared


def create(config: ServeConfig, shared: Shared) -> tuple[Server, bool]:
    """The server for ``config`` and whether its token was generated (a
    non-loopback ``host`` without ``token``; see ``resolve_token``)."""
    token, generated = resolve_token(config.host, config.token)
    return Server(config, shared, token), generated


@contextlib.asynccontextmanager
async def running(server: Server, camera: Any = None) -> AsyncIterator[Server]:
    """``server`` listening on its configured address (``camera``: an opened
    source for the overlay, or None)."""
    config = server.config
    # aiortc codes video and sessions start in the loop's default executor: a
    # bounded, named pool, so the thread count cannot creep up with sessions
    executor = ThreadPoolExecutor(max_workers=EXECUTOR_THREADS, thread_name_prefix="vivicam-serve")
    asyncio.get_running_loop().set_default_executor(executor)
    with ice_host_addresses(config.host):
        runner = web.AppRunner(server.app(), handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, config.host, config.port)
            try:
                await site.start()
            except OSError as exc:
                raise DeviceError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
            server.port = runner.addresses[0][1]  # the real one when config.port is 0
            if camera is not None:
                server.start_camera(camera)
            await server.start()
            yield server
        finally:
            await server.stop()
            await runner.cleanup()


def url_of(host: str, port: int, token: str | None, path: str = "") -> str:
    """The URL to open (with the token when there is one)."""
    if host in ("0.0.0.0", "::", ""):
        import socket

        host = socket.gethostname()  # listening everywhere: the name others reach this machine by
    elif ":" in host:
        host = f"[{host}]"
    base = f"http://{host}:{port}/{path}"
    return base + (f"?token={token}" if token else "")
