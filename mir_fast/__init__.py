"""mir_fast: Major Influence Range for graph-based semi-supervised learning.

Compute how many unlabelled inputs each labelled input dominates under an RBF
graph (``major_influence_range``, ``MajorInfluenceRange``), in one fused,
OpenMP-parallel, memory-streaming pass over dense or CSR data.
"""

from ._config import show_config
from .influence import MajorInfluenceRange, MIRResult, major_influence_range

__version__ = "0.1.0"

__all__ = [
    "MIRResult",
    "MajorInfluenceRange",
    "major_influence_range",
    "show_config",
    "__version__",
]
