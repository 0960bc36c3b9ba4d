"""The warping module (W): warp the source feature volume to the driving
keypoints and fold it into a 2-D feature map for the generator."""

from __future__ import annotations

from vivicam.engines.liveportrait.gridsample import grid_sample_3d
from vivicam.engines.liveportrait.nets.blocks import ConvNormAct2d, Tensor, nn
from vivicam.engines.liveportrait.nets.config import WarpingConfig
from vivicam.engines.liveportrait.nets.dense_motion import DenseMotionNetwork


class WarpingNetwork(nn.Module):
    """``forward(feature_3d, kp_driving, kp_source)``: the appearance volume
    B×32×16×64×64 and driving / source keypoints B×21×3 (-1..1, after pose,
    expression, scale, translation and stitching) → dict with ``out``
    B×256×64×64 (the generator's input), ``occlusion_map`` B×1×64×64 (0..1) and
    ``deformation`` B×16×64×64×3.

    ``decompose_grid_sample = True`` makes every 5-D GridSample a 4-D one
    (:func:`vivicam.engines.liveportrait.gridsample.grid_sample_3d`), for
    TensorRT versions without 5-D GridSample; values agree to float32 rounding.
    """

    def __init__(self, config: WarpingConfig = WarpingConfig()) -> None:
        super().__init__()
        self.config = config
        self.dense_motion_network = DenseMotionNetwork(
            config.dense_motion,
            num_kp=config.num_kp,
            feature_channels=config.volume_channels,
            estimate_occlusion=config.estimate_occlusion_map,
        )
        width = config.block_expansion * 2**config.num_down_blocks
        self.third = ConvNormAct2d(config.max_features, width, leaky=True)
        self.fourth = nn.Conv2d(width, width, kernel_size=1)

    @property
    def decompose_grid_sample(self) -> bool:
        return self.dense_motion_network.decompose_grid_sample

    @decompose_grid_sample.setter
    def decompose_grid_sample(self, enabled: bool) -> None:
        self.dense_motion_network.decompose_grid_sample = bool(enabled)

    def forward(self, feature_3d: Tensor, kp_driving: Tensor, kp_source: Tensor) -> dict[str, Tensor]:
        motion = self.dense_motion_network(feature_3d, kp_driving, kp_source)
        deformation = motion["deformation"]
        warped = grid_sample_3d(feature_3d, deformation, decompose=self.decompose_grid_sample)
        b, c, d, h, w = warped.shape
        out = self.fourth(self.third(warped.view(b, c * d, h, w)))
        occlusion = motion.get("occlusion_map")
        if occlusion is not None and self.config.use_occlusion_map:
            out = out * occlusion
        return {"occlusion_map": occlusion, "deformation": deformation, "out": out}
