"""`vivicam serve` latency benchmark: Python WebRTC clients (aiortc) send a
real clip to a server on 127.0.0.1 and time each frame from capture to the
avatar frame coming back, for 1, 2 and 4 sessions at once.

Each sent frame carries its number as a strip of black/white blocks in the
top-left corner; the server (started with ``stamp_echo``) copies that strip
onto the avatar frame it renders from it, so a received frame names the
camera frame it was made from. Latency = receive time − the time the frame
was handed to the sender (same clock, same process); fps = distinct avatar
frames received per second per session. The server runs in its own process.

    python -m vivicam.benchmarks.serve_latency --out serve_latency.json [--seconds 8] [--sessions 1 2 4]

Without ``--driving``/``--avatar`` it uses ``../shared/testdata`` (d19.mp4
driving s1.jpg); without the test data, the bundled astronaut drives itself
(a still face: tracking runs, the motion is small).
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import multiprocessing
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vivicam.benchmarks.live_loop import machine_info, testdata_dir
from vivicam.realtime.serve.session import STAMP_BITS, STAMP_BLOCK
from vivicam.realtime.stats import percentiles

SIZE = (640, 480)
FPS = 30


def stamp(image: np.ndarray, number: int) -> np.ndarray:
    """``image`` with ``number`` (mod 2**STAMP_BITS) drawn as the corner strip."""
    out = image.copy()
    for bit in range(STAMP_BITS):
        value = 255 if (number >> bit) & 1 else 0
        out[:STAMP_BLOCK, bit * STAMP_BLOCK : (bit + 1) * STAMP_BLOCK] = value
    return out


def read_stamp(image: np.ndarray) -> int:
    """The number in ``image``'s corner strip (block centres, thresholded)."""
    c0, c1 = STAMP_BLOCK // 4, 3 * STAMP_BLOCK // 4
    number = 0
    for bit in range(STAMP_BITS):
        block = image[c0:c1, bit * STAMP_BLOCK + c0 : bit * STAMP_BLOCK + c1]
        if block.mean() > 127:
            number |= 1 << bit
    return number


def load_clip(path: Path | None, frames: int) -> list[np.ndarray]:
    """Up to ``frames`` RGB frames letterboxed into SIZE (the clip, or the astronaut held still)."""
    from vivicam.realtime.post import fit_to

    if path is None:
        from vivicam.realtime.app import demo_photo

        return [np.ascontiguousarray(fit_to(demo_photo(), SIZE))]
    import av

    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(np.ascontiguousarray(fit_to(frame.to_ndarray(format="rgb24"), SIZE)))
            if len(out) >= frames:
                break
    return out


def _run_server(avatar: str, port: int, max_sessions: int, stop: Any) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from vivicam.realtime.serve import ServeConfig, serve

    serve(ServeConfig(avatar=avatar, port=port, max_sessions=max_sessions, stamp_echo=True), stop=stop)


