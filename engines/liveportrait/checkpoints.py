"""Finding, checking and loading the official LivePortrait checkpoints.

The official download (``pretrained_weights/liveportrait``) holds five files:
four base networks and one file with the three stitching / retargeting MLPs
(``CHECKPOINT_FILES``). Every file is read with ``torch.load(...,
weights_only=True)`` (or as ``.safetensors`` when such a file lies beside it),
so a checkpoint can never run code. Every problem raises
:class:`~vivicam.errors.WeightsError` with one line naming the file and what
was expected.

Importing this module does not need torch; loading does.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vivicam.engines.liveportrait.nets.config import OFFICIAL, LivePortraitConfig
from vivicam.errors import DeviceError, InputError, WeightsError
from vivicam.optional import require

log = logging.getLogger(__name__)

#: checkpoint → path relative to the weights root (the ``liveportrait`` folder)
CHECKPOINT_FILES: dict[str, str] = {
    "appearance_feature_extractor": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping_module": "base_models/warping_module.pth",
    "spade_generator": "base_models/spade_generator.pth",
    "stitching_retargeting_module": "retargeting_models/stitching_retargeting_module.pth",
}

_STITCHING = "stitching_retargeting_module"


@dataclass(frozen=True)
class _Part:
    """One network and where its state_dict lives."""

    field: str  # LivePortraitNets attribute
    checkpoint: str  # CHECKPOINT_FILES key
    sub_key: str | None  # the sub-dict of the file holding it, if any
    build: Callable[[LivePortraitConfig], Any]


def _parts() -> tuple[_Part, ...]:
    # Imported here: the network modules need torch.
    from vivicam.engines.liveportrait.nets.appearance import AppearanceFeatureExtractor
    from vivicam.engines.liveportrait.nets.generator import SPADEGenerator
    from vivicam.engines.liveportrait.nets.motion import MotionExtractor
    from vivicam.engines.liveportrait.nets.retargeting import STITCHING_FILE_KEYS, RetargetingMLP
    from vivicam.engines.liveportrait.nets.warping import WarpingNetwork

    def mlp(name: str) -> Callable[[LivePortraitConfig], Any]:
        return lambda config: RetargetingMLP(getattr(config.retargeting, name))

    return (
        _Part("appearance_feature_extractor", "appearance_feature_extractor", None,
              lambda c: AppearanceFeatureExtractor(c.appearance)),
        _Part("motion_extractor", "motion_extractor", None, lambda c: MotionExtractor(c.motion)),
        _Part("warping_module", "warping_module", None, lambda c: WarpingNetwork(c.warping)),
        _Part("spade_generator", "spade_generator", None, lambda c: SPADEGenerator(c.generator)),
        _Part("stitching", _STITCHING, STITCHING_FILE_KEYS["stitching"], mlp("stitching")),
        _Part("retarget_lip", _STITCHING, STITCHING_FILE_KEYS["lip"], mlp("lip")),
        _Part("retarget_eye", _STITCHING, STITCHING_FILE_KEYS["eye"], mlp("eye")),
    )


@dataclass(frozen=True, eq=False)
class LivePortraitNets:
    """The loaded networks, in eval mode with gradients off (shapes and value
    ranges in each class's docstring)."""

    appearance_feature_extractor: Any  # AppearanceFeatureExtractor
    motion_extractor: Any  # MotionExtractor
    warping_module: Any  # WarpingNetwork
    spade_generator: Any  # SPADEGenerator
    stitching: Any  # RetargetingMLP: keypoints → stitching deltas
    retarget_lip: Any  # RetargetingMLP
    retarget_eye: Any  # RetargetingMLP
    root: Path  # the weights folder they came from
    config: LivePortraitConfig = OFFICIAL

    def modules(self) -> dict[str, Any]:
        """The seven networks by field name."""
        return {part.field: getattr(self, part.field) for part in _parts()}


# ---------------------------------------------------------------- the folder

def find_weights_root(weights_dir: str | Path) -> Path:
    """The folder holding ``base_models/`` and ``retargeting_models/``.

    Accepts that folder itself (``…/pretrained_weights/liveportrait``), its
    parent (``pretrained_weights``) or the folder above that (a LivePortrait
    checkout). Raises WeightsError when the folder is missing or none of these
    holds the base models.
    """
    given = Path(weights_dir).expanduser()
    if not given.exists():
        raise WeightsError(f"weights folder {given} does not exist")
    if not given.is_dir():
        raise WeightsError(f"weights folder {given} is a file, not a folder")
    for candidate in (given, given / "liveportrait", given / "pretrained_weights" / "liveportrait"):
        if (candidate / "base_models").is_dir():
            return candidate
    raise WeightsError(
        f"{given} is not a LivePortrait weights folder: expected base_models/ and retargeting_models/ "
        "in it (the 'pretrained_weights/liveportrait' folder of the official download)"
    )


def checkpoint_path(root: Path, name: str) -> Path:
    """The file to read for checkpoint ``name``: ``.safetensors`` when present,
    else the official ``.pth``. Raises WeightsError when neither exists."""
    official = root / CHECKPOINT_FILES[name]
    safe = official.with_suffix(".safetensors")
    if safe.is_file():
        return safe
    if official.is_file():
        return official
    expected = ", ".join(CHECKPOINT_FILES.values())
    raise WeightsError(f"{official} is missing (a LivePortrait weights folder holds: {expected})")


# ---------------------------------------------------------------- reading

def read_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any]:
    """The mapping stored in ``path`` (tensors only), read safely."""
    torch = require("torch", "loading LivePortrait checkpoints")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path} is empty (0 bytes): the download did not finish; download it again")
    if path.suffix == ".safetensors":
        return _read_safetensors(path, device)
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        if _holds_objects(str(exc)):
            named = re.search(r"GLOBAL (\S+)", str(exc))
            what = f"it references {named.group(1)}; " if named else ""
            raise WeightsError(
                f"refusing to load {path}: it contains Python objects, not just tensors "
                f"({what}loading it could run code); use the official checkpoint files"
            ) from exc
        raise WeightsError(f"{path} is truncated or corrupt ({_unpickle_reason(exc)}); download it again") from exc
    except Exception as exc:  # zip/pickle errors of every kind mean a damaged file
        raise WeightsError(f"{path} is truncated or corrupt ({_first_line(exc)}); download it again") from exc
    if not isinstance(data, Mapping):
        raise WeightsError(f"{path} holds a {type(data).__name__}, not a state_dict of named tensors")
    return dict(data)


