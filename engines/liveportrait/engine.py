"""The ``liveportrait`` engine: the official LivePortrait networks (weights the
user downloads) behind vivicam's Engine seam.

``prepare(photo)`` finds and crops the face and runs the appearance and motion
extractors once; ``render(state, motion)`` animates it every frame — from the
driver's own face when the pipeline attaches driver frames (this engine's
``capabilities.driver_frames``), else from the numbers in ``Motion`` (idle / demo).

Backends: ``cpu`` runs the PyTorch networks; ``torch`` runs them on CUDA
(weights moved once, half precision, compiled with CUDA graphs) or eager on
the CPU without CUDA; ``onnxruntime`` and ``tensorrt`` run each network's
exported graph (:mod:`vivicam.engines.liveportrait.export`) through
:func:`vivicam.engines.backends.load_runner`. On a GPU the rendered crop stays
on the device (a CUDA tensor or CuPy array) for post-processing; only the
small keypoint outputs are read back per frame (the keypoint math is NumPy).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vivicam.engines.base import DEFAULT_PRECISION, PRECISIONS, AvatarState, BackendName, Capabilities
from vivicam.engines.liveportrait import crop as cropping
from vivicam.engines.liveportrait import export as lp_export
from vivicam.engines.liveportrait import pipeline as lp
from vivicam.errors import InputError, WeightsError
from vivicam.types import DriverFrame, Motion

log = logging.getLogger(__name__)



@dataclass(frozen=True, eq=False)
class LivePortraitAvatar(AvatarState):
    """A prepared avatar: the crop placement plus the networks' per-avatar results."""

    source: Any = None  # pipeline.SourceFace
    note: str | None = None  # e.g. which of several faces was used


