"""The driver's neutral for an offline render (``render --neutral``).

- ``auto`` (default): the driver frames whose head pose and expression are
  closest to the portrait's own (``vivicam.calibrate.reference``), so the
  portrait is driven relative to the moment the driver looks as it does; a
  portrait that is itself one of the driver's frames (a grabbed frame, a
  self-reenactment) is driven relative to exactly that frame.
- ``first``: the driving clip's first steady second with a face.
- a profile (JSON from ``vivicam calibrate``): that neutral face; the driver
  frame closest to it becomes the optical flow's reference.

Each gives the ``Neutral`` for the motion estimator, the driver frame the
pipeline's optical flow measures against, and a line saying what was chosen.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vivicam.types import DriverFrame, Landmarks

log = logging.getLogger(__name__)

CALIBRATION_SCAN_S = 5.0  # ``first``: how far into a driving video to look for steady frames
AUTO_SCAN_S = 120.0  # ``auto``/profile: how much of the driving video the reference is chosen from
# A portrait that is one of the driver's own frames (self-reenactment, a
# frame grabbed from the clip) matches that frame's thumbnail to within
# re-encoding noise; other frames of a talking clip stay well below this.
SAME_FRAME_DB = 34.0
THUMB_WIDTH = 64
NEUTRAL_MODES = ("auto", "first")
# the head's rest size: the median over this many first tracked frames. One
# frame's size is off by up to 0.25 % on a still driver, and the tracker
# settles over the first frames (a line through them, extrapolated back, was
# as bad): a render that kept such a size all along showed the 2048² s2 at
# rest 3-7 dB off the photo. A driver who comes nearer in that second (d11:
# 3 %) starts that much off the photo's size.
START_SIZE_FRAMES = 30
SIDEWAYS_ROLL = 50.0  # degrees of roll between driver and portrait beyond any head tilt


@dataclass(frozen=True, eq=False)
class DriverNeutral:
    """What a render is driven relative to. ``neutral``/``frame`` are None
    when no face was seen (the pipeline then calibrates when one appears)."""

    neutral: Any  # vivicam.calibrate.neutral.Neutral | None
    frame: DriverFrame | None
    note: str
    frames: tuple[int, int] | None = None  # first and last driver frame index used
    config: Any = None  # MotionConfig saved with a profile, if any
    # The landmarks of the driver's first frames as the scan's tracker saw
    # them (None: no face), when the caller lent its tracker: it has seen
    # exactly these frames, so a render goes on from there with it instead
    # of tracking them again.
    tracks: tuple[Landmarks | None, ...] | None = None
    warning: str | None = None  # what the user must hear about the driver (sideways_warning)
    # The portrait is ``frame`` itself: its camera was where that frame's
    # was, so the camera's motion counts from there (else from the first frame).
    portrait_is_frame: bool = False


def is_neutral_mode(spec: str | Path) -> bool:
    return str(spec) in NEUTRAL_MODES


def choose_driver_neutral(
    spec: str | Path, driving: str | Path, *, fps: float, portrait: Landmarks | Callable[[], Landmarks] | None = None,
    photo: np.ndarray | None = None, mirror: bool = False, calibration_s: float = 1.0,
    tracker: Any = None, stop: Callable[[], bool] | None = None, video: Any = None,
) -> DriverNeutral:
    """The driver's neutral for ``spec`` (``auto``, ``first`` or a profile
    path). ``auto`` needs ``portrait`` (the photo's face landmarks, or a
    function giving them: it is called after the driver's scan, so the photo
    can be analysed meanwhile); with the ``photo`` itself, a photo that is one
    of the driver's frames is driven relative to exactly that frame (the
    camera was where it was, too); ``mirror``: the motion will be mirrored, so
    the portrait's turn is matched by the opposite turn of the driver.
    ``tracker``: a fresh tracker to scan with, left open (the result's
    ``tracks`` say what it saw); ``stop``: checked every frame, True ends the
    scan early (another part of the render failed); ``video``: the driving
    video opened as a ``ReplayableVideo`` (the render reads it again)."""
    from vivicam.calibrate.neutral import load_profile
    from vivicam.calibrate.reference import face_state

    if str(spec) == "first":
        neutral, frame, index, tracks = _first_steady(driving, fps=fps, seconds=calibration_s, tracker=tracker,
                                                      stop=stop, video=video)
        if neutral is None:
            return DriverNeutral(None, None, f"neutral: no face in the first {CALIBRATION_SCAN_S:.0f} s of the "
                                 "driving video; calibrating when one appears", tracks=_lent(tracker, tracks))
        note = f"neutral: the driving video's first steady second with a face (up to driver frame {index})"
        return DriverNeutral(neutral, frame, note, (index, index), tracks=_lent(tracker, tracks))
    profile_neutral, config = (None, None) if str(spec) == "auto" else load_profile(spec)
    if str(spec) == "auto" and portrait is None:
        raise ValueError("--neutral auto needs the portrait's landmarks")
    scan = track_video(driving, fps=fps, scan_s=AUTO_SCAN_S, tracker=tracker, stop=stop, video=video)
    if str(spec) == "auto":
        portrait = portrait() if callable(portrait) else portrait
        target, what = face_state(portrait.points, portrait.image_size), "the portrait's pose and expression"
    else:
        target = face_state(profile_neutral.points(), profile_neutral.image_size)
        what = f"the neutral face of {Path(spec).name}"
    if mirror:
        target = target.mirrored()
    chosen = closest_frames(driving, target, fps=fps, photo=None if mirror else photo, scan=scan, video=video)
    tracks = _lent(tracker, scan[0])
    if chosen is None:
        note = "neutral: no face in the driving video"
        return DriverNeutral(profile_neutral, None, note, config=config, tracks=tracks)
    neutral, frame, (first, last), best, state = chosen
    if first == last == best and state is None:
        return DriverNeutral(neutral, frame, f"neutral: driver frame {best} (the portrait is that frame)",
                             (best, best), tracks=tracks, portrait_is_frame=True)
    if profile_neutral is not None:
        note = f"neutral: {Path(spec).name}; the optical flow's reference is driver frame {best} (the closest to it)"
        return DriverNeutral(profile_neutral, frame, note, (best, best), config, tracks=tracks)
    note = (f"neutral: driver frames {first}–{last} (closest to {what}: "
            f"portrait {target.describe()}; driver {state.describe()})")
    return DriverNeutral(start_position(neutral, scan[0]), frame, note, (first, last), config, tracks=tracks,
                         warning=sideways_warning(state.angles[2] - target.angles[2]))


def sideways_warning(roll_deg: float) -> str | None:
    """A warning for the render's log when the driver's head, at its
    neutral, is rolled further than any head tilts against the portrait's
    (``roll_deg``): a video filmed sideways or upside down. Motion is read in
    the picture's axes, so such a driver's nod would turn the avatar's head
    sideways and its moves would go the wrong way; None otherwise."""
    roll = (roll_deg + 180.0) % 360.0 - 180.0
    if abs(roll) <= SIDEWAYS_ROLL:
        return None
    return (f"the driver's head is rolled {roll:+.0f}° against the portrait's: a video filmed sideways? "
            "Rotate it upright first, or the avatar's moves go the wrong way")


def start_position(neutral: Any, tracks: list[Landmarks | None]) -> Any:
    """``neutral`` placed where the driver's head is on the first tracked
    frame of ``tracks`` (as the render's camera origin: a median over the
    first five would already be off, a lively driver moved 0.14 face sizes
    over d12's), at its size over the first START_SIZE_FRAMES, its pose and
    expression unchanged.

    The frames whose expression matches another person's portrait can come
    from anywhere in the clip; measured from where the head happened to be
    then, a driver who moves about their frame (d12 walks over half a face
    size) put the avatar's head off the photo's framing from the first frame
    on, into pixels the photo never had. The median over the whole clip did
    that too whenever the camera moved: the render counts the camera from the
    first frame, but the median of the head's places in the image is the
    camera's travel away from it (s2 driven by hand-held d20 started with its
    head 0.7 face sizes down, the hair pulled into spikes up to the crop's
    fixed border, and kept it so while the camera panned). From the start,
    head and camera count from the same frame: the first output frame has
    the photo's framing, and the head moves about it as the driver's does.
    The size likewise (over START_SIZE_FRAMES): d12 is 4 % nearer the camera
    in the frames that match s1, and every render from them started with the
    head 4 % smaller than the photo's."""
    from dataclasses import replace

    from vivicam.calibrate.geometry import head_pose

    poses = []
    for lm in tracks:
        if lm is None or not np.isfinite(lm.points).all():
            continue
        try:
            poses.append(head_pose(np.asarray(lm.points, np.float64), neutral.canonical, neutral.rotation))
        except ValueError:  # a degenerate mesh
            continue
        if len(poses) == START_SIZE_FRAMES:
            break
    if not poses:
        return neutral
    return replace(neutral, center=poses[0].center, size=float(np.median([p.size for p in poses])))


