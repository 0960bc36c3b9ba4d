"""The ``liveportrait`` engine: the official LivePortrait networks (weights the
user downloads) behind vivicam's Engine seam.

``prepare(photo)`` finds and crops the face and runs the appearance and motion
extractors once; ``render(state, motion)`` animates it every frame — from the
driver's own face when the pipeline attaches driver frames (this engine's
``capabilities.driver_frames``), else from the numbers in ``Motion`` (idle / demo).

Backends: ``cpu`` runs the PyTorch networks; ``onnxruntime`` and ``tensorrt``
run each network's exported graph (:mod:`vivicam.engines.liveportrait.export`)
through :func:`vivicam.engines.backends.load_runner`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
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
    backends: ClassVar[tuple[BackendName, ...]] = ("cpu", "onnxruntime", "tensorrt")
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
        self.backend, self.backend_reason = _choose_backend(backend, self.backends)
        self._nets = self._load_networks()
        self._lock = threading.Lock()
        self._neutral: tuple[DriverFrame, lp.DriverReading] | None = None

    def _load_networks(self) -> lp.Networks:
        if self.backend == "cpu":
            return TorchNetworks.from_weights(self.weights)
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

    def render(self, state: AvatarState, motion: Motion) -> np.ndarray:
        """The animated crop, crop_size×crop_size×3 uint8 RGB."""
        if not isinstance(state, LivePortraitAvatar) or state.source is None:
            raise InputError("this avatar was prepared by another engine; prepare it with liveportrait")
        kp = self.driving_keypoints(state.source, motion)
        image = lp.render_keypoints(self._nets, state.source, kp)
        if image.shape[0] != self.crop_size:
            shrink = self.crop_size < image.shape[0]
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            image = cv2.resize(image, (self.crop_size, self.crop_size), interpolation=interpolation)
        return image

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
def _choose_backend(requested: str, offered: tuple[BackendName, ...]) -> tuple[str, str]:
    from vivicam.engines.backends import select_backend

    choice = select_backend(requested, offered)  # InputError / DeviceError / MissingExtraError
    return choice.name, choice.reason


class TorchNetworks:
    """The PyTorch reference: the export adapters, run on NumPy in / out."""

    def __init__(self, adapters: dict[str, Any]) -> None:
        from vivicam.optional import require

        self._torch = require("torch")
        self._adapters = adapters

    @classmethod
    def from_weights(cls, weights: Path) -> "TorchNetworks":
        from vivicam.engines.liveportrait.checkpoints import load_networks

        return cls.from_networks(load_networks(weights))

    @classmethod
    def from_networks(cls, nets: Any) -> "TorchNetworks":
        return cls({m: lp_export.module_adapter(m, nets) for m in lp_export.MODULES})

    def _run(self, module: str, *inputs: Any) -> tuple[Any, ...]:
        torch = self._torch
        tensors = [x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
        with torch.inference_mode():
            return self._adapters[module](*tensors)

    def appearance(self, image: np.ndarray) -> Any:
        return self._run("appearance_feature_extractor", image)[0]  # stays a tensor

    def motion(self, image: np.ndarray) -> dict[str, np.ndarray]:
        outs = self._run("motion_extractor", image)
        return {name: out.numpy() for name, out in zip(lp_export.MOTION_OUTPUTS, outs)}

    def warp(self, feature: Any, kp_driving: np.ndarray, kp_source: np.ndarray) -> Any:
        return self._run("warping_module", feature, kp_driving, kp_source)[0]

    def generate(self, warped: Any) -> np.ndarray:
        return self._run("spade_generator", warped)[0].numpy()

    def stitching(self, x: np.ndarray) -> np.ndarray:
        return self._run("stitching", x)[0].numpy()

    def retarget_eye(self, x: np.ndarray) -> np.ndarray:
        return self._run("retarget_eye", x)[0].numpy()

    def retarget_lip(self, x: np.ndarray) -> np.ndarray:
        return self._run("retarget_lip", x)[0].numpy()


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

    def generate(self, warped: Any) -> np.ndarray:
        return _host(self._run("spade_generator", {"warped": warped})["image"])

    def stitching(self, x: np.ndarray) -> np.ndarray:
        return _host(self._run("stitching", {"features": x})["delta"])

    def retarget_eye(self, x: np.ndarray) -> np.ndarray:
        return _host(self._run("retarget_eye", {"features": x})["delta"])

    def retarget_lip(self, x: np.ndarray) -> np.ndarray:
        return _host(self._run("retarget_lip", {"features": x})["delta"])


def _host(value: Any) -> np.ndarray:
    """A runner output as a host NumPy array (CuPy / torch device arrays copied)."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "get"):  # CuPy
        return value.get()
    if hasattr(value, "detach"):  # torch
        return value.detach().cpu().numpy()
    return np.asarray(value)
