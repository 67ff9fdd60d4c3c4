"""Bases per token of whatever tokenizes: a tokenizer, or a learned-merge model (MergeLM) whose
merged tokens are counted. ``bioseq tokenizer report`` is one call to :func:`token_compression`.

>>> from bioseq.data import example_genome
>>> [report] = token_compression("kmer:3", [example_genome("lambda")])
>>> round(report["bases_per_token"], 2)
3.0
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bioseq.errors import InputError
from bioseq.models.hub import load_model, model_type, resolve_model_dir
from bioseq.models.merge_lm import MergeLM
from bioseq.tokenizers import compression_report, load_tokenizer


def merge_model(path: str | os.PathLike) -> MergeLM | None:
    """The MergeLM saved in a run or model directory, or None if ``path`` holds none (a
    tokenizer name such as ``kmer:6``, or a saved tokenizer)."""
    if not Path(path).is_dir():
        return None
    try:
        model_dir = resolve_model_dir(path)
    except InputError:
        return None  # a saved tokenizer, not a model
    if not (model_dir / "config.json").is_file() or model_type(model_dir) != "bioseq-merge":
        return None
    return load_model(model_dir, "cpu").model


def token_compression(
    spec: str | os.PathLike, paths: Sequence[str | os.PathLike], window: int | None = None
) -> list[dict[str, Any]]:
    """``file, bases, tokens, bases_per_token`` of each input (DNA or protein files or folders)
    for ``spec``: a tokenizer (a directory or a name for
    :func:`~bioseq.tokenizers.load_tokenizer`) or a MergeLM run or model directory, whose
    learned tokens are counted on windows of ``window`` bases (default: its training
    context)."""
    model = merge_model(spec)
    if model is not None:
        return model.compression_report(list(paths), window=window)
    return compression_report(load_tokenizer(str(spec)), list(paths))
