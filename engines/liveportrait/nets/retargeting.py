"""The stitching (S) and eye / lip retargeting (R) MLPs.

All three are plain Linear–ReLU chains over flattened keypoints; the official
file ``stitching_retargeting_module.pth`` holds their state_dicts under the
keys ``retarget_shoulder`` (stitching), ``retarget_mouth`` (lip) and
``retarget_eye`` (eye).
"""

from __future__ import annotations

from vivicam.engines.liveportrait.nets.blocks import Tensor, nn
from vivicam.engines.liveportrait.nets.config import MLPConfig, RetargetingConfig

#: network name → the sub-dict of the official stitching file that holds it
STITCHING_FILE_KEYS = {"stitching": "retarget_shoulder", "lip": "retarget_mouth", "eye": "retarget_eye"}


class RetargetingMLP(nn.Module):
    """``forward(x)``: B×input_size float → B×output_size float.

    - stitching: [source kp (63), driving kp (63)] → 63 keypoint deltas + (tx, ty)
    - lip: [source kp (63), source lip ratio, driving lip ratio] → 63 deltas
    - eye: [source kp (63), 2 source eye ratios, driving eye ratio] → 63 deltas
    """

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        sizes = (config.input_size, *config.hidden_sizes)
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], config.output_size))
        self.mlp = nn.Sequential(*layers)  # keys mlp.0, mlp.2, … (ReLUs hold no weights)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)


def build_retargeting(config: RetargetingConfig = RetargetingConfig()) -> dict[str, RetargetingMLP]:
    """The three MLPs by name: ``stitching``, ``lip``, ``eye``."""
    return {name: RetargetingMLP(getattr(config, name)) for name in STITCHING_FILE_KEYS}
