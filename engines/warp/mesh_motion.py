"""The target control mesh for a motion: expression deltas added in the
avatar's canonical face space, eyelids and jaw made geometrically faithful,
head pose applied in 3-D with the landmarks' depth (clipped to the one pose
limit, calibrate.config.POSE_LIMITS), then projected to the crop.

The control mesh is the 478 face landmarks, 14 "eye-interior" points, two
rings of band points around the face (hair, ears, neck), surround points
(shoulders, far hair), points on the photo's edges where they cut the hair
(held from moving inwards: EDGE_STRETCH) and fixed points on the crop
border. Everything per frame is a few small matrix products, mirrored
one-for-one by :mod:`vivicam.engines.warp.graph`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vivicam.calibrate import mesh
from vivicam.calibrate.config import KNEE, POSE_LIMITS
from vivicam.calibrate.geometry import euler_from_matrix, face_pose, matrix_from_euler, to_canonical
from vivicam.calibrate.motion import soft_limit
from vivicam.types import SURROUND_GRID, SURROUND_SPAN, Motion, surround_node_offsets

NUM_FACE = 478
IRIS = tuple(range(468, 478))
# How the face turns. The mesh is rotated in 3-D about the face centre and
# projected (orthographically), but a 2-D warp shows only a turn's geometry:
# nothing of the far cheek passing behind the nose, the near ear coming into
# view, the shading. Two corrections, both measured with MediaPipe on the
# output (docs/warp.md, "How far the head turns"):
# - DEPTH_LIMIT: depth behind the face centre (face sizes) saturates softly at
#   this (the tracker puts the outline ~0.7 behind). The outline's depth rises
#   steeply over a few pixels; rotated as it is, the near side stretches more
#   than twice (the inverse map echoes the cheek's edge) and the far side folds.
# - PARALLAX: the depth's share of a turn (projected x) and of a nod (projected
#   y) × this. Pure rotations of eight faces read back as 0.51-0.74 of their yaw
#   and 0.61-1.08 of their pitch with the tracker's depth, 0.74-0.86 and
#   0.71-1.27 with these; real drivers, whose expression deltas carry part of
#   the turn, read 0.96-1.02 (self-reenactment) and 0.92-1.03 (other faces) on
#   the largest turns. Larger gains overshoot real drivers and fold the nose
#   over the far cheek. The nod's 1.25 (was 1.15, set when the driver's pitch
#   was fitted on points the jaw moves, calibrate.geometry.head_pose): pure
#   ±10° nods of nine faces (d10/d12/d18/d19/d20 first frames, s1, s4, s8,
#   the astronaut) read back at 0.94 of their pitch on average with 1.15
#   (0.70-1.19), 1.01 with 1.25 (0.75-1.28), 1.12 with 1.4 (0.87-1.44); in the
#   generalization suite d12's talking nods go from 0.76-0.81 to 0.82-0.85
#   with PSNR unchanged. 1.45 since the depth is smoothed (smooth_depth: the
#   brow and chin lost some relief): pure ±10° nods of six faces read back at
#   0.72-1.19 of their pitch as tracked, 0.69-1.01 smoothed at 1.25, 0.76-1.18
#   smoothed at 1.45; yaw 0.74-0.87 before and after.
DEPTH_LIMIT = 0.4
DEPTH_SMOOTH = 0.06  # face sizes: the reach of smooth_depth
NOSE_REACH = 0.12  # face sizes (×1.3 down): the nose keeps its tracked depth
PARALLAX = np.array([1.4, 1.45], np.float32)
# A 2-D warp shows a turn by squeezing the far cheek, and past some angle
# from facing the camera it folds (the nose over the cheek, the mouth pulled
# sideways): the folds follow the angle from the camera, not the turn from
# the photo's pose. Pure turns, folded face triangles: frontal faces 16-29 at
# 20 degrees, 53-82 at 30; a three-quarter painting (22 degrees of its own)
# 76 at a further 10 and 130 at 20, where d12 smeared its nose over the far
# cheek. So the avatar turns away from the camera only as far as a frontal
# face may (POSE_LIMITS' yaw, counted from facing the camera; the usual knee)
# and always at least TURN_ROOM_MIN; towards the camera as far as any face.
# A frontal face reads a few degrees off (the person's own offset, the
# tracker's): within TURN_OWN_FREE a photo counts as facing the camera.
TURN_ROOM_MIN = 12.0
TURN_OWN_FREE = 3.0
# head translation (face sizes) and log-scale limits: the crop's border is fixed,
# so the head can only travel so far inside it without folding the band
MOVE_LIMIT = 0.6
LOG_SCALE_LIMIT = 0.4
# A head moved towards one side draws the other side's surroundings in from
# beyond where the photo ends (an invented fill) wherever the photo holds
# less than the head's travel there: a close-up whose hair and chin touch
# the edges slid half out of its frame behind a wide smear when d12 moved
# (s1 cut to the face). So the head travels at most as far as the photo
# reaches beyond it on the side it moves away from, plus MOVE_SPARE (x, y);
# the head's extent: the face outline widened by HEAD_MARGIN face sizes
# (sides, top: hair; bottom: chin). The spare is what the suite's tight
# crops need: a nod's reading follows the head's drop (worst-d12's pitch gain
# 0.90 free, 0.77 at 0.15, 0.83 at 0.35 down), a turn's its sideways move.
MOVE_SPARE = np.array([[0.25], [0.35]], np.float32)
HEAD_MARGIN = (0.25, 0.6, 0.3)
# Where the photo's edge cuts the face itself (its outline, as the tracker
# places it beyond the edge) by more than FACE_SPARE, a move away from that
# edge draws in face the photo lacks, and the canvas can only invent it: a
# portrait cut through the cheek at its left edge, driven by d12, showed
# the missing cheek as a pale blur with a ghost outline. There the head
# moves at most FACE_SPARE face sizes away from the edge.
FACE_SPARE = 0.1
# Where the photo ends inside the crop (a close-up's hair cut by the photo's
# edge), the canvas beyond it is invented (canvas.py), and a head moving away
# from such an edge drew the invention into view: big hair cut by a side
# edge ended in a straight line, then 20-30 px of horizontal streaks and a
# grey smear (s2 cut through its hair, driven by d12); a close-up's hair
# under a soft band at the top. Now where the person meets such an edge
# above the chin (edge_cuts), the edge gets points of its own, EDGE_STEP
# face sizes apart (none within EDGE_FACE_CLEAR × the face outline's radius,
# where the face itself crosses the edge: FACE_SPARE), and no point off the
# face moves away from the edge by more than EDGE_STRETCH × its distance
# from it (MeshRig.bound_lo/hi): the hair between the head and the edge
# stretches, at most 1 + EDGE_STRETCH times, and only the face's own part
# comes in from beyond the edge. Held only on the edge, the hair beside it
# stretched 3.6 times over 16 px on s2 and the inverse map failed there (a
# swirl in the hair). The generalization suite's face PSNR over the still
# photo, plain-d12 / tight-d12 / worst-d12 (cuts from the matte, d12's
# column held, see EDGE_CUT_SURE): 6.85 / 2.06 / 2.78 dB without edge
# points; 6.10 / 1.63 / 2.64 at EDGE_STRETCH 1, 6.55 / 1.74 / 2.73 at 2,
# 6.70 / 1.78 / 2.77 at 4 (the real frames show the background the head
# uncovers, which the old smooth fill resembled; docs/quality.md, tenth
# round).
EDGE_STEP = 0.13
EDGE_CUT_MARGIN = 0.3  # face sizes: an edge holds this far beyond where the person meets it
# The selfie model's matte often reaches the top edge above a head whose
# hair does not (d12's first frame: a column of "person" at 0.5-0.7 up to
# the edge, where the hair, then held, lagged a head moving down: plain-d12
# -0.3 dB); hair the edge really cuts reads 0.95-1.0 there (s1, s2, s5,
# the astronaut cut through it). A painting or statue the model misses is
# not held (its edge is carried out, as before).
EDGE_CUT_SURE = 0.8
MAX_EDGE_POINTS = 128
EDGE_FACE_CLEAR = 1.15
EDGE_STRETCH = 2.0
FREE = 1e6  # crop pixels: the bound of a point that no edge holds
# The driver's camera motion (Motion.camera) moves the whole output frame
# (WarpEngine.frame_shift); beyond this many face sizes the frame's edge,
# filled by repeating edge pixels, would take too much of the picture.
CAMERA_LIMIT = 1.5
# ... and beyond this share of the photo's width (height): 1.5 face sizes are
# a sixth of a portrait's width but two thirds of a close-up's, which slid
# out of its frame behind a blurred edge. (0.15 cost hand-held d20's
# self-reenactment 1.2 dB.)
CAMERA_SHARE = 0.2
MOUTH_FULL_GAP = 0.6  # canonical inner-lip gap of Motion.mouth_open == 1 (types.Motion)
LID_SKIN_REACH = 0.35  # face sizes above the upper lid over which lid skin stretches
LOWER_LID_REACH = 0.12  # face sizes below the lower lid over which it pulls the skin
LOWER_LID_RAISE = 0.0  # share of the eye opening the lower lid rises in a full blink
EYE_INNER_FRACTION = 0.25  # eye-interior points sit this far from the lower lid
# band rings: radius factor around the face oval, (move, turn) weights at the
# top and at the bottom of the ring, expression share. "move" is how much a
# point follows the head's translation and scale, "turn" its rotation: hair
# follows the head; neck and shoulders follow its position, less its turns.
BAND_RINGS = ((1.3, (1.0, 1.0), (0.4, 0.25), 0.3), (1.8, (0.95, 0.6), (0.15, 0.05), 0.1))
BORDER_STEPS = 8
# A band point keeps at least this share of its rest gap (along its outward
# direction) from the point inside it (ring 1: the face outline; ring 2: ring
# 1). The face follows the head fully, the rings below it partly, so a head
# that moved or turned far slid its jaw over them: the warp folded there and
# showed a stepped tear through the jaw and the mouth corner (a small face in
# a landscape photo by d12, and on s1, s5), or pushed the chin into the
# collar (s4 by d12). 0.25 left the jaw's edge wavy; d12's self-reenactment
# PSNR −0.04 dB at 0.5, its pitch r 0.70 -> 0.81.
BAND_KEEP = 0.5
# The surround points between and beyond the rings keep their gap likewise
# (from the outermost ring point inside them at their angle): they follow
# the head less than the rings, and a head moved half a face size sideways
# (d12 driving the three-quarter s8) carried the rings over them, a torn,
# jagged edge between the cheek and the veil (54 folded triangles at d12's
# frame 158; the 26 left are slivers along the jaw, none at the rings).
BAND_PASSES = 3  # ring 1 (from the face), ring 2 (from ring 1), surround points (from either)
# Surround points: the Motion.surround grid's nodes that fall in the crop, at
# least SURROUND_CLEARANCE × the face-oval radius from the face centre and half
# a grid cell from any other point; at most MAX_SURROUND_POINTS of them.
SURROUND_CLEARANCE = 1.6
SURROUND_REACH = 0.1  # face sizes: the most the surround flow may move a point away from the head-pose guess
MAX_SURROUND_POINTS = 128
OUTLINE_EXPRESSION = 0.3  # expression share of the face outline above the mouth
# The skin beside the lips: a portrait with its mouth wide open (d10's frame
# 100, tongue out) has the tracker's points below the lower lip (18, 200,
# 421...) on the lip's own lower edge, 0-4 px from its outer contour. A driver
# closing its mouth lifts the lower lip 0.3 face sizes and those points 0.05:
# the strip between, near nothing wide in the photo, stretched thirtyfold
# into pink spikes down the chin (the lip's edge drawn out between each pair
# of points), and triangles whose points passed each other flipped. So every
# face point beside a lip (below the lower one's outer contour, above the
# upper one's, between the mouth corners: lip_rows) keeps its distance from
# that contour, measured down (up) the face in canonical space, within
# [min(g, LIP_KEEP·g), LIP_STRETCH·max(g, 0) + LIP_SLACK] of its rest gap g:
# the lip drags the skin next to it and the stretch spreads down the chin.
# A face the tracker reads well has its nearest points 0.03-0.1 face sizes
# from the lips: talking never reaches the limits; d6's widest mouths pull
# the lower lip down past half its gap (s1 by d6: 84 of 300 frames), and the
# skin below then moves down with it (mouth r 0.96 -> 0.98 in d6's
# self-reenactment, PSNR unchanged).
LIP_KEEP = 0.5
LIP_STRETCH = 3.0
LIP_SLACK = 0.015  # face sizes
LIP_REACH = 0.25  # face sizes: points further from the lip than this are never held
MAX_LIP_POINTS = 64


@dataclass(frozen=True, eq=False)
class MeshRig:
    """Per-avatar constants of the target-mesh computation (M = all points)."""

    canon0: np.ndarray  # (M,3) float32 canonical points of the avatar (depth: turning_depth)
    src: np.ndarray  # (M,2) float32 crop pixels of the points at neutral
    pose_weight: np.ndarray  # (M,2) float32 (move, turn): 1 follows the head fully, 0 fixed
    expr_map: np.ndarray  # (M,478) float32: Motion.expression → per-point deltas
    lid_upper: np.ndarray  # (14,) int64 upper-lid points (7 per eye)
    lid_lower: np.ndarray  # (14,) int64 matching lower-lid points
    lid_gap0: np.ndarray  # (14,3) float32 canonical lower→upper lid vector at neutral
    lid_inner: np.ndarray  # (14,) int64 the matching eye-interior points
    lid_eye: np.ndarray  # (14,) int64 0 = image-left eye, 1 = image-right eye
    lid_spread: np.ndarray  # (M,42) float32: upper-lid, lower-lid, eye-interior corrections → per-point deltas
    jaw_weight: np.ndarray  # (M,) float32: share of a jaw drop each point takes
    mouth_gap0: float  # canonical inner-lip gap at neutral
    center0: np.ndarray  # (3,) float32 face centre, crop pixels
    rotation0: np.ndarray  # (3,3) float32 face axes
    size0: float  # face size in crop pixels
    controls: np.ndarray  # (Nc,) int64 points that drive the warp (iris excluded)
    band_rows: np.ndarray  # (B,) int64 band points (ring 1, ring 2), then surround points
    band_inner: np.ndarray  # (B,) int64 the point each must stay outside of
    band_normal: np.ndarray  # (B,2) float32 its outward direction at rest
    band_gap0: np.ndarray  # (B,) float32 its rest gap along that direction, crop pixels
    move_limit: np.ndarray  # (2,2) float32 head travel limits, face sizes: rows x, y; columns towards -, +
    # (M,2) float32 crop pixels: each point's target is clipped to [bound_lo,
    # bound_hi] (±FREE where no photo edge holds it; see EDGE_STEP)
    bound_lo: np.ndarray
    bound_hi: np.ndarray
    turn_limit: np.ndarray  # (2,) float32 yaw limits, degrees: towards -, + (see turn_limit)
    # (M, G·G) float32 bilinear weights of each point in the Motion.surround
    # grid (0 rows: face); sparse (4 weights a row of 3721) so the per-frame
    # product costs microseconds, not a millisecond
    surround_map: Any
    # (K,) int64 points beside a lip, (K,M) float32 the lip contour's height
    # at each (two weights), (K,3) float32 (side: +1 below the lower lip, -1
    # above the upper; lowest, highest gap, canonical): see LIP_KEEP
    lip_rows: np.ndarray = None  # type: ignore[assignment]
    lip_anchor: np.ndarray = None  # type: ignore[assignment]
    lip_limit: np.ndarray = None  # type: ignore[assignment]

    @property
    def num_points(self) -> int:
        return int(self.canon0.shape[0])

    @property
    def follows_surround(self) -> np.ndarray:
        """(M,) bool: the points the driver's surround flow moves."""
        return np.asarray(abs(self.surround_map).sum(axis=1)).ravel() > 0


