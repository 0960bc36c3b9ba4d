"""Optical flow of the driver against their neutral frame: sharper landmarks
and a motion field for everything around the face.

MediaPipe's landmarks are regressed, not tracked on the skin: from frame to
frame they slide by a pixel or two over a face that did not move, which a
warp faithfully turns into shimmer, and they say nothing about hair, neck and
shoulders. Dense optical flow (OpenCV's DIS) between the neutral frame and
the current one fixes both, at a few milliseconds per frame:

- **landmark refinement**: each landmark is moved to where the flow carries
  its neutral position, as long as the two agree within ``REFINE_REACH`` face
  sizes (fading to MediaPipe's own position beyond, where the flow breaks:
  a hand in front of the face); eyelids, irises and lips keep MediaPipe's
  positions (a blink or an opening mouth changes what the flow tracks). The flow is
  computed on a face-sized region that follows the head, so large head
  motions only leave a small residual for the flow to find.
- **surround field**: the flow over a region ``SURROUND_SPAN`` face sizes
  wide around the neutral face, averaged on the ``Motion.surround`` grid,
  with the driver's person matte (from the neutral frame) as each node's
  weight. Engines use it to move hair, neck and shoulders as the driver's
  did instead of guessing them from the head pose alone.
- **camera motion**: the median flow of the same region's background (away
  from the driver's person, inside the frame): a hand-held or panning camera
  moves the whole scene, which engines can reproduce by moving the whole
  picture instead of sliding the head over a still background
  (``Motion.camera``; 0 when too little background is in view).

The reading is in the driver's own units (face sizes of the neutral face),
so it transfers to any avatar the way ``Motion.expression`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vivicam.calibrate import mesh
from vivicam.calibrate.geometry import face_pose
from vivicam.types import SURROUND_GRID, SURROUND_SHAPE, SURROUND_SPAN, DriverFrame, surround_node_offsets

FACE_SPAN = 2.6  # face-region side in face sizes: the whole face mesh with a little margin
FACE_PIXELS = 160  # face-region side in pixels (≈ 62 px per face size)
SURROUND_PIXELS = 192  # surround-region side in pixels (24 px per face size)
# Gaussian pooling of the flow around each surround node, in grid cells: a
# quarter cell keeps neighbouring nodes' readings apart (half a cell: d19
# −0.3 dB) while averaging out DIS's 8-pixel patches.
POOL_CELLS = 0.25
# Largest disagreement (face sizes) between the flow's and MediaPipe's position
# of a landmark over which the flow's is (partly) trusted.
REFINE_REACH = 0.3
# Points MediaPipe places better than the flow can follow: eyelids and irises
# (a blink covers the texture the flow tracks) and the lips (an opening mouth
# uncovers teeth that were not in the neutral frame).
KEEP_TRACKED = np.array(
    sorted(set(sum(mesh.EYE_CONTOUR, ())) | set(range(468, 478)) | set(mesh.LIPS_INNER) | set(mesh.LIPS_OUTER)),
    np.int64,
)
PERSON_FLOOR = 0.05  # node weights below this count as background (0)
# Background for the camera reading: at least this many face sizes from the
# driver's person (whose own motion the flow spreads a little around it, and
# whose hair the matte misses), and this far inside the frame's edge.
CAMERA_CLEARANCE = 0.75
CAMERA_EDGE = 0.15
# Too little background to read the camera from (a share of the surround
# region; a tight head-and-shoulders shot): the camera reads as still.
MIN_BACKGROUND_SHARE = 0.003
MAX_BACKGROUND_SAMPLES = 4096  # a median over more pixels says nothing new
# The background samples are picked on the reference frame; a head that
# moves over them (with its hair, CAMERA_CLEARANCE round it, and its body
# below) covers them now, and the median read the head's own move as the
# camera's: d12, whose wall never moves, jumped the whole avatar picture by
# 0.3-0.65 face sizes for 1-3 frames at each big move (up to 134 px on s1).
# Those samples are left out. With fewer than MIN_FREE_BACKGROUND (or
# MIN_FREE_SHARE) left, the last reading stands for up to CAMERA_RESYNC
# frames in a row; then all of them are read, as a camera that pans its
# person over them (d20: 96 % of 801 covered for seconds) moves the person
# with the background.
MIN_FREE_BACKGROUND = 24
MIN_FREE_SHARE = 0.1  # ... nor under this share of them (a few far samples read a pan badly)
CAMERA_RESYNC = 12
# The reading given is the median of the last CAMERA_MEDIAN taken: a dark,
# noisy driver's background still threw single readings out and back (13
# jolts of up to 45 px in 150 frames of d12 at gamma 2.2 + noise σ 12,
# against 3 on the clean clip); a real camera's move arrives a frame later.
CAMERA_MEDIAN = 3
_CLEARANCE_DISC = cv2.getStructuringElement(  # CAMERA_CLEARANCE in surround-region pixels, as a disc
    cv2.MORPH_ELLIPSE, (2 * max(int(round(CAMERA_CLEARANCE * SURROUND_PIXELS / SURROUND_SPAN)), 1) + 1,) * 2)
HAIR_GROWTH = 1.5  # the face oval × this about its centre: the head with its hair (see _person_now)
# DIS settings: (preset, finest pyramid scale, variational refinement
# iterations, patch stride), None = the preset's. Both regions: DIS "fast"
# patches computed at half the region's side (finest scale 1) without the
# variational refinement. Against the former "medium" on a 192 px face and
# "fast" (quarter side) with refinement on a 384 px surround, this costs
# 3.0-3.2 instead of 8.3 ms CPU a frame on the (loaded) build machine, with
# the quality benchmark's PSNR and SSIM unchanged (d10, d11, d12, d18, d19,
# d20, 90 frames: within ±0.05 dB and 0.004; head-pose error +0.03-0.11°
# on four of them). The
# refinement smooths what the Gaussian pooling smooths again; a 192 px surround
# at the quarter side lost 0.4 dB / 0.03 SSIM on d12, a 128 px face 0.25 dB on
# d10, a patch stride of 6 on the surround 0.5 dB on d19.
FACE_DIS = (cv2.DISOPTICAL_FLOW_PRESET_FAST, 1, 0, None)
SURROUND_DIS = (cv2.DISOPTICAL_FLOW_PRESET_FAST, 1, 0, None)
MIN_FACE_PX = 4.0  # face size (px) below which a frame's landmarks are not worth a flow


@dataclass(frozen=True, eq=False)
class FlowReading:
    """One frame's flow measurements (see the module docstring)."""

    points: np.ndarray  # (478, 3) float32 refined landmarks, image pixels
    surround: np.ndarray  # SURROUND_SHAPE float32, see Motion.surround
    camera: np.ndarray  # (2,) float32, see Motion.camera
    # whether the camera was read (enough background in view): a reading of
    # exactly 0 is then a camera where it was on the reference frame (the
    # reference frame itself), not a camera nobody could see
    camera_read: bool = False


