"""What ``bioseq pretrain`` tells the user and leaves on disk: a notice before each slow step,
bits in the run's own symbol (base, residue, byte), 4 significant digits, where a resumed run
starts, ``loss.png`` for every run (MergeLM too), and files made with the user's umask."""

from __future__ import annotations

import os
import re
import stat
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.data import example_genome
from bioseq.models import markov
from bioseq.models.markov import MarkovModel
from bioseq.runtime import notice_if_slow
from bioseq.tasks.variants import run as variant_runs
from bioseq.train.plot import plot_metrics
from tests.conftest import write_file

pytestmark = pytest.mark.usefixtures("one_thread")

LAMBDA = str(example_genome("lambda"))
TINY = ["--d-model", "16", "--n-layer", "1", "--context", "64", "--batch-size", "2",
        "--steps", "4", "--log-every", "2", "--eval-every", "2", "--save-every", "2",
        "--eval-windows", "2", "--final-eval-windows", "2", "--threads", "1"]  # fmt: skip
LETTERS = "ACDEFGHIKLMNPQRSTVWY"


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def family(tmp_path: Path, n: int = 30, length: int = 40) -> Path:
    rng = np.random.default_rng(0)
    base = rng.choice(list(LETTERS), size=length)
    records = []
    for i in range(n):
        seq = base.copy()
        flip = rng.random(length) < 0.3
        seq[flip] = rng.choice(list(LETTERS), size=int(flip.sum()))
        records.append(f">h{i}\n{''.join(seq)}\n")
    return write_file(tmp_path, "family.a2m", "".join(records))


# -- the Markov reference ------------------------------------------------------------------
def test_markov_counts_of_many_short_sequences_gathered_equal_a_plain_count(monkeypatch):
    monkeypatch.setattr(markov, "_CHUNK", 50)  # several gathered pieces, some sequences split
    rng = np.random.default_rng(1)
    seqs = [
        "".join(rng.choice(list(LETTERS + "X"), size=int(rng.integers(1, 120)))) for _ in range(200)
    ]
    model = MarkovModel(order=2, letters=LETTERS).fit(
        np.frombuffer(s.encode(), dtype=np.uint8) for s in seqs
    )
    expected = Counter(s[i : i + 3] for s in seqs for i in range(len(s) - 2))
    index = {c: i for i, c in enumerate(LETTERS)}
    counted = {
        "".join(LETTERS[(code // 20**p) % 20] for p in (2, 1, 0)): int(n)
        for code, n in enumerate(model.counts)
        if n
    }
    assert counted == {k: v for k, v in expected.items() if all(c in index for c in k)}


# -- what a run prints ---------------------------------------------------------------------
def test_protein_run_notices_units_and_significant_digits(tmp_path):
    result = run_cli(
        "pretrain",
        family(tmp_path),
        "--alphabet",
        "protein",
        "--model",
        "transformer",
        *TINY,
        "--out",
        tmp_path / "p",
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "fitting the order-4 Markov reference" in out
    assert out.index("protein records") < out.index("fitting the order-4") < out.index("step 2/4")
    assert "bits/residue" in out and "bits/base" not in out
    assert re.search(
        r"validation \d\.\d{3} bits/residue, (NOT )?below the order-4 Markov "
        r"reference \d\.\d{3}\n",
        out,
    )
    assert re.search(r"step 2/4 \| train \d\.\d{3} bits/residue \| val \d\.\d{3} ", out)


def test_masked_protein_run_says_bits_per_masked_residue(tmp_path):
    result = run_cli(
        "pretrain",
        family(tmp_path),
        "--alphabet",
        "protein",
        "--model",
        "caduceus",
        "--sequence-weights",
        "0.8",
        *TINY,
        "--out",
        tmp_path / "m",
    )
    assert result.exit_code == 0, result.output
    assert "weighting their sequences" not in result.output  # a quick read needs no notice
    assert "fitting the two-sided order-4 Markov reference" in result.output
    assert "bits/masked residue" in result.output and "bits per masked residue" in result.output


def test_a_slow_step_is_announced_while_it_runs_and_a_quick_one_is_not(capsys):
    with notice_if_slow("weighting ...", after=0.05):
        time.sleep(0.5)
    with notice_if_slow("quick ...", after=5):
        pass
    time.sleep(0.1)
    assert capsys.readouterr().err == "weighting ...\n"


def test_quiet_runs_print_no_notice(tmp_path):
    result = run_cli("pretrain", LAMBDA, *TINY, "--quiet", "--out", tmp_path / "q")
    assert result.exit_code == 0 and result.output == ""


def test_resume_says_from_which_step(tmp_path):
    run = tmp_path / "r"
    assert run_cli("pretrain", LAMBDA, *TINY, "--stop-after", "2", "--out", run).exit_code == 0
    result = run_cli("pretrain", "--resume", run)
    assert result.exit_code == 0, result.output
    assert f"resuming from step 2 ({run / 'checkpoints' / 'step-2'})" in result.output


def test_loss_plot_axis_names_the_symbol(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    rows = '{"step": 2, "tokens": 10, "train_bits_per_base": 4.3, "markov_bits_per_base": 4.1}\n'
    metrics = write_file(tmp_path, "metrics.jsonl", rows)
    plot_metrics(metrics, tmp_path / "p.png", unit="residue")
    merge_rows = '{"step": 2, "tokens": 10, "train_mergedna_loss": 3.0, "bases_per_token": 2}\n'
    plot_metrics(write_file(tmp_path, "m.jsonl", merge_rows), tmp_path / "m.png")
    labels = [fig.axes[0].get_ylabel() for fig in figures]
    assert labels == ["bits per residue", "MergeDNA loss (nats per base)"]
    assert "order-4 Markov (4.100)" in [t.get_text() for t in figures[0].axes[0].get_legend().texts]


def test_merge_runs_write_loss_png(tmp_path):
    run = tmp_path / "merge"
    result = run_cli("pretrain", LAMBDA, "--tokenizer", "merge", *TINY, "--out", run)
    assert result.exit_code == 0, result.output
    assert (run / "loss.png").stat().st_size > 0
    assert f"plot        {run / 'loss.png'}" in result.output


# -- the user's umask ------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o002, 0o077])
def test_run_directories_follow_the_umask(tmp_path, umask):
    run = tmp_path / "u"
    old = os.umask(umask)
    try:
        result = run_cli("pretrain", LAMBDA, *TINY, "--out", run)
        kmer = run_cli(
            "tokenizer", "train", "--type", "kmer", "--k", "2", "--quiet", "--out", tmp_path / "tok"
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0 and kmer.exit_code == 0, result.output + kmer.output
    folders = [
        run,
        run / "final",
        run / "checkpoints",
        run / "checkpoints" / "step-4",
        tmp_path / "tok",
    ]
    files = [run / "final" / "config.json", run / "metrics.jsonl", run / "loss.png"]
    for path in folders:
        assert stat.S_IMODE(path.stat().st_mode) == 0o777 & ~umask, path
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_scoring_says_what_it_waits_for_when_loading_is_slow(monkeypatch, capsys):
    monkeypatch.setattr(variant_runs, "load_model", lambda *a, **k: time.sleep(2.3) or "loaded")
    assert variant_runs._load("site-independent", None, True, alignment="fam.a2m") == "loaded"
    assert "fitting the site-independent model on fam.a2m ..." in capsys.readouterr().err
    monkeypatch.setattr(variant_runs, "load_model", lambda *a, **k: "loaded")
    assert variant_runs._load("runs/x", None, True) == "loaded"
    assert capsys.readouterr().err == ""  # quick: nothing said
