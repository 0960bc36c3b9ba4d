"""The process-wide thread policy (vivicam.threads)."""

from __future__ import annotations

import cv2
import pytest

from vivicam import threads
from vivicam.errors import InputError


@pytest.fixture()
def restore_policy(monkeypatch: pytest.MonkeyPatch):
    """Whatever a test applies, the session's own policy is back afterwards."""
    monkeypatch.delenv(threads.ENV, raising=False)
    yield
    monkeypatch.delenv(threads.ENV, raising=False)
    threads.apply()


def test_apply_sets_one_blas_thread_and_the_pools(restore_policy) -> None:
    policy = threads.apply(2)
    assert policy.pool == 2 and policy.source == "option"
    assert threads.blas_threads() and set(threads.blas_threads()) == {1}
    assert cv2.getNumThreads() == 2
    assert threads.current() == policy

    from threadpoolctl import threadpool_info

    openmp = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]
    assert all(n == 2 for n in openmp)


def test_automatic_size_leaves_our_own_threads_their_cores() -> None:
    assert threads.resolve(environ={}, cores=2).pool == 1
    assert threads.resolve(environ={}, cores=1).pool == 1
    assert threads.resolve(environ={}, cores=8).pool == 8 - threads.OWN_THREADS


def test_environment_override_and_option_precedence(restore_policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(threads.ENV, "3")
    policy = threads.apply()
    assert (policy.pool, policy.source) == (3, "env")
    assert cv2.getNumThreads() == 3
    assert threads.apply("1").pool == 1  # the option wins over the environment
    assert threads.resolve(environ={threads.ENV: "auto"}, cores=4).source == "auto"


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "100000"])
def test_bad_values_are_input_errors(value: str) -> None:
    with pytest.raises(InputError, match="threads"):
        threads.resolve(value, environ={})
    with pytest.raises(InputError, match=threads.ENV):
        threads.resolve(None, environ={threads.ENV: value})


def test_cli_bad_value_is_one_line_exit_2(restore_policy, monkeypatch: pytest.MonkeyPatch, capsys, tmp_path) -> None:
    from vivicam.realtime.cli.main import main

    code = main(["calibrate", "--threads", "many", "-o", str(tmp_path / "p.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--threads" in err[0]
    monkeypatch.setenv(threads.ENV, "0")
    code = main(["calibrate", "-o", str(tmp_path / "p.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and threads.ENV in err[0]
    assert not (tmp_path / "p.json").exists()


def test_every_command_takes_threads() -> None:
    from vivicam.realtime.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():
        assert "--threads" in command._option_string_actions, name


def test_onnxruntime_sessions_are_sized_and_do_not_spin(restore_policy) -> None:
    ort = pytest.importorskip("onnxruntime")
    threads.apply(2)
    options = threads.onnxruntime_options(ort.SessionOptions())
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_torch_is_sized_when_required(restore_policy) -> None:
    pytest.importorskip("torch")
    from vivicam.optional import require

    threads.apply(2)
    assert require("torch").get_num_threads() == 2
    threads.apply(1)  # torch already loaded: apply resizes it
    assert require("torch").get_num_threads() == 1
