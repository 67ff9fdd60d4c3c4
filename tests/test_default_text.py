"""The default text corpus of ``bioseq pretrain --text``: Alice plus the World Factbook 1992
excerpt (numerals in running text), its held-out split, and its packaging."""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np

import bioseq.data
from bioseq.data import default_text, default_text_corpus
from bioseq.train.config import TrainConfig
from bioseq.train.data import build_data

DATA = Path(bioseq.data.__file__).parent
ROOT = Path(__file__).resolve().parents[1]
DIGITS = frozenset(b"0123456789")


def _text(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def test_factbook_excerpt_is_the_documented_one():
    book, factbook = default_text_corpus()
    assert book == default_text()  # the book stays first (and the default of single-text uses)
    data = _text(factbook)
    provenance = (DATA / "PROVENANCE.md").read_text()
    assert hashlib.sha256(data).hexdigest() in provenance
    assert hashlib.sha256(factbook.read_bytes()).hexdigest() in provenance
    assert len(data) == 515_847 and data.count(b"\n") == 13_904
    assert data.startswith(b"THE WORLD FACTBOOK 1992\n\n\n:Afghanistan Geography\n")
    assert data.endswith(b"would produce misleading results\n")
    assert data.isascii() and b"\r" not in data
    assert b"Gutenberg" not in data and b"Small Print" not in data  # header and licence cut
    entries = re.findall(rb"^:(.+) Geography$", data, flags=re.M)
    assert len(entries) == 64 and entries[0] == b"Afghanistan"
    assert entries[-1] == b"Czechoslovakia" and b"Denmark" not in entries
    # numerals in running text: a digit every 17 bytes, where Alice has two in all
    assert sum(b in DIGITS for b in data) == 30_239
    assert sum(b in DIGITS for b in _text(book)) == 2


def test_default_corpus_splits_each_file_and_trains_on_digits():
    data = build_data(TrainConfig(text=True, context=128).resolved())
    files = [_text(p) for p in default_text_corpus()]
    assert len(data.train_parts) == len(data.val_parts) == 2
    for raw, train, val in zip(files, data.train_parts, data.val_parts, strict=True):
        held_out = round(len(raw) * 0.1)  # the last tenth of each file
        assert val.tobytes() == raw[len(raw) - held_out :]
        assert train.tobytes() == raw[: len(raw) - held_out]
    # windows are drawn uniformly over both files, so about 22% come from Alice
    windows = [
        bytes((row - 5).tolist())
        for step in range(16)
        for row in data.batch(step, 128, 16)[0].input_ids
    ]
    alice = np.mean([w in files[0] for w in windows])
    assert all(w in files[0] or w in files[1] for w in windows)
    assert 0.12 < alice < 0.34, alice
    digits = np.mean([b in DIGITS for w in windows for b in w])
    assert 0.03 < digits < 0.07, digits


def test_every_bundled_file_is_package_data():
    """A wheel ships what pyproject's package-data globs name: every bundled data file."""
    pyproject = (ROOT / "pyproject.toml").read_text()  # no tomllib on Python 3.10
    [line] = re.findall(r'^"bioseq\.data" = (\[.*\])$', pyproject, flags=re.M)
    globs = json.loads(line)
    names = [p.name for p in DATA.iterdir() if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert {p.name for p in default_text_corpus()} <= set(names)
    for name in names:
        assert any(fnmatch.fnmatch(name, g) for g in globs), name
