"""Dense motion from sparse keypoints: per-keypoint 3-D flows blended by a
predicted soft mask, plus an occlusion map.

Coordinates are normalised to -1..1 on every axis of the D×H×W feature
volume, ordered (x, y, z) = (right, down, into the picture), as GridSample
reads them.
"""

from __future__ import annotations

from vivicam.engines.liveportrait.gridsample import grid_sample_3d
from vivicam.engines.liveportrait.nets.blocks import F, Hourglass3d, Tensor, nn, torch
from vivicam.engines.liveportrait.nets.config import DenseMotionConfig


def identity_grid(size: tuple[int, int, int], like: Tensor) -> Tensor:
    """D×H×W×3 (x, y, z) voxel-centre coordinates spanning -1..1 (corners
    included), in ``like``'s dtype and device."""
    d, h, w = size
    axes = [torch.arange(n, dtype=like.dtype, device=like.device) for n in (w, h, d)]
    x, y, z = (2 * (a / (n - 1)) - 1 for a, n in zip(axes, (w, h, d)))
    return torch.stack(
        [x.view(1, 1, w).expand(d, h, w), y.view(1, h, 1).expand(d, h, w), z.view(d, 1, 1).expand(d, h, w)],
        dim=3,
    )


def keypoint_gaussians(kp: Tensor, size: tuple[int, int, int], variance: float) -> Tensor:
    """B×K×D×H×W unnormalised Gaussians centred on ``kp`` (B×K×3, -1..1)."""
    grid = identity_grid(size, kp).view(1, 1, *size, 3)
    offset = grid - kp.view(kp.shape[0], kp.shape[1], 1, 1, 1, 3)
    return torch.exp(-0.5 * (offset**2).sum(-1) / variance)


class DenseMotionNetwork(nn.Module):
    """``forward(feature, kp_driving, kp_source)``: feature B×32×16×64×64,
    keypoints B×21×3 (-1..1) → dict with ``deformation`` B×16×64×64×3 (where each
    driving voxel samples the source volume, -1..1), ``mask`` B×22×16×64×64
    (softmax weights: background + one per keypoint) and ``occlusion_map``
    B×1×64×64 (0..1) when the config estimates it.
    """

    def __init__(self, config: DenseMotionConfig, *, num_kp: int, feature_channels: int, estimate_occlusion: bool) -> None:
        super().__init__()
        self.config = config
        self.num_kp = num_kp
        self.decompose_grid_sample = False  # True: 4-D GridSample only (older TensorRT)
        in_ch = (num_kp + 1) * (config.compress + 1)
        self.hourglass = Hourglass3d(config.block_expansion, in_ch, config.num_blocks, config.max_features)
        self.mask = nn.Conv3d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(feature_channels, config.compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(config.compress, affine=True)
        self.occlusion = (
            nn.Conv2d(self.hourglass.out_filters * config.volume_depth, 1, kernel_size=7, padding=3)
            if estimate_occlusion
            else None
        )

    def sparse_motions(self, size: tuple[int, int, int], kp_driving: Tensor, kp_source: Tensor) -> Tensor:
        """B×(K+1)×D×H×W×3: for the background the identity, for keypoint k the
        translation taking driving keypoint k onto source keypoint k."""
        b, k = kp_source.shape[0], self.num_kp
        grid = identity_grid(size, kp_source).view(1, 1, *size, 3)
        to_source = grid - kp_driving.view(b, k, 1, 1, 1, 3) + kp_source.view(b, k, 1, 1, 1, 3)
        return torch.cat([grid.expand(b, 1, *size, 3), to_source], dim=1)

    def deformed_features(self, feature: Tensor, motions: Tensor) -> Tensor:
        """B×(K+1)×C×D×H×W: the compressed volume warped by each sparse motion."""
        b, c, d, h, w = feature.shape
        n = self.num_kp + 1
        repeated = feature.unsqueeze(1).expand(b, n, c, d, h, w).reshape(b * n, c, d, h, w)
        warped = grid_sample_3d(repeated, motions.reshape(b * n, d, h, w, 3), decompose=self.decompose_grid_sample)
        return warped.view(b, n, c, d, h, w)

    def forward(self, feature: Tensor, kp_driving: Tensor, kp_source: Tensor) -> dict[str, Tensor]:
        feature = F.relu(self.norm(self.compress(feature)))
        b, _, d, h, w = feature.shape
        size = (d, h, w)
        motions = self.sparse_motions(size, kp_driving, kp_source)
        deformed = self.deformed_features(feature, motions)

        variance = self.config.kp_variance
        heat = keypoint_gaussians(kp_driving, size, variance) - keypoint_gaussians(kp_source, size, variance)
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1).unsqueeze(2)
        stacked = torch.cat([heat, deformed], dim=2).view(b, -1, d, h, w)

        prediction = self.hourglass(stacked)
        mask = F.softmax(self.mask(prediction), dim=1)
        # Blend the sparse motions by the mask: B×3×D×H×W → B×D×H×W×3.
        blended = (motions.permute(0, 1, 5, 2, 3, 4) * mask.unsqueeze(2)).sum(dim=1)
        result = {"mask": mask, "deformation": blended.permute(0, 2, 3, 4, 1)}
        if self.occlusion is not None:
            flat = prediction.view(b, -1, h, w)
            result["occlusion_map"] = torch.sigmoid(self.occlusion(flat))
        return result
