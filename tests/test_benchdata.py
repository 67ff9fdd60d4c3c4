"""The supervised benchmark tables (coding windows, DMS folds) checked against Biopython's
own reading of the annotation, and the baselines of ``benchmarks/finetune_baselines.py``."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from Bio import SeqIO

from bioseq.data import example_genome
from bioseq.errors import InputError
from bioseq.tasks.adapt.benchdata import DmsRow, coding_windows, dms_table, write_table
from tests.conftest import require, shared_file

LAMBDA = example_genome("lambda")
REPO = Path(__file__).resolve().parents[1]
BLAT_CSV = shared_file("proteins", "BLAT_ECOLX_Ranganathan2015.csv")
BLAT_A2M = shared_file("proteins", "BLAT_ECOLX_r24-286.a2m")
WINDOW, STRIDE = 50, 5


@pytest.fixture(scope="module")
def reference():
    """Lambda as Biopython reads it: sequence, CDS parts (not /pseudo), every feature part."""
    record = SeqIO.read(LAMBDA, "genbank")
    parts = {"cds": [], "all": []}
    for feature in record.features:
        if feature.type == "source":
            continue
        spans = [(int(p.start), int(p.end)) for p in feature.location.parts]
        parts["all"] += spans
        if feature.type == "CDS" and "pseudo" not in feature.qualifiers:
            parts["cds"] += spans
    return str(record.seq).upper(), parts["cds"], parts["all"]


@pytest.fixture(scope="module")
def rows():
    return coding_windows(LAMBDA, window=WINDOW, stride=STRIDE, val_fraction=0.2, seed=3)


def _bounds(length: int, val: float = 0.2, test: float = 0.1) -> dict[str, tuple[int, int]]:
    train_end, val_end = round(length * (1 - val - test)), round(length * (1 - test))
    return {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, length)}


def test_windows_are_labelled_as_the_annotation_says(rows, reference):
    assert {r.label for r in rows} == {"coding", "intergenic"}
    _check_labels(rows, reference)


def _check_labels(rows, reference) -> None:
    sequence, cds, features = reference
    for r in rows:
        assert r.end - r.start == WINDOW and r.start % STRIDE == 0
        assert r.sequence == sequence[r.start : r.end] and set(r.sequence) <= set("ACGT")
        assert r.name == f"NC_001416.1:{r.start}-{r.end}"
        if r.label == "coding":
            assert any(s <= r.start and r.end <= e for s, e in cds), r.name
        else:
            assert all(e <= r.start or s >= r.end for s, e in features), r.name


def test_splits_follow_genome_position_and_classes_are_balanced(rows, reference):
    sequence, cds, features = reference
    bounds = _bounds(len(sequence))
    assert bounds["test"][0] == 43652  # the last tenth: what pretraining holds out (round(0.9 L))
    counts = Counter((r.split, r.label) for r in rows)
    for split, (lo, hi) in bounds.items():
        inside = [r for r in rows if r.split == split]
        assert all(lo <= r.start and r.end <= hi for r in inside)  # no window crosses a bound
        assert counts[split, "coding"] == counts[split, "intergenic"]
        # the rarer class is complete: every grid window free of features, of A/C/G/T only
        free = {
            s
            for s in range(-(-lo // STRIDE) * STRIDE, hi - WINDOW + 1, STRIDE)
            if all(e <= s or b >= s + WINDOW for b, e in features)
            and set(sequence[s : s + WINDOW]) <= set("ACGT")
        }
        coding = {
            s
            for s in range(-(-lo // STRIDE) * STRIDE, hi - WINDOW + 1, STRIDE)
            if any(b <= s and s + WINDOW <= e for b, e in cds)
            and set(sequence[s : s + WINDOW]) <= set("ACGT")
        }
        assert len(free) < len(coding)  # lambda is nearly all coding
        assert {r.start for r in inside if r.label == "intergenic"} == free
        assert {r.start for r in inside if r.label == "coding"} <= coding
    # lambda has no feature-free window between 60% and 90% of its length: val is empty
    assert counts["train", "coding"] > 0 and counts["test", "coding"] > 0


def test_windows_are_deterministic_and_capped(rows, reference):
    again = coding_windows(LAMBDA, window=WINDOW, stride=STRIDE, val_fraction=0.2, seed=3)
    assert again == rows
    other = coding_windows(LAMBDA, window=WINDOW, stride=STRIDE, val_fraction=0.2, seed=4)
    assert {r.name for r in other} != {r.name for r in rows}  # another draw of coding windows
    assert {r.name for r in other if r.label == "intergenic"} == {
        r.name for r in rows if r.label == "intergenic"
    }
    capped = coding_windows(
        LAMBDA, window=WINDOW, stride=STRIDE, val_fraction=0.2, seed=3, max_per_class=4
    )
    counts = Counter((r.split, r.label) for r in capped)
    assert set(counts.values()) == {4} and {s for s, _ in counts} == {"train", "test"}
    _check_labels(capped, reference)


def test_default_splits_and_bad_arguments():
    rows = coding_windows(LAMBDA, window=WINDOW, stride=10)
    assert {r.split for r in rows} <= {"train", "val", "test"}
    assert all(r.start >= 43652 for r in rows if r.split == "test")
    assert all(r.start >= 43652 - 4850 and r.end <= 43652 for r in rows if r.split == "val")
    with pytest.raises(InputError, match="window and stride"):
        coding_windows(LAMBDA, window=0)
    with pytest.raises(InputError, match="no such file"):
        coding_windows(LAMBDA.with_name("missing.gbk"))


def test_write_table_is_a_tsv_with_name_sequence_label_first(rows, tmp_path):
    path = write_table(rows, tmp_path / "coding.tsv")
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle, delimiter="\t"))
    with open(path) as handle:
        assert handle.readline().rstrip("\n").split("\t")[:3] == ["name", "sequence", "label"]
    assert len(read) == len(rows)
    assert [(d["name"], d["sequence"], d["label"], d["split"], int(d["start"])) for d in read] == [
        (r.name, r.sequence, r.label, r.split, r.start) for r in rows
    ]


# -- DMS --------------------------------------------------------------------------------


@pytest.fixture()
def small_dms(tmp_path):
    (tmp_path / "wt.fa").write_text(">WT/10-19\nMKTAYIAKQR\n")
    lines = [
        "mutant,score",
        "M10A,0.5",
        "K11W,-1",
        "T12A,",
        "A13G,NA",
        "Y14F,2.5",
        "I15V:K17R,0.25",
        "K11W,9",
        "Q18E,1e-3",
        "R19K,-0.75",
        "M10C,1",
        "T12S,0",
    ]
    (tmp_path / "dms.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "dms.csv", tmp_path / "wt.fa"


def test_dms_table_applies_mutants_and_deals_folds(small_dms):
    csv_path, wt = small_dms
    rows = dms_table(csv_path, wt, "score", n_folds=3, seed=1)
    wildtype = "MKTAYIAKQR"
    # no score (empty, NA) left out; the second K11W (a duplicate) left out
    assert [r.name for r in rows] == [
        "M10A",
        "K11W",
        "Y14F",
        "I15V:K17R",
        "Q18E",
        "R19K",
        "M10C",
        "T12S",
    ]
    assert rows[1].label == -1.0 and rows[4].label == 1e-3
    for r in rows:
        changed = {i for i, (a, b) in enumerate(zip(wildtype, r.sequence, strict=True)) if a != b}
        subs = [(int(s[1:-1]) - 10, s[-1]) for s in r.name.split(":")]
        assert changed == {i for i, _ in subs}
        assert all(r.sequence[i] == mt for i, mt in subs)
    sizes = Counter(r.fold for r in rows)
    assert set(sizes) == {0, 1, 2} and max(sizes.values()) - min(sizes.values()) <= 1
    assert dms_table(csv_path, wt, "score", n_folds=3, seed=1) == rows
    draws = {tuple(r.fold for r in dms_table(csv_path, wt, "score", 3, seed)) for seed in range(5)}
    assert len(draws) > 1


def test_dms_table_refuses_mutants_that_do_not_fit(small_dms, tmp_path):
    csv_path, wt = small_dms
    bad = tmp_path / "bad.csv"
    bad.write_text("mutant,score\nM10A,1\nK12A,2\n")
    with pytest.raises(InputError, match=r"bad.csv:3: K12A: residue 12 is T, not K"):
        dms_table(bad, wt, "score")
    with pytest.raises(InputError, match="names no column"):
        dms_table(csv_path, wt, "fitness")
    with pytest.raises(InputError, match="n_folds"):
        dms_table(csv_path, wt, "score", n_folds=1)


@require(BLAT_CSV)
def test_blat_table_matches_the_alignment_wild_type():
    rows = dms_table(BLAT_CSV, BLAT_A2M, "2500")
    with open(BLAT_A2M) as handle:
        handle.readline()
        wildtype = ""
        for line in handle:
            if line.startswith(">"):
                break
            wildtype += line.strip().upper().replace(".", "").replace("-", "")
    assert len(wildtype) == 286 - 24 + 1
    with open(BLAT_CSV) as handle:
        data = [line for line in handle if not line.startswith("#")]
    assert len(rows) == len(data) - 1 == 4997
    assert len({r.name for r in rows}) == len(rows)
    for r in rows:
        position, mt = int(r.name[1:-1]), r.name[-1]
        diff = [i for i, (a, b) in enumerate(zip(wildtype, r.sequence, strict=True)) if a != b]
        assert diff == [position - 24] and r.sequence[position - 24] == mt
        assert wildtype[position - 24] == r.name[0]
    assert sorted(Counter(r.fold for r in rows).values()) == [999, 999, 999, 1000, 1000]


# -- baselines ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baselines():
    path = REPO / "benchmarks" / "finetune_baselines.py"
    spec = importlib.util.spec_from_file_location("finetune_baselines", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gc_rows(rng, n: int, length: int = 60) -> list[dict]:
    """``coding`` windows GC-rich, ``intergenic`` AT-rich: separable by composition."""
    rows = []
    for i in range(n):
        gc = 0.65 if i % 2 else 0.35
        p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
        seq = "".join(rng.choice(list("ACGT"), size=length, p=p))
        rows.append({"sequence": seq, "label": "coding" if i % 2 else "intergenic"})
    return rows


def test_kmer_counts_match_a_direct_count(baselines):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTN"), size=30, p=[0.24] * 4 + [0.04])) for _ in range(5)]
    counts = baselines.kmer_counts(seqs, k=3).toarray()
    names = ["".join(p) for p in product("ACGT", repeat=3)]
    for seq, row in zip(seqs, counts, strict=True):
        direct = Counter(seq[i : i + 3] for i in range(len(seq) - 2))
        assert {names[j]: int(c) for j, c in enumerate(row) if c} == {
            kmer: c for kmer, c in direct.items() if "N" not in kmer
        }


def test_one_hot_reverse_complement_is_the_reverse_complement(baselines):
    seq = "ACGTTGCANA"
    rc = seq[::-1].translate(str.maketrans("ACGTN", "TGCAN"))
    x = baselines.one_hot_dna([seq, rc])
    assert bool((baselines.reverse_complement(x[:1]) == x[1:]).all())


def test_classifiers_learn_composition(baselines):
    rng = np.random.default_rng(1)
    train, val, test = _gc_rows(rng, 200), _gc_rows(rng, 60), _gc_rows(rng, 100)
    result = baselines.kmer_logistic(train, test, k=2, val=val)
    assert result["accuracy"] > 0.85 and result["mcc"] > 0.7
    cnn = baselines.small_cnn(train, val, test, epochs=4, patience=4, progress=False)
    assert cnn["accuracy"] > 0.8 and 1 <= cnn["best_epoch"] <= cnn["epochs"] <= 4


def test_onehot_ridge_recovers_additive_site_effects(baselines):
    rng = np.random.default_rng(2)
    wildtype = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=40))
    effect = rng.normal(size=40)
    rows = []
    for i, (pos, aa) in enumerate(product(range(40), "ADKLW")):
        if wildtype[pos] == aa:
            continue
        seq = wildtype[:pos] + aa + wildtype[pos + 1 :]
        rows.append(
            DmsRow(f"{wildtype[pos]}{pos + 1}{aa}", seq, effect[pos] + 0.1 * rng.normal(), i % 5)
        )
    result = baselines.onehot_ridge(rows)
    assert len(result["per_fold"]) == 5 and sum(result["n"]) == len(rows)
    assert result["mean"] > 0.8


def test_best_threshold_is_the_best_cut(baselines):
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = rng.integers(0, 6, size=15) / 5  # ties on purpose
        y = rng.integers(0, 2, size=15)
        threshold, accuracy = baselines.best_threshold(p, y)
        assert accuracy == ((p >= threshold) == y).mean()
        brute = max(((p >= t) == y).mean() for t in [*np.unique(p), np.inf])
        assert accuracy == brute