def knee_limit(value, limit):
    """Identity up to ``KNEE·limit``, then a smooth bend towards ``limit``
    (never beyond). Element-wise; float32."""
    return soft_limit(value, limit, KNEE).astype(np.float32)


def turning_depth(z: np.ndarray) -> np.ndarray:
    """Canonical depth as turns use it: in front of the face centre as
    tracked, behind it saturating softly at DEPTH_LIMIT."""
    z = np.asarray(z, np.float64)
    return np.where(z > 0.0, soft_limit(z, DEPTH_LIMIT, KNEE), z)


def smooth_depth(canon: np.ndarray, plane: np.ndarray, rows: int) -> np.ndarray:
    """(M,) canonical depth with the first ``rows`` points' depth averaged
    over their neighbours in the photo (Gaussian over ``plane``, the points'
    image positions in face sizes, DEPTH_SMOOTH) except round the nose, which
    keeps its own (NOSE_REACH, in canonical x, y); the rest of the points
    (the border) keep theirs.

    The tracker's depth is a guess that jumps between neighbouring points,
    most where the photo sees the face side-on, and a turn moves each point by
    its depth: the jumps folded or tore the skin between them (20-180 folded
    triangles on every face tried at a 22° turn, a three-quarter painting's
    cheek stretched twentyfold into streaks). What folds is two points moving
    apart by more than they lie apart in the photo, so the reach is measured
    in the photo: on a three-quarter face's far side, where the photo packs
    the cheek into a thin strip, it spans more of the face than in canonical
    space. The nose is the one sharp relief a face has, and the turn a viewer
    (and the tracker) reads is mostly the nose passing the eyes: smoothed
    with the rest it passed them a quarter less."""
    z = np.asarray(canon[:, 2], np.float64).copy()
    if rows <= 0:
        return z
    xy = np.asarray(plane[:rows], np.float64)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=-1)
    w = np.exp(-0.5 * d2 / DEPTH_SMOOTH**2)
    smooth = (w @ z[:rows]) / w.sum(axis=1)
    off = (np.asarray(canon[:rows, :2], np.float64) - np.asarray(canon[mesh.NOSE_TIP, :2], np.float64))
    off /= NOSE_REACH * np.array([1.0, 1.3])
    keep = np.exp(-(off**2).sum(axis=1))
    z[:rows] = smooth + keep * (z[:rows] - smooth)
    return z


