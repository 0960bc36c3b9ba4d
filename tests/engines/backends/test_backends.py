"""Backend selection (with the machine's GPU/TensorRT/ONNX Runtime probes
replaced), runners on ONNX Runtime and the reference, `vivicam build` errors
without a GPU, and (on a GPU box only) the TensorRT runner itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiny_graph import tiny_spec  # noqa: E402

from vivicam.engines.backends import doctor_lines, load_runner, probe, select_backend  # noqa: E402
from vivicam.errors import DeviceError, InputError, MissingExtraError  # noqa: E402

RTX = probe.GpuInfo("NVIDIA GeForce RTX 4070", "8.9", 12.0, "12.4", "12.2")
TRT_RTX = probe.TensorRTInfo("tensorrt_rtx", "1.2.0")
ORT_CPU = ("1.32.0", ("CPUExecutionProvider",))
ORT_CUDA = ("1.32.0", ("CUDAExecutionProvider", "CPUExecutionProvider"))
H100 = probe.GpuInfo("NVIDIA H100 80GB HBM3", "9.0", 79.2, "13.0", "13.0")
A100 = probe.GpuInfo("NVIDIA A100-SXM4-80GB", "8.0", 79.2, "12.4", "12.4")
TRT_FULL = probe.TensorRTInfo("tensorrt", "10.13.0")
TORCH_CUDA = probe.TorchInfo("2.11.0+cu130", "13.0", "")
TORCH_CPU = probe.TorchInfo("2.13.0+cpu", None, "this PyTorch is a CPU-only build")


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Set what the probes report: ``machine(gpu=..., trt=..., ort=...)``."""
    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path / "cache"))

    def configure(gpu=None, trt=(), ort=ORT_CPU, reason="no CUDA device found", torch=TORCH_CPU):
        monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(gpu, "" if gpu else reason))
        monkeypatch.setattr(probe, "probe_tensorrt", lambda: tuple(trt))
        monkeypatch.setattr(probe, "probe_onnxruntime", lambda: ort)
        monkeypatch.setattr(probe, "probe_torch", lambda: torch)

    return configure


def test_auto_without_gpu_falls_back_to_the_cpu_and_says_why(machine) -> None:
    machine(reason="CuPy is not installed (pip install 'vivicam[gpu]'); nvidia-smi finds no GPU")
    choice = select_backend("auto")
    assert choice.name == "cpu"
    assert "no usable NVIDIA GPU" in choice.reason and "CuPy is not installed" in choice.reason


def test_auto_picks_tensorrt_with_a_gpu_and_tensorrt(machine) -> None:
    machine(gpu=RTX, trt=[TRT_RTX])
    choice = select_backend("auto")
    assert choice.name == "tensorrt"
    assert choice.reason == "TensorRT for RTX 1.2.0 on NVIDIA GeForce RTX 4070 (sm_89)"
    assert choice.flavour == "tensorrt_rtx"


def test_auto_walk_on_a_data_centre_gpu_uses_torch_and_says_why(machine) -> None:
    machine(gpu=H100, trt=[TRT_RTX], torch=TORCH_CUDA)
    choice = select_backend("auto")
    assert (choice.name, choice.device) == ("torch", "cuda")
    assert choice.reason == "TensorRT for RTX does not support NVIDIA H100 80GB HBM3 (sm_90): using torch-cuda"
    machine(gpu=A100, trt=[TRT_RTX], torch=TORCH_CUDA)  # 8.0 is in the RTX enum but not supported
    assert select_backend("auto").name == "torch"
    machine(gpu=H100, torch=TORCH_CUDA)  # nothing refused on the way: just what runs
    assert select_backend("auto").reason == "PyTorch 2.11.0+cu130 (CUDA 13.0) on NVIDIA H100 80GB HBM3 (sm_90)"


def test_auto_walk_order_full_tensorrt_then_rtx_then_torch_then_ort_then_cpu(machine) -> None:
    machine(gpu=H100, trt=[TRT_FULL, TRT_RTX], torch=TORCH_CUDA, ort=ORT_CUDA)
    choice = select_backend("auto")
    assert (choice.name, choice.flavour) == ("tensorrt", "tensorrt")  # full TensorRT runs on an H100
    machine(gpu=RTX, trt=[TRT_RTX], torch=TORCH_CUDA, ort=ORT_CUDA)
    assert (select_backend("auto").name, select_backend("auto").flavour) == ("tensorrt", "tensorrt_rtx")
    machine(gpu=H100, trt=[TRT_RTX], torch=None, ort=ORT_CUDA)
    choice = select_backend("auto")
    assert choice.name == "onnxruntime" and choice.reason.startswith("TensorRT for RTX does not support")
    machine(gpu=None, trt=[TRT_RTX], torch=TORCH_CPU, ort=ORT_CPU)
    assert select_backend("auto").name == "cpu"


def test_explicit_tensorrt_on_an_unsupported_gpu_says_so_and_points_to_torch(machine) -> None:
    machine(gpu=H100, trt=[TRT_RTX], torch=TORCH_CUDA)
    with pytest.raises(DeviceError, match=r"TensorRT for RTX does not support NVIDIA H100 80GB HBM3 \(sm_90\).*--backend torch"):
        select_backend("tensorrt")


