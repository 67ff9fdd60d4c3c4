"""Every module's docstring examples run: a usage example that no longer works fails here."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import tempfile

import pytest

import bioseq

MODULES = sorted(info.name for info in pkgutil.walk_packages(bioseq.__path__, "bioseq."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write (runs/, out.tsv) write here
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # and their mkdtemp() folders
    try:
        module = importlib.import_module(name)
    except ImportError as err:  # optional CUDA extras (mamba_ssm, causal_conv1d) only
        if "mamba_ssm" in str(err) or "causal_conv1d" in str(err):
            pytest.skip(f"{name}: {err}")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