class Client:
    """One session: sends the clip at FPS, records per-frame latency."""

    def __init__(self, clip: list[np.ndarray], paced: bool = True) -> None:
        self.clip = clip
        self.paced = paced
        self.sent: dict[int, int] = {}  # stamp -> perf_counter_ns when handed to the sender
        self.received: dict[int, int] = {}  # stamp -> perf_counter_ns of its first arrival
        self.pc: Any = None
        self.session: str | None = None
        self.rate = float(FPS)  # frames per second sent, paced as the page paces its camera
        self.last_sent = 0.0
        self.unmatched = 0  # received frames whose stamp names no sent frame (a misread)
        self._tasks: list[asyncio.Task] = []

    def track(self) -> Any:
        from aiortc import VideoStreamTrack
        from av import VideoFrame

        client = self

        class ClipTrack(VideoStreamTrack):
            def __init__(self) -> None:
                super().__init__()
                self.n = 0
                self.start: float | None = None

            async def recv(self) -> VideoFrame:
                now = time.perf_counter()
                if self.start is None:
                    self.start = now
                # the clip plays at FPS; frames are sent at the (lower) pace the page would use
                due = max(self.start + self.n / FPS, client.last_sent + 1.0 / client.rate)
                await asyncio.sleep(max(0.0, due - now))
                client.last_sent = time.perf_counter()
                number = self.n % (1 << STAMP_BITS)
                image = stamp(client.clip[self.n % len(client.clip)], number)
                frame = VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = self.n * (90000 // FPS)
                frame.time_base = fractions.Fraction(1, 90000)
                client.sent[number] = time.perf_counter_ns()
                self.n += 1
                return frame

        return ClipTrack()

    async def connect(self, base: str) -> None:
        import aiohttp
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(self.track())

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.ensure_future(self._receive(track)))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"sdp": self.pc.localDescription.sdp, "type": "offer"}
        async with aiohttp.ClientSession() as http:
            async with http.post(base + "offer", json=offer) as response:
                body = await response.json()
                if response.status != 200:
                    raise RuntimeError(body.get("error", response.status))
        self.session = body["session"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
        if self.paced:
            self._tasks.append(asyncio.ensure_future(self.pace(base)))

    async def _receive(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.perf_counter_ns()
            corner = frame.to_ndarray(format="rgb24")[:STAMP_BLOCK, : STAMP_BLOCK * STAMP_BITS]
            number = read_stamp(corner)
            if number not in self.sent:
                self.unmatched += 1
            elif number not in self.received:
                self.received[number] = now

    def window(self, t0_ns: int, t1_ns: int) -> dict[str, Any]:
        """Latency and fps of frames that arrived in [t0, t1)."""
        arrivals = sorted(((n, t) for n, t in self.received.items() if t0_ns <= t < t1_ns), key=lambda a: a[1])
        latency = [(t - self.sent[n]) / 1e6 for n, t in arrivals if t >= self.sent[n]]
        third = len(latency) // 3
        # growing latency (a queue building up) shows as last third minus first third
        trend = float(np.median(latency[-third:]) - np.median(latency[:third])) if third >= 3 else None
        return {
            "latency_growth_ms": None if trend is None else round(trend, 1),
            "frames": len(arrivals),
            "fps": round(len(arrivals) / ((t1_ns - t0_ns) / 1e9), 2),
            "latency_ms": {k: round(v, 1) for k, v in percentiles(latency).items()},
            "unmatched_stamps": self.unmatched,
            "_latency": latency,
        }

    async def pace(self, base: str) -> None:
        """Every second, as the page does: send at most 1.25x the server's fps + 1 (5..30)."""
        while True:
            await asyncio.sleep(1.0)
            fps = (await self.server_stats(base)).get("camera_fps") or 0  # camera frames it renders
            if fps:
                self.rate = max(5.0, min(float(FPS), round(fps * 1.25 + 1)))

    async def server_stats(self, base: str) -> dict[str, Any]:
        """The server's view of this session: render fps, arrival-to-rendered latency, dropped frames."""
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}session/{self.session}/stats") as response:
                return await response.json()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()


async def measure(
    base: str, clip: list[np.ndarray], sessions: int, seconds: float, warmup_s: float, paced: bool
) -> dict[str, Any]:
    clients = [Client(clip, paced) for _ in range(sessions)]
    try:
        await asyncio.gather(*(c.connect(base) for c in clients))
        await asyncio.sleep(warmup_s)  # connection set-up, calibration, first keyframes
        t0 = time.perf_counter_ns()
        await asyncio.sleep(seconds)
        t1 = time.perf_counter_ns()
        server = await asyncio.gather(*(c.server_stats(base) for c in clients))
    finally:
        for c in clients:
            await c.close()
    per_session = [dict(c.window(t0, t1), server=view, send_fps_end=c.rate) for c, view in zip(clients, server)]
    pooled = [v for s in per_session for v in s.pop("_latency")]
    return {
        "sessions": sessions,
        "per_session": per_session,
        "fps_per_session": {k: round(v, 2) for k, v in percentiles([s["fps"] for s in per_session]).items()},
        "latency_ms": {k: round(v, 1) for k, v in percentiles(pooled).items()},
    }


def _process(pid: int) -> dict[str, int]:
    """Threads and resident memory (KiB) of process ``pid`` (Linux)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Threads", "VmRSS"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


async def churn(base: str, clip: list[np.ndarray], count: int, pid: int) -> dict[str, Any]:
    """Open and close ``count`` sessions one after another; the server's threads
    and memory after the first and after the last (released sessions leave nothing)."""
    samples = []
    for i in range(count):
        client = Client(clip)
        try:
            await client.connect(base)
            end = time.monotonic() + 10
            while not client.received and time.monotonic() < end:
                await asyncio.sleep(0.1)
        finally:
            await client.close()
        await asyncio.sleep(1.5)  # the close reaches the server; its session is released
        samples.append(_process(pid))
    return {"sessions": count, "after_first": samples[0], "after_last": samples[-1],
            "threads": [s.get("Threads") for s in samples], "rss_kib": [s.get("VmRSS") for s in samples]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_up(base: str, timeout_s: float = 180.0) -> None:
    import aiohttp

    end = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < end:
            try:
                async with http.get(base + "avatars") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("the server did not start")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from vivicam.realtime.serve.server import ice_host_addresses

    data = testdata_dir()
    driving = args.driving or (data / "clips" / "d19.mp4" if data else None)
    avatar = args.avatar or (data / "portraits" / "s1.jpg" if data else None)
    if avatar is None:
        import cv2

        from vivicam.realtime.app import demo_photo

        avatar = Path(args.out).with_suffix(".avatar.png") if args.out else Path("serve_latency_avatar.png")
        cv2.imwrite(str(avatar), cv2.cvtColor(demo_photo(), cv2.COLOR_RGB2BGR))
    clip = load_clip(driving, args.frames)
    port = _free_port()
    base = f"http://127.0.0.1:{port}/"
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    server = ctx.Process(target=_run_server, args=(str(avatar), port, max(args.sessions), stop), daemon=True)
    server.start()
    results: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    try:
        async def main() -> None:
            await _wait_up(base)
            with ice_host_addresses("127.0.0.1"):
                for n in args.sessions:
                    results.append(await measure(base, clip, n, args.seconds, args.warmup, not args.unpaced))
                    await asyncio.sleep(2.0)  # the server releases the sessions
                if args.churn:
                    extra["churn"] = await churn(base, clip, args.churn, server.pid)

        asyncio.run(main())
    finally:
        stop.set()
        server.join(30)
        if server.is_alive():
            server.terminate()
    return {
        "benchmark": "serve_latency",
        "machine": machine_info(),
        "engine": "warp (cpu)",
        "driving": None if driving is None else Path(driving).name,
        "avatar": Path(avatar).name,
        "size": list(SIZE),
        "send_fps": FPS,
        "seconds": args.seconds,
        "paced": not args.unpaced,
        "latency": "client send (frame handed to aiortc) to the avatar frame decoded back, same clock",
        "results": results,
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driving", type=Path, default=None, help="clip the clients send (default: testdata d19.mp4)")
    parser.add_argument("--avatar", type=Path, default=None, help="portrait (default: testdata s1.jpg)")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4], help="sessions at once, one run each")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--frames", type=int, default=150, help="clip frames sent (looped)")
    parser.add_argument("--unpaced", action="store_true",
                        help="always send 30 fps (the page paces its camera to the server's fps)")
    parser.add_argument("--churn", type=int, default=0, metavar="N",
                        help="then open and close N sessions in turn, recording the server's threads and memory")
    parser.add_argument("--out", default=None, help="write the JSON here (default: print it)")
    args = parser.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    if args.out:
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, args.out)
    else:
        print(text)
    for r in result["results"]:
        print(f"{r['sessions']} session(s): fps/session median {r['fps_per_session']['median']}, "
              f"latency median {r['latency_ms']['median']} ms p95 {r['latency_ms']['p95']} ms", file=sys.stderr)
    if "churn" in result:
        c = result["churn"]
        print(f"{c['sessions']} sessions opened and closed: server threads {c['threads']}, "
              f"RSS MiB {[round(v / 1024) for v in c['rss_kib'] if v]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
