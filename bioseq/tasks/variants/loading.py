"""Model loading for variant scoring: :mod:`bioseq.tasks.loading`, the one loader of bioseq.

>>> from bioseq.tasks.variants.loading import load_model
>>> load_model("runs/merge").masked  # doctest: +SKIP
True
"""

from bioseq.tasks.loading import (  # noqa: F401  (re-exported)
    DIRECTIONS,
    LoadedModel,
    load_model,
    model_direction,
    resolve_device,
)
from bioseq.train.checkpoint import (  # noqa: F401  (re-exported)
    CAUSAL_KINDS,
    MASKED_MODELS,
    load_error,
    model_type,
    require_causal,
    resolve_model_dir,
)
