"""The default text corpus of ``bioseq pretrain --text``: Alice, the World Factbook 1992
excerpt (numerals in running text) and the table of circulating decimals (long runs of digits),
its held-out split, and its packaging."""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import re
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import numpy as np

import bioseq.data
from bioseq.data import default_text, default_text_corpus
from bioseq.data.decimals import circulating_decimals_table, decimal_expansion
from bioseq.train.config import TrainConfig
from bioseq.train.data import build_data

DATA = Path(bioseq.data.__file__).parent
ROOT = Path(__file__).resolve().parents[1]
DIGITS = frozenset(b"0123456789")


def _text(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def test_factbook_excerpt_is_the_documented_one():
    book, factbook, _ = default_text_corpus()
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
    assert len(data.train_parts) == len(data.val_parts) == 3
    for raw, train, val in zip(files, data.train_parts, data.val_parts, strict=True):
        held_out = round(len(raw) * 0.1)  # the last tenth of each file
        assert val.tobytes() == raw[len(raw) - held_out :]
        assert train.tobytes() == raw[: len(raw) - held_out]
    # windows are drawn uniformly over the three files: about 15% from Alice, 33% from the table
    windows = [
        bytes((row - 5).tolist())
        for step in range(16)
        for row in data.batch(step, 128, 16)[0].input_ids
    ]
    alice, _, table = (np.mean([w in f for w in windows]) for f in files)
    assert all(any(w in f for f in files) for w in windows)
    assert 0.07 < alice < 0.25, alice
    assert 0.22 < table < 0.44, table
    digits = np.mean([b in DIGITS for w in windows for b in w])
    assert 0.22 < digits < 0.46, digits


def test_digit_table_is_the_documented_one():
    *_, table = default_text_corpus()
    data = _text(table)
    provenance = (DATA / "PROVENANCE.md").read_text()
    assert hashlib.sha256(data).hexdigest() in provenance
    assert hashlib.sha256(table.read_bytes()).hexdigest() in provenance
    assert data.decode() == circulating_decimals_table()  # the documented recipe
    assert len(data) == 325_199 and data.count(b"\n") == 3_048
    lines = data.decode().splitlines()
    assert lines[0] == "A TABLE OF CIRCULATING DECIMALS"
    rows = [line for line in lines if " = " in line]
    # every proper fraction in lowest terms with a denominator from 2 to 100, once, in order
    expected = [
        Fraction(m, n)
        for n in range(2, 101)
        for m in range(1, n)
        if Fraction(m, n).denominator == n
    ]
    fractions = [Fraction(row.split(" = ")[0]) for row in rows]
    assert fractions == expected and len(rows) == 3_043
    # runs of 96 digits: longer than any run in the prose, as a linguistic prompt's are
    assert max(len(run) for run in re.findall(rb"[0-9]+", data)) == 96


def test_decimal_expansion_against_decimal_arithmetic():
    """Long division against Python's decimal module (truncated, not rounded)."""
    rng = np.random.default_rng(0)
    with localcontext() as ctx:
        ctx.prec = 200
        for _ in range(300):
            n = int(rng.integers(1, 10_000))
            m = int(rng.integers(0, 3 * n))
            places = int(rng.integers(0, 120))
            exact = (Decimal(m) / Decimal(n)).quantize(Decimal(1).scaleb(-places), "ROUND_DOWN")
            got = decimal_expansion(m, n, places)
            assert Decimal(got) == exact and len(got.split(".")[1]) == places, (m, n, places)
    assert decimal_expansion(1, 7, 12) == "0.142857142857"
    assert decimal_expansion(22, 7, 3) == "3.142"


def test_every_bundled_file_is_package_data():
    """A wheel ships what pyproject's package-data globs name: every bundled data file."""
    pyproject = (ROOT / "pyproject.toml").read_text()  # no tomllib on Python 3.10
    [line] = re.findall(r'^"bioseq\.data" = (\[.*\])$', pyproject, flags=re.M)
    globs = json.loads(line)
    names = [p.name for p in DATA.iterdir() if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert {p.name for p in default_text_corpus()} <= set(names)
    for name in names:
        assert any(fnmatch.fnmatch(name, g) for g in globs), name
