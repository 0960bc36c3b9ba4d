"""The appearance feature extractor (F): source image → 3-D feature volume."""

from __future__ import annotations

from vivicam.engines.liveportrait.nets.blocks import ConvNormAct2d, Down2d, PreActResidual3d, Tensor, nn
from vivicam.engines.liveportrait.nets.config import AppearanceConfig


class AppearanceFeatureExtractor(nn.Module):
    """``forward(image)``: B×3×256×256 float RGB in 0..1 → B×32×16×64×64 float
    (the appearance feature volume ``f_s``, C×D×H×W), computed once per avatar."""

    def __init__(self, config: AppearanceConfig = AppearanceConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.first = ConvNormAct2d(c.image_channels, c.block_expansion)
        widths = [min(c.max_features, c.block_expansion * 2**i) for i in range(c.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(Down2d(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.second = nn.Conv2d(widths[-1], c.max_features, kernel_size=1)
        # The checkpoints name these "3dr0".."3dr5".
        self.resblocks_3d = nn.Sequential()
        for i in range(c.num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", PreActResidual3d(c.volume_channels))

    def forward(self, image: Tensor) -> Tensor:
        x = self.first(image)
        for block in self.down_blocks:
            x = block(x)
        x = self.second(x)
        b, _, h, w = x.shape
        volume = x.view(b, self.config.volume_channels, self.config.volume_depth, h, w)
        return self.resblocks_3d(volume)