def _read_safetensors(path: Path, device: str) -> dict[str, Any]:
    safetensors_torch = require("safetensors.torch", "loading .safetensors checkpoints")
    try:
        flat = safetensors_torch.load_file(str(path), device=device)
    except Exception as exc:  # SafetensorError, OSError: the header or data is damaged
        raise WeightsError(f"{path} is truncated or corrupt ({_first_line(exc)}); download it again") from exc
    return _nest_stitching(flat) if path.stem == _STITCHING else flat


def _nest_stitching(flat: dict[str, Any]) -> dict[str, Any]:
    """Safetensors are flat: ``retarget_eye.mlp.0.weight`` → nested sub-dicts."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        nested.setdefault(head, {})[rest] = value
    return nested


def _holds_objects(message: str) -> bool:
    """torch's weights-only unpickler refused a class or function reference
    (rather than choking on bytes that are no pickle at all)."""
    lowered = message.lower()
    return "weights only load failed" in lowered and "unsupported operand" not in lowered


def _unpickle_reason(exc: BaseException) -> str:
    found = re.search(r"Unsupported operand \S+", str(exc))
    return found.group(0) if found else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:120] if text else type(exc).__name__) or type(exc).__name__


def strip_ddp_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the ``module.`` that DistributedDataParallel puts in key names
    (removed wherever it occurs, as the original loader does)."""
    return {key.replace("module.", ""): value for key, value in state.items()}


# ---------------------------------------------------------------- matching

def match_state_dict(module: Any, state: Mapping[str, Any], where: str) -> None:
    """Raise WeightsError unless ``state`` has exactly ``module``'s keys and shapes."""
    expected = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} of {len(expected)} expected tensors missing ({_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_few(unexpected)})")
        raise WeightsError(f"{where} does not match the LivePortrait network: {'; '.join(parts)}")
    for key, shape in expected.items():
        value = state[key]
        found = tuple(getattr(value, "shape", ()))
        if not hasattr(value, "shape"):
            raise WeightsError(f"{where}: '{key}' is a {type(value).__name__}, expected a tensor of shape {shape}")
        if found != shape:
            raise WeightsError(f"{where}: tensor '{key}' has shape {found}, expected {shape} (wrong architecture)")