def limit_pose(angles: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) clipped to POSE_LIMITS. The motion stage already
    bends them softly below it; a second bend here would turn the head less
    than the estimator asked for."""
    lim = np.asarray(POSE_LIMITS, np.float32)
    return np.clip(np.asarray(angles, np.float32), -lim, lim)


def turn_limit(rotation0: np.ndarray) -> np.ndarray:
    """(2,) how far the avatar may turn (yaw, degrees) towards -, +: as far
    from facing the camera as a frontal face may (POSE_LIMITS), counting the
    photo's own turn beyond TURN_OWN_FREE, and at least TURN_ROOM_MIN."""
    own = float(euler_from_matrix(np.asarray(rotation0, np.float64))[1])
    most = POSE_LIMITS[1]
    away = [max(-own - TURN_OWN_FREE, 0.0), max(own - TURN_OWN_FREE, 0.0)]
    return np.array([max(most - a, TURN_ROOM_MIN) for a in away], np.float32)


def limit_turn(yaw: float, limit: np.ndarray) -> float:
    """The yaw bent softly towards the avatar's own limit on its side
    (MeshRig.turn_limit); a side with the full POSE_LIMITS is left as the
    motion stage bent it (bent twice, a frontal face would turn less than asked)."""
    side = float(limit[0] if yaw < 0.0 else limit[1])
    return float(yaw) if side >= POSE_LIMITS[1] else float(knee_limit(yaw, side))


def soft_move(translation: np.ndarray, scale: float, limit: np.ndarray) -> tuple[np.ndarray, float]:
    """Translation and scale, saturating softly at ``limit`` (MeshRig.move_limit:
    per axis and direction) and LOG_SCALE_LIMIT."""
    t = np.asarray(translation, np.float32)
    lim = np.asarray(limit, np.float32)
    t = knee_limit(t, np.where(t < 0.0, lim[:, 0], lim[:, 1]))
    s = float(np.exp(knee_limit(np.log(scale), LOG_SCALE_LIMIT)))
    return t, s


def move_limit(oval: np.ndarray, size: float, photo: tuple[float, float, float, float] | None) -> np.ndarray:
    """(2,2) face sizes the head may travel (rows x, y; columns towards -, +)
    for a face outline ``oval`` (K,2) and the photo's rectangle ``photo``
    (x0, y0, x1, y1), both in crop pixels: MOVE_LIMIT, less where the photo
    reaches little beyond the head on the side a move draws in, FACE_SPARE
    where it cuts the face there (None: no photo bounds, MOVE_LIMIT
    everywhere)."""
    limit = np.full((2, 2), MOVE_LIMIT, np.float32)
    if photo is None:
        return limit
    # moving left draws in what lies right of the head, and so on
    def room(x0, y0, x1, y1):
        return np.array([[photo[2] - x1, x0 - photo[0]], [photo[3] - y1, y0 - photo[1]]]) / size

    side, top, bottom = HEAD_MARGIN
    face_lo, face_hi = np.min(oval, axis=0), np.max(oval, axis=0)
    head = room(*(face_lo - (side * size, top * size)), *(face_hi + (side * size, bottom * size)))
    limit = np.minimum(limit, np.maximum(head, 0.0) + MOVE_SPARE)
    cut = room(*face_lo, *face_hi) < -FACE_SPARE
    return np.where(cut, np.minimum(limit, FACE_SPARE), limit).astype(np.float32)


