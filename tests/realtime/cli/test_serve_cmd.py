"""`vivicam serve` from the command line: bad input is one line and exit 2, a
busy port exit 3, Ctrl-C a clean stop (exit 130 as for every command, no traceback)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from serve_fakes import write_avatar

VIVICAM = [sys.executable, "-m", "vivicam"]


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_avatar(tmp_path_factory.mktemp("serve_cli") / "astronaut.png")


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*VIVICAM, "serve", *args], capture_output=True, text=True, timeout=timeout)


def test_a_short_token_is_refused_before_anything_starts(photo: Path) -> None:
    result = _run("--avatar", str(photo), "--host", "0.0.0.0", "--token", "abc")
    assert result.returncode == 2
    assert "--token must be at least 8" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_avatar_is_bad_input(tmp_path: Path) -> None:
    result = _run("--avatar", str(tmp_path / "nope.jpg"))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_bad_numbers_are_usage_errors(photo: Path) -> None:
    assert _run("--avatar", str(photo), "--max-sessions", "0").returncode == 2
    assert _run("--avatar", str(photo), "--port", "70000").returncode == 2


@pytest.mark.parametrize("fps", ["0", "1000", "abc", "-5", "nan"])
def test_a_bad_output_rate_is_one_line_and_exit_2(fps: str, photo: Path, capsys) -> None:
    from vivicam.realtime.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--avatar", str(photo), "--fps", fps])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--fps" in errors[0] and "Traceback" not in err


def test_the_output_rate_reaches_the_sessions() -> None:
    from vivicam.errors import InputError
    from vivicam.realtime.serve import ServeConfig

    assert ServeConfig(avatar="a.jpg").fps == 30.0
    with pytest.raises(InputError, match="--fps"):
        ServeConfig(avatar="a.jpg", fps=0)


def test_url_carries_the_token() -> None:
    from vivicam.realtime.serve.server import url_of

    assert url_of("127.0.0.1", 8080, None) == "http://127.0.0.1:8080/"
    assert url_of("192.168.1.5", 8080, "tok-en_1", "overlay") == "http://192.168.1.5:8080/overlay?token=tok-en_1"
    assert url_of("0.0.0.0", 80, "t" * 10).startswith(f"http://{socket.gethostname()}:80/?token=")


@pytest.mark.slow
def test_a_busy_port_is_a_device_error(photo: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = _run("--avatar", str(photo), "--port", str(busy.getsockname()[1]))
    assert result.returncode == 3
    assert "cannot listen on 127.0.0.1" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_ctrl_c_stops_the_server_cleanly(photo: Path) -> None:
    proc = subprocess.Popen([*VIVICAM, "serve", "--avatar", str(photo), "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops" in line:
                break
        url = next(m.group(0) for l in lines if (m := re.search(r"http://127\.0\.0\.1:\d+/", l)))
        with urllib.request.urlopen(url, timeout=10) as response:  # it really serves the page
            assert b'id="start"' in response.read()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = "".join(lines) + err
    assert proc.returncode == 130, err  # the CLI's exit code after Ctrl-C
    assert "stopped" in err and "Traceback" not in err
