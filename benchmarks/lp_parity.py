"""Parity of vivicam's LivePortrait networks with the original implementation.

Loads the same checkpoints into both (random ones in the official layout
unless ``--weights`` names a real folder), runs every module on the same
deterministic inputs and reports, per output, the maximum absolute and
relative difference and whether the two are bit-identical, plus CPU times
(median / p95) of both implementations, as JSON.

    python -m vivicam.benchmarks.lp_parity --original /path/to/LivePortrait \
        [--weights DIR] [--out parity.json] [--repeats 3]

The original code is only read from the folder given (a checkout of
github.com/KwaiVGI/LivePortrait); nothing of it is part of vivicam. Its
network modules need nothing beyond torch; its ``models.yaml`` is read with
PyYAML when installed, else with the small reader below (that file uses only
nested mappings, flow lists and scalars).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ORIGINAL_PACKAGE = "_lp_original_modules"  # private name: never clashes with an installed "src"


# ------------------------------------------------------------ the original

def import_original(root: Path) -> dict[str, Any]:
    """The original's network classes, imported from ``root/src/modules``."""
    modules_dir = root / "src" / "modules"
    if not (modules_dir / "warping_network.py").is_file():
        raise SystemExit(f"{root} is not a LivePortrait checkout: {modules_dir}/warping_network.py not found")
    spec = importlib.util.spec_from_file_location(
        _ORIGINAL_PACKAGE, modules_dir / "__init__.py", submodule_search_locations=[str(modules_dir)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[_ORIGINAL_PACKAGE] = package
    spec.loader.exec_module(package)

    def load(name: str) -> Any:
        return importlib.import_module(f"{_ORIGINAL_PACKAGE}.{name}")

    return {
        "appearance": load("appearance_feature_extractor").AppearanceFeatureExtractor,
        "motion": load("motion_extractor").MotionExtractor,
        "warping": load("warping_network").WarpingNetwork,
        "generator": load("spade_generator").SPADEDecoder,
        "mlp": load("stitching_retargeting_network").StitchingRetargetingNetwork,
    }


def read_models_yaml(path: Path) -> dict[str, Any]:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return _mini_yaml(path.read_text())
    return yaml.safe_load(path.read_text())


def _mini_yaml(text: str) -> dict[str, Any]:
    """Indented ``key: value`` mappings, ``[a, b]`` lists, ints/floats/bools/strings."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key] = _scalar(value.strip())
        else:
            parent[key] = {}
            stack.append((indent, parent[key]))
    return root


def _scalar(text: str) -> Any:
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(item.strip()) for item in text[1:-1].split(",") if item.strip()]
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def load_original(classes: dict[str, Any], params: dict[str, Any], weights_root: Path) -> dict[str, Any]:
    """The original networks with the checkpoints loaded as its own loader does
    (strict ``load_state_dict``; ``module.`` removed from the stitching file)."""
    import torch

    from vivicam.engines.liveportrait.checkpoints import CHECKPOINT_FILES

    def state(name: str) -> Any:
        return torch.load(weights_root / CHECKPOINT_FILES[name], map_location="cpu", weights_only=True)

    def ready(module: Any, sd: Any) -> Any:
        module.load_state_dict(sd)
        return module.eval()

    nets = {
        "appearance_feature_extractor": ready(
            classes["appearance"](**params["appearance_feature_extractor_params"]), state("appearance_feature_extractor")
        ),
        "motion_extractor": ready(classes["motion"](**params["motion_extractor_params"]), state("motion_extractor")),
        "warping_module": ready(classes["warping"](**params["warping_module_params"]), state("warping_module")),
        "spade_generator": ready(classes["generator"](**params["spade_generator_params"]), state("spade_generator")),
    }
    stitch_file = state("stitching_retargeting_module")
    mlp_params = params["stitching_retargeting_module_params"]
    for field, cfg_key, file_key in (
        ("stitching", "stitching", "retarget_shoulder"),
        ("retarget_lip", "lip", "retarget_mouth"),
        ("retarget_eye", "eye", "retarget_eye"),
    ):
        sd = {k.replace("module.", ""): v for k, v in stitch_file[file_key].items()}
        nets[field] = ready(classes["mlp"](**mlp_params[cfg_key]), sd)
    return nets


# ------------------------------------------------------------ comparison

def compare(ours: Any, theirs: Any) -> dict[str, Any]:
    """Max abs / relative difference of two tensors (relative to theirs' max |value|)."""
    diff = (ours.double() - theirs.double()).abs()
    scale = theirs.double().abs().max().item()
    max_abs = diff.max().item()
    return {
        "shape": list(theirs.shape),
        "max_abs": max_abs,
        "max_rel": max_abs / scale if scale > 0 else max_abs,
        "bit_exact": bool(torch_equal(ours, theirs)),
        "finite": bool(ours.isfinite().all().item()),
    }


def torch_equal(a: Any, b: Any) -> bool:
    import torch

    return a.shape == b.shape and torch.equal(a, b)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, dict[str, float]]:
    """Wall time (median, p95) and this process's CPU time (median) per call.
    On a shared machine the CPU time is the steadier figure: other processes
    stretch the wall time, not the work done."""
    out = fn()  # warm-up (and the value compared)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    wall.sort()
    p95 = wall[min(len(wall) - 1, round(0.95 * (len(wall) - 1)))]
    return out, {"median_ms": statistics.median(wall), "p95_ms": p95, "cpu_median_ms": statistics.median(cpu),
                 "runs": repeats}


def _as_dict(out: Any) -> dict[str, Any]:
    return {k: v for k, v in out.items() if v is not None} if isinstance(out, dict) else {"out": out}


def inputs(seed: int, batch: int) -> dict[str, Any]:
    """Deterministic inputs: a photo-like image (smooth noise in 0..1) and
    plausible source / driving keypoints in -1..1."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, 16, 16, generator=gen)
    image = torch.nn.functional.interpolate(coarse, size=(256, 256), mode="bilinear", align_corners=False)
    image = (image + 0.05 * torch.rand(batch, 3, 256, 256, generator=gen)).clamp(0, 1)
    kp_source = torch.rand(batch, 21, 3, generator=gen) * 1.4 - 0.7
    kp_driving = kp_source + 0.05 * torch.randn(batch, 21, 3, generator=gen)
    return {
        "image": image,
        "kp_source": kp_source,
        "kp_driving": kp_driving,
        "stitch_in": torch.cat([kp_source.view(batch, -1), kp_driving.view(batch, -1)], dim=1),
        "lip_in": torch.cat([kp_source.view(batch, -1), torch.rand(batch, 2, generator=gen)], dim=1),
        "eye_in": torch.cat([kp_source.view(batch, -1), torch.rand(batch, 3, generator=gen)], dim=1),
    }


def run_parity(original_root: Path, weights: Path | None, *, repeats: int, seed: int, batch: int) -> dict[str, Any]:
    import torch

    from vivicam.engines.liveportrait.checkpoints import find_weights_root, load_networks
    from vivicam.engines.liveportrait.random_weights import write_random_weights

    classes = import_original(original_root)
    params = read_models_yaml(original_root / "src" / "config" / "models.yaml")["model_params"]
    with tempfile.TemporaryDirectory(prefix="lp_parity_") as tmp:
        root = find_weights_root(weights) if weights else write_random_weights(tmp, seed=seed)
        ours = load_networks(root).modules()
        theirs = load_original(classes, params, root)
    x = inputs(seed, batch)
    report: dict[str, Any] = {}

    def module(name: str, call_ours: Callable[[], Any], call_theirs: Callable[[], Any]) -> tuple[Any, Any]:
        a, t_ours = timed(call_ours, repeats)
        b, t_theirs = timed(call_theirs, repeats)
        a, b = _as_dict(a), _as_dict(b)
        report[name] = {
            "outputs": {key: compare(a[key], b[key]) for key in b},
            "vivicam": t_ours,
            "original": t_theirs,
        }
        return a, b

    with torch.no_grad():
        img = x["image"]
        fa, fb = module("appearance_feature_extractor",
                        lambda: ours["appearance_feature_extractor"](img),
                        lambda: theirs["appearance_feature_extractor"](img))
        module("motion_extractor", lambda: ours["motion_extractor"](img), lambda: theirs["motion_extractor"](img))
        # The warping module reads the same feature volume in both (the original's),
        # so each module is compared on identical inputs.
        feat, kd, ks = fb["out"], x["kp_driving"], x["kp_source"]
        wa, wb = module("warping_module",
                        lambda: ours["warping_module"](feat, kd, ks),
                        lambda: theirs["warping_module"](feat, kp_driving=kd, kp_source=ks))
        warped = wb["out"]
        module("spade_generator", lambda: ours["spade_generator"](warped), lambda: theirs["spade_generator"](warped))
        for field, key in (("stitching", "stitch_in"), ("retarget_lip", "lip_in"), ("retarget_eye", "eye_in")):
            module(field, lambda f=field, k=key: ours[f](x[k]), lambda f=field, k=key: theirs[f](x[k]))

        # End to end: photo → features → warp → image, each side on its own outputs.
        def e2e(nets: dict[str, Any], original: bool) -> Any:
            f = nets["appearance_feature_extractor"](img)
            w = (nets["warping_module"](f, kp_driving=kd, kp_source=ks) if original
                 else nets["warping_module"](f, kd, ks))
            return nets["spade_generator"](w["out"])

        end_a, end_b = e2e(ours, False), e2e(theirs, True)
        report["end_to_end"] = {"outputs": {"image": compare(end_a, end_b)}}

        # The 4-D decomposition of the 5-D GridSample (for older TensorRT) against the original.
        ours["warping_module"].decompose_grid_sample = True
        dec = ours["warping_module"](feat, kd, ks)
        ours["warping_module"].decompose_grid_sample = False
        report["warping_module_decomposed_grid_sample"] = {
            "outputs": {key: compare(dec[key], wb[key]) for key in ("deformation", "occlusion_map", "out")}
        }

    return {
        "benchmark": "lp_parity",
        "machine": _machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "weights": str(weights) if weights else f"random (seed {seed}, official layout)",
        "original": str(original_root),
        "batch": batch,
        "input": "256×256 image (smooth noise 0..1), 21 source/driving keypoints in -1..1; generator output 512×512",
        "modules": report,
        "all_bit_exact": all(o["bit_exact"] for name, m in report.items() if "decomposed" not in name
                             for o in m["outputs"].values()),
    }


def _machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vivicam.benchmarks.lp_parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", type=Path, required=True, help="a checkout of KwaiVGI/LivePortrait")
    parser.add_argument("--weights", type=Path, default=None, help="weights folder (default: random weights)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here (default: stdout only)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per module and implementation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)
    result = run_parity(args.original, args.weights, repeats=args.repeats, seed=args.seed, batch=args.batch)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
