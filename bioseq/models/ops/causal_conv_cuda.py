"""Whether causal-conv1d's CUDA kernels import (they are optional: the ``cuda`` extra), kept apart
from :mod:`~bioseq.models.ops.causal_conv` so that the dispatch can ask without importing the
convolution itself.

>>> isinstance(causal_conv_import_error(), str)  # "" when causal-conv1d imports
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["causal_conv_import_error"]


@functools.lru_cache(maxsize=1)
def _import_causal_conv() -> tuple[Callable | None, Callable | None, str]:
    """``(causal_conv1d_fn, causal_conv1d_update, "")`` or ``(None, None, why it failed)``."""
    try:
        # deferred: causal-conv1d is optional (the cuda extra) and needs a built CUDA extension
        from causal_conv1d import causal_conv1d_fn, causal_conv1d_update
    except Exception as exc:  # ImportError, or a missing / mismatched compiled extension
        return None, None, f"{type(exc).__name__}: {exc}"
    return causal_conv1d_fn, causal_conv1d_update, ""


def causal_conv_import_error() -> str:
    """``""`` when causal-conv1d's kernels import, else why they do not."""
    return _import_causal_conv()[2]