def test_explicit_torch_runs_on_cuda_or_the_cpu(machine) -> None:
    machine(gpu=H100, torch=TORCH_CUDA)
    assert select_backend("torch").device == "cuda"
    machine(torch=TORCH_CPU)
    choice = select_backend("torch")
    assert (choice.name, choice.device) == ("torch", "cpu") and "CPU-only build" in choice.reason
    machine(torch=None)
    with pytest.raises(MissingExtraError, match="needs PyTorch"):
        select_backend("torch")


def test_rtx_support_table_and_the_real_module_enum() -> None:
    assert [probe.rtx_supports(cc) for cc in ("7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "12.0")] == [
        True, False, True, True, False, False, True
    ]
    trt = pytest.importorskip("tensorrt_rtx")
    assert probe.rtx_supports("8.9", trt) and not probe.rtx_supports("9.0", trt) and not probe.rtx_supports("8.0", trt)


def test_two_cuda_runtimes_are_reported() -> None:
    found = probe.cuda_runtimes({"cupy-cuda12x": "14.2.0", "tensorrt-rtx-cu12-libs": "1.7.1"}, TORCH_CUDA)
    assert sorted(found) == [12, 13] and found[13] == ["torch 2.11.0+cu130"]
    assert list(probe.cuda_runtimes({"cupy-cuda13x": "14.2.0", "nvidia-cuda-runtime": "13.0.96"}, TORCH_CUDA)) == [13]


def test_auto_uses_onnxruntime_cuda_when_tensorrt_is_missing(machine) -> None:
    machine(gpu=RTX, ort=ORT_CUDA, torch=None)
    choice = select_backend("auto")
    assert choice.name == "onnxruntime" and choice.reason == "ONNX Runtime with its CUDA provider"
    machine(gpu=RTX, ort=ORT_CPU)
    choice = select_backend("auto")
    assert choice.name == "cpu" and "TensorRT is not installed" in choice.reason and "CPU-only build" in choice.reason


def test_auto_respects_what_the_engine_offers(machine) -> None:
    machine(gpu=RTX, trt=[TRT_RTX], ort=ORT_CUDA)
    assert select_backend("auto", ("cpu",)).name == "cpu"
    assert select_backend("auto", ("cpu", "onnxruntime")).name == "onnxruntime"


def test_auto_on_a_machine_without_a_gpu_device_loads_no_gpu_library() -> None:
    """Importing PyTorch to learn there is no GPU took a second of every CPU
    render's start-up (TensorRT and ONNX Runtime another 0.1 s); without a
    GPU device node the answer needs no import."""
    import subprocess
    import sys

    if not probe.no_gpu_device():
        pytest.skip("this machine has a GPU device node")
    code = ("import sys; from vivicam.engines.backends import probe, select_backend; "
            "c = select_backend('auto'); t = probe.probe_torch(); "
            "print(c.name, t and t.cuda, *sorted(m for m in ('torch', 'cupy', 'onnxruntime', 'tensorrt', "
            "'tensorrt_rtx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["cpu", "None"]  # and none of the GPU libraries imported


def test_explicit_tensorrt_without_gpu_or_tensorrt_is_one_clear_line(machine) -> None:
    machine(trt=[TRT_RTX])
    with pytest.raises(DeviceError, match="^the tensorrt backend needs an NVIDIA GPU: no CUDA device found$"):
        select_backend("tensorrt")
    machine(gpu=RTX)
    with pytest.raises(MissingExtraError, match=r"needs TensorRT: pip install 'vivicam\[gpu\]'"):
        select_backend("tensorrt")


def test_explicit_onnxruntime_without_it_names_the_extra(machine) -> None:
    machine(ort=None)
    with pytest.raises(MissingExtraError, match=r"pip install 'vivicam\[export\]'"):
        select_backend("onnxruntime")


def test_unknown_or_unoffered_backend_is_an_input_error(machine) -> None:
    machine()
    with pytest.raises(InputError, match="unknown backend 'cuda'"):
        select_backend("cuda")
    with pytest.raises(InputError, match="no 'onnxruntime' backend"):
        select_backend("onnxruntime", ("cpu",))


def test_doctor_lines_tell_the_whole_story(machine) -> None:
    machine(gpu=RTX, trt=[TRT_RTX], ort=ORT_CUDA)
    text = "\n".join(doctor_lines())
    assert "GPU: NVIDIA GeForce RTX 4070 (compute 8.9, 12 GiB)" in text
    assert "TensorRT: TensorRT for RTX 1.2.0" in text
    assert "CUDAExecutionProvider" in text
    assert "backend auto → tensorrt (TensorRT for RTX 1.2.0 on NVIDIA GeForce RTX 4070 (sm_89))" in text
    assert "auto walk 1. TensorRT: no (TensorRT is not installed)" in text
    assert "auto walk 3. torch-cuda: no (PyTorch 2.13.0+cpu: this PyTorch is a CPU-only build)" in text
    machine(gpu=H100, trt=[TRT_RTX], torch=TORCH_CUDA)
    text = "\n".join(doctor_lines())
    assert "auto walk 2. TensorRT for RTX: no (TensorRT for RTX does not support NVIDIA H100 80GB HBM3 (sm_90)" in text
    assert "backend auto → torch (TensorRT for RTX does not support NVIDIA H100 80GB HBM3 (sm_90): using torch-cuda)" in text
    machine()
    text = "\n".join(doctor_lines())
    assert "GPU: none usable (no CUDA device found)" in text
    assert "backend auto → cpu (no usable NVIDIA GPU" in text


# ---- runners ------------------------------------------------------------------


def test_onnxruntime_runner_matches_the_torch_module(machine) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    machine()
    spec = tiny_spec()
    inputs = spec.make_inputs()
    with load_runner(spec, "onnxruntime", "fp16") as runner:  # FP32 graph on the CPU
        assert runner.input_names == ("image", "grid") and runner.output_names == ("features", "mean")
        out = runner.run(inputs)
    ref = load_runner(spec, "cpu").run(inputs)
    for name in spec.output_names:
        np.testing.assert_allclose(out[name], ref[name], atol=1e-5)


def test_runners_accept_torch_tensors_and_check_inputs_once(machine) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    machine()
    spec = tiny_spec()
    inputs = spec.make_inputs()
    runner = load_runner(spec, "onnxruntime", "fp32")
    with pytest.raises(KeyError, match="missing inputs \\['grid'\\]"):
        runner.run({"image": inputs["image"]})
    with pytest.raises(ValueError, match="input 'grid' has shape \\(1, 8, 8, 2\\)"):
        runner.run({"image": inputs["image"], "grid": np.zeros((1, 8, 8, 2), np.float32)})
    as_tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    np.testing.assert_allclose(runner.run(as_tensors)["mean"], runner.run(inputs)["mean"])


def test_auto_runner_without_gpu_is_the_reference(machine) -> None:
    pytest.importorskip("torch")
    machine()
    runner = load_runner(tiny_spec(), "auto")
    assert runner.backend == "cpu"
    assert runner.run(tiny_spec().make_inputs())["features"].shape == (1, 4, 16, 16)


def test_tensorrt_runner_without_gpu_fails_with_one_line(machine) -> None:
    machine(trt=[TRT_RTX])
    with pytest.raises(DeviceError, match="needs an NVIDIA GPU") as err:
        load_runner(tiny_spec(), "tensorrt", "fp16")
    assert "\n" not in str(err.value)


def test_vivicam_build_tensorrt_without_gpu_exits_nonzero(machine, capsys: pytest.CaptureFixture) -> None:
    from vivicam.realtime.cli.main import main

    machine()
    assert main(["build", "--backend", "tensorrt"]) == DeviceError.exit_code
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vivicam build: error: the tensorrt backend needs an NVIDIA GPU: no CUDA device found"]


def test_vivicam_build_auto_without_gpu_explains_there_is_nothing_to_build(machine, capsys) -> None:
    from vivicam.realtime.cli.main import main

    machine()
    assert main(["build"]) == 0
    out = capsys.readouterr().out
    assert "backend cpu (no usable NVIDIA GPU: no CUDA device found)" in out
    assert "--backend onnxruntime" in out


def test_vivicam_build_onnxruntime_exports_and_checks(machine, monkeypatch, capsys) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from vivicam.engines.build import engine as build_engine_mod
    from vivicam.realtime.cli.main import main

    machine()
    monkeypatch.setattr(build_engine_mod, "engine_specs", lambda name, weights=None: [tiny_spec()])
    assert main(["build", "--backend", "onnxruntime"]) == 0
    out = capsys.readouterr().out
    assert "ONNX tiny:" in out and "tiny [onnxruntime-cpu fp32]" in out and "all within tolerance" in out


# ---- the real TensorRT runner (GPU machines only) -------------------------------


@pytest.mark.gpu
def test_tensorrt_runner_matches_reference_and_replays_as_cuda_graph(tmp_path, monkeypatch) -> None:
    cp = pytest.importorskip("cupy")
    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path / "cache"))
    probe.clear_probes()
    try:
        select_backend("tensorrt")
    except (DeviceError, MissingExtraError) as exc:  # e.g. an H100 with TensorRT for RTX only
        pytest.skip(f"no TensorRT for this GPU: {exc}")
    spec = tiny_spec()
    inputs = spec.make_inputs()
    ref = load_runner(spec, "cpu").run(inputs)
    for precision, atol in (("fp32", 1e-3), ("fp16", 2e-2)):
        runner = load_runner(spec, "tensorrt", precision)
        first = {k: cp.asnumpy(v) for k, v in runner.run(inputs).items()}
        for name in spec.output_names:
            np.testing.assert_allclose(first[name], ref[name], atol=atol)
        device_inputs = {k: cp.asarray(v) for k, v in inputs.items()}  # device → device path
        for _ in range(4):
            again = runner.run(device_inputs)
        for name in spec.output_names:
            np.testing.assert_allclose(cp.asnumpy(again[name]), first[name], atol=1e-6)
        runner.close()
