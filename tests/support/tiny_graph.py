"""A tiny exportable graph for the build/backend tests: a 4-D grid_sample and
a convolution, like the engines' graphs but small enough to export in ~0.3 s."""

from __future__ import annotations

import numpy as np

from vivicam.engines.build.spec import ExportSpec


def _module():
    import torch
    import torch.nn.functional as F

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, image, grid):
            warped = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
            return torch.sigmoid(self.conv(warped)), warped.mean(dim=(2, 3))

    return Tiny().eval()


def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.random((1, 3, 24, 24), dtype=np.float32)
    ys, xs = np.meshgrid(np.linspace(-0.9, 0.9, 16), np.linspace(-0.8, 0.8, 16), indexing="ij")
    grid = np.stack([xs + 0.05 * np.sin(3 * ys), ys], axis=-1)[None].astype(np.float32)
    return {"image": image, "grid": grid}


def tiny_spec(name: str = "tiny", **changes) -> ExportSpec:
    options = dict(
        name=name,
        make_module=_module,
        make_inputs=_inputs,
        output_names=("features", "mean"),
        fp32_layers=("GridSample",),
        tolerance=(1e-4, 1e-4),
        opset=17,
        metadata={"version": "1"},
    )
    options.update(changes)
    return ExportSpec(**options)
