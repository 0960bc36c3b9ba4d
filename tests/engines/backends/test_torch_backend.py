"""The torch backend on the CPU (eager FP32; on CUDA the same code compiles
and runs in half precision, checked by the GPU acceptance run): the runner
API, the precision policy, and the engines rendering through it the same as
their CPU reference."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tiny_graph import tiny_spec  # noqa: E402

from vivicam.engines.backends import load_runner, probe  # noqa: E402
from vivicam.engines.backends.torch_runner import TorchModule, TorchRunner, channels_last, keeps_fp32, to_tensor  # noqa: E402
from vivicam.engines.build.check import reference_outputs  # noqa: E402
from vivicam.types import Motion  # noqa: E402


@pytest.fixture
def cpu_torch(monkeypatch, tmp_path):
    """No GPU: ``--backend torch`` runs eager on the CPU."""
    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(None, "no CUDA device found"))
    monkeypatch.setattr(probe, "probe_torch", lambda: probe.TorchInfo(torch.__version__, None, "this PyTorch is a CPU-only build"))


def test_torch_runner_matches_the_module_and_accepts_every_array_kind(cpu_torch) -> None:
    spec = tiny_spec()
    inputs = spec.make_inputs()
    runner = load_runner(spec, "torch", "fp16")
    assert isinstance(runner, TorchRunner) and runner.backend == "torch"
    assert runner.device.type == "cpu" and runner.net.precision == "fp32" and not runner.net.compiled  # eager FP32 on the CPU
    out = runner.run(inputs)
    ref = reference_outputs(spec, inputs)
    assert set(out) == {"features", "mean"} and all(isinstance(v, np.ndarray) for v in out.values())
    for name in ref:
        np.testing.assert_allclose(out[name], ref[name], atol=1e-6)
    as_tensors = runner.run({k: torch.from_numpy(v) for k, v in inputs.items()})
    np.testing.assert_array_equal(as_tensors["features"], out["features"])
    with pytest.raises(ValueError, match="input 'image' has shape"):
        TorchRunner(spec, device="cpu").run({**inputs, "image": inputs["image"][:, :, :8]})


def test_precision_policy_keeps_coordinate_graphs_fp32() -> None:
    assert keeps_fp32("warp-512") and keeps_fp32("liveportrait-motion_extractor")
    assert not keeps_fp32("liveportrait-spade_generator") and not keeps_fp32("liveportrait-warping_module")
    module = torch.nn.Linear(3, 2)
    assert TorchModule(module, name="warp-512", device="cpu", precision="fp16").precision == "fp32"
    with pytest.raises(ValueError, match="unknown precision"):
        TorchModule(module, name="x", device="cpu", precision="int8")
    t = to_tensor(torch, np.ones((2, 2), np.float32), torch.device("cpu"))
    assert t.dtype == torch.float32 and t.shape == (2, 2)


def test_channels_last_converts_2d_convolutions_and_leaves_3d_ones() -> None:
    net = torch.nn.Sequential(torch.nn.Conv3d(2, 2, 3), torch.nn.Flatten(1, 2), torch.nn.Conv2d(2, 2, 3))
    channels_last(torch, net)  # LivePortrait mixes both; module.to(memory_format=...) refuses 5-D weights
    assert net[2].weight.is_contiguous(memory_format=torch.channels_last)
    assert net[0].weight.is_contiguous()
    x = torch.randn(1, 2, 1, 8, 8)
    assert net(torch.nn.functional.pad(x, (0, 0, 0, 0, 1, 1))).shape == (1, 2, 4, 4)


def test_cuda_without_a_gpu_is_a_one_line_device_error() -> None:
    from vivicam.errors import DeviceError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match="needs a CUDA build of PyTorch"):
        TorchModule(torch.nn.Linear(2, 2), name="x", device="cuda")


def test_warp_engine_on_the_torch_backend_renders_like_the_cpu(cpu_torch) -> None:
    from skimage import data

    from vivicam.engines.registry import create_engine
    from vivicam.engines.warp.export import EXAMPLE_MOTION
    from vivicam.realtime.post import compose
    from vivicam.xp import to_host

    cpu = create_engine("warp", backend="cpu", crop_size=256)
    on_torch = create_engine("warp", backend="torch", crop_size=256)
    assert on_torch.backend == "torch"
    state = cpu.prepare(data.astronaut())
    for motion in (Motion.neutral(), Motion(**EXAMPLE_MOTION)):
        # through the engine API and the paste-back: whatever render returns (a crop or a frame to draw)
        a = to_host(compose(state, cpu.render(state, motion)))
        b = to_host(compose(state, on_torch.render(state, motion)))
        assert b.shape == a.shape and b.dtype == np.uint8
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
        # the warp graph's stated tolerance (engines/warp/export.py: OpenCV's
        # fixed-point remap vs float sampling), and nearly identical on average
        assert diff.max() <= 12 and diff.mean() < 0.5


@pytest.mark.slow
def test_liveportrait_on_the_torch_backend_renders_like_the_cpu(cpu_torch, lp_random_weights) -> None:
    from skimage import data

    from vivicam.engines.liveportrait.engine import LivePortraitEngine
    from vivicam.xp import host_copies

    cpu = LivePortraitEngine(weights=lp_random_weights, backend="cpu", crop_size=256)
    on_torch = LivePortraitEngine(weights=lp_random_weights, backend="torch", crop_size=256)
    assert (on_torch.backend, on_torch.device) == ("torch", "cpu")
    photo = data.astronaut()
    state = cpu.prepare(photo)
    motion = Motion(rotation=np.array([4.0, 10.0, 0.0], np.float32), mouth_open=0.5)
    before = host_copies.snapshot()
    a, b = cpu.render(state, motion), on_torch.render(state, motion)
    assert host_copies.snapshot() == before  # CPU tensors: no device copy to count
    assert a.shape == b.shape == (256, 256, 3)
    assert np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 1


@pytest.mark.gpu
def test_torch_runner_on_cuda_matches_the_cpu_and_replays_its_cuda_graph() -> None:
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch has no CUDA")
    spec = tiny_spec()
    inputs = spec.make_inputs()
    ref = reference_outputs(spec, inputs)
    for precision, atol in (("fp32", 1e-3), ("fp16", 2e-2)):
        runner = TorchRunner(spec, device="cuda", precision=precision)  # compiled, CUDA graphs
        assert runner.net.compiled and runner.net.precision == precision
        first = {k: v.cpu().numpy() for k, v in runner.run_tensors(inputs).items()}
        for name in ref:
            np.testing.assert_allclose(first[name], ref[name], atol=atol)
        for scale in (1.0, 0.5, 1.0):  # replays with changing inputs; earlier outputs are not overwritten
            moved = {**inputs, "image": inputs["image"] * scale}
            got, eager = runner.run_tensors(moved), runner.run_eager(moved)
            for name in got:
                assert float((got[name] - eager[name]).abs().max()) <= atol
        np.testing.assert_array_equal(first["features"], runner.run_tensors(inputs)["features"].cpu().numpy())
