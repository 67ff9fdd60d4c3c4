"""Shared test settings: where the project's real data lives (``../shared/data``), and
Hypothesis without per-example deadlines (speed is measured in ``benchmarks/``, never in unit
tests: a loaded CI machine made a 200 ms deadline fail a correct test)."""

import os
from pathlib import Path

import numba
import pytest
import torch
from hypothesis import settings

settings.register_profile("bioseq", deadline=None)
settings.load_profile("bioseq")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BIOSEQ_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    return SHARED_DATA.joinpath(*parts)


def require(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not available")


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