def target_points(rig: MeshRig, motion: Motion) -> np.ndarray:
    """(M,2) float32 crop-pixel positions of every rig point for ``motion``."""
    canon = rig.canon0 + rig.expr_map @ motion.expression
    canon = canon + rig.lid_spread @ _lid_fix(rig, canon, motion.eyes_closed)
    gap = canon[mesh.LIP_INNER_LOWER_MID, 1] - canon[mesh.LIP_INNER_UPPER_MID, 1]
    opening = MOUTH_FULL_GAP * float(np.clip(motion.mouth_open, 0.0, 1.5))
    wanted = max(gap, opening + min(rig.mouth_gap0, gap), 0.0)
    canon[:, 1] += (wanted - gap) * rig.jaw_weight
    canon = keep_lip_skin(rig, canon)
    pitch, yaw, roll = limit_pose(motion.rotation)
    yaw = limit_turn(yaw, rig.turn_limit)
    rot = matrix_from_euler(pitch, yaw, roll).astype(np.float32) @ rig.rotation0
    translation, scale = soft_move(motion.translation, float(motion.scale), rig.move_limit)
    # rotated in 3-D about the face centre and projected (orthographic), the
    # depth's share of the change from the avatar's own pose × PARALLAX; the
    # last term puts the neutral face exactly where the photo has it (canon0's
    # depth is turning_depth's, not the tracker's)
    turned = (canon @ rot.T)[:, :2] + (PARALLAX - 1.0) * canon[:, 2:3] * (rot[:2, 2] - rig.rotation0[:2, 2])
    turned += (rig.src - rig.center0[:2]) / rig.size0 - (rig.canon0 @ rig.rotation0.T)[:, :2]
    offset = translation * rig.size0
    full = turned * (rig.size0 * scale) + rig.center0[:2] + offset
    shifted = rig.src + offset + (scale - 1.0) * (rig.src - rig.center0[:2])
    w_move, w_turn = rig.pose_weight[:, :1], rig.pose_weight[:, 1:]
    target = rig.src + w_move * (shifted - rig.src) + w_turn * (full - shifted)
    if motion.surround is not None:
        target = follow_surround(rig, target, motion.surround)
    target = keep_band_outside(rig, target)
    return np.clip(target, rig.bound_lo, rig.bound_hi).astype(np.float32)


def keep_lip_skin(rig: MeshRig, canon: np.ndarray) -> np.ndarray:
    """``canon`` with each point beside a lip moved down (up) the face to
    keep its gap from the lip's contour within its limits (LIP_KEEP)."""
    if rig.lip_rows is None or len(rig.lip_rows) == 0:
        return canon
    side, lo, hi = rig.lip_limit[:, 0], rig.lip_limit[:, 1], rig.lip_limit[:, 2]
    y = canon[:, 1]
    gap = side * (y[rig.lip_rows] - rig.lip_anchor @ y)
    canon = np.array(canon, np.float32)
    np.add.at(canon[:, 1], rig.lip_rows, side * (np.clip(gap, lo, hi) - gap))
    return canon


def keep_band_outside(rig: MeshRig, target: np.ndarray) -> np.ndarray:
    """``target`` with every band point pushed outwards as far as it takes to
    keep BAND_KEEP of its rest gap from the point inside it; untouched while
    it does (so at rest, exactly). Three times: ring 2 then sees ring 1
    pushed, the surround points both."""
    target = np.array(target, np.float32)
    for _ in range(BAND_PASSES):
        gap = ((target[rig.band_rows] - target[rig.band_inner]) * rig.band_normal).sum(axis=1)
        push = np.maximum(BAND_KEEP * rig.band_gap0 - gap, 0.0)
        target[rig.band_rows] += rig.band_normal * push[:, None]
    return target


def follow_surround(rig: MeshRig, target: np.ndarray, surround: np.ndarray) -> np.ndarray:
    """Hair, neck and shoulder points moved as the driver's surroundings moved
    (``Motion.surround``), in proportion to how much of the driver's person
    is there; elsewhere they keep ``target`` (the head-pose guess). The
    correction to the head-pose guess saturates at SURROUND_REACH face sizes:
    the face itself is softly pose-limited, and hair that followed a big head
    move further than the face did would tear at the hairline."""
    at = rig.surround_map @ np.asarray(surround, np.float32).reshape(-1, 3)  # (M, 3): displacement, weight
    moved = rig.src + at[:, :2] * rig.size0
    correction = knee_limit((moved - target) / rig.size0, SURROUND_REACH) * rig.size0
    return target + at[:, 2:] * correction


def _lid_fix(rig: MeshRig, canon: np.ndarray, eyes_closed: np.ndarray) -> np.ndarray:
    """(28,3) upper- then lower-lid corrections. The lid opening (a share of
    the avatar's own) follows the expression's lid geometry, except where
    ``eyes_closed`` asks for more closure (idle blinks, and the driver's blink
    scaled to shut fully), and never goes below zero (no lid crossing)."""
    closed = np.clip(eyes_closed, -0.5, 1.0)[rig.lid_eye]
    upper, lower = canon[rig.lid_upper], canon[rig.lid_lower]
    norm = np.maximum((rig.lid_gap0 * rig.lid_gap0).sum(axis=1), 1e-9)
    geometric = ((upper - lower) * rig.lid_gap0).sum(axis=1) / norm
    opening = np.where(closed > 0.0, np.minimum(1.0 - closed, geometric), geometric)
    opening = np.maximum(opening, 0.0)
    lower_fix = rig.lid_gap0 * (LOWER_LID_RAISE * np.maximum(closed, 0.0))[:, None]
    upper_fix = lower + lower_fix + rig.lid_gap0 * opening[:, None] - upper
    # eye-interior points ride down with the upper lid (it covers the eye)
    # until they would pass the lower lid; from there they close with it
    inner = canon[rig.lid_inner]
    f = EYE_INNER_FRACTION
    place = np.maximum(f - (1.0 - opening), f * opening)
    inner_fix = lower + lower_fix + rig.lid_gap0 * place[:, None] - inner
    return np.concatenate([upper_fix, lower_fix, inner_fix]).astype(np.float32)


