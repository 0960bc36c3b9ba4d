"""Turning an engine's tensor graph into something fast: ONNX export, the ONNX
Runtime parity check, and TensorRT plans (TensorRT for RTX or full TensorRT),
cached per engine, shapes, precision, GPU and TensorRT version."""
