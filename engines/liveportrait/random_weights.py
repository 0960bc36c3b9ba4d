"""Random LivePortrait checkpoints in the official file layout.

No real weights exist on the build machines, and nothing is downloaded: tests,
parity checks and the CPU demo of the plumbing use these. The values are
deterministic for a seed and scaled so activations stay in a sane range
through every network (variance-preserving convolutions, mild batch-norm
statistics, spectral-norm vectors from power iteration, head biases that give
plausible keypoints, scale and pose) — the pictures are noise, but no NaN or
saturated output hides a plumbing bug.

CLI: ``python -m vivicam.engines.liveportrait.random_weights OUT_DIR [--seed N]``.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import zlib
from pathlib import Path
from typing import Any

from vivicam.engines.liveportrait.checkpoints import CHECKPOINT_FILES, _parts
from vivicam.engines.liveportrait.nets.config import OFFICIAL, LivePortraitConfig
from vivicam.optional import require

# Output layers whose values feed something other than another ReLU layer: gain
# per qualified-name pattern (the default, sqrt 2, suits conv → norm → ReLU).
_GAINS: tuple[tuple[str, float], ...] = (
    (r"(^|\.)conv2$", 0.5),  # second conv of a residual branch
    (r"pwconv2$", 0.5),  # ConvNeXt residual MLP output
    (r"mlp_(gamma|beta)$", 0.3),  # SPADE modulation: keep 1 + gamma near 1
    (r"(^|\.)mask$", 1.0),  # softmax logits of the motion blend
    (r"(^|\.)occlusion$", 1.0),  # sigmoid logits
    (r"conv_img\.0$", 1.0),  # sigmoid logits of the image
    (r"(^|\.)fourth$", 1.0),
    (r"(^|\.)second$", 1.0),
    (r"conv_s$", 1.0),
)

# Motion-extractor heads: (weight std of the output, bias) so that the pipeline
# sees plausible values: keypoints spread over the face, scale ≈ 1.5, small
# translation and expression, near-frontal pose (flat bin logits).
_HEADS: dict[str, tuple[float, str]] = {
    "fc_kp": (0.05, "spread"),
    "fc_exp": (0.01, "zero"),
    "fc_scale": (0.05, "scale"),
    "fc_t": (0.02, "zero"),
    "fc_pitch": (0.3, "zero"),
    "fc_yaw": (0.3, "zero"),
    "fc_roll": (0.3, "zero"),
}


def _seed_for(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63)


def random_state_dict(module: Any, generator: Any, *, last_linear_gain: float | None = None) -> dict[str, Any]:
    """A state_dict for ``module`` (which may live on the meta device): every
    tensor drawn from ``generator`` by the rules above, in key order."""
    torch = require("torch")
    state: dict[str, Any] = {}
    linears = [name for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)]
    for name, child in module.named_modules():
        prefix = f"{name}." if name else ""
        own = dict(child.named_parameters(recurse=False)) | dict(child.named_buffers(recurse=False))
        if not own:
            continue
        gain = last_linear_gain if (last_linear_gain is not None and linears and name == linears[-1]) else None
        state.update({prefix + key: value for key, value in _init_child(name, child, own, generator, gain).items()})
    expected = list(module.state_dict())
    missing = [key for key in expected if key not in state]
    if missing:
        raise RuntimeError(f"no random-init rule for {missing[:3]}")
    return {key: state[key] for key in expected}


def _init_child(name: str, child: Any, own: dict[str, Any], gen: Any, gain_override: float | None) -> dict[str, Any]:
    torch = require("torch")
    kind = type(child).__name__
    normal = lambda shape, std: torch.randn(tuple(shape), generator=gen) * std  # noqa: E731
    if kind in ("BatchNorm2d", "BatchNorm3d"):
        c = own["weight"].shape[0]
        return {
            "weight": 1 + normal([c], 0.1),
            "bias": normal([c], 0.1),
            "running_mean": normal([c], 0.1),
            "running_var": 0.8 + 0.4 * torch.rand(c, generator=gen),
            "num_batches_tracked": torch.tensor(0, dtype=torch.long),
        }
    if kind in ("LayerNorm", "ChannelsFirstLayerNorm"):
        c = own["weight"].shape[0]
        return {"weight": 1 + normal([c], 0.1), "bias": normal([c], 0.1)}
    if kind == "GlobalResponseNorm":
        return {key: normal(value.shape, 0.1) for key, value in own.items()}
    if kind == "SpectralConv2d":
        return _spectral(own, gen)
    if "weight" in own:  # Conv2d, Conv3d, Linear
        head = name.rsplit(".", 1)[-1]
        if head in _HEADS and kind == "Linear":
            return _head(head, own, gen)
        gain = gain_override if gain_override is not None else _gain(name)
        weight = own["weight"]
        fan_in = math.prod(weight.shape[1:])
        out = {"weight": normal(weight.shape, gain / math.sqrt(fan_in))}
        if own.get("bias") is not None:
            out["bias"] = normal(own["bias"].shape, 0.02)
        return out
    raise RuntimeError(f"no random-init rule for {kind} at '{name}'")


def _gain(name: str) -> float:
    for pattern, gain in _GAINS:
        if re.search(pattern, name):
            return gain
    return math.sqrt(2.0)


def _head(head: str, own: dict[str, Any], gen: Any) -> dict[str, Any]:
    torch = require("torch")
    std, bias_kind = _HEADS[head]
    out_f, in_f = own["weight"].shape
    weight = torch.randn(out_f, in_f, generator=gen) * (std / math.sqrt(in_f))
    if bias_kind == "spread":  # canonical keypoints spread over -0.5..0.5
        bias = torch.rand(out_f, generator=gen) - 0.5
    elif bias_kind == "scale":
        bias = torch.full((out_f,), 1.5)
    else:
        bias = torch.zeros(out_f)
    return {"weight": weight, "bias": bias}


def _spectral(own: dict[str, Any], gen: Any) -> dict[str, Any]:
    """``weight_orig`` plus ``u``/``v`` from power iteration, so that
    ``sigma = u·Wv`` is (close to) the largest singular value: random unit
    vectors would give a sigma near zero and explode the normalised kernel."""
    torch = require("torch")
    shape = own["weight_orig"].shape
    fan_in = math.prod(shape[1:])
    weight = torch.randn(tuple(shape), generator=gen) / math.sqrt(fan_in)
    matrix = weight.reshape(shape[0], -1).double()
    v = torch.nn.functional.normalize(torch.randn(matrix.shape[1], generator=gen).double(), dim=0)
    for _ in range(10):
        u = torch.nn.functional.normalize(matrix @ v, dim=0)
        v = torch.nn.functional.normalize(matrix.t() @ u, dim=0)
    u = torch.nn.functional.normalize(matrix @ v, dim=0)
    out = {"weight_orig": weight, "weight_u": u.float(), "weight_v": v.float()}
    if own.get("bias") is not None:
        out["bias"] = torch.randn(shape[0], generator=gen) * 0.02
    return out


def random_network_state(field: str, seed: int = 0, config: LivePortraitConfig = OFFICIAL) -> dict[str, Any]:
    """The random state_dict of one network (a :class:`LivePortraitNets` field
    name such as ``"warping_module"`` or ``"retarget_eye"``); each network has
    its own generator, so one can be rebuilt without the others."""
    torch = require("torch", "writing random LivePortrait weights")
    part = next((p for p in _parts() if p.field == field), None)
    if part is None:
        raise ValueError(f"unknown LivePortrait network {field!r}; known: {', '.join(p.field for p in _parts())}")
    with torch.device("meta"):
        module = part.build(config)
    generator = torch.Generator().manual_seed(_seed_for(seed, part.field))
    # Stitching / retargeting outputs are small corrections to keypoints.
    last_gain = 0.05 if part.sub_key else None
    return random_state_dict(module, generator, last_linear_gain=last_gain)


def random_checkpoints(seed: int = 0, config: LivePortraitConfig = OFFICIAL) -> dict[str, dict[str, Any]]:
    """checkpoint name → what its file holds (a state_dict, or for the
    stitching file the three sub-dicts), deterministic for ``seed``."""
    files: dict[str, dict[str, Any]] = {name: {} for name in CHECKPOINT_FILES}
    for part in _parts():
        state = random_network_state(part.field, seed, config)
        if part.sub_key is None:
            files[part.checkpoint] = state
        else:
            files[part.checkpoint][part.sub_key] = state
    return files


def write_random_weights(out_dir: str | Path, seed: int = 0, *, config: LivePortraitConfig = OFFICIAL) -> Path:
    """Write random checkpoints in the official layout under ``out_dir``
    (``base_models/*.pth``, ``retargeting_models/stitching_retargeting_module.pth``)
    and return ``out_dir``, a folder :func:`load_networks` accepts."""
    torch = require("torch", "writing random LivePortrait weights")
    root = Path(out_dir)
    for name, content in random_checkpoints(seed, config).items():
        path = root / CHECKPOINT_FILES[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save(content, partial)
        os.replace(partial, path)  # a crash never leaves a half-written checkpoint
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vivicam.engines.liveportrait.random_weights",
        description="Write random LivePortrait checkpoints in the official file layout.",
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = write_random_weights(args.out_dir, args.seed)
    print(f"random LivePortrait weights (seed {args.seed}) written to {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
