"""ExportSpec → ONNX file, cached in the user cache directory.

The cache key covers everything that changes the graph: the spec's name, its
input names/shapes/dtypes, output names, opset, metadata (engines put weight
hashes and graph versions there), the source file that builds the module, and
the vivicam version. Files are written atomically with a JSON sidecar holding
the key and the SHA-256 of the ONNX bytes, so a stale or truncated file is
re-exported, never used.

FP16 graphs for TensorRT are derived from the FP32 export
(:func:`export_fp16`): both TensorRT for RTX and TensorRT 11 build only
*strongly typed* networks, where precision comes from the graph's own tensor
types rather than from a builder flag, so one FP16 ONNX serves every flavour.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vivicam.engines.build.spec import ExportSpec
from vivicam.paths import atomic_write, cache_dir

log = logging.getLogger(__name__)

FP16_CONVERTER = "onnxconverter-common/float-casts-retargeted/type-checked"  # bump when the FP16 pass changes
EXPORTER = "torch.onnx-legacy"  # TorchScript-based exporter (dynamo=False): fixed shapes, mature op coverage


def _source_digest(spec: ExportSpec) -> str:
    """Hash of the file that defines ``make_module`` (edits to the graph code
    there invalidate the cache without anyone bumping a version)."""
    try:
        path = inspect.getsourcefile(spec.make_module)
        if path:
            return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except (OSError, TypeError):
        pass
    return "unknown"


def input_signature(inputs: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    return {name: [list(np.shape(arr)), str(np.asarray(arr).dtype)] for name, arr in inputs.items()}


def export_key(spec: ExportSpec, inputs: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """The fields the ONNX cache is keyed by (JSON-serialisable)."""
    from vivicam import __version__

    inputs = spec.make_inputs() if inputs is None else inputs
    return {
        "name": spec.name,
        "inputs": input_signature(inputs),
        "outputs": list(spec.output_names),
        "opset": int(spec.opset),
        "metadata": {str(k): str(v) for k, v in sorted(spec.metadata.items())},
        "source": _source_digest(spec),
        "vivicam": __version__,
        "exporter": EXPORTER,
    }


def digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def cached_file_valid(path: Path, key: dict[str, Any]) -> bool:
    """True when ``path`` exists, its sidecar names ``key`` and the bytes hash matches."""
    side = _sidecar(path)
    if not path.is_file() or not side.is_file():
        return False
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("key") != key:
        return False
    if meta.get("size") != path.stat().st_size or meta.get("sha256") != file_sha256(path):
        log.warning("cached %s is corrupt (size or hash mismatch); rebuilding", path.name)
        return False
    return True


def write_cached(path: Path, data: bytes, key: dict[str, Any]) -> None:
    atomic_write(path, data)
    meta = {"key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write(_sidecar(path), json.dumps(meta, indent=1, sort_keys=True).encode())


def onnx_path(spec: ExportSpec, out_dir: Path | None = None, *, suffix: str = "") -> Path:
    """Where the export of ``spec`` lives (``<cache>/onnx/<name>-<key><suffix>.onnx``)."""
    folder = Path(out_dir) if out_dir is not None else cache_dir("onnx")
    return folder / f"{spec.name}-{digest(export_key(spec))}{suffix}.onnx"


def _to_tensors(torch: Any, inputs: dict[str, np.ndarray]) -> tuple[Any, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(arr)) for arr in inputs.values())


def export_onnx(spec: ExportSpec, out_dir: Path | None = None, *, force: bool = False) -> Path:
    """The FP32 ONNX file of ``spec`` (exported on first use, then cached).

    Graph inputs and outputs carry exactly ``spec.input_names`` and
    ``spec.output_names``, with the fixed shapes of ``spec.make_inputs()``.
    """
    from vivicam.optional import require

    inputs = spec.make_inputs()
    key = export_key(spec, inputs)
    folder = Path(out_dir) if out_dir is not None else cache_dir("onnx")
    path = folder / f"{spec.name}-{digest(key)}.onnx"
    if not force and cached_file_valid(path, key):
        return path
    torch = require("torch", "exporting engine graphs to ONNX")
    onnx = require("onnx", "exporting engine graphs to ONNX")
    log.info("exporting %s to ONNX (opset %d)", spec.name, spec.opset)
    module = spec.make_module()
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module,
            _to_tensors(torch, inputs),
            buf,
            input_names=list(inputs),
            output_names=list(spec.output_names),
            opset_version=int(spec.opset),
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load_from_string(buf.getvalue())
    _check_io_names(model, list(inputs), list(spec.output_names), spec.name)
    for field, value in (("vivicam_spec", spec.name), ("vivicam_key", digest(key))):
        entry = model.metadata_props.add()
        entry.key, entry.value = field, value
    onnx.checker.check_model(model)
    write_cached(path, model.SerializeToString(), key)
    return path


def _check_io_names(model: Any, inputs: list[str], outputs: list[str], name: str) -> None:
    got_in = [i.name for i in model.graph.input]
    got_out = [o.name for o in model.graph.output]
    # constant-folded inputs disappear from the graph; every graph input must be a spec input
    if not set(got_in) <= set(inputs) or got_out != outputs:
        raise ValueError(
            f"ONNX export of {name} has inputs {got_in} and outputs {got_out}; "
            f"the spec says {inputs} and {outputs}"
        )


def _fp32_nodes(model: Any, patterns: tuple[str, ...]) -> list[str]:
    """Names of nodes whose name or op type contains one of ``patterns``."""
    names = []
    for node in model.graph.node:
        if any(p and (p in node.name or p == node.op_type) for p in patterns):
            names.append(node.name)
    return names


def export_fp16(spec: ExportSpec, out_dir: Path | None = None, *, force: bool = False) -> Path:
    """Mixed-precision ONNX: FP16 weights and activations, FP32 graph inputs and
    outputs, and the nodes named by ``spec.fp32_layers`` (name substrings or op
    types) kept in FP32 behind Cast nodes. Derived from (and keyed by) the FP32 export."""
    from vivicam.optional import require

    fp32_path = export_onnx(spec, out_dir, force=force)
    key = {
        "from": file_sha256(fp32_path),
        "fp32_layers": list(spec.fp32_layers),
        "converter": FP16_CONVERTER,
    }
    path = fp32_path.with_name(fp32_path.stem + "-fp16.onnx")
    if not force and cached_file_valid(path, key):
        return path
    onnx = require("onnx", "FP16 graphs")
    float16 = require("onnxconverter_common.float16", "FP16 graphs for TensorRT")
    model = onnx.load(str(fp32_path))
    blocked = _fp32_nodes(model, tuple(spec.fp32_layers))
    log.info("converting %s to FP16 (%d nodes kept FP32)", spec.name, len(blocked))
    float_casts = {
        n.name for n in model.graph.node if n.op_type == "Cast" and n.name not in blocked and _cast_to(n) == onnx.TensorProto.FLOAT
    }
    with warnings.catch_warnings():  # "number X will be truncated to 1e-07", per tiny weight
        warnings.simplefilter("ignore", UserWarning)
        converted = float16.convert_float_to_float16(
            model, keep_io_types=True, node_block_list=blocked, disable_shape_infer=False
        )
    _retarget_float_casts(converted, float_casts, onnx)
    _skip_fp16_round_trips(converted, set(blocked), onnx)
    onnx.checker.check_model(converted)
    check_types(converted)
    write_cached(path, converted.SerializeToString(), key)
    return path


def check_types(model: Any) -> None:
    """Raise when an op's inputs disagree in element type (e.g. FP16 × FP32):
    strongly typed TensorRT rejects such graphs, so catch it here, on the CPU,
    rather than in a parser on the GPU machine. Types are inferred from the
    nodes alone (declared intermediate types are dropped: the converter may
    declare an FP32 pass-through as FP16, which TensorRT does not mind)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    del copy.graph.value_info[:]
    onnx.shape_inference.infer_shapes(copy, check_type=True, strict_mode=True)