def build_rig(points: np.ndarray, crop_size: int, photo: tuple[float, float, float, float] | None = None,
              person: np.ndarray | None = None) -> MeshRig:
    """The rig for face landmarks ``points`` (478,3) in crop pixels;
    ``photo``: the photo's rectangle in crop pixels (see move_limit);
    ``person``: the crop's person segmentation (crop_size², 0..1; see edge_cuts)."""
    pts = np.asarray(points, np.float64)
    pose = face_pose(pts)
    face_canon = to_canonical(pts, pose).astype(np.float64)
    upper = np.array([i for e in range(2) for i in mesh.UPPER_LID[e][1:-1]], np.int64)
    lower = np.array([i for e in range(2) for i in mesh.LOWER_LID[e][1:-1]], np.int64)
    eye = np.repeat(np.arange(2), len(upper) // 2)

    # eye-interior points near the lower lid, carried down with the upper lid
    # so a closing lid covers the eye instead of squashing it (see docs/warp.md)
    inner_canon = face_canon[lower] + EYE_INNER_FRACTION * (face_canon[upper] - face_canon[lower])
    inner_rows = np.zeros((len(upper), NUM_FACE))
    inner_rows[np.arange(len(upper)), lower] = 1.0 - EYE_INNER_FRACTION
    inner_rows[np.arange(len(upper)), upper] = EYE_INNER_FRACTION

    band_xyz, band_pose_w, band_anchor, band_share, band_ring = _band(pts, pose, crop_size)
    band_canon = to_canonical(band_xyz, pose).astype(np.float64)
    border = _border(crop_size)
    placed = np.concatenate([pts[:, :2], band_xyz[:, :2]])
    around, around_pose_w, around_anchor = _surround_points(pts, pose, placed, crop_size)
    # the photo's edges inside the crop get points of their own, weighted as the surround points are
    cuts = edge_cuts(photo, crop_size, person, float(pose.size), chin=float(pts[list(mesh.FACE_OVAL), 1].max()))
    edge, edge_pose_w, edge_anchor = _edge_points(pts, pose, cuts, crop_size)
    around_all = np.concatenate([around, edge])

    n_in, n_band, n_border = len(upper), len(band_xyz), len(border)
    n_around = len(around_all)  # the surround points, then the edge points
    m = NUM_FACE + n_in + n_band + n_around + n_border
    first_band, first_around = NUM_FACE + n_in, NUM_FACE + n_in + n_band
    canon = np.zeros((m, 3))
    canon[:NUM_FACE] = face_canon
    canon[NUM_FACE : NUM_FACE + n_in] = inner_canon
    canon[NUM_FACE + n_in : NUM_FACE + n_in + n_band] = band_canon
    src = np.zeros((m, 2))
    src[:NUM_FACE] = pts[:, :2]
    src[NUM_FACE : NUM_FACE + n_in] = pts[lower, :2] + EYE_INNER_FRACTION * (pts[upper, :2] - pts[lower, :2])
    src[NUM_FACE + n_in : NUM_FACE + n_in + n_band] = band_xyz[:, :2]
    src[first_around : first_around + n_around] = around_all[:, :2]
    canon[first_around : first_around + n_around] = to_canonical(around_all, pose)
    src[first_around + n_around :] = border
    # the border has no canonical meaning; pose weight 0 keeps it exactly in place
    canon[first_around + n_around :] = 0.0

    pose_w = np.ones((m, 2))
    pose_w[NUM_FACE + n_in : NUM_FACE + n_in + n_band] = band_pose_w
    pose_w[first_around : first_around + n_around] = np.concatenate([around_pose_w, edge_pose_w])
    pose_w[first_around + n_around :] = 0.0
    follows = np.arange(first_band, first_around + n_around)
    surround_map = _grid_weights(src[follows], follows, m, pose.center[:2], float(pose.size))

    expr_map = np.zeros((m, NUM_FACE))
    expr_map[:NUM_FACE] = np.diag(_outline_share(face_canon))
    expr_map[NUM_FACE : NUM_FACE + n_in] = inner_rows
    expr_map[NUM_FACE + n_in + np.arange(n_band), band_anchor] = band_share * expr_map[band_anchor, band_anchor]

    spread = _lid_spread(face_canon, upper, lower, eye, m, n_in)

    jaw = np.zeros(m)
    jaw[:NUM_FACE] = _jaw_weights(face_canon)
    jaw[NUM_FACE : NUM_FACE + n_in] = 0.0
    jaw[NUM_FACE + n_in + np.arange(n_band)] = band_share * jaw[band_anchor]

    controls = np.array([i for i in range(m) if i not in IRIS], np.int64)
    # the edge points keep their gap from the face as the surround points do: a head moving
    # towards an edge pushes them out of the photo instead of sliding over them
    band_rows, band_inner, band_normal, band_gap0 = _band_order(
        src, band_anchor, band_ring, first_band, pts, np.concatenate([around_anchor, edge_anchor]), first_around)
    f32 = np.float32
    bound_lo, bound_hi = edge_bounds(src, cuts, crop_size, first_band)
    # the depth turns use: smoothed, then flattened behind the face centre
    z = smooth_depth(canon, src / float(pose.size), first_around + n_around)
    z[NUM_FACE : NUM_FACE + n_in] = z[lower] + EYE_INNER_FRACTION * (z[upper] - z[lower])  # on their lids, as before
    canon0 = np.column_stack([canon[:, :2], turning_depth(z)]).astype(f32)
    return MeshRig(
        canon0=canon0,
        src=src.astype(f32),
        pose_weight=pose_w.astype(f32),
        expr_map=expr_map.astype(f32),
        lid_upper=upper,
        lid_lower=lower,
        lid_gap0=(canon0[upper] - canon0[lower]).astype(f32),
        lid_inner=NUM_FACE + np.arange(n_in, dtype=np.int64),
        lid_eye=eye.astype(np.int64),
        lid_spread=spread.astype(f32),
        jaw_weight=jaw.astype(f32),
        mouth_gap0=float(face_canon[mesh.LIP_INNER_LOWER_MID, 1] - face_canon[mesh.LIP_INNER_UPPER_MID, 1]),
        center0=pose.center.astype(f32),
        rotation0=pose.rotation.astype(f32),
        size0=float(pose.size),
        controls=controls,
        band_rows=band_rows,
        band_inner=band_inner,
        band_normal=band_normal.astype(f32),
        band_gap0=band_gap0.astype(f32),
        move_limit=move_limit(pts[list(mesh.FACE_OVAL), :2], float(pose.size), photo),
        bound_lo=bound_lo.astype(f32),
        bound_hi=bound_hi.astype(f32),
        turn_limit=turn_limit(pose.rotation),
        surround_map=surround_map,
        **_lip_skin(face_canon, m),
    )


def _band_order(src: np.ndarray, anchor: np.ndarray, ring: np.ndarray, first: int, pts: np.ndarray,
                around_anchor: np.ndarray, first_around: int):
    """For each band point (rig rows ``first`` on), then each surround point
    (rows ``first_around`` on): its row, the row of the point inside it (ring
    1: its outline landmark; ring 2: the ring-1 point of that landmark, or the
    landmark when ring 1 has none there; a surround point: the outermost of
    those at its angle that lies inside it), its unit outward direction from
    the face centre and its rest gap along it."""
    rows = first + np.arange(len(anchor), dtype=np.int64)
    inner = anchor.astype(np.int64).copy()
    by_ring = [{int(a): int(r) for a, r, k in zip(anchor, rows, ring) if k == n} for n in range(len(BAND_RINGS))]
    for j in np.nonzero(ring > 0)[0]:
        inner[j] = by_ring[0].get(int(anchor[j]), int(anchor[j]))
    _, centre, _, _, _ = _oval_layout(pts)

    def outward(r: np.ndarray) -> np.ndarray:
        out = src[r] - centre
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)

    # a surround point with nothing inside it at its angle is left out: held
    # to a gap it does not have at rest, it would be pushed at rest
    around, around_inner = [], []
    for j, a in enumerate(around_anchor):
        row = first_around + j
        candidates = [d[int(a)] for d in reversed(by_ring) if int(a) in d] + [int(a)]
        direction = outward(np.array([row]))[0]
        inside = next((c for c in candidates if float((src[row] - src[c]) @ direction) > 0.0), None)
        if inside is not None:
            around.append(row)
            around_inner.append(inside)
    rows = np.concatenate([rows, np.array(around, np.int64)])
    inner = np.concatenate([inner, np.array(around_inner, np.int64)])
    normal = outward(rows)
    gap0 = ((src[rows] - src[inner]) * normal).sum(axis=1)
    return rows, inner, normal, np.maximum(gap0, 0.0)