def _few(keys: list[str], n: int = 3) -> str:
    shown = ", ".join(keys[:n])
    return shown + (", …" if len(keys) > n else "")


def _part_state(data: dict[str, Any], part: _Part, path: Path) -> dict[str, Any]:
    if part.sub_key is None:
        return strip_ddp_prefix(data)
    sub = data.get(part.sub_key)
    if not isinstance(sub, Mapping):
        found = ", ".join(sorted(map(str, data))[:4]) or "nothing"
        wanted = ", ".join(p.sub_key for p in _parts() if p.sub_key)
        raise WeightsError(f"{path} lacks the '{part.sub_key}' sub-dict (expected {wanted}; found {found})")
    return strip_ddp_prefix(sub)


# ---------------------------------------------------------------- loading

def load_networks(
    weights_dir: str | Path, device: str = "cpu", *, config: LivePortraitConfig = OFFICIAL
) -> LivePortraitNets:
    """Load all seven networks from a weights folder (see :func:`find_weights_root`)
    onto ``device``, float32, eval mode, strict key and shape matching.
    Raises WeightsError for any problem with the folder or a file, DeviceError
    when ``device`` is a GPU this torch build cannot use."""
    torch = require("torch", "the LivePortrait engine")
    from vivicam.engines.liveportrait.nets.generator import fold_spectral_norms

    target = _target_device(torch, device)
    root = find_weights_root(weights_dir)
    parts = _parts()
    files = {name: checkpoint_path(root, name) for name in CHECKPOINT_FILES}  # all missing files first
    modules: dict[str, Any] = {}
    cache: dict[str, dict[str, Any]] = {}
    for part in parts:
        path = files[part.checkpoint]
        if part.checkpoint not in cache:
            cache[part.checkpoint] = read_checkpoint(path)  # on the CPU: file problems stay file problems
        state = _part_state(cache[part.checkpoint], part, path)
        where = f"{path} ['{part.sub_key}']" if part.sub_key else str(path)
        # Built on the meta device: no time spent on a random init the checkpoint overwrites.
        with torch.device("meta"):
            module = part.build(config)
        match_state_dict(module, state, where)
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        module.load_state_dict(state, strict=True, assign=True)
        module.eval().requires_grad_(False)
        fold_spectral_norms(module)  # same numbers, computed once instead of every frame
        modules[part.field] = module.to(target)
        log.debug("loaded %s from %s", part.field, where)
    return LivePortraitNets(**modules, root=root, config=config)


def _target_device(torch: Any, device: str) -> Any:
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown torch device {device!r} (use 'cpu', 'cuda' or 'cuda:N')") from exc
    if target.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"cannot put the LivePortrait networks on {device}: this torch build ({torch.__version__}) sees no CUDA GPU"
        )
    return target


def check_weights_dir(weights_dir: str | Path, *, config: LivePortraitConfig = OFFICIAL) -> list[str]:
    """Human-readable lines for ``vivicam doctor --weights DIR``: one per
    checkpoint file, ``ok`` or ``FAIL`` with the reason. Never raises for a
    weights problem (it reports it)."""
    torch = require("torch", "checking LivePortrait checkpoints")
    try:
        root = find_weights_root(weights_dir)
    except WeightsError as exc:
        return [f"LivePortrait weights: FAIL {exc}"]
    lines = [f"LivePortrait weights: {root}"]
    failures = 0
    for name, rel in CHECKPOINT_FILES.items():
        try:
            path = checkpoint_path(root, name)
            data = read_checkpoint(path)
            count = 0
            for part in (p for p in _parts() if p.checkpoint == name):
                state = _part_state(data, part, path)
                with torch.device("meta"):
                    module = part.build(config)
                where = f"{path} ['{part.sub_key}']" if part.sub_key else str(path)
                match_state_dict(module, state, where)
                count += len(state)
            size_mb = path.stat().st_size / 1e6
            lines.append(f"  ok   {path.relative_to(root)} ({count} tensors, {size_mb:.1f} MB)")
        except WeightsError as exc:
            failures += 1
            lines.append(f"  FAIL {rel}: {exc}")
    lines.append("  all checkpoints match the LivePortrait networks" if not failures
                 else f"  {failures} of {len(CHECKPOINT_FILES)} checkpoint files have problems")
    return lines