def _lent(tracker: Any, tracks: list[Landmarks | None]) -> tuple[Landmarks | None, ...] | None:
    """The scan's tracks when the caller's tracker made them (it goes on from there)."""
    return None if tracker is None else tuple(tracks)


def closest_frames(driving: str | Path, target: Any, *, fps: float, photo: np.ndarray | None = None,
                   scan_s: float = AUTO_SCAN_S, scan: Any = None, video: Any = None) -> Any:
    """``(Neutral of the chosen window, DriverFrame of its closest frame,
    (first, last) indices of the window, that frame's index, its FaceState)``
    for the window of driver frames closest to ``target`` (a FaceState), or
    None without a face. When ``photo`` is one of the frames, that frame
    alone (its FaceState then None). ``scan``: :func:`track_video`'s result
    when the driver was scanned already."""
    from vivicam.calibrate.neutral import Neutral
    from vivicam.calibrate.reference import ReferenceChoice, choose_reference, face_state, window_frames

    tracked, thumbs = scan if scan is not None else track_video(driving, fps=fps, scan_s=scan_s)
    same = same_frame(photo, thumbs) if photo is not None else None
    if same is not None and tracked[same] is not None:
        lm = tracked[same]
        frame = DriverFrame(frame_image(driving, same, video), lm)
        return Neutral.from_points(lm.points, lm.image_size), frame, (same, same), same, None
    states = [None if lm is None else face_state(lm.points, lm.image_size) for lm in tracked]
    choice: ReferenceChoice | None = choose_reference(target, states, window_frames(fps))
    if choice is None:
        return None
    window = [tracked[i] for i in range(choice.start, choice.stop)]
    neutral = Neutral.from_frames([lm.points for lm in window], window[0].image_size)
    image = frame_image(driving, choice.best, video)
    best = DriverFrame(image, neutral.landmarks(tracked[choice.best].image_size))
    return neutral, best, (choice.start, choice.stop - 1), choice.best, states[choice.best]


