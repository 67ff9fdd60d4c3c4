"""bioseq finetune / predict: tables, labels, metrics, the three modes end to end, resume."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

import bioseq.models  # noqa: F401
from bioseq.cli.main import main
from bioseq.models import MambaConfig, MambaLM
from bioseq.tasks.adapt.finetune import FinetuneConfig, finetune
from bioseq.tasks.adapt.labels import Labels, classification_metrics, regression_metrics
from bioseq.tokenizers import CharTokenizer


def gc_rows(n: int, seed: int, length: int = 40) -> list[tuple[str, str, str, float]]:
    """(name, sequence, label, gc): label 'high' when more than half the bases are G/C."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        p = rng.random()
        seq = "".join(
            rng.choice("GC") if rng.random() < p else rng.choice("AT") for _ in range(length)
        )
        gc = (seq.count("G") + seq.count("C")) / length
        rows.append((f"s{seed}_{i}", seq, "high" if gc > 0.5 else "low", gc))
    return rows


def write(path, rows, label_index: int = 2) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("name\tsequence\tlabel\n")
        for row in rows:
            handle.write(f"{row[0]}\t{row[1]}\t{row[label_index]}\n")
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    torch.manual_seed(0)
    tokenizer = CharTokenizer("dna")
    model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=len(tokenizer), d_model=32))
    model.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    tables = {}
    for name, n, seed in (("train", 160, 0), ("val", 40, 1), ("test", 40, 2)):
        rows = gc_rows(n, seed)
        tables[name] = write(root / f"{name}.tsv", rows)
        tables[f"{name}_reg"] = write(root / f"{name}_reg.tsv", rows, label_index=3)
    return root, tables


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("bioseq: error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in lines[0], lines[0]


# -- labels and metrics against hand computations ------------------------------------------
def test_labels_and_metrics_by_hand():
    labels = Labels.from_table_labels(["b", "a", "10", "2", "a"], "classification")
    assert labels.classes == ["2", "10", "a", "b"]  # numbers by value, then text
    targets, probs = [0, 1, 1, 0], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6]]
    got = classification_metrics(targets, probs)
    tp, tn, fp, fn = 1, 1, 1, 1  # predictions 0, 1, 0, 1
    mcc = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert got["accuracy"] == 0.5 and got["mcc"] == pytest.approx(mcc)
    # AUROC: fraction of (positive, negative) pairs ranked right: (0.7 > 0.2, 0.6), (0.4 > 0.2)
    assert got["auroc"] == pytest.approx(3 / 4)
    reg = regression_metrics([1.0, 2.0, 3.0, 4.0], [10.0, 30.0, 20.0, 40.0])
    ranks_a, ranks_b = np.array([1, 2, 3, 4]), np.array([1, 3, 2, 4])
    spearman = np.corrcoef(ranks_a, ranks_b)[0, 1]
    assert reg["spearman"] == pytest.approx(spearman)
    assert reg["pearson"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [10, 30, 20, 40])[0, 1])


# -- bad tables: one line each -----------------------------------------------------------
def test_bad_tables_get_one_clear_line(data, tmp_path):
    root, tables = data
    model = str(root / "model")
    common = ["finetune", "--model", model, "--out", str(tmp_path / "run"), "--no-progress"]
    no_col = tmp_path / "nocol.tsv"
    no_col.write_text("name\tseq\tlabel\na\tACGT\t1\n")
    one_line_error(run_cli(*common, "--train", str(no_col)), "no column 'sequence'")
    one_line_error(
        run_cli(*common, "--train", tables["train"], "--label-col", "y"), "no column 'y'"
    )
    one_line_error(
        run_cli(*common, "--train", tables["train"], "--task", "regression"),
        "row 2",
        "not a finite number",
    )
    unseen = tmp_path / "unseen.tsv"
    unseen.write_text("name\tsequence\tlabel\nx\tACGTACGT\tmedium\n")
    one_line_error(
        run_cli(*common, "--train", tables["train"], "--val", tables["val"], "--test", str(unseen)),
        "medium",
        "does not occur",
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    one_line_error(run_cli(*common, "--train", str(empty)), "empty file")
    header_only = tmp_path / "header.csv"
    header_only.write_text("sequence,label\n")
    one_line_error(run_cli(*common, "--train", str(header_only)), "no rows")
    assert not (tmp_path / "run" / "best").exists()


def test_fasta_labels_are_read(tmp_path):
    from bioseq.io.tables import read_table

    path = tmp_path / "t.fa"
    path.write_text(">a label=coding some words\nACGT\nAC\n>b label=intergenic\nGGGG\n")
    table = read_table(path)
    assert table.names == ["a", "b"] and table.sequences == ["ACGTAC", "GGGG"]
    assert table.labels == ["coding", "intergenic"]
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGT\n")
    with pytest.raises(bioseq.errors.InputError, match="no label="):
        read_table(bad)


# -- the three modes end to end ----------------------------------------------------------
@pytest.mark.slow
def test_probe_is_the_logistic_regression_of_the_pooled_features(data, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from transformers import AutoModel, AutoModelForSequenceClassification

    root, tables = data
    out = tmp_path / "probe"
    result = run_cli(
        "finetune",
        "--model",
        str(root / "model"),
        "--train",
        tables["train"],
        "--val",
        tables["val"],
        "--test",
        tables["test"],
        "--mode",
        "probe",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    test_metrics = json.loads((out / "test_metrics.json").read_text())
    assert test_metrics["accuracy"] >= 0.8  # GC content is linear in mean-pooled features
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best_c = max(rows, key=lambda r: r["val_mcc"])["C"]
    # independently: mean-pooled backbone features by hand, sklearn's pipeline at that C
    base = AutoModel.from_pretrained(root / "model").eval()
    tokenizer = CharTokenizer("dna")

    def column(path, i):
        return [line.split("\t")[i] for line in Path(path).read_text().splitlines()[1:]]

    def bare(sequence):  # genome-trained models read windows without [CLS]/[SEP]
        return torch.tensor([tokenizer(sequence, add_special_tokens=False)["input_ids"]])

    def features(path):
        with torch.no_grad():
            return np.stack(
                [
                    base(bare(s)).last_hidden_state[0].mean(0).double().numpy()
                    for s in column(path, 1)
                ]
            )

    labels = {"high": 0, "low": 1}
    y = [labels[label] for label in column(tables["train"], 2)]
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=best_c, max_iter=3000))
    pipe.fit(features(tables["train"]), y)
    expected = pipe.predict_proba(features(tables["test"]))
    model = AutoModelForSequenceClassification.from_pretrained(out / "best").eval()
    seqs = column(tables["test"], 1)
    with torch.no_grad():
        got = np.stack([model(bare(s)).logits[0].softmax(-1).numpy() for s in seqs])
    np.testing.assert_allclose(got, expected, atol=2e-3)
    assert (out / "metrics.png").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["lora", "full"])