def _cast_to(node: Any) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), -1)


def _retarget_float_casts(model: Any, names: set[str], onnx: Any) -> None:
    """The converter retypes tensors but leaves the graph's own ``Cast(to=FLOAT)``
    nodes (bool/int → float in the model code) producing FP32 into FP16 math;
    make those casts produce FP16 like everything around them. Casts feeding
    FP32-kept nodes get a Cast back to FP32 from the converter already."""
    for node in model.graph.node:
        if node.name in names:
            for attr in node.attribute:
                if attr.name == "to":
                    attr.i = onnx.TensorProto.FLOAT16


def _skip_fp16_round_trips(model: Any, kept: set[str], onnx: Any) -> None:
    """The converter wraps each FP32-kept node in casts of its own, so a tensor
    passed from one kept node to the next went FP32 → FP16 → FP32 and lost its
    low bits on the way (pixel coordinates to 0.25 px, which the warp's Newton
    steps amplified to over a pixel), and a kept node's result left the graph
    as FP16. The cast back to FP32 now reads the FP32 tensor itself (a no-op
    cast), an output cast gives FP32, and FP16 casts nothing reads are dropped."""
    producer = {out: node for node in model.graph.node for out in node.output}
    fp16, fp32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    for node in model.graph.node:
        down = producer.get(node.input[0]) if node.op_type == "Cast" and _cast_to(node) == fp32 else None
        if down is not None and down.op_type == "Cast" and _cast_to(down) == fp16:
            origin = producer.get(down.input[0])
            if origin is not None and origin.name in kept:
                node.input[0] = down.input[0]
    outputs = {o.name: o for o in model.graph.output}
    for node in model.graph.node:  # a kept node's result cast to FP16 as the graph's output: FP32 as promised
        origin = producer.get(node.input[0]) if node.op_type == "Cast" and node.output[0] in outputs else None
        if origin is not None and origin.name in kept and _cast_to(node) == fp16:
            next(a for a in node.attribute if a.name == "to").i = fp32
            outputs[node.output[0]].type.tensor_type.elem_type = fp32
    read = {name for node in model.graph.node for name in node.input} | set(outputs)
    for node in [n for n in model.graph.node if n.op_type == "Cast" and _cast_to(n) == fp16]:
        if not any(out in read for out in node.output):
            model.graph.node.remove(node)


def graph_for(spec: ExportSpec, precision: str, out_dir: Path | None = None, *, force: bool = False) -> Path:
    """The ONNX file to build or run for ``precision`` ("fp16" or "fp32")."""
    if precision == "fp16":
        return export_fp16(spec, out_dir, force=force)
    if precision == "fp32":
        return export_onnx(spec, out_dir, force=force)
    raise ValueError(f"unknown precision '{precision}'; choose fp16 or fp32")