def _lid_spread(face_canon: np.ndarray, upper: np.ndarray, lower: np.ndarray, eye: np.ndarray, m: int,
                n_in: int) -> np.ndarray:
    """(m, 3k): how the upper-lid, lower-lid and eye-interior corrections
    spread to the rig's points (the lid skin stretches with its lid)."""
    k = len(upper)
    spread = np.zeros((m, 3 * k))
    skip = set(upper) | set(lower) | set(IRIS)
    spread[:NUM_FACE, :k] = _lid_skin_weights(face_canon, upper, eye, skip, LID_SKIN_REACH, above=True)
    spread[:NUM_FACE, k : 2 * k] = _lid_skin_weights(face_canon, lower, eye, skip, LOWER_LID_REACH, above=False)
    spread[upper, np.arange(k)] = 1.0
    spread[lower, k + np.arange(k)] = 1.0
    spread[NUM_FACE + np.arange(n_in), 2 * k + np.arange(n_in)] = 1.0
    return spread


def _grid_weights(points: np.ndarray, rows: np.ndarray, m: int, center: np.ndarray, size: float) -> Any:
    """(m, G·G) sparse float32: bilinear weights of crop ``points`` (rig rows
    ``rows``) in the Motion.surround grid laid over this face (points beyond
    the grid take its edge); other rows empty."""
    from scipy.sparse import csr_matrix

    g = SURROUND_GRID
    pos = ((np.asarray(points, np.float64) - center) / size / SURROUND_SPAN + 0.5) * g - 0.5
    pos = np.clip(pos, 0.0, g - 1 - 1e-6)
    corner = np.floor(pos).astype(np.int64)
    frac = pos - corner
    at_rows, at_cols, weights = [], [], []
    for dy in (0, 1):
        for dx in (0, 1):
            at_rows.append(rows)
            at_cols.append((corner[:, 1] + dy) * g + corner[:, 0] + dx)
            weights.append((frac[:, 0] if dx else 1.0 - frac[:, 0]) * (frac[:, 1] if dy else 1.0 - frac[:, 1]))
    # csr_matrix sums duplicate entries, as the bilinear weights need
    return csr_matrix(
        (np.concatenate(weights).astype(np.float32), (np.concatenate(at_rows), np.concatenate(at_cols))),
        shape=(m, g * g),
    )


