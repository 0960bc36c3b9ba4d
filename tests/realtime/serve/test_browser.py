"""`vivicam serve` in a real browser: Debian's chromium driven by playwright,
its fake camera playing a real clip, everything on 127.0.0.1.

Select them with ``-m browser``; they are slow tests (CI runs them in its slow step).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from serve_fakes import CHROMIUM, CHROMIUM_FLAGS, server_thread, write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.testdata]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

GRAB = """(size) => {
  const v = document.querySelector(size.selector);
  const c = document.createElement('canvas'); c.width = size.w; c.height = size.h;
  const x = c.getContext('2d'); x.drawImage(v, 0, 0, size.w, size.h);
  return Array.from(x.getImageData(0, 0, size.w, size.h).data);
}"""


@pytest.fixture(scope="module")
def camera_clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real face clip for Chromium's fake camera (skipped without the test data)."""
    return write_y4m(testdata / "clips" / "d19.mp4", tmp_path_factory.mktemp("clip") / "d19.y4m", frames=90)


@pytest.fixture(scope="module")
def browser(camera_clip: Path):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS + [f"--use-file-for-fake-video-capture={camera_clip}"]
        )
        yield browser
        browser.close()


def _config(shared, **changes):
    return dataclasses.replace(shared.config, port=0, **changes)


def _start(browser, url: str):
    page = browser.new_context().new_page()
    page.goto(url)
    page.click("#start")
    return page


def _playing(page, timeout_s: float = 30.0) -> None:
    page.wait_for_function("document.getElementById('avatar').videoWidth > 0", timeout=timeout_s * 1000)


def _grab(page, selector: str = "#avatar", w: int = 160, h: int = 120) -> np.ndarray:
    data = page.evaluate(GRAB, {"selector": selector, "w": w, "h": h})
    return np.asarray(data, np.uint8).reshape(h, w, 4)


def _small(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA).astype(np.float32)


