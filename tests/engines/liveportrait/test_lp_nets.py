"""vivicam's LivePortrait networks: the official architecture (names, shapes,
parameter counts), output shapes and ranges at the real resolution with
random weights, determinism, batching and the decomposed GridSample path."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from vivicam.engines.liveportrait.checkpoints import CHECKPOINT_FILES, load_networks  # noqa: E402
from vivicam.engines.liveportrait.nets.config import AppearanceConfig, LivePortraitConfig  # noqa: E402
from vivicam.engines.liveportrait.random_weights import random_network_state  # noqa: E402

# Parameter + buffer element counts of the official networks (from the original
# implementation's state_dicts); a changed architecture cannot load the checkpoints.
OFFICIAL_SIZES = {
    "appearance_feature_extractor": 837_903,
    "motion_extractor": 28_118_728,
    "warping_module": 45_536_598,
    "spade_generator": 55_438_348,
    "stitching": 45_249,
    "retarget_lip": 37_311,
    "retarget_eye": 144_703,
}

# A few official key names per network, spelled as in the published files.
OFFICIAL_KEYS = {
    "appearance_feature_extractor": ["first.conv.weight", "down_blocks.1.norm.running_var",
                                     "second.bias", "resblocks_3d.3dr5.norm2.num_batches_tracked"],
    "motion_extractor": ["detector.downsample_layers.0.1.weight", "detector.stages.2.8.grn.gamma",
                         "detector.stages.3.2.pwconv2.weight", "detector.fc_roll.bias", "detector.norm.weight"],
    "warping_module": ["dense_motion_network.hourglass.encoder.down_blocks.4.conv.weight",
                       "dense_motion_network.hourglass.decoder.up_blocks.0.norm.running_mean",
                       "dense_motion_network.mask.weight", "dense_motion_network.occlusion.bias",
                       "third.norm.weight", "fourth.weight"],
    "spade_generator": ["fc.weight", "G_middle_5.conv_1.weight_orig", "up_0.conv_s.weight_u",
                        "up_1.norm_s.mlp_shared.0.weight", "conv_img.0.bias"],
    "retarget_eye": ["mlp.0.weight", "mlp.10.bias"],
}


@pytest.fixture(scope="module")
def nets(lp_random_weights: Path):
    return load_networks(lp_random_weights)


@pytest.fixture(scope="module")
def image() -> "torch.Tensor":
    gen = torch.Generator().manual_seed(1)
    coarse = torch.rand(1, 3, 8, 8, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(256, 256), mode="bilinear", align_corners=False)


def _keypoints(batch: int, seed: int = 2) -> tuple["torch.Tensor", "torch.Tensor"]:
    gen = torch.Generator().manual_seed(seed)
    source = torch.rand(batch, 21, 3, generator=gen) * 1.4 - 0.7
    return source + 0.05 * torch.randn(batch, 21, 3, generator=gen), source


@pytest.fixture(scope="module")
def chain(nets, image):
    """One full pass at the real resolution: photo → F, M → W → G."""
    kp_driving, kp_source = _keypoints(1)
    with torch.no_grad():
        feature = nets.appearance_feature_extractor(image)
        motion = nets.motion_extractor(image)
        warped = nets.warping_module(feature, kp_driving, kp_source)
        picture = nets.spade_generator(warped["out"])
    return {"feature": feature, "motion": motion, "warped": warped, "picture": picture}


def test_network_sizes_and_key_names_are_the_official_ones(nets) -> None:
    for field, module in nets.modules().items():
        state = module.state_dict()
        assert sum(t.numel() for t in state.values()) == OFFICIAL_SIZES[field], field
        for key in OFFICIAL_KEYS.get(field, []):
            assert key in state, f"{field} lacks official key {key}"


def test_loaded_networks_are_float32_eval_mode_on_the_cpu_without_gradients(nets) -> None:
    for field, module in nets.modules().items():
        assert not module.training, field
        for name, tensor in module.state_dict().items():
            assert tensor.device.type == "cpu", f"{field}.{name} on {tensor.device}"
            if tensor.is_floating_point():
                assert tensor.dtype == torch.float32
        assert not any(p.requires_grad for p in module.parameters())


def test_appearance_volume_shape(chain) -> None:
    feature = chain["feature"]
    assert feature.shape == (1, 32, 16, 64, 64)
    assert torch.isfinite(feature).all() and feature.std() > 0.1


def test_motion_extractor_outputs(chain) -> None:
    motion = chain["motion"]
    expected = {"pitch": 66, "yaw": 66, "roll": 66, "t": 3, "exp": 63, "scale": 1, "kp": 63}
    assert {k: tuple(v.shape) for k, v in motion.items()} == {k: (1, n) for k, n in expected.items()}
    assert all(torch.isfinite(v).all() for v in motion.values())


def test_warping_outputs(chain) -> None:
    warped = chain["warped"]
    assert warped["out"].shape == (1, 256, 64, 64)
    assert warped["deformation"].shape == (1, 16, 64, 64, 3)
    occlusion = warped["occlusion_map"]
    assert occlusion.shape == (1, 1, 64, 64)
    assert 0.0 <= occlusion.min() and occlusion.max() <= 1.0
    # The flow points into the source volume: mostly inside -1..1.
    assert warped["deformation"].abs().max() < 2.0


def test_generator_writes_a_512_image_in_0_1_not_saturated(chain) -> None:
    picture = chain["picture"]
    assert picture.shape == (1, 3, 512, 512)
    assert 0.0 <= picture.min() and picture.max() <= 1.0
    # Random weights give noise, but not a blown-out or constant image.
    assert 0.1 < picture.mean() < 0.9 and picture.std() > 0.02


def test_retargeting_mlp_shapes(nets) -> None:
    with torch.no_grad():
        assert nets.stitching(torch.zeros(2, 126)).shape == (2, 65)
        assert nets.retarget_lip(torch.zeros(2, 65)).shape == (2, 63)
        assert nets.retarget_eye(torch.zeros(2, 66)).shape == (2, 63)


def test_outputs_are_deterministic(nets, image, chain) -> None:
    with torch.no_grad():
        again = nets.appearance_feature_extractor(image)
        motion = nets.motion_extractor(image)
    assert torch.equal(again, chain["feature"])
    assert all(torch.equal(motion[k], chain["motion"][k]) for k in motion)


def test_batch_items_are_independent(nets) -> None:
    """A batch of two gives each item what it gives alone (on a smaller volume:
    the warping module is fully convolutional in H and W)."""
    gen = torch.Generator().manual_seed(3)
    feature = torch.randn(2, 32, 16, 32, 32, generator=gen)
    kp_driving, kp_source = _keypoints(2)
    with torch.no_grad():
        both = nets.warping_module(feature, kp_driving, kp_source)
        second = nets.warping_module(feature[1:], kp_driving[1:], kp_source[1:])
    for key in ("out", "deformation", "occlusion_map"):
        torch.testing.assert_close(both[key][1:], second[key], rtol=1e-5, atol=1e-5)


def test_decomposed_grid_sample_matches_native(nets) -> None:
    gen = torch.Generator().manual_seed(4)
    feature = torch.randn(1, 32, 16, 32, 32, generator=gen)
    kp_driving, kp_source = _keypoints(1, seed=5)
    warping = nets.warping_module
    with torch.no_grad():
        native = warping(feature, kp_driving, kp_source)
        warping.decompose_grid_sample = True
        try:
            assert warping.dense_motion_network.decompose_grid_sample
            decomposed = warping(feature, kp_driving, kp_source)
        finally:
            warping.decompose_grid_sample = False
    for key in ("out", "deformation", "occlusion_map"):
        torch.testing.assert_close(decomposed[key], native[key], rtol=1e-4, atol=1e-5)


def test_random_weights_are_deterministic_and_match_the_written_files(lp_random_weights: Path) -> None:
    written = torch.load(lp_random_weights / CHECKPOINT_FILES["appearance_feature_extractor"], weights_only=True)
    again = random_network_state("appearance_feature_extractor", seed=0)
    assert list(written) == list(again)
    assert all(torch.equal(written[k], again[k]) for k in written)
    other = random_network_state("appearance_feature_extractor", seed=1)
    assert not torch.equal(other["first.conv.weight"], again["first.conv.weight"])

    stitching = torch.load(lp_random_weights / CHECKPOINT_FILES["stitching_retargeting_module"], weights_only=True)
    assert set(stitching) == {"retarget_shoulder", "retarget_mouth", "retarget_eye"}
    eye = random_network_state("retarget_eye", seed=0)
    assert all(torch.equal(stitching["retarget_eye"][k], eye[k]) for k in eye)


def test_unknown_network_name_is_refused() -> None:
    with pytest.raises(ValueError, match="warping_module"):
        random_network_state("warp_module")


def test_inconsistent_config_is_refused() -> None:
    with pytest.raises(ValueError, match="volume_channels"):
        AppearanceConfig(volume_channels=30)
    assert LivePortraitConfig().generator.label_channels == 256


def test_folded_spectral_norm_gives_the_same_numbers_and_a_reload_unfolds() -> None:
    from vivicam.engines.liveportrait.nets.generator import SpectralConv2d

    torch.manual_seed(0)
    conv = SpectralConv2d(8, 4, 3, padding=1)
    x = torch.randn(1, 8, 10, 10)
    with torch.no_grad():
        before = conv(x)
        conv.fold()
        assert conv.folded_weight is not None and "folded_weight" not in conv.state_dict()
        assert torch.equal(conv(x), before)
        state = {k: v + 1 if k == "bias" else v for k, v in conv.state_dict().items()}
        conv.load_state_dict(state)
        assert conv.folded_weight is None
        assert not torch.equal(conv(x), before)


def test_loaded_generator_has_folded_kernels(nets) -> None:
    from vivicam.engines.liveportrait.nets.generator import SpectralConv2d

    convs = [m for m in nets.spade_generator.modules() if isinstance(m, SpectralConv2d)]
    assert len(convs) == 18 and all(c.folded_weight is not None for c in convs)


def test_parity_benchmark_reads_a_models_yaml_without_pyyaml() -> None:
    """lp_parity builds the original networks from its models.yaml; without
    PyYAML it uses a small reader, which must get nesting, lists and types right."""
    from vivicam.benchmarks.lp_parity import _mini_yaml

    text = (
        "model_params:\n"
        "  first_params: # a comment\n"
        "    channels: 3\n"
        "    flag: True\n"
        "    nested:\n"
        "      rate: 0.5\n"
        "      name: tiny\n"
        "  second_params:\n"
        "    hidden_sizes: [128, 128, 64] # (21*3)\n"
        "    output_size: 63\n"
    )
    assert _mini_yaml(text) == {
        "model_params": {
            "first_params": {"channels": 3, "flag": True, "nested": {"rate": 0.5, "name": "tiny"}},
            "second_params": {"hidden_sizes": [128, 128, 64], "output_size": 63},
        }
    }


def test_parity_comparison_figures() -> None:
    from vivicam.benchmarks.lp_parity import compare

    a = torch.tensor([1.0, -2.0, 4.0])
    same = compare(a, a.clone())
    assert same["bit_exact"] and same["max_abs"] == 0.0 and same["finite"]
    off = compare(a + torch.tensor([0.0, 0.0, 0.004]), a)
    assert not off["bit_exact"]
    assert off["max_abs"] == pytest.approx(0.004, rel=1e-3) and off["max_rel"] == pytest.approx(0.001, rel=1e-3)