def test_lora_and_full_runs_save_a_loadable_best_model(data, tmp_path, mode):
    from transformers import AutoModelForSequenceClassification

    root, tables = data
    out = tmp_path / mode
    lr = "3e-3" if mode == "lora" else "1e-3"
    result = run_cli(
        "finetune",
        "--model",
        str(root / "model"),
        "--train",
        tables["train"],
        "--val",
        tables["val"],
        "--test",
        tables["test"],
        "--mode",
        mode,
        "--epochs",
        "2",
        "--lr",
        lr,
        "--eval-every",
        "5",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20]
    assert all({"val_accuracy", "val_mcc", "val_auroc", "train_loss"} <= set(r) for r in rows)
    assert max(r["val_mcc"] for r in rows) > 0.5
    model = AutoModelForSequenceClassification.from_pretrained(out / "best")
    assert model.config.id2label == {0: "high", 1: "low"}
    if mode == "lora":
        assert (out / "best" / "adapter" / "adapter_config.json").is_file()
    pred = tmp_path / "pred.tsv"
    result = run_cli("predict", "--model", str(out), tables["test"], "--out", str(pred))
    assert result.exit_code == 0, result.output
    assert pred.read_text() == (out / "test_predictions.tsv").read_text()
    scores = json.loads(pred.with_suffix(".metrics.json").read_text())
    assert scores["accuracy"] == pytest.approx(
        json.loads((out / "test_metrics.json").read_text())["accuracy"]
    )


@pytest.mark.slow
def test_regression_probe_reports_spearman(data, tmp_path):
    root, tables = data
    scores = finetune(
        FinetuneConfig(
            model=str(root / "model"),
            train=tables["train_reg"],
            val=tables["val_reg"],
            test=tables["test_reg"],
            task="regression",
            mode="probe",
            out=str(tmp_path / "r"),
            progress=False,
        )
    )
    assert scores["spearman"] > 0.8  # GC fraction from mean-pooled features


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_weights(data, tmp_path, monkeypatch):
    from bioseq import runtime
    from bioseq.runtime import TrainingInterrupted

    root, tables = data

    def config(out):
        return FinetuneConfig(
            model=str(root / "model"),
            train=tables["train"],
            val=tables["val"],
            mode="full",
            epochs=2,
            eval_every=4,
            lr=1e-3,
            out=str(tmp_path / out),
            progress=False,
        )

    finetune(config("whole"))

    class StopAfter(runtime.StopSignal):
        """SIGINT as if sent during step 6."""

        checks = 0

        @property
        def requested(self):
            StopAfter.checks += 1
            return "SIGINT" if StopAfter.checks >= 6 else None

        @requested.setter
        def requested(self, value):
            pass

    monkeypatch.setattr(runtime, "StopSignal", StopAfter)
    with pytest.raises(TrainingInterrupted):
        finetune(config("cut"))
    monkeypatch.undo()
    cut = tmp_path / "cut"
    assert [p.name for p in (cut / "checkpoints").glob("step-*")] == ["step-6"]
    finetune(config("cut"), resume=True)
    whole = load_file(tmp_path / "whole" / "checkpoints" / "step-20" / "trainable.safetensors")
    resumed = load_file(cut / "checkpoints" / "step-20" / "trainable.safetensors")
    for name, tensor in whole.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0)
    steps = [json.loads(line)["step"] for line in (cut / "metrics.jsonl").read_text().splitlines()]
    assert steps == [4, 6, 8, 12, 16, 20]


def test_checkpoints_keep_the_rng_of_the_models_device(tmp_path, monkeypatch):
    """The saved and restored generator states are those of the device the model runs on, not
    of whatever GPU is current (a run on cuda:1 must not keep cuda:0's)."""
    from bioseq import runtime
    from bioseq.tasks.adapt import finetune as ft

    seen = []
    real_get, real_set = runtime.rng_state, runtime.set_rng_state

    def get(device=None):
        seen.append(("save", device))
        return real_get(device)

    def put(state, device=None, rank=0):
        seen.append(("load", device))
        real_set(state, device, rank)

    monkeypatch.setattr(runtime, "rng_state", get)
    monkeypatch.setattr(runtime, "set_rng_state", put)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    ft.save_checkpoint(tmp_path, 3, model, optimizer, scheduler, {})
    assert ft.load_checkpoint(tmp_path, model, optimizer, scheduler)["step"] == 3
    assert seen == [("save", torch.device("cpu")), ("load", torch.device("cpu"))]