def track_video(path: str | Path, *, fps: float, scan_s: float, tracker: Any = None,
                stop: Callable[[], bool] | None = None, video: Any = None,
                ) -> tuple[list[Landmarks | None], list[np.ndarray]]:
    """The tracker's landmarks on every frame of the first ``scan_s`` seconds,
    and each frame's :func:`thumbnail`. ``tracker``: one to use (and leave
    open; it sees exactly the frames returned), else a fresh one; ``stop``:
    checked every frame, True ends the scan where it is; ``video``: the
    video to read (left open), else ``path`` is opened."""
    from vivicam.face.tracker import MediaPipeTracker

    out: list[Landmarks | None] = []
    thumbs: list[np.ndarray] = []
    with ExitStack() as stack:
        source = _open(path, video, stack)
        if tracker is None:
            tracker = stack.enter_context(MediaPipeTracker())
        for frame in source.frames():
            if frame.index / fps > scan_s:
                log.info("%s: the neutral is chosen from its first %.0f s", path, scan_s)
                break
            if stop is not None and stop():
                break
            out.append(tracker.track(frame.image))
            thumbs.append(thumbnail(frame.image))
    return out, thumbs


def _open(path: str | Path, video: Any, stack: ExitStack) -> Any:
    """``video`` when given (left open), else ``path`` opened (closed with ``stack``)."""
    if video is not None:
        return video
    from vivicam.realtime.sources.video import VideoFileSource

    source = VideoFileSource(path)
    stack.callback(source.close)
    return source


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A small grey copy (``THUMB_WIDTH`` wide, same aspect) to recognise a frame by."""
    import cv2

    h, w = image.shape[:2]
    size = (THUMB_WIDTH, max(1, round(THUMB_WIDTH * h / max(w, 1))))
    grey = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def same_frame(photo: np.ndarray, thumbs: list[np.ndarray]) -> int | None:
    """The index of the thumbnail ``photo`` is a copy of (PSNR ≥
    ``SAME_FRAME_DB``, the best one), or None."""
    mine = thumbnail(photo)
    best, best_db = None, SAME_FRAME_DB
    for i, thumb in enumerate(thumbs):
        if thumb.shape != mine.shape:
            continue
        mse = float(np.mean((thumb - mine) ** 2))
        db = 99.0 if mse < 1e-6 else 10.0 * np.log10(255.0**2 / mse)
        if db >= best_db:
            best, best_db = i, db
    return best


def frame_image(path: str | Path, index: int, video: Any = None) -> np.ndarray:
    """Frame ``index`` of a video (``video``: from what it kept of the scan;
    else decoded again)."""
    with ExitStack() as stack:
        image = _open(path, video, stack).image_at(index)
    if image is None:
        raise ValueError(f"{path} has no frame {index}")
    return image


def calibrate_from_video(
    path: str | Path, *, fps: float, seconds: float | None = None, scan_s: float = CALIBRATION_SCAN_S
) -> tuple[Any, DriverFrame | None]:
    """The driver's neutral face from the first ``seconds`` of a video in
    which the face holds steady; when it never does within ``scan_s`` (a short
    or restless clip), the first frame with a face. ``(None, None)`` when no
    face is seen at all."""
    neutral, frame, _, _ = _first_steady(path, fps=fps, seconds=seconds, scan_s=scan_s)
    return neutral, frame


def _first_steady(
    path: str | Path, *, fps: float, seconds: float | None = None, scan_s: float = CALIBRATION_SCAN_S,
    tracker: Any = None, stop: Callable[[], bool] | None = None, video: Any = None,
) -> tuple[Any, DriverFrame | None, int, list[Landmarks | None]]:
    """:func:`calibrate_from_video`, the index of the frame it ends on and
    the landmarks of every frame tracked (``tracker``: as in :func:`track_video`)."""
    from vivicam.calibrate.neutral import Neutral, NeutralCalibrator
    from vivicam.face.tracker import MediaPipeTracker

    if seconds is None:
        from vivicam.calibrate.motion import MotionConfig

        seconds = MotionConfig().calibration_s  # the live loop's calibration length
    calibrator = NeutralCalibrator(seconds=seconds, calm=False)  # any steady second, as before ``auto``
    first: DriverFrame | None = None
    first_index = -1
    tracks: list[Landmarks | None] = []
    with ExitStack() as stack:
        source = _open(path, video, stack)
        if tracker is None:
            tracker = stack.enter_context(MediaPipeTracker())
        for frame in source.frames():
            t_s = frame.index / fps
            if t_s > scan_s or (stop is not None and stop()):
                break
            landmarks = tracker.track(frame.image)
            tracks.append(landmarks)
            if landmarks is None:
                continue
            if first is None:
                first, first_index = DriverFrame(frame.image, landmarks), frame.index
            neutral = calibrator.add(landmarks, t_s)
            if neutral is not None:
                return neutral, DriverFrame(frame.image, neutral.landmarks(landmarks.image_size)), frame.index, tracks
    if first is None:
        return None, None, -1, tracks
    log.info("%s: the face never held still for %.0f s; its first frame is the neutral face", path, seconds)
    neutral = Neutral.from_points(first.landmarks.points, first.landmarks.image_size)
    return neutral, first, first_index, tracks