def _surround_points(pts: np.ndarray, pose, placed: np.ndarray, crop_size: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surround-grid nodes that get their own control point (inside the crop,
    clear of the face, not crowding other points): (K, 3) positions (crop
    pixels, depth of the nearest face-outline point), (K, 2) pose weights,
    those of the outer band ring at the same angle, fading with distance (far
    away, only the driver's surround flow moves them), and (K,) the outline
    landmark at their angle."""
    u = surround_node_offsets() * pose.size
    nodes = np.stack(np.meshgrid(u, u), axis=-1).reshape(-1, 2) + pose.center[:2]
    margin = 0.04 * crop_size
    spacing = 0.5 * SURROUND_SPAN / SURROUND_GRID * pose.size
    inside = (nodes >= margin).all(axis=1) & (nodes <= crop_size - margin).all(axis=1)
    nodes = nodes[inside]
    outline, distance, z, weight = _beside_face(pts, nodes)
    keep = [i for i, p in enumerate(nodes)
            if distance[i] >= SURROUND_CLEARANCE and np.min(np.linalg.norm(placed - p, axis=1)) >= spacing]
    xyz_a = np.column_stack([nodes[keep], z[keep]]).reshape(-1, 3)
    weight_a = weight[keep].reshape(-1, 2)
    anchor_a = np.asarray(outline[keep], np.int64)
    if len(xyz_a) > MAX_SURROUND_POINTS:  # keep the nearest to the face: they matter most
        keep = np.argsort(np.linalg.norm(xyz_a[:, :2] - _oval_layout(pts)[1], axis=1))[:MAX_SURROUND_POINTS]
        xyz_a, weight_a, anchor_a = xyz_a[keep], weight_a[keep], anchor_a[keep]
    return xyz_a, weight_a, anchor_a


def _beside_face(pts: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For crop points ``at`` (K, 2) off the face: the face-outline landmark
    at each one's angle from the face centre (K,), the distance in that
    outline point's radii (K,), its depth (K,), and the pose weights (K, 2)
    a point there takes: the outer band ring's at that angle, fading with
    distance (:func:`_surround_fall`)."""
    oval_idx, centre, rel, radius, top = _oval_layout(pts)
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    factor, w_top, w_bottom, _ = BAND_RINGS[-1]
    at = np.asarray(at, np.float64).reshape(-1, 2)
    towards = np.arctan2(at[:, 1] - centre[1], at[:, 0] - centre[0])
    k = np.argmin(np.abs(np.angle(np.exp(1j * (angle[None, :] - towards[:, None])))), axis=1)
    distance = np.linalg.norm(at - centre, axis=1) / radius[k]
    weight = _ring_weight(w_top, w_bottom, top[k][:, None]) * _surround_fall(distance / factor, top[k])[:, None]
    return oval_idx[k], distance, pts[oval_idx[k], 2], weight


def edge_cuts(photo: tuple[float, float, float, float] | None, crop_size: int, person: np.ndarray | None,
              size: float, chin: float = np.inf) -> list[tuple[int, float, bool, np.ndarray]]:
    """The photo's edges that lie inside the crop and cut the person above
    the ``chin`` (crop y of the face outline's lowest point): for each,
    ``(axis, at, low, along)`` — the edge is ``x = at`` (axis 0) or ``y = at``
    (axis 1), ``low`` for the left (top) edge, and ``along`` (crop_size,)
    bool, per crop pixel along the edge, where the person (``person``: the
    crop's segmentation, crop_size² 0..1, over EDGE_CUT_SURE; None:
    everywhere) reaches the edge, widened by EDGE_CUT_MARGIN face sizes.
    Where only background reaches an edge, the moving layer is clear there
    and the plate shows what lies behind. Below
    the chin the person is neck and body, whose continuation beyond the edge
    the canvas's carried-out edge resembles (a shirt, a collar) and which the
    driver's surround flow moves as the real body moved: held there, the
    self-reenactment of d18 and d10 (their shoulders cut by the bottom and
    right edges) lost 0.1 dB."""
    if photo is None:
        return []
    x0, y0, x1, y1 = photo
    cuts = []
    reach = int(round(EDGE_CUT_MARGIN * size))
    for axis, at, low in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if not 1.0 < at < crop_size - 1.0 or (axis == 1 and at >= chin):
            continue  # beyond the crop (the crop's own border holds there), or below the chin
        lo_span, hi_span = (y0, y1) if axis == 0 else (x0, x1)
        along = np.zeros(crop_size, bool)
        a, b = int(np.ceil(max(lo_span, 0.0))), int(np.floor(min(hi_span, crop_size - 1.0)))
        if b <= a:
            continue
        if person is None:
            along[a : b + 1] = True
        else:
            line = int(np.clip(np.floor(at) + (2 if low else -2), 0, crop_size - 1))  # just inside the photo
            values = person[a : b + 1, line] if axis == 0 else person[line, a : b + 1]
            along[a : b + 1] = np.asarray(values) > EDGE_CUT_SURE
            if reach > 0 and along.any():
                along = cv2.dilate(along.astype(np.uint8)[None], np.ones((1, 2 * reach + 1), np.uint8))[0] > 0
            along[:a], along[b + 1 :] = False, False
        if axis == 0:
            along[max(int(np.ceil(min(chin, crop_size))), 0) :] = False
        if along.any():
            cuts.append((axis, float(at), low, along))
    return cuts


def _edge_points(pts: np.ndarray, pose, cuts: list, crop_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along the photo's edges where they cut the person (:func:`edge_cuts`),
    EDGE_STEP face sizes apart (at most MAX_EDGE_POINTS), none within
    EDGE_FACE_CLEAR of the face: (K, 3) positions (crop pixels, depth), (K, 2)
    pose weights and (K,) outline landmarks, as the surround points'."""
    none = np.zeros((0, 3)), np.zeros((0, 2)), np.zeros(0, np.int64)
    if not cuts:
        return none
    total = sum(int(along.sum()) for *_, along in cuts)
    step = max(EDGE_STEP * float(pose.size), total / max(MAX_EDGE_POINTS - 2 * len(cuts), 1))
    lines = []
    for axis, at, _, along in cuts:
        where = np.flatnonzero(along)
        lo, hi = float(where[0]), float(where[-1])
        t = np.linspace(lo, hi, max(int(np.ceil((hi - lo) / step)), 1) + 1)
        t = t[along[np.clip(np.round(t).astype(int), 0, crop_size - 1)]]
        lines.append(np.column_stack([np.full_like(t, at), t]) if axis == 0 else np.column_stack([t, np.full_like(t, at)]))
    at = np.unique(np.round(np.concatenate(lines), 3), axis=0)  # a corner may come twice
    if not len(at):
        return none
    outline, distance, z, weight = _beside_face(pts, at)
    keep = distance >= EDGE_FACE_CLEAR
    return np.column_stack([at[keep], z[keep]]), weight[keep], outline[keep].astype(np.int64)


def edge_bounds(src: np.ndarray, cuts: list, crop_size: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    """(M, 2) lower and upper bounds on the rig points' targets (crop pixels):
    a point from row ``first`` on (off the face) that lies ``d`` pixels inside
    an edge where it cuts the person (:func:`edge_cuts`: the point's place
    along the edge is in ``along``) moves inwards, away from that edge, at
    most EDGE_STRETCH × ``d`` (a point on the edge or beyond it not at all),
    so the strip between it and the edge stretches at most 1 + EDGE_STRETCH
    times and nothing from beyond the edge comes into view; ±FREE where no
    edge bounds it. At rest every point is within its bounds."""
    src = np.asarray(src, np.float64)
    lo, hi = np.full(src.shape, -FREE), np.full(src.shape, FREE)
    off_face = np.arange(len(src)) >= first
    for axis, at, low, along in cuts:
        v, u = src[:, axis], src[:, 1 - axis]
        place = np.clip(np.round(u).astype(int), 0, crop_size - 1)
        rows = off_face & along[place]
        if low:  # the left (top) edge: moving right (down) draws in what lies beyond it
            hi[rows, axis] = np.minimum(hi[rows, axis], v[rows] + EDGE_STRETCH * np.maximum(v[rows] - at, 0.0))
        else:
            lo[rows, axis] = np.maximum(lo[rows, axis], v[rows] - EDGE_STRETCH * np.maximum(at - v[rows], 0.0))
    return lo, hi


def _surround_fall(reach, top):
    """How much of the outer band ring's pose weight a surround point
    ``reach`` × that ring's radius from the face centre keeps: all of it
    inside the ring; beyond, beside and below the head (shoulders, the body)
    it fades as 1/reach², above it much less (top², ``top`` as in
    :func:`_oval_layout`). Above the head lies hair, which moves with it, or
    background on the still plate, where the moving layer is not drawn; the
    rings reach only a face size above the face centre and a faded grid
    beyond them left a head moved a third of a face size down with its hair
    stretched up into a quiff (d12 driving s5 and s1; plain-d12 +0.2 dB)."""
    fall = np.minimum(1.0, 1.0 / np.maximum(reach, 1e-6)) ** 2
    return fall + (1.0 - fall) * np.asarray(top) ** 2


def _outline_share(canon: np.ndarray) -> np.ndarray:
    """(478,) how much of its expression delta each landmark takes: 1, except
    the face outline above the mouth (temples, forehead, cheek edges), which
    barely moves with expressions while its tracked position is the noisiest;
    following it would shake the silhouette against the background."""
    share = np.ones(NUM_FACE)
    mouth_y = canon[list(mesh.MOUTH_CORNERS), 1].mean()
    for i in mesh.FACE_OVAL:
        t = np.clip((canon[i, 1] - (mouth_y - 0.1)) / 0.2, 0.0, 1.0)  # 0 above, 1 below the mouth
        share[i] = OUTLINE_EXPRESSION + (1.0 - OUTLINE_EXPRESSION) * t
    return share


def _oval_layout(pts: np.ndarray):
    """The face outline seen from the face centre (mean of the rigid points),
    as the band rings and surround points measure it: oval landmark indices,
    centre (2,), offsets (K, 2), radii (K,) and how near the top each outline
    point is (K,: 1 top, 0 bottom)."""
    oval = np.array(mesh.FACE_OVAL)
    centre = pts[list(mesh.RIGID), :2].mean(axis=0)
    rel = pts[oval, :2] - centre
    radius = np.linalg.norm(rel, axis=1)
    top = 0.5 * (1.0 - rel[:, 1] / np.maximum(radius, 1e-6))
    return oval, centre, rel, radius, top


def _ring_weight(w_top, w_bottom, top: float) -> np.ndarray:
    """(move, turn) pose weights of a ring point ``top`` of the way up the face."""
    w_top, w_bottom = np.asarray(w_top), np.asarray(w_bottom)
    return w_bottom + (w_top - w_bottom) * top


def _band(pts: np.ndarray, pose, crop_size: int):
    """Rings of points around the face oval (hair, ears, neck): positions
    (3-D, crop pixels), pose weights, anchor landmark and expression share."""
    oval, centre, rel, _, top = _oval_layout(pts)
    margin = 0.06 * crop_size
    xyz, weight, anchor, share, rings = [], [], [], [], []
    for ring_no, (factor, w_top, w_bottom, expr_share) in enumerate(BAND_RINGS):
        ring = centre + rel * factor
        for k, (x, y) in enumerate(ring):
            if not (margin <= x <= crop_size - margin and margin <= y <= crop_size - margin):
                continue
            xyz.append((x, y, pts[oval[k], 2]))
            weight.append(_ring_weight(w_top, w_bottom, top[k]))
            anchor.append(oval[k])
            share.append(expr_share)
            rings.append(ring_no)
    return (np.array(xyz).reshape(-1, 3), np.array(weight).reshape(-1, 2), np.array(anchor, np.int64), np.array(share),
            np.array(rings, np.int64))


def _border(crop_size: int) -> np.ndarray:
    """Fixed points just outside the crop so every pixel lies inside the mesh."""
    lo, hi = -2.0, crop_size + 1.0
    t = np.linspace(lo, hi, BORDER_STEPS + 1)
    top = np.stack([t, np.full_like(t, lo)], 1)
    bottom = np.stack([t, np.full_like(t, hi)], 1)
    left = np.stack([np.full_like(t[1:-1], lo), t[1:-1]], 1)
    right = np.stack([np.full_like(t[1:-1], hi), t[1:-1]], 1)
    return np.concatenate([top, bottom, left, right])


def _lid_skin_weights(canon: np.ndarray, lid: np.ndarray, eye: np.ndarray, skip: set, reach: float, *, above: bool) -> np.ndarray:
    """(478, len(lid)): how much of each lid point's correction the skin above
    (or below) the lid takes: 1 at the lid, 0 at ``reach`` face sizes away, so
    lid skin stretches smoothly over a closing eye instead of tearing."""
    out = np.zeros((NUM_FACE, len(lid)))
    for e in range(2):
        cols = np.nonzero(eye == e)[0]
        xs, ys = canon[lid[cols], 0], canon[lid[cols], 1]
        order = np.argsort(xs)
        xs, ys, cols = xs[order], ys[order], cols[order]
        for i in range(NUM_FACE):
            if i in skip:
                continue
            x, y = canon[i, 0], canon[i, 1]
            if not (xs[0] <= x <= xs[-1]):
                continue
            away = (np.interp(x, xs, ys) - y) * (1.0 if above else -1.0)
            if not (0.0 < away < reach):
                continue
            j = int(np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 2))
            t = (x - xs[j]) / max(xs[j + 1] - xs[j], 1e-9)
            fall = 1.0 - away / reach
            out[i, cols[j]] += fall * (1.0 - t)
            out[i, cols[j + 1]] += fall * t
    return out


def _jaw_weights(canon: np.ndarray) -> np.ndarray:
    """(478,): 1 for the chin, 0 above the lip seam, falling off towards the
    jaw angles (the jaw hinges near the ears) and, near the lips, towards the
    mouth corners (so the opening is an oval, not a box)."""
    inner = np.array(mesh.LIPS_INNER)
    upper_inner = set(inner[1:10].tolist())
    lower_inner = set(inner[11:].tolist())
    seam_pts = canon[inner]
    order = np.argsort(seam_pts[:, 0])
    seam_x = seam_pts[order, 0]
    seam_y = seam_pts[order, 1]
    left, right = canon[mesh.MOUTH_CORNERS[0], 0], canon[mesh.MOUTH_CORNERS[1], 0]
    mid_x, half = 0.5 * (left + right), max(0.5 * abs(right - left), 1e-3)
    out = np.zeros(NUM_FACE)
    for i in range(NUM_FACE):
        if i in IRIS or i in upper_inner:
            continue
        x, y = canon[i, 0], canon[i, 1]
        rel = y - np.interp(x, seam_x, seam_y)
        below = 1.0 if i in lower_inner else np.clip(rel / 0.04, 0.0, 1.0)
        lateral = np.clip(1.0 - (abs(x - mid_x) - 0.3) / 0.45, 0.0, 1.0)
        u = min(abs(x - mid_x) / half, 1.0)
        oval = 1.0 - 0.75 * u**2 * (1.0 - np.clip(rel / 0.25, 0.0, 1.0))
        out[i] = below * lateral * oval
    for i in (*mesh.MOUTH_CORNERS, inner[0], inner[10]):
        out[i] = 0.2
    return out


def _lip_skin(canon: np.ndarray, m: int) -> dict[str, np.ndarray]:
    """MeshRig's lip_rows, lip_anchor, lip_limit for the face's canonical
    points ``canon`` (478,3) in a rig of ``m`` points (see LIP_KEEP)."""
    lips = set(mesh.LIPS_INNER) | set(mesh.LIPS_OUTER) | set(mesh.LIPS_BODY)
    outer = np.array(mesh.LIPS_OUTER)
    corners = [canon[c, 0] for c in mesh.MOUTH_CORNERS]
    x_lo, x_hi = min(corners), max(corners)
    seam = np.array(mesh.LIPS_INNER)
    seam_order = np.argsort(canon[seam, 0])
    seam_x, seam_y = canon[seam[seam_order], 0], canon[seam[seam_order], 1]
    contours = (
        (1.0, outer[10:].tolist() + [outer[0]]),  # the lower lip, from the image-right corner round to the left
        (-1.0, outer[:11].tolist()),  # the upper lip, left corner to right
    )
    rows, anchors, limits = [], [], []
    for side, contour in contours:
        idx = np.array(contour)
        order = np.argsort(canon[idx, 0])
        xs, ys, idx = canon[idx[order], 0], canon[idx[order], 1], idx[order]
        for i in range(NUM_FACE):
            x, y = float(canon[i, 0]), float(canon[i, 1])
            if i in lips or i in IRIS or not (x_lo < x < x_hi):
                continue
            below_seam = y > np.interp(x, seam_x, seam_y)
            if below_seam != (side > 0) or (side < 0 and y < canon[mesh.NOSE_BOTTOM, 1]):
                continue
            g = side * (y - float(np.interp(x, xs, ys)))
            if g > LIP_REACH:
                continue
            j = int(np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 2))
            t = (x - xs[j]) / max(float(xs[j + 1] - xs[j]), 1e-9)
            row = np.zeros(m)
            row[idx[j]], row[idx[j + 1]] = 1.0 - t, t
            rows.append(i)
            anchors.append(row)
            limits.append((side, min(g, LIP_KEEP * g), LIP_STRETCH * max(g, 0.0) + LIP_SLACK))
    keep = np.argsort([lim[2] for lim in limits], kind="stable")[:MAX_LIP_POINTS]  # the nearest, if ever too many
    return {
        "lip_rows": np.array([rows[k] for k in keep], np.int64),
        "lip_anchor": np.array([anchors[k] for k in keep], np.float32).reshape(-1, m),
        "lip_limit": np.array([limits[k] for k in keep], np.float32).reshape(-1, 3),
    }
