"""The warp engine's exportable graph for the build machinery
(:mod:`vivicam.engines.build`): one :class:`ExportSpec` named ``warp``.

The reference is the CPU path itself (the sparse mesh → grid product and
OpenCV's remap for the Newton steps), run from the same inputs. The
output is the coarse backward field in crop pixels; tolerance ``atol`` 0.5
px at worst (1 px for FP16 plans) (OpenCV's remap interpolates with 1/32-pixel weights; the graph
stays in float) — in practice the mean difference is a few hundredths of a
pixel, below anything the resampled photo shows.
"""

from __future__ import annotations

from functools import lru_cache, partial

import numpy as np

from vivicam.engines.build.spec import ExportSpec
from vivicam.engines.warp import graph
from vivicam.engines.warp.field import FieldRig
from vivicam.engines.warp.mesh_motion import MeshRig, target_points
from vivicam.types import SURROUND_SHAPE, Motion

TOLERANCE = (0.5, 0.0)  # crop pixels
FP16_TOLERANCE = "1.0,0"  # FP16 plans keep this graph in FP32 (below); converters differ in the casts around it
# Every op of the graph stays FP32 in "FP16" plans: pixel coordinates up to 512
# need more than FP16's 11-bit mantissa (a 0.25-px wobble would shimmer), and
# the graph is small matrix products and a coarse resampling, so FP16 would
# save next to nothing. Listed by op type (the exporter's node names are generic).
# Constants too: rounded to FP16 (the step limits, the grid normalisation),
# they moved the inverse by up to 3 px at the nodes beside a fold.
FP32_LAYERS = (
    "Abs", "Add", "AveragePool", "Clip", "Concat", "Constant", "ConstantOfShape", "Cos", "Div", "Equal",
    "Exp", "Gather", "Greater", "GreaterOrEqual", "GridSample", "Less", "LessOrEqual", "Log", "MatMul", "Max", "MaxPool", "Min",
    "Mul", "Neg", "Pad", "ReduceSum", "Reshape", "Resize", "Sign", "Sin", "Slice", "Sqrt", "Sub", "Tanh",
    "Transpose", "Unsqueeze", "Where",
)


def export_specs(*, crop_size: int = 512, cell: int = 4, **_: object) -> list[ExportSpec]:
    """The warp engine's graphs (one) at ``crop_size``."""
    return [
        ExportSpec(
            name=f"warp-{crop_size}",
            make_module=lambda: graph.make_module(crop_size, cell),
            make_inputs=lambda: example_inputs(crop_size, cell),
            output_names=graph.OUTPUT_NAMES,
            reference=partial(cpu_reference, cell=cell),
            fp32_layers=FP32_LAYERS,
            tolerance=TOLERANCE,
            opset=17,
            metadata={"crop_size": str(crop_size), "cell": str(cell), "fp16_tolerance": FP16_TOLERANCE},
        )
    ]


@lru_cache(maxsize=2)
def _example_state(crop_size: int, cell: int):
    from skimage import data

    from vivicam.engines.warp.prepare import prepare_avatar

    return prepare_avatar(data.astronaut(), crop_size, grid_cell=cell)


EXAMPLE_MOTION = dict(
    rotation=np.array([6.0, 14.0, -5.0], np.float32),
    translation=np.array([0.05, -0.03], np.float32),
    scale=1.04,
    eyes_closed=np.array([0.6, 0.4], np.float32),
    gaze=np.array([0.4, -0.2], np.float32),
    mouth_open=0.35,
)


def example_surround() -> np.ndarray:
    """A plausible ``Motion.surround``: shoulders sliding right and up, the
    person over the lower two thirds of the grid."""
    g = SURROUND_SHAPE[0]
    rows = np.linspace(-1.0, 1.0, g)[:, None] * np.ones((1, g))
    field = np.zeros(SURROUND_SHAPE, np.float32)
    field[..., 0] = 0.06 * (rows + 1.0)
    field[..., 1] = -0.03 * (rows + 1.0)
    field[..., 2] = np.clip(rows + 0.4, 0.0, 1.0)
    return field


def example_inputs(crop_size: int = 512, cell: int = 4) -> dict[str, np.ndarray]:
    """Realistic inputs: the astronaut avatar turning, blinking, talking."""
    state = _example_state(crop_size, cell)
    rng = np.random.default_rng(1)
    motion = Motion(
        expression=rng.normal(0, 0.004, (478, 3)).astype(np.float32), surround=example_surround(), **EXAMPLE_MOTION
    )
    inputs = {**graph.avatar_inputs(state), **graph.motion_inputs(motion)}
    return {name: inputs[name] for name in graph.INPUT_NAMES}


def cpu_reference(inputs: dict[str, np.ndarray], cell: int = 4) -> dict[str, np.ndarray]:
    """The CPU render's motion (mesh → backward field) on graph inputs."""
    from scipy.sparse import csr_matrix

    from vivicam.engines.warp.field import backward_field

    face = inputs["face"]
    m = inputs["canon0"].shape[0]
    rig = MeshRig(
        canon0=inputs["canon0"], src=inputs["src"], pose_weight=inputs["pose_weight"],
        expr_map=inputs["expr_map"], lid_upper=inputs["lid_upper_sel"].argmax(1),
        lid_lower=inputs["lid_lower_sel"].argmax(1), lid_gap0=inputs["lid_gap0"],
        lid_inner=inputs["lid_inner_sel"].argmax(1),
        lid_eye=inputs["lid_eye_sel"].argmax(1), lid_spread=inputs["lid_spread"],
        jaw_weight=inputs["jaw_weight"], mouth_gap0=float(face[1]), center0=face[2:5],
        rotation0=inputs["rotation0"], size0=float(face[0]), controls=np.arange(m),
        band_rows=inputs["band_sel"].argmax(1), band_inner=inputs["band_inner_sel"].argmax(1),
        band_normal=inputs["band_normal"], band_gap0=inputs["band_gap0"],  # zero pad rows push nothing
        move_limit=inputs["move_limit"], turn_limit=inputs["turn_limit"],
        bound_lo=inputs["bound_lo"], bound_hi=inputs["bound_hi"], surround_map=inputs["surround_map"],
        lip_rows=inputs["lip_sel"].argmax(1), lip_anchor=inputs["lip_anchor"], lip_limit=inputs["lip_limit"],  # pad rows: side 0
    )
    index, weight = inputs["field_index"], inputs["field_weight"]
    g = int(round(np.sqrt(index.shape[0])))
    rows = np.repeat(np.arange(index.shape[0]), 3)
    matrix = csr_matrix((weight.ravel(), (rows, index.ravel())), shape=(index.shape[0], m))
    fld = FieldRig(grid=g, cell=cell, index=index, weight=weight, matrix=matrix)
    motion = Motion(
        rotation=inputs["rotation"], translation=inputs["translation"], scale=float(inputs["scale"][0]),
        expression=inputs["expression"], eyes_closed=inputs["eyes_closed"],
        mouth_open=float(inputs["mouth_open"][0]), surround=inputs["surround"].reshape(SURROUND_SHAPE),
    )
    target = target_points(rig, motion)
    return {"back": backward_field(fld, target - rig.src)}