class LivePortraitEngine:
    """See the module docstring. ``crop_size`` is the side of the rendered crop
    (the generator writes 512², resized when another size is asked for)."""

    name: ClassVar[str] = "liveportrait"
    backends: ClassVar[tuple[BackendName, ...]] = ("cpu", "onnxruntime", "tensorrt", "torch")
    capabilities: ClassVar[Capabilities] = Capabilities(backends=backends, needs_weights=True, driver_frames=True)

    def __init__(
        self,
        *,
        backend: str = "auto",
        weights: str | Path | None = None,
        precision: str = DEFAULT_PRECISION,
        crop_size: int = 512,
        stitching: bool = True,
        retarget_eyes: bool = True,
        retarget_lips: bool = True,
    ) -> None:
        if weights is None:
            raise WeightsError(lp_export.WEIGHTS_NEEDED)
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision '{precision}'; choose one of: {', '.join(PRECISIONS)}")
        if not 64 <= int(crop_size) <= 2048:
            raise InputError(f"crop size {crop_size} is out of range (64..2048)")
        from vivicam.engines.liveportrait.checkpoints import find_weights_root

        self.weights = find_weights_root(weights)  # WeightsError for a bad folder
        self.precision = precision
        self.crop_size = int(crop_size)
        self.stitching = stitching
        self.retarget_eyes = retarget_eyes
        self.retarget_lips = retarget_lips
        choice = _choose_backend(backend, self.backends)
        self.backend, self.backend_reason, self.device = choice.name, choice.reason, choice.device
        self._nets = self._load_networks()
        self._lock = threading.Lock()
        self._neutral: tuple[DriverFrame, lp.DriverReading] | None = None

    def _load_networks(self) -> lp.Networks:
        if self.backend == "cpu":
            return TorchNetworks.from_weights(self.weights)
        if self.backend == "torch":
            return TorchNetworks.from_weights(self.weights, device=self.device, precision=self.precision)
        decompose = self.backend == "tensorrt" and lp_export.tensorrt_needs_decomposition()
        specs = lp_export.export_specs(weights=self.weights, decompose_grid_sample=decompose)
        return RunnerNetworks(specs, self.backend, self.precision)

    # -- Engine ---------------------------------------------------------------
    def prepare(self, photo: np.ndarray) -> LivePortraitAvatar:
        """Find the face (NoFaceError without one), crop it axis-aligned
        (2.3× the face, shifted up), and run the per-avatar networks."""
        from vivicam.face.detect import find_avatar_face

        face = find_avatar_face(photo)
        if face.note:
            log.info("%s", face.note)
        box = cropping.face_box(
            face.landmarks.points, scale=cropping.AVATAR_SCALE, shift_up=cropping.AVATAR_SHIFT_UP
        )
        crop = cropping.warp_to_crop(photo, box, self.crop_size)
        points = cropping.crop_points(face.landmarks.points, box, self.crop_size)
        source = lp.prepare_source(self._nets, crop, points)
        from vivicam.face.segment import segment_person

        return LivePortraitAvatar(
            photo=photo,
            crop_matrix=box.matrix(self.crop_size),
            crop_size=self.crop_size,
            paste_mask=cropping.paste_mask(self.crop_size),
            person_mask=segment_person(photo),  # for the blur / replace / key-colour backgrounds
            source=source,
            note=face.note,
        )

    def frame_shift(self, state: AvatarState, motion: Motion) -> None:
        """The frame never moves: the driver's camera motion is part of the head's."""
        return None

    def render(self, state: AvatarState, motion: Motion) -> Any:
        """The animated crop, crop_size×crop_size×3 uint8 RGB: a NumPy array on
        the CPU, a device array (CUDA tensor / CuPy) on the GPU."""
        if not isinstance(state, LivePortraitAvatar) or state.source is None:
            raise InputError("this avatar was prepared by another engine; prepare it with liveportrait")
        kp = self.driving_keypoints(state.source, motion)
        image = lp.render_keypoints(self._nets, state.source, kp)
        return cropping.resize_image(image, self.crop_size)

    @property
    def networks(self) -> lp.Networks:
        """The seven networks on this engine's backend (NumPy in / out)."""
        return self._nets

    # -- motion ----------------------------------------------------------------
    def driving_keypoints(self, source: lp.SourceFace, motion: Motion) -> np.ndarray:
        """The 1×21×3 keypoints the avatar is rendered at for ``motion``: from
        the driver's face when driver frames are attached, else from the
        motion numbers."""
        flags = {"stitching": self.stitching, "retarget_eyes": self.retarget_eyes, "retarget_lips": self.retarget_lips}
        if motion.driver is not None:
            try:
                driver = lp.read_driver(self._nets, motion.driver.image, motion.driver.landmarks.points)
                neutral = self._neutral_reading(motion.driver_neutral, motion.driver, driver)
            except ValueError as exc:  # degenerate landmarks: fall back, never stop the loop
                log.debug("driver frame unusable (%s); using the motion numbers", exc)
            else:
                return lp.driven_keypoints(self._nets, source, driver, neutral, **flags)
        return lp.posed_keypoints(self._nets, source, motion, **flags)

    def _neutral_reading(
        self, neutral: DriverFrame | None, frame: DriverFrame, reading: lp.DriverReading
    ) -> lp.DriverReading:
        """The motion extractor's reading of the neutral driver frame, computed
        once per neutral frame object (a recalibration brings a new one).
        Without a neutral frame the first driver frame seen serves as neutral."""
        with self._lock:
            cached = self._neutral
        if cached is not None and (neutral is None or cached[0] is neutral):
            return cached[1]
        if neutral is None or neutral is frame:
            neutral = frame
        else:
            reading = lp.read_driver(self._nets, neutral.image, neutral.landmarks.points)
        with self._lock:
            self._neutral = (neutral, reading)
        return reading


# -- backends -------------------------------------------------------------------
def _choose_backend(requested: str, offered: tuple[BackendName, ...]) -> Any:
    from vivicam.engines.backends import select_backend

    return select_backend(requested, offered)  # InputError / DeviceError / MissingExtraError


