"""Shared test settings and helpers: where the project's real data lives (``../shared/data``),
Hypothesis without per-example deadlines (speed is measured in ``benchmarks/``, never in unit
tests: a loaded CI machine made a 200 ms deadline fail a correct test), :func:`tiny_model` (a
small random model of any family) and :func:`write_file` (a file in a test's folder).

Tests over about 3 s are marked ``@pytest.mark.slow``: ``pytest -q`` leaves them out
(pyproject's ``addopts``), ``pytest -q -m "slow or not slow"`` (CI, ``.ci/run``) runs all.
"""

import os
from pathlib import Path

import numba
import pytest
import torch
from hypothesis import settings

from bioseq.data import example_genome
from bioseq.models import (
    CaduceusConfig,
    CaduceusLM,
    HyenaConfig,
    HyenaLM,
    MambaConfig,
    MambaLM,
    MergeConfig,
    MergeLM,
    StripedHyenaConfig,
    StripedHyenaLM,
    TransformerConfig,
    TransformerLM,
)

settings.register_profile("bioseq", deadline=None)
settings.load_profile("bioseq")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BIOSEQ_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    return SHARED_DATA.joinpath(*parts)


def require(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not available")


FAMILIES = {
    "hyena": (HyenaConfig, HyenaLM),
    "mamba": (MambaConfig, MambaLM),
    "transformer": (TransformerConfig, TransformerLM),
    "striped-hyena": (StripedHyenaConfig, StripedHyenaLM),
    "caduceus": (CaduceusConfig, CaduceusLM),
    "merge": (MergeConfig, MergeLM),
}


# the smallest pretraining run that still evaluates, checkpoints and resumes (TrainConfig fields)
TINY_RUN = dict(
    inputs=[str(example_genome("lambda"))],
    d_model=32,
    n_layer=1,
    context=64,
    batch_size=4,
    log_every=1,
    eval_every=2,
    eval_windows=4,
    final_eval_windows=8,
    save_every=2,
    threads=1,
)


def tiny_model(family: str, vocab_size: int, seed: int | None = None, **overrides):
    """A random model of ``family`` (a key of :data:`FAMILIES`) from its ``tiny`` preset, with
    ``overrides`` of any config field; ``seed`` seeds torch first. In training mode, as built.

    >>> tiny_model("mamba", 10, d_model=16, n_layer=1).config.d_model
    16
    """
    config_class, model_class = FAMILIES[family]
    if seed is not None:
        torch.manual_seed(seed)
    return model_class(config_class.from_preset("tiny", vocab_size=vocab_size, **overrides))


def write_file(folder: Path, name: str, content: str | bytes) -> Path:
    """``folder / name`` holding ``content`` (text or bytes; missing folders are made)."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared machine: one thread (torch and numba) avoids OpenMP spin
    contention (a 100-token Hyena pass takes 0.7 s with two contended threads, 5 ms with one).
    A module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)
