"""The motion extractor (M): a ConvNeXt-V2-tiny backbone with regression heads
for the implicit keypoints, head pose, expression, translation and scale."""

from __future__ import annotations

from vivicam.engines.liveportrait.nets.blocks import ChannelsFirstLayerNorm, Tensor, nn, torch
from vivicam.engines.liveportrait.nets.config import MotionExtractorConfig

#: The keys of the motion extractor's output dict, in the order they are computed.
MOTION_OUTPUTS = ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")


class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2's GRN on channels-last B×H×W×C: each channel's spatial L2
    norm, divided by its mean over channels, rescales the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels))

    def forward(self, x: Tensor) -> Tensor:
        spatial = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
        relative = spatial / (spatial.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * relative) + self.beta + x


class ConvNeXtBlock(nn.Module):
    """Depthwise 7×7 conv → LayerNorm → 4× MLP with GELU and GRN, residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GlobalResponseNorm(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # channels last for the MLP
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    """Four stages (stem 4×4/4, then 2×2/2 downsampling), global average pool,
    LayerNorm, and one linear head per output."""

    def __init__(self, config: MotionExtractorConfig) -> None:
        super().__init__()
        dims = config.dims
        stem = nn.Sequential(
            nn.Conv2d(config.in_channels, dims[0], kernel_size=4, stride=4),
            ChannelsFirstLayerNorm(dims[0]),
        )
        self.downsample_layers = nn.ModuleList([stem])
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(ChannelsFirstLayerNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
            )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(dim) for _ in range(depth))) for dim, depth in zip(dims, config.depths)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        width, k, bins = dims[-1], config.num_kp, config.num_bins
        self.fc_kp = nn.Linear(width, 3 * k)
        self.fc_scale = nn.Linear(width, 1)
        self.fc_pitch = nn.Linear(width, bins)
        self.fc_yaw = nn.Linear(width, bins)
        self.fc_roll = nn.Linear(width, bins)
        self.fc_t = nn.Linear(width, 3)
        self.fc_exp = nn.Linear(width, 3 * k)

    def features(self, x: Tensor) -> Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.norm(x.mean([-2, -1]))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        f = self.features(x)
        return {
            "pitch": self.fc_pitch(f),
            "yaw": self.fc_yaw(f),
            "roll": self.fc_roll(f),
            "t": self.fc_t(f),
            "exp": self.fc_exp(f),
            "scale": self.fc_scale(f),
            "kp": self.fc_kp(f),
        }


class MotionExtractor(nn.Module):
    """``forward(image)``: B×3×256×256 float RGB in 0..1 → dict of raw head outputs:
    ``pitch``/``yaw``/``roll`` B×66 bin logits (bin i ≈ 3·i − 97.5°, read with a
    softmax expectation), ``t`` B×3, ``exp`` B×63 (21×3 expression deltas),
    ``scale`` B×1, ``kp`` B×63 (21×3 canonical keypoints). No post-processing:
    turning bins into degrees and reshaping is the pipeline's job.
    """

    def __init__(self, config: MotionExtractorConfig = MotionExtractorConfig()) -> None:
        super().__init__()
        self.config = config
        self.detector = ConvNeXtV2(config)  # the checkpoints' prefix

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        return self.detector(image)
