"""Every way a LivePortrait weights folder can be wrong gets a one-line
WeightsError naming the file and what was expected; good folders load in every
accepted layout; nothing in a checkpoint can run code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from vivicam.engines.liveportrait.checkpoints import (  # noqa: E402
    CHECKPOINT_FILES,
    check_weights_dir,
    find_weights_root,
    load_networks,
)
from vivicam.engines.liveportrait.random_weights import main as random_weights_main  # noqa: E402
from vivicam.errors import WeightsError  # noqa: E402

APPEARANCE = CHECKPOINT_FILES["appearance_feature_extractor"]
STITCHING = CHECKPOINT_FILES["stitching_retargeting_module"]


def clone(weights: Path, dest: Path) -> Path:
    """A weights folder whose files are links to ``weights``' (cheap to make;
    replace one file to break it)."""
    for rel in CHECKPOINT_FILES.values():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).symlink_to(weights / rel)
    return dest


def replace(folder: Path, rel: str, content: object) -> Path:
    path = folder / rel
    path.unlink()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


def load_error(folder: Path) -> str:
    with pytest.raises(WeightsError) as info:
        load_networks(folder)
    message = str(info.value)
    assert "\n" not in message, "errors must be one line"
    return message


class RunsCode:
    """Unpickling this calls os.makedirs(marker): what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


# ---------------------------------------------------------------- folders

def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load_networks(tmp_path / "nowhere")


def test_folder_without_base_models(tmp_path: Path) -> None:
    message = load_error(tmp_path)
    assert str(tmp_path) in message and "base_models" in message and "pretrained_weights/liveportrait" in message


def test_a_file_instead_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "weights.pth").write_bytes(b"x")
    with pytest.raises(WeightsError, match="not a folder"):
        find_weights_root(tmp_path / "weights.pth")


def test_official_download_layouts_are_all_accepted(lp_random_weights: Path, tmp_path: Path) -> None:
    inner = clone(lp_random_weights, tmp_path / "checkout" / "pretrained_weights" / "liveportrait")
    for given in (inner, inner.parent, inner.parent.parent):
        assert find_weights_root(given) == inner


# ---------------------------------------------------------------- files

