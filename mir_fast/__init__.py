"""mir_fast: Major Influence Range for graph-based semi-supervised learning.

Compute how many unlabelled inputs each labelled input dominates under an RBF
graph (``major_influence_range``, ``MajorInfluenceRange``), in one fused,
OpenMP-parallel, memory-streaming pass over dense or CSR data.
"""

from . import _openmp_runtime

_openmp_runtime.load()

from ._config import show_config  # noqa: E402
from .attack import MIRLabelFlipAttack, labels_to_recheck, poison_labels  # noqa: E402
from .impact import FlipImpact, flip_impact  # noqa: E402
from .robustness import FlipAttack, FlipRobustness, flip_attack, flip_robustness  # noqa: E402
from .influence import (  # noqa: E402
    DegenerateGammaWarning,
    MajorInfluenceRange,
    MIRResult,
    auto_gamma,
    major_influence_range,
)

from ._version import __version__  # noqa: E402

__all__ = [
    "DegenerateGammaWarning",
    "FlipAttack",
    "FlipImpact",
    "FlipRobustness",
    "MIRLabelFlipAttack",
    "MIRResult",
    "auto_gamma",
    "flip_attack",
    "flip_impact",
    "flip_robustness",
    "labels_to_recheck",
    "poison_labels",
    "MajorInfluenceRange",
    "major_influence_range",
    "show_config",
    "__version__",
]
