"""Convolution blocks shared by LivePortrait's networks.

Attribute names (``conv``, ``norm``, ``down_blocks`` …) are part of the
checkpoint format: the official state_dict keys are built from them, so they
must not be renamed. Importing this module needs torch (the LivePortrait
engine's extra); the rest of vivicam imports without it.
"""

from __future__ import annotations

from vivicam.optional import require

torch = require("torch", "the LivePortrait networks")
nn = torch.nn
F = torch.nn.functional
Tensor = torch.Tensor


class ConvNormAct2d(nn.Module):
    """3×3 conv → BatchNorm → ReLU (or LeakyReLU 0.01), resolution kept."""

    def __init__(self, in_ch: int, out_ch: int, *, leaky: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_ch, affine=True)
        self.ac = nn.LeakyReLU() if leaky else nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.ac(self.norm(self.conv(x)))


class Down2d(nn.Module):
    """3×3 conv → BatchNorm → ReLU → 2×2 average pool (halves H and W)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_ch, affine=True)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(F.relu(self.norm(self.conv(x))))


class Down3d(nn.Module):
    """3×3×3 conv → BatchNorm → ReLU → 1×2×2 average pool (depth kept)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_ch, out_ch, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_ch, affine=True)
        self.pool = nn.AvgPool3d(kernel_size=(1, 2, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(F.relu(self.norm(self.conv(x))))


class Up3d(nn.Module):
    """Nearest 1×2×2 upsampling → 3×3×3 conv → BatchNorm → ReLU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_ch, out_ch, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_ch, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        return F.relu(self.norm(self.conv(x)))


class PreActResidual3d(nn.Module):
    """x + conv(relu(bn(conv(relu(bn(x)))))), channels and size kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(channels, affine=True)
        self.norm2 = nn.BatchNorm3d(channels, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


def _width(expansion: int, level: int, cap: int) -> int:
    return min(cap, expansion * 2**level)


class HourglassEncoder(nn.Module):
    """``num_blocks`` Down3d steps; keeps every level for the skip links."""

    def __init__(self, expansion: int, in_ch: int, num_blocks: int, cap: int) -> None:
        super().__init__()
        widths = [in_ch] + [_width(expansion, i + 1, cap) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(Down3d(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: Tensor) -> list[Tensor]:
        levels = [x]
        for block in self.down_blocks:
            levels.append(block(levels[-1]))
        return levels


class HourglassDecoder(nn.Module):
    """Up3d steps, each concatenated with the encoder level of its size."""

    def __init__(self, expansion: int, in_ch: int, num_blocks: int, cap: int) -> None:
        super().__init__()
        blocks = []
        for level in reversed(range(num_blocks)):
            factor = 1 if level == num_blocks - 1 else 2  # deeper levels arrive concatenated
            blocks.append(Up3d(factor * _width(expansion, level + 1, cap), _width(expansion, level, cap)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = expansion + in_ch
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, levels: list[Tensor]) -> Tensor:
        out = levels[-1]
        for block, skip in zip(self.up_blocks, reversed(levels[:-1])):
            out = torch.cat([block(out), skip], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass3d(nn.Module):
    """3-D U-Net: encoder + decoder with skips; ``out_filters`` output channels."""

    def __init__(self, expansion: int, in_ch: int, num_blocks: int, cap: int) -> None:
        super().__init__()
        self.encoder = HourglassEncoder(expansion, in_ch, num_blocks, cap)
        self.decoder = HourglassDecoder(expansion, in_ch, num_blocks, cap)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of N×C×H×W, written out so the ONNX graph
    and the numbers are those of the original (not a permute + layer_norm)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]