class TorchNetworks:
    """The networks in PyTorch: the export adapters (one code with the
    exported graphs), on the CPU (the reference: NumPy in and out) or on CUDA
    (:class:`~vivicam.engines.backends.torch_runner.TorchModule`: half
    precision, compiled, CUDA graphs; the feature volume, the warped features
    and the generated image stay on the device)."""

    def __init__(self, adapters: dict[str, Any], *, device: str = "cpu", precision: str = "fp32", compile: bool | None = None) -> None:
        from vivicam.engines.backends.torch_runner import TorchModule
        from vivicam.optional import require

        self._torch = require("torch")
        self.device = self._torch.device(device)
        self._nets = {
            m: TorchModule(adapter, name=lp_export.spec_name(m), device=device, precision=precision, compile=compile)
            for m, adapter in adapters.items()
        }

    @classmethod
    def from_weights(cls, weights: Path, **options: Any) -> "TorchNetworks":
        from vivicam.engines.liveportrait.checkpoints import load_networks

        return cls.from_networks(load_networks(weights), **options)  # loaded once, moved once

    @classmethod
    def from_networks(cls, nets: Any, **options: Any) -> "TorchNetworks":
        return cls({m: lp_export.module_adapter(m, nets) for m in lp_export.MODULES}, **options)

    def module(self, name: str) -> Any:
        """The :class:`TorchModule` of one network (benchmarks time them)."""
        return self._nets[name]

    def _run(self, module: str, *inputs: Any) -> tuple[Any, ...]:
        from vivicam.engines.backends.torch_runner import to_tensor

        return self._nets[module](*(to_tensor(self._torch, x, self.device) for x in inputs))

    def _host(self, outs: tuple[Any, ...]) -> list[np.ndarray]:
        """Small outputs to the host in one copy (one sync) however many there are."""
        if self.device.type == "cpu":
            return [o.numpy() for o in outs]
        from vivicam.xp import to_host

        flat = to_host(self._torch.cat([o.reshape(1, -1) for o in outs], dim=1))[0]
        parts, start = [], 0
        for o in outs:
            parts.append(flat[start : start + o.numel()].reshape(tuple(o.shape)))
            start += o.numel()
        return parts

    def appearance(self, image: np.ndarray) -> Any:
        return self._run("appearance_feature_extractor", image)[0]  # stays a tensor

    def motion(self, image: np.ndarray) -> dict[str, np.ndarray]:
        outs = self._host(self._run("motion_extractor", image))
        return dict(zip(lp_export.MOTION_OUTPUTS, outs))

    def warp(self, feature: Any, kp_driving: np.ndarray, kp_source: np.ndarray) -> Any:
        return self._run("warping_module", feature, kp_driving, kp_source)[0]

    def generate(self, warped: Any) -> Any:
        out = self._run("spade_generator", warped)[0]
        return out.numpy() if self.device.type == "cpu" else out  # on CUDA the image stays there

    def stitching(self, x: np.ndarray) -> np.ndarray:
        return self._host(self._run("stitching", x))[0]

    def retarget_eye(self, x: np.ndarray) -> np.ndarray:
        return self._host(self._run("retarget_eye", x))[0]

    def retarget_lip(self, x: np.ndarray) -> np.ndarray:
        return self._host(self._run("retarget_lip", x))[0]


class RunnerNetworks:
    """Each network's exported graph through the compiled-engine machinery.

    A network's runner is made on first use (exporting / building its graph
    then, cached afterwards), so preparing an avatar does not wait for the
    warping and generator graphs."""

    def __init__(self, specs: list[Any], backend: str, precision: str) -> None:
        self._specs = dict(zip(lp_export.MODULES, specs))
        self._backend = backend
        self._precision = precision
        self._runners: dict[str, Any] = {}
        self._lock = threading.Lock()

    def runner(self, module: str) -> Any:
        with self._lock:
            if module not in self._runners:
                from vivicam.engines.backends import load_runner

                self._runners[module] = load_runner(self._specs[module], self._backend, self._precision)
            return self._runners[module]

    def _run(self, module: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return self.runner(module).run(inputs)

    def appearance(self, image: np.ndarray) -> Any:
        return self._run("appearance_feature_extractor", {"image": image})["feature"]

    def motion(self, image: np.ndarray) -> dict[str, np.ndarray]:
        out = self._run("motion_extractor", {"image": image})
        return {name: _host(out[name]) for name in lp_export.MOTION_OUTPUTS}

    def warp(self, feature: Any, kp_driving: np.ndarray, kp_source: np.ndarray) -> Any:
        inputs = {"feature": feature, "kp_driving": kp_driving, "kp_source": kp_source}
        return self._run("warping_module", inputs)["warped"]

    def generate(self, warped: Any) -> Any:
        return self._run("spade_generator", {"warped": warped})["image"]  # stays on the GPU (CuPy) there

    def stitching(self, x: np.ndarray) -> np.ndarray:
        return _host(self._run("stitching", {"features": x})["delta"])

    def retarget_eye(self, x: np.ndarray) -> np.ndarray:
        return _host(self._run("retarget_eye", {"features": x})["delta"])

    def retarget_lip(self, x: np.ndarray) -> np.ndarray:
        return _host(self._run("retarget_lip", {"features": x})["delta"])


def _host(value: Any) -> np.ndarray:
    """A runner output as a host NumPy array (device arrays copied, and counted)."""
    from vivicam.xp import to_host

    return to_host(value)
