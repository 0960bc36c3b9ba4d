"""The SPADE generator (G): warped 256×64×64 features → 3×512×512 image.

Six SPADE residual blocks at 64², then two upsampling blocks (128², 256²) and
a sub-pixel convolution to 512². Each SPADE normalisation is modulated by the
warped features themselves ("segmentation map" in SPADE's terms).
"""

from __future__ import annotations

from vivicam.engines.liveportrait.nets.blocks import F, Tensor, nn, torch
from vivicam.engines.liveportrait.nets.config import GeneratorConfig


class SpectralConv2d(nn.Module):
    """Conv2d whose kernel is divided by its spectral norm estimate.

    Stores what ``torch.nn.utils.spectral_norm`` stores (``weight_orig``,
    ``weight_u``, ``weight_v``) so checkpoints load as they are, and computes
    ``sigma = u · (W v)`` exactly as it does in eval mode, without the power
    iteration (inference only, so ``u`` and ``v`` stay as trained).

    :meth:`fold` computes the normalised kernel once and keeps it (not in the
    state_dict): the same numbers, no per-frame matrix-vector products, and an
    exported graph with a plain Conv instead of MatMul/Div on the weights
    (where FP16 engines would lose the 4608-term dot product's precision).
    Loading a state_dict drops the folded kernel.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, *, padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        self.padding = padding
        self.weight_orig = nn.Parameter(torch.empty(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.register_buffer("weight_u", nn.functional.normalize(torch.randn(out_ch), dim=0))
        self.register_buffer("weight_v", nn.functional.normalize(torch.randn(in_ch * kernel_size**2), dim=0))
        nn.init.kaiming_uniform_(self.weight_orig, a=5**0.5)
        self.register_buffer("folded_weight", None, persistent=False)

    def weight(self) -> Tensor:
        """The normalised kernel the convolution uses."""
        if self.folded_weight is not None:
            return self.folded_weight
        matrix = self.weight_orig.reshape(self.weight_orig.shape[0], -1)
        sigma = torch.dot(self.weight_u, torch.mv(matrix, self.weight_v))
        return self.weight_orig / sigma

    @torch.no_grad()
    def fold(self) -> None:
        """Keep the normalised kernel (call after loading weights)."""
        self.folded_weight = None
        self.folded_weight = self.weight().detach().clone()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.folded_weight = None  # new weights: the folded kernel is stale
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


def fold_spectral_norms(module: nn.Module) -> int:
    """Fold every :class:`SpectralConv2d` in ``module``; returns how many."""
    convs = [m for m in module.modules() if isinstance(m, SpectralConv2d)]
    for conv in convs:
        conv.fold()
    return len(convs)


class SPADE(nn.Module):
    """Instance norm (no affine) modulated per pixel by ``1 + gamma(seg)`` and ``beta(seg)``."""

    def __init__(self, channels: int, label_channels: int, hidden: int = 128) -> None:
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        normalized = self.param_free_norm(x)
        if seg.shape[-2:] != x.shape[-2:]:  # nearest resize; a same-size resize is the identity
            seg = F.interpolate(seg, size=x.shape[-2:], mode="nearest")
        hidden = self.mlp_shared(seg)
        return normalized * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SPADEResBlock(nn.Module):
    """SPADE → LeakyReLU(0.2) → conv, twice, plus a (learned when widths differ) shortcut."""

    def __init__(self, fin: int, fout: int, label_channels: int, hidden: int = 128) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        middle = min(fin, fout)
        self.conv_0 = SpectralConv2d(fin, middle, 3, padding=1)
        self.conv_1 = SpectralConv2d(middle, fout, 3, padding=1)
        self.norm_0 = SPADE(fin, label_channels, hidden)
        self.norm_1 = SPADE(middle, label_channels, hidden)
        if self.learned_shortcut:
            self.conv_s = SpectralConv2d(fin, fout, 1, bias=False)
            self.norm_s = SPADE(fin, label_channels, hidden)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx


class SPADEGenerator(nn.Module):
    """``forward(feature)``: B×256×64×64 float (the warping module's ``out``)
    → B×3×512×512 float in 0..1 (RGB)."""

    def __init__(self, config: GeneratorConfig = GeneratorConfig()) -> None:
        super().__init__()
        self.config = config
        label = config.label_channels  # 256
        wide = 2 * label  # 512
        hidden = config.spade_hidden
        self.fc = nn.Conv2d(label, wide, 3, padding=1)
        # Named G_middle_0..5 in the checkpoints: registered one by one.
        for i in range(6):
            self.add_module(f"G_middle_{i}", SPADEResBlock(wide, wide, label, hidden))
        self.up_0 = SPADEResBlock(wide, label, label, hidden)
        self.up_1 = SPADEResBlock(label, config.out_channels, label, hidden)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        if config.upscale > 1:
            shuffle = config.upscale
            self.conv_img = nn.Sequential(
                nn.Conv2d(config.out_channels, 3 * shuffle**2, kernel_size=3, padding=1),
                nn.PixelShuffle(upscale_factor=shuffle),
            )
        else:
            self.conv_img = nn.Conv2d(config.out_channels, 3, 3, padding=1)

    def forward(self, feature: Tensor) -> Tensor:
        seg = feature
        x = self.fc(feature)
        for i in range(6):
            x = getattr(self, f"G_middle_{i}")(x, seg)
        x = self.up_0(self.up(x), seg)
        x = self.up_1(self.up(x), seg)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))
