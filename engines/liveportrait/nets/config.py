"""The LivePortrait network hyper-parameters, as frozen dataclasses.

The defaults are the values of the official release (its ``models.yaml``):
the published checkpoints only load into networks built with exactly these.
Nothing here needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _positive(owner: object, **values: int) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{type(owner).__name__}.{name} must be positive, got {value}")


@dataclass(frozen=True)
class AppearanceConfig:
    """The appearance feature extractor (F): 256² image → 32×16×64×64 volume."""

    image_channels: int = 3
    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512
    volume_channels: int = 32  # ``reshape_channel`` in the original
    volume_depth: int = 16  # ``reshape_depth``
    num_resblocks: int = 6

    def __post_init__(self) -> None:
        _positive(self, block_expansion=self.block_expansion, max_features=self.max_features,
                  volume_channels=self.volume_channels, volume_depth=self.volume_depth)
        if self.volume_channels * self.volume_depth != self.max_features:
            raise ValueError("volume_channels × volume_depth must equal max_features")


@dataclass(frozen=True)
class MotionExtractorConfig:
    """The motion extractor (M): ConvNeXt-V2 backbone and its regression heads."""

    num_kp: int = 21
    num_bins: int = 66  # pose classification bins per angle (3° each)
    in_channels: int = 3
    depths: tuple[int, ...] = (3, 3, 9, 3)  # ConvNeXt-V2 "tiny"
    dims: tuple[int, ...] = (96, 192, 384, 768)

    def __post_init__(self) -> None:
        _positive(self, num_kp=self.num_kp, num_bins=self.num_bins)
        if len(self.depths) != 4 or len(self.dims) != 4:
            raise ValueError("ConvNeXt-V2 has four stages: depths and dims need 4 entries")


@dataclass(frozen=True)
class DenseMotionConfig:
    """The dense-motion estimator inside the warping module."""

    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    volume_depth: int = 16  # ``reshape_depth``
    compress: int = 4
    kp_variance: float = 0.01  # of the keypoint Gaussians, in normalised units²


@dataclass(frozen=True)
class WarpingConfig:
    """The warping module (W): dense motion + occlusion, then 3-D feature warping."""

    num_kp: int = 21
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    volume_channels: int = 32  # ``reshape_channel``
    estimate_occlusion_map: bool = True
    use_occlusion_map: bool = True
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)


@dataclass(frozen=True)
class GeneratorConfig:
    """The SPADE generator (G): 256×64×64 warped features → 3×512×512 image."""

    upscale: int = 2
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    out_channels: int = 64
    spade_hidden: int = 128

    @property
    def label_channels(self) -> int:
        """Channels of the warped feature map (the SPADE "segmentation" input)."""
        return min(self.max_features, self.block_expansion * 2**self.num_down_blocks)


@dataclass(frozen=True)
class MLPConfig:
    """One stitching / retargeting MLP: Linear–ReLU chain."""

    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int


@dataclass(frozen=True)
class RetargetingConfig:
    """The stitching (S) and eye / lip retargeting (R) MLPs."""

    # input: source and driving keypoints (2·21·3); output: 21·3 deltas + (tx, ty)
    stitching: MLPConfig = MLPConfig(126, (128, 128, 64), 65)
    # input: source keypoints + source lip ratio + driving lip ratio
    lip: MLPConfig = MLPConfig(65, (128, 128, 64), 63)
    # input: source keypoints + 2 source eye ratios + driving eye ratio
    eye: MLPConfig = MLPConfig(66, (256, 256, 128, 128, 64), 63)


@dataclass(frozen=True)
class LivePortraitConfig:
    """All five networks of the official LivePortrait (humans) release."""

    appearance: AppearanceConfig = AppearanceConfig()
    motion: MotionExtractorConfig = MotionExtractorConfig()
    warping: WarpingConfig = WarpingConfig()
    generator: GeneratorConfig = GeneratorConfig()
    retargeting: RetargetingConfig = RetargetingConfig()
    input_size: int = 256  # side of the square crop the networks read
    output_size: int = 512  # side of the image the generator writes


OFFICIAL = LivePortraitConfig()