def _first_camera_frame(clip: Path) -> np.ndarray:
    import cv2

    with open(clip, "rb") as f:
        header = f.readline()
        width, height = (int(t[1:]) for t in header.split()[1:3])
        f.readline()  # FRAME
        yuv = np.frombuffer(f.read(width * height * 3 // 2), np.uint8).reshape(height * 3 // 2, width)
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)


def _wait(condition, timeout_s: float = 20.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_avatar_arrives_and_moves(browser, shared, camera_clip: Path) -> None:
    from vivicam.realtime.post import fit_to

    with server_thread(_config(shared), shared) as st:
        page = _start(browser, st.url())
        _playing(page)
        # the server offered host candidates on 127.0.0.1 only (no STUN/TURN, no other address)
        sdp = page.evaluate("pc.remoteDescription.sdp")
        candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate")]
        assert candidates and all(" 127.0.0.1 " in line for line in candidates), candidates
        page.wait_for_function(r"/fps \d+\.\d .*latency \d+ ms/.test(document.getElementById('stats').textContent)",
                               timeout=20000)
        # the avatar holds still until the driver's neutral face is calibrated
        # (it waits for a calm moment of the clip: a second or a few)
        (session,) = [st.server.session(sid) for sid in list(st.server._peers)]
        deadline = time.monotonic() + 15.0
        while not session.pipeline.estimator.calibrated and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session.pipeline.estimator.calibrated
        time.sleep(0.5)
        grabs = []
        for _ in range(4):
            grabs.append(_grab(page)[..., :3].astype(np.float32))
            time.sleep(0.7)
        a = grabs[0]
        avatar_ref = _small(fit_to(st.shared.avatar(0).photo, (640, 480)))
        camera_ref = _small(_first_camera_frame(camera_clip))
        to_avatar, to_camera = np.abs(a - avatar_ref).mean(), np.abs(a - camera_ref).mean()
        assert to_avatar < 20 and to_avatar < to_camera / 2, (to_avatar, to_camera)
        # it moves: the face region changes between frames (video coding alone changes it far less)
        face = (slice(15, 105), slice(35, 125))
        change = max(np.abs(g[face] - h[face]).mean() for i, g in enumerate(grabs) for h in grabs[i + 1 :])
        assert change > 1.0, change
        summary = session.summary()
        assert summary["frames_out"] > 20
        # the motion comes from the driver's face: it is found in most frames
        assert summary["events"].get("face lost", 0) < summary["frames_out"] / 2
        page.context.close()


def test_two_sessions_at_once_and_the_next_is_refused(browser, shared) -> None:
    with server_thread(_config(shared, max_sessions=2), shared) as st:
        first, second = _start(browser, st.url()), _start(browser, st.url())
        _playing(first)
        _playing(second)
        assert st.server.session_count == 2
        sessions = [st.server.session(sid) for sid in list(st.server._peers)]
        counts = [s.stats.frames_out for s in sessions]
        assert _wait(lambda: all(s.stats.frames_out > c + 5 for s, c in zip(sessions, counts)), 15.0)  # both render
        third = _start(browser, st.url())
        third.wait_for_function("document.getElementById('message').textContent.includes('--max-sessions')",
                                timeout=20000)
        assert st.server.session_count == 2
        first.context.close()  # a closed page frees its session at once (pagehide beacon)
        assert _wait(lambda: st.server.session_count == 1, 30.0)
        third.click("#start")
        _playing(third)
        second.context.close()
        third.context.close()


def test_overlay_corners_are_transparent_and_centre_is_not(browser, shared) -> None:
    with server_thread(_config(shared), shared) as st:
        driver = _start(browser, st.url())
        _playing(driver)
        overlay = browser.new_context().new_page()
        overlay.goto(st.url("overlay"))
        overlay.wait_for_function("document.getElementById('overlay').width > 0", timeout=30000)
        time.sleep(1.0)
        width, height = overlay.evaluate("[document.getElementById('overlay').width, document.getElementById('overlay').height]")
        assert (width, height) == (640, 480)
        pixels = overlay.evaluate(
            "Array.from(document.getElementById('overlay').getContext('2d').getImageData(0, 0, 640, 480).data)"
        )
        rgba = np.asarray(pixels, np.uint8).reshape(480, 640, 4)
        for y, x in ((5, 5), (5, 634), (474, 5), (474, 634)):
            assert rgba[y, x, 3] == 0, (y, x)
        assert rgba[240, 320, 3] > 200
        assert overlay.evaluate("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
        overlay.context.close()
        driver.context.close()


def _lasting_threads(window_s: float = 3.0) -> int:
    """The process's OS threads once the moment's churn is over: the fewest seen over a window,
    after a garbage collection (a codec's threads end when its object is collected), not
    counting the server's executor, a pool that grows to its bound on its own schedule."""
    gc.collect()
    fewest = None
    end = time.monotonic() + window_s
    while time.monotonic() < end:
        pool = sum(t.name.startswith("vivicam-serve") for t in threading.enumerate())
        now = len(os.listdir("/proc/self/task")) - pool
        fewest = now if fewest is None else min(fewest, now)
        time.sleep(0.05)
    return fewest


def test_closed_and_vanished_sessions_free_their_threads(browser, shared) -> None:
    with server_thread(_config(shared, session_idle_s=2.0), shared) as st:
        def cycle() -> None:
            page = _start(browser, st.url())
            _playing(page)
            page.context.close()
            assert _wait(lambda: st.server.session_count == 0, 30.0)  # at once unless the machine is swamped

        def sessions(n: int) -> int:
            for _ in range(n):
                cycle()
            # a session's worker ends moments after its session is removed (the issue allows 45 s)
            assert _wait(lambda: not [t for t in threading.enumerate() if t.name.startswith("vivicam-session-")],
                         15.0), [t.name for t in threading.enumerate()]
            return _lasting_threads()

        # two batches of five: pools (the codecs', the tracker's) reach their size in the first,
        # while a thread leaked per session adds five in each
        first = sessions(5)
        second = sessions(5)
        assert second <= first + 2, (first, second, [t.name for t in threading.enumerate()])

        # a peer that stops sending without closing its page is released too
        page = _start(browser, st.url())
        _playing(page)
        page.evaluate("pc.getSenders().forEach((s) => s.track && s.track.stop())")
        assert _wait(lambda: st.server.session_count == 0, 30.0)
        page.context.close()