def _region_matrix(center: np.ndarray, size: float, span: float, pixels: int) -> np.ndarray:
    """(2, 3) affine: image pixels → a ``pixels``² square ``span`` face sizes wide around ``center``."""
    scale = pixels / (span * size)
    return np.array(
        [[scale, 0.0, pixels / 2 - scale * center[0]], [0.0, scale, pixels / 2 - scale * center[1]]], np.float64
    )


def _cut(levels: list[np.ndarray], matrix: np.ndarray, pixels: int, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """The ``pixels``² region ``matrix`` maps an image onto, averaged over
    the image pixels each region pixel covers: taken from the image's
    Gaussian pyramid ``levels`` (``levels[0]`` the image; the levels needed
    are added to the list, so the face and surround regions of one frame
    share them), halved until the warp shrinks by at most 2, then sampled
    bilinearly. ``warpAffine`` has no area averaging (INTER_AREA is taken as
    bilinear): the surround region, about 5 image pixels a region pixel,
    kept a dark driver's sensor noise (σ 12 grey levels) at σ 8 instead of
    2, the flow read it as motion and the whole avatar picture jumped by up
    to 0.6 face sizes between frames (--camera-motion follow)."""
    m = np.array(matrix, np.float64)
    level = 0
    while m[0, 0] < 0.5 and min(levels[level].shape[:2]) >= 4:
        level += 1
        if level == len(levels):
            levels.append(cv2.pyrDown(levels[-1]))
        m[:, :2] *= 2.0  # pyrDown's pixel i sits at the input's pixel 2i
    return cv2.warpAffine(levels[level], m, (pixels, pixels), flags=cv2.INTER_LINEAR, borderMode=border,
                          borderValue=0.0)


def _apply(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return xy @ matrix[:, :2].T + matrix[:, 2]


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def surround_nodes(pixels: int) -> np.ndarray:
    """(G, G, 2) float32 surround-grid nodes in surround-region pixels."""
    c = ((surround_node_offsets() / SURROUND_SPAN + 0.5) * pixels).astype(np.float32)
    gx, gy = np.meshgrid(c, c)
    return np.stack([gx, gy], axis=-1)


class DriverFlow:
    """Flow of the driver's current frame against ``reference`` (their neutral
    frame). ``person`` is the reference frame's person matte (H×W 0..1); when
    None it is computed once here with MediaPipe selfie segmentation."""

    def __init__(self, reference: DriverFrame, person: np.ndarray | None = None) -> None:
        points = np.asarray(reference.landmarks.points, np.float64)
        pose = face_pose(points)
        self.reference = reference
        face_matrix = _region_matrix(pose.center, pose.size, FACE_SPAN, FACE_PIXELS)
        self._surround_matrix = _region_matrix(pose.center, pose.size, SURROUND_SPAN, SURROUND_PIXELS)
        levels = [_gray(reference.image)]
        self._face0 = _cut(levels, face_matrix, FACE_PIXELS)
        self._face_points0 = _apply(face_matrix, points[:, :2]).astype(np.float32)
        self._surround0 = _cut(levels, self._surround_matrix, SURROUND_PIXELS)
        self._nodes = surround_nodes(SURROUND_PIXELS)
        if person is None:
            from vivicam.face.segment import segment_person

            person = segment_person(reference.image)
        self._sigma = SURROUND_PIXELS / SURROUND_GRID * POOL_CELLS
        # beyond the frame's edge the region repeats edge pixels, whose "flow"
        # means nothing: no person there
        self._matte = _cut([np.asarray(person, np.float32)], self._surround_matrix, SURROUND_PIXELS, cv2.BORDER_CONSTANT)
        pooled_matte = cv2.GaussianBlur(self._matte, (0, 0), self._sigma)
        # two-channel copy: cv2.multiply with it is ~25x faster than NumPy
        # broadcasting the matte over the flow's last axis
        self._matte2 = cv2.merge([self._matte, self._matte])
        weight = cv2.remap(pooled_matte, self._nodes[..., 0], self._nodes[..., 1], cv2.INTER_LINEAR)
        self._node_matte = np.maximum(weight, 1e-3)[..., None]
        self._weight = np.where(weight < PERSON_FLOOR, 0.0, np.clip(weight, 0.0, 1.0)).astype(np.float32)
        self._background = _background_samples(reference.image.shape[:2], self._matte, self._surround_matrix)
        self._camera: np.ndarray | None = None  # the last camera reading taken
        self._recent: list[np.ndarray] = []  # the last CAMERA_MEDIAN readings given
        self._held = 0  # frames in a row with too little free background
        self._face_flow = _dis(*FACE_DIS)
        self._surround_flow = _dis(*SURROUND_DIS)

    def measure(self, image: np.ndarray, points: np.ndarray) -> FlowReading:
        """Refined landmarks and the surround field for the current frame
        (``points``: MediaPipe's (478, 3) landmarks on ``image``)."""
        levels = [_gray(image)]
        pts = np.asarray(points, np.float64)
        try:
            pose = face_pose(pts) if np.isfinite(pts).all() else None
        except ValueError:  # coincident landmarks
            pose = None
        if pose is None or not pose.size >= MIN_FACE_PX:  # a degenerate face: nothing to measure, nothing to move
            return FlowReading(
                points=np.asarray(points, np.float32), surround=np.zeros(SURROUND_SHAPE, np.float32),
                camera=np.zeros(2, np.float32),
            )
        surround, camera = self._surround(levels, pts)
        return FlowReading(points=self._refine(levels, pts, pose), surround=surround, camera=camera,
                           camera_read=self._background is not None)

    def _refine(self, levels: list[np.ndarray], points: np.ndarray, pose) -> np.ndarray:
        matrix = _region_matrix(pose.center, pose.size, FACE_SPAN, FACE_PIXELS)
        flow = self._face_flow.calc(self._face0, _exposure_matched(_cut(levels, matrix, FACE_PIXELS), self._face0), None)
        flow = cv2.GaussianBlur(flow, (0, 0), 1.5)  # DIS patches are 8 px: average over about one
        at = self._face_points0
        moved = at + np.stack(
            [cv2.remap(flow[..., k], at[:, 0:1], at[:, 1:2], cv2.INTER_LINEAR)[:, 0] for k in range(2)], axis=1
        )
        flowed = _apply(cv2.invertAffineTransform(matrix), moved)
        gap = np.linalg.norm(flowed - points[:, :2], axis=1) / max(pose.size, 1e-6)
        trust = np.clip(1.0 - gap / REFINE_REACH, 0.0, 1.0)
        trust[KEEP_TRACKED] = 0.0
        trust = trust[:, None]
        out = points.copy()
        out[:, :2] = points[:, :2] + trust * (flowed - points[:, :2])
        return out.astype(np.float32)

    def _surround(self, levels: list[np.ndarray], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(surround field, camera motion)."""
        current = _exposure_matched(_cut(levels, self._surround_matrix, SURROUND_PIXELS), self._surround0)
        flow = self._surround_flow.calc(self._surround0, current, None)
        to_face_sizes = SURROUND_SPAN / SURROUND_PIXELS
        camera = np.zeros(2, np.float32)
        if self._background is not None:
            def read(samples: np.ndarray) -> np.ndarray:  # the camera's motion over these background pixels
                return np.median(flow.reshape(-1, 2)[samples], axis=0) * to_face_sizes

            free = self._background[~_person_now(points, self._surround_matrix)[self._background]]
            if free.size >= max(MIN_FREE_BACKGROUND, MIN_FREE_SHARE * self._background.size):
                self._camera, self._held = read(free), 0
            else:
                self._held += 1
                if self._camera is None or self._held >= CAMERA_RESYNC:
                    self._camera = read(self._background)
            self._recent = (self._recent + [self._camera])[-CAMERA_MEDIAN:]
            camera[:] = np.median(self._recent, axis=0)
        # averaged over the driver's person only: where hair meets the
        # background, the still background must not drag the hair's motion down
        pooled = cv2.GaussianBlur(cv2.multiply(flow, self._matte2), (0, 0), self._sigma)
        nodes = cv2.remap(pooled, self._nodes[..., 0], self._nodes[..., 1], cv2.INTER_LINEAR) / self._node_matte
        out = np.empty(SURROUND_SHAPE, np.float32)
        out[..., :2] = nodes * to_face_sizes
        out[..., 2] = self._weight
        return out, camera


def _near(mask: np.ndarray) -> np.ndarray:
    """A surround-region uint8 ``mask`` grown by CAMERA_CLEARANCE face sizes."""
    return cv2.dilate(mask, _CLEARANCE_DISC)


def _person_now(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(SURROUND_PIXELS², ) bool, flattened: the surround region's pixels that
    the driver's head covers now (its face oval grown by HAIR_GROWTH about its
    centre for the hair, and straight down from it to the region's edge: neck
    and body), grown by CAMERA_CLEARANCE."""
    oval = _apply(matrix, np.asarray(points, np.float64)[list(mesh.FACE_OVAL), :2])
    centre = oval.mean(axis=0)
    oval = centre + HAIR_GROWTH * (oval - centre)
    bottom = float(SURROUND_PIXELS)
    below = np.array([[oval[:, 0].min(), bottom], [oval[:, 0].max(), bottom]])
    hull = cv2.convexHull(np.concatenate([oval, below]).astype(np.float32))[:, 0]
    mask = np.zeros((SURROUND_PIXELS, SURROUND_PIXELS), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1)
    return _near(mask).reshape(-1) > 0


def _exposure_matched(region: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``region`` with its brightness and contrast matched to ``reference``'s
    (mean and standard deviation): DIS assumes constant brightness, so a
    camera's auto-exposure ramping the picture would read as motion and make
    a still avatar shimmer (exposure ramp ×0.5 → ×1.5 on s4: face flicker 0.41 →
    0.05 grey levels, jitter 0.021 → 0.003 px with this)."""
    mean, std = cv2.meanStdDev(region)
    ref_mean, ref_std = cv2.meanStdDev(reference)
    gain = float(ref_std[0, 0]) / max(float(std[0, 0]), 1e-3)
    return cv2.convertScaleAbs(region, alpha=gain, beta=float(ref_mean[0, 0]) - gain * float(mean[0, 0]))


def _dis(preset: int, finest_scale: int | None = None, refinement: int | None = None, stride: int | None = None) -> Any:
    """A DIS instance: ``preset`` with some of its settings replaced (None: the preset's)."""
    flow = cv2.DISOpticalFlow_create(preset)
    if finest_scale is not None:
        flow.setFinestScale(finest_scale)
    if refinement is not None:
        flow.setVariationalRefinementIterations(refinement)
    if stride is not None:
        flow.setPatchStride(stride)
    return flow


def _background_samples(frame_shape: tuple[int, int], matte: np.ndarray, matrix: np.ndarray) -> np.ndarray | None:
    """Flat indices of surround-region pixels that show the driver's
    background (see CAMERA_CLEARANCE), evenly thinned to at most
    MAX_BACKGROUND_SAMPLES; None when there are too few to read the camera."""
    per_face = SURROUND_PIXELS / SURROUND_SPAN
    inside = _cut([np.ones(frame_shape, np.float32)], matrix, SURROUND_PIXELS, cv2.BORDER_CONSTANT) > 0.99
    edge = 2 * max(int(round(CAMERA_EDGE * per_face)), 1) + 1
    inside = cv2.erode(inside.astype(np.uint8), np.ones((edge, edge), np.uint8), borderValue=0) > 0
    near = _near((matte > PERSON_FLOOR).astype(np.uint8))
    index = np.flatnonzero(inside & (near == 0))
    if index.size < MIN_BACKGROUND_SHARE * SURROUND_PIXELS**2:
        return None
    step = -(-index.size // MAX_BACKGROUND_SAMPLES)
    return index[::step]
