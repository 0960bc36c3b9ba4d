"""LivePortrait's seven networks as exportable graphs, one ExportSpec each.

Fixed input / output names and shapes (batch 1), the graphs the ONNX Runtime
and TensorRT backends run:

==============================  ==========================================  =========================================
spec name (``liveportrait-…``)  inputs                                      outputs
==============================  ==========================================  =========================================
appearance_feature_extractor    image 1×3×256×256 (RGB 0..1)                feature 1×32×16×64×64
motion_extractor                image 1×3×256×256                           pitch, yaw, roll 1×66 (bin logits),
                                                                            t 1×3, exp 1×63, scale 1×1, kp 1×63
warping_module                  feature 1×32×16×64×64, kp_driving 1×21×3,   warped 1×256×64×64
                                kp_source 1×21×3
spade_generator                 warped 1×256×64×64                          image 1×3×512×512 (0..1)
stitching                       features 1×126 (source kp, driving kp)      delta 1×65
retarget_eye                    features 1×66 (source kp, 3 eye ratios)     delta 1×63
retarget_lip                    features 1×65 (source kp, 2 lip ratios)     delta 1×63
==============================  ==========================================  =========================================

The warping module samples 5-D volumes: by default it is exported with the
native 5-D GridSample of opset 20 (ONNX Runtime, TensorRT ≥ 11.2);
``decompose_grid_sample=True`` exports it with 4-D GridSample only (every
TensorRT), spec name ``liveportrait-warping_module-gs4d``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from vivicam.engines.build.spec import ExportSpec
from vivicam.errors import WeightsError

ENGINE = "liveportrait"
MODULES = (
    "appearance_feature_extractor",
    "motion_extractor",
    "warping_module",
    "spade_generator",
    "stitching",
    "retarget_eye",
    "retarget_lip",
)
MOTION_OUTPUTS = ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")
OUTPUTS: dict[str, tuple[str, ...]] = {
    "appearance_feature_extractor": ("feature",),
    "motion_extractor": MOTION_OUTPUTS,
    "warping_module": ("warped",),
    "spade_generator": ("image",),
    "stitching": ("delta",),
    "retarget_eye": ("delta",),
    "retarget_lip": ("delta",),
}
# (atol, rtol) ONNX Runtime (CPU, fp32) must meet against PyTorch; measured with
# random weights at about a tenth of these (docs/liveportrait.md).
TOLERANCE: dict[str, tuple[float, float]] = {
    "appearance_feature_extractor": (1e-3, 1e-3),
    "motion_extractor": (1e-3, 1e-3),
    "warping_module": (1e-3, 1e-3),
    "spade_generator": (1e-3, 1e-3),
    "stitching": (1e-4, 1e-4),
    "retarget_eye": (1e-4, 1e-4),
    "retarget_lip": (1e-4, 1e-4),
}
# TensorRT FP16 keeps these ONNX nodes in FP32 (name substrings): the whole
# motion extractor (its pose bins and keypoints drift visibly in FP16, as
# FasterLivePortrait and the original's users report), and every grid sample
# (coordinates near ±1 lose sub-voxel precision in FP16; the original runs
# grid_sample in FP32 under autocast too).
FP32_LAYERS: dict[str, tuple[str, ...]] = {
    "motion_extractor": ("/motion_extractor/", "Identity"),  # Identity: constant-folded output copies
    "warping_module": ("GridSample", "GatherElements", "Exp"),
}
NATIVE_OPSET = 20  # GridSample on 5-D inputs
PORTABLE_OPSET = 17  # 4-D GridSample (16+); what older TensorRT parses

WEIGHTS_NEEDED = (
    "the liveportrait engine needs --weights DIR (the folder with the official LivePortrait checkpoints)"
)


GRID_SAMPLE_5D_TENSORRT = (11, 2)  # first TensorRT release that parses 5-D GridSample


def tensorrt_needs_decomposition() -> bool:
    """True when a TensorRT is installed that may not parse 5-D GridSample:
    full TensorRT older than 11.2, or TensorRT for RTX (whose 1.x releases do
    not document it). False without any TensorRT (ONNX Runtime has it)."""
    import importlib

    def installed(name: str) -> Any:
        try:
            return importlib.import_module(name)
        except (ImportError, OSError):  # absent, or its CUDA libraries are
            return None

    if installed("tensorrt_rtx") is not None:
        return True
    trt = installed("tensorrt")
    if trt is None:
        return False
    try:
        version = tuple(int(p) for p in str(trt.__version__).split(".")[:2])
    except (AttributeError, ValueError):
        return True
    return version < GRID_SAMPLE_5D_TENSORRT


def spec_name(module: str, *, decompose_grid_sample: bool = False) -> str:
    suffix = "-gs4d" if decompose_grid_sample and module == "warping_module" else ""
    return f"{ENGINE}-{module}{suffix}"


def export_specs(
    *, weights: str | Path | None = None, decompose_grid_sample: bool | None = None, **_: Any
) -> list[ExportSpec]:
    """One ExportSpec per network (order of :data:`MODULES`), for the official
    checkpoints in ``weights``. Only the weights folder's fingerprint is read
    here; the networks load when a spec's ``make_module`` is called.

    ``decompose_grid_sample=None`` decomposes when an installed TensorRT could
    not parse 5-D GridSample (:func:`tensorrt_needs_decomposition`), so
    ``vivicam build`` makes plans that build on this machine."""
    if weights is None:
        raise WeightsError(WEIGHTS_NEEDED)
    if decompose_grid_sample is None:
        decompose_grid_sample = tensorrt_needs_decomposition()
    folder = Path(weights).expanduser()
    fingerprint = weights_fingerprint(folder)
    return [_spec(module, folder, fingerprint, decompose_grid_sample) for module in MODULES]


def _spec(module: str, folder: Path, fingerprint: str, decompose: bool) -> ExportSpec:
    native_5d = module == "warping_module" and not decompose
    return ExportSpec(
        name=spec_name(module, decompose_grid_sample=decompose),
        make_module=lambda: module_adapter(module, _networks(str(folder)), decompose_grid_sample=decompose),
        make_inputs=lambda: example_inputs(module),
        output_names=OUTPUTS[module],
        fp32_layers=FP32_LAYERS.get(module, ()),
        tolerance=TOLERANCE[module],
        opset=NATIVE_OPSET if native_5d else PORTABLE_OPSET,
        metadata={
            "weights": fingerprint,
            "grid_sample": "4d" if decompose else "5d",
            "code": _code_fingerprint(),
        },
    )


def weights_fingerprint(folder: Path) -> str:
    """A short hash of the checkpoint files' names, sizes and modification
    times (cheap: the files are ~0.5 GB; a changed file changes the key).
    Raises WeightsError for a missing folder or file."""
    from vivicam.engines.liveportrait.checkpoints import (
        CHECKPOINT_FILES,
        checkpoint_path,
        find_weights_root,
    )

    root = find_weights_root(folder)
    digest = hashlib.sha256()
    for name in CHECKPOINT_FILES:
        path = checkpoint_path(root, name)
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """Hash of the source that defines the graphs (the networks, the grid
    sampling, the adapters here): editing any of it re-exports the graphs."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*here.glob("nets/*.py"), here / "gridsample.py", here / "export.py"]):
        digest.update(path.name.encode() + b":" + path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=2)
def _networks(folder: str) -> Any:
    from vivicam.engines.liveportrait.checkpoints import load_networks

    return load_networks(Path(folder))


def module_adapter(module: str, nets: Any, *, decompose_grid_sample: bool = False) -> Any:
    """The torch module for ``module`` with positional inputs and a tuple of
    outputs in :data:`OUTPUTS` order, in eval mode. The CPU backend runs these
    same adapters, so the exported graphs and the reference are one code."""
    torch = _torch()
    nn = torch.nn

    class Appearance(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.appearance_feature_extractor = nets.appearance_feature_extractor

        def forward(self, image):  # noqa: ANN001 - torch tensors
            return (self.appearance_feature_extractor(image),)

    class Motion(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.motion_extractor = nets.motion_extractor

        def forward(self, image):  # noqa: ANN001
            out = self.motion_extractor(image)
            return tuple(out[name] for name in MOTION_OUTPUTS)

    class Warping(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.warping_module = nets.warping_module
            self.decompose_grid_sample = decompose_grid_sample

        def forward(self, feature, kp_driving, kp_source):  # noqa: ANN001
            # Set per call: adapters of both kinds may share one loaded network.
            self.warping_module.decompose_grid_sample = self.decompose_grid_sample
            return (self.warping_module(feature, kp_driving, kp_source)["out"],)

    class Generator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.spade_generator = nets.spade_generator

        def forward(self, warped):  # noqa: ANN001
            return (self.spade_generator(warped),)

    class MLP(nn.Module):
        def __init__(self, mlp: Any) -> None:
            super().__init__()
            self.mlp = mlp

        def forward(self, features):  # noqa: ANN001
            return (self.mlp(features),)

    if module == "warping_module":
        adapter: Any = Warping()
    elif module in ("stitching", "retarget_eye", "retarget_lip"):
        adapter = MLP(getattr(nets, module))
    else:
        adapter = {
            "appearance_feature_extractor": Appearance,
            "motion_extractor": Motion,
            "spade_generator": Generator,
        }[module]()
    return adapter.eval()


def _torch() -> Any:
    from vivicam.optional import require

    return require("torch")


def example_inputs(module: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic, realistic example inputs (the fixed shapes the graphs are
    built for): a real face image for the extractors, plausible keypoints and
    ratios for the rest."""
    rng = np.random.default_rng(seed)
    kp_source = _example_keypoints(rng)
    kp_driving = (kp_source + rng.normal(0.0, 0.03, kp_source.shape)).astype(np.float32)
    if module in ("appearance_feature_extractor", "motion_extractor"):
        return {"image": _example_face()}
    if module == "warping_module":
        feature = rng.normal(0.0, 1.0, (1, 32, 16, 64, 64)).astype(np.float32)
        return {"feature": feature, "kp_driving": kp_driving, "kp_source": kp_source}
    if module == "spade_generator":
        return {"warped": np.abs(rng.normal(0.0, 1.0, (1, 256, 64, 64))).astype(np.float32)}
    flat = kp_source.reshape(1, -1)
    extra = {
        "stitching": kp_driving.reshape(1, -1),
        "retarget_eye": np.array([[0.32, 0.30, 0.12]], np.float32),
        "retarget_lip": np.array([[0.02, 0.45]], np.float32),
    }[module]
    return {"features": np.concatenate([flat, extra], axis=1).astype(np.float32)}


def _example_keypoints(rng: np.random.Generator) -> np.ndarray:
    kp = rng.uniform(-0.6, 0.6, (1, 21, 3))
    kp[..., 2] *= 0.4  # faces are shallower than wide
    return kp.astype(np.float32)


@lru_cache(maxsize=1)
def _example_face() -> np.ndarray:
    import cv2
    from skimage import data

    photo = data.astronaut()  # public domain; the face is in the upper middle
    crop = np.ascontiguousarray(photo[10:310, 90:390])
    small = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray((small.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])