def test_missing_file_is_named_with_the_expected_list(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    (folder / CHECKPOINT_FILES["warping_module"]).unlink()
    message = load_error(folder)
    assert "warping_module.pth is missing" in message
    assert all(rel in message for rel in CHECKPOINT_FILES.values())


def test_empty_file(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    path = replace(folder, APPEARANCE, b"")
    message = load_error(folder)
    assert str(path) in message and "empty" in message


def test_truncated_file(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    whole = (lp_random_weights / APPEARANCE).read_bytes()
    path = replace(folder, APPEARANCE, whole[: len(whole) // 2])
    message = load_error(folder)
    assert str(path) in message and "truncated or corrupt" in message


def test_not_a_checkpoint_at_all(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    path = replace(folder, STITCHING, b"<html>404 Not Found</html>\n")
    message = load_error(folder)
    assert str(path) in message and "truncated or corrupt" in message


def test_pickle_with_code_is_refused_and_the_code_does_not_run(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path / "weights")
    marker = tmp_path / "code_ran"
    state = torch.load(lp_random_weights / APPEARANCE, weights_only=True)
    state["payload"] = RunsCode(marker)
    path = replace(folder, APPEARANCE, state)
    message = load_error(folder)
    assert f"refusing to load {path}: it contains Python objects, not just tensors" in message
    assert "os.makedirs" in message
    assert not marker.exists(), "unpickling ran the checkpoint's code"


def test_a_file_that_is_not_a_state_dict(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    replace(folder, APPEARANCE, [torch.zeros(3)])
    assert "not a state_dict" in load_error(folder)


# ---------------------------------------------------------------- architecture

def test_renamed_keys_are_reported_with_counts_and_names(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    state = torch.load(lp_random_weights / APPEARANCE, weights_only=True)
    renamed = {k.replace("first.", "stem."): v for k, v in state.items()}
    path = replace(folder, APPEARANCE, renamed)
    message = load_error(folder)
    assert str(path) in message
    assert "7 of 107 expected tensors missing (first.conv.weight" in message
    assert "7 unexpected (stem.conv.weight" in message


def test_a_tensor_of_the_wrong_shape_is_named(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    state = torch.load(lp_random_weights / APPEARANCE, weights_only=True)
    state["second.weight"] = torch.zeros(256, 256, 1, 1)
    replace(folder, APPEARANCE, state)
    message = load_error(folder)
    assert "'second.weight' has shape (256, 256, 1, 1), expected (512, 256, 1, 1)" in message


def test_swapped_files_do_not_load(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    (folder / APPEARANCE).unlink()
    (folder / APPEARANCE).symlink_to(lp_random_weights / CHECKPOINT_FILES["motion_extractor"])
    message = load_error(folder)
    assert "appearance_feature_extractor.pth does not match" in message and "missing" in message


def test_stitching_file_without_a_sub_dict(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    content = torch.load(lp_random_weights / STITCHING, weights_only=True)
    del content["retarget_eye"]
    replace(folder, STITCHING, content)
    message = load_error(folder)
    assert "lacks the 'retarget_eye' sub-dict" in message


# ---------------------------------------------------------------- accepted variants

def test_ddp_module_prefixes_load(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    base = torch.load(lp_random_weights / APPEARANCE, weights_only=True)
    replace(folder, APPEARANCE, {f"module.{k}": v for k, v in base.items()})
    stitching = torch.load(lp_random_weights / STITCHING, weights_only=True)
    prefixed = {name: {f"module.{k}": v for k, v in sd.items()} for name, sd in stitching.items()}
    replace(folder, STITCHING, prefixed)
    nets = load_networks(folder)
    assert torch.equal(nets.appearance_feature_extractor.state_dict()["first.conv.weight"], base["first.conv.weight"])
    assert torch.equal(nets.retarget_lip.state_dict()["mlp.0.weight"], stitching["retarget_mouth"]["mlp.0.weight"])


def test_safetensors_beside_the_pth_are_preferred(lp_random_weights: Path, tmp_path: Path) -> None:
    save_file = pytest.importorskip("safetensors.torch").save_file
    folder = clone(lp_random_weights, tmp_path)
    base = torch.load(lp_random_weights / APPEARANCE, weights_only=True)
    doubled = {k: (v * 2 if v.is_floating_point() else v) for k, v in base.items()}
    save_file(doubled, str((folder / APPEARANCE).with_suffix(".safetensors")))
    stitching = torch.load(lp_random_weights / STITCHING, weights_only=True)
    flat = {f"{name}.{k}": v for name, sd in stitching.items() for k, v in sd.items()}
    save_file(flat, str((folder / STITCHING).with_suffix(".safetensors")))
    nets = load_networks(folder)
    assert torch.equal(nets.appearance_feature_extractor.state_dict()["second.weight"], doubled["second.weight"])
    assert torch.equal(nets.retarget_eye.state_dict()["mlp.10.bias"], stitching["retarget_eye"]["mlp.10.bias"])

    safe = (folder / APPEARANCE).with_suffix(".safetensors")
    safe.write_bytes(safe.read_bytes()[:1000])
    message = load_error(folder)
    assert str(safe) in message and "truncated or corrupt" in message


# ---------------------------------------------------------------- doctor

def test_check_weights_dir_reports_each_file(lp_random_weights: Path, tmp_path: Path) -> None:
    good = check_weights_dir(lp_random_weights)
    assert good[0] == f"LivePortrait weights: {lp_random_weights}"
    assert sum(line.startswith("  ok   ") for line in good) == len(CHECKPOINT_FILES)
    assert "all checkpoints match" in good[-1]

    folder = clone(lp_random_weights, tmp_path / "broken")
    replace(folder, STITCHING, b"")
    lines = check_weights_dir(folder)
    failed = [line for line in lines if "FAIL" in line]
    assert len(failed) == 1 and STITCHING in failed[0] and "empty" in failed[0]
    assert "1 of 5 checkpoint files have problems" in lines[-1]

    assert "does not exist" in check_weights_dir(tmp_path / "nowhere")[0]


@pytest.mark.slow
def test_random_weights_cli_writes_a_loadable_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert random_weights_main([str(tmp_path / "w"), "--seed", "3"]) == 0
    assert str(tmp_path / "w") in capsys.readouterr().out
    assert "all checkpoints match" in check_weights_dir(tmp_path / "w")[-1]
    assert not list((tmp_path / "w").rglob("*.partial"))


def test_half_precision_checkpoints_load_as_float32(lp_random_weights: Path, tmp_path: Path) -> None:
    folder = clone(lp_random_weights, tmp_path)
    base = torch.load(lp_random_weights / APPEARANCE, weights_only=True)
    replace(folder, APPEARANCE, {k: v.half() if v.is_floating_point() else v for k, v in base.items()})
    weight = load_networks(folder).appearance_feature_extractor.state_dict()["first.conv.weight"]
    assert weight.dtype == torch.float32
    torch.testing.assert_close(weight, base["first.conv.weight"], rtol=1e-3, atol=1e-3)


def test_a_gpu_this_torch_cannot_use_is_a_device_error(lp_random_weights: Path) -> None:
    from vivicam.errors import DeviceError, InputError

    if torch.cuda.is_available():
        pytest.skip("this torch sees a CUDA GPU")
    with pytest.raises(DeviceError, match="sees no CUDA GPU"):
        load_networks(lp_random_weights, device="cuda")
    with pytest.raises(InputError, match="unknown torch device"):
        load_networks(lp_random_weights, device="gpu0")
