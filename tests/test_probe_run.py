"""``bioseq.tasks.icl.run_probes``: the probe matrix called from Python writes what ``bioseq
probe`` writes, and its results match an independent count of the trials."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.errors import InputError
from bioseq.models import TransformerConfig, TransformerLM
from bioseq.tasks.icl import FORMS, load_functions, read_results, run_probes, select_functions
from bioseq.tasks.icl.evaluate import iter_trials
from bioseq.tokenizers import CharTokenizer


class Oracle:
    """Knows every trial's answer; reads only the genomic form unless told otherwise."""

    max_length = None

    def __init__(self, name, functions, shots, trials, alphabets=(FORMS["genomic"],)) -> None:
        self.name, self.alphabets = name, alphabets
        self.answers = {
            t.text: t.answer_text
            for n in shots
            for form in FORMS
            for condition in ("clean", "deranged")
            for t in iter_trials(functions, n, trials, form, 0, condition)
        }

    def encodes(self, alphabet: str) -> bool:
        return alphabet in self.alphabets

    def count_tokens(self, text: str) -> int:
        return len(text)

    def complete(self, prompts, n_symbols=8):
        return [self.answers[p] for p in prompts]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "dna-tiny"
    torch.manual_seed(0)
    TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=10)).save_pretrained(path)
    CharTokenizer("dna").save_pretrained(path)
    return path


def test_the_matrix_of_models_forms_and_conditions(tmp_path, capsys):
    functions = select_functions(load_functions(), "1-3")
    shots, trials = (1, 2), 2
    models = [
        Oracle("oracle", functions, shots, trials),
        Oracle("oracle", functions, shots, trials, alphabets=tuple(FORMS.values())),
    ]
    result = run_probes(
        models,
        tmp_path / "p",
        functions="1-3",
        shots=[2, 1],
        trials=trials,
        deranged=True,
        bootstrap=20,
        progress=False,
    )
    # the first oracle reads one form, the second both; names made unique
    expected = {("oracle", "genomic"), ("oracle-2", "genomic"), ("oracle-2", "linguistic")}
    runs = {(r["model"], r["form"], r["condition"]) for r in result.summary["runs"]}
    assert runs == {(m, f, c) for m, f in expected for c in ("clean", "deranged")}
    assert len(result.rows) == 3 * 2 * len(functions) * len(shots) * trials
    assert all(int(row["correct"]) == 1 for row in result.rows)  # an oracle is always right
    assert "oracle: skipping the linguistic form" in capsys.readouterr().err
    assert sorted(p.name for p in result.written) == sorted(
        ["results.csv", "summary.json", "icl.png", "icl_bitload.png"]
    )
    assert read_results(tmp_path / "p" / "results.csv") == [
        {k: str(v) for k, v in row.items()} for row in result.rows
    ]
    assert json.loads((tmp_path / "p" / "summary.json").read_text()) == json.loads(
        json.dumps(result.summary)
    )
    table = result.report().splitlines()
    assert table[0].startswith("oracle\tgenomic\tclean\t1:100.0 2:100.0")
    assert (
        table[-1] == f"wrote {tmp_path / 'p' / 'results.csv'}, summary.json, icl.png, "
        "icl_bitload.png"
    )


def test_bad_settings_fail_before_any_model_is_read(tmp_path):
    class Untouchable:
        name, max_length = "x", None

        def encodes(self, alphabet):
            raise AssertionError("a model was read")

        count_tokens = complete = encodes

    for kwargs, message in (
        ({"shots": [0, 4]}, "shots: each value"),
        ({"functions": "200-300"}, "no function has an id"),
        ({"suite": "everything"}, "suite must be one of"),
        ({"form": "spoken"}, "form must be one of"),
    ):
        with pytest.raises(InputError, match=message):
            run_probes([Untouchable()], tmp_path / "o", **kwargs)
    assert not (tmp_path / "o").exists()


def test_python_call_writes_what_the_cli_writes(tiny_dir, tmp_path):
    torch.set_num_threads(1)
    args = [
        "--functions",
        "1-2",
        "--shots",
        "1,2",
        "--trials",
        "2",
        "--bootstrap",
        "30",
        "--suite",
        "all",
    ]
    cli = CliRunner().invoke(
        main, ["probe", "--model", str(tiny_dir), *args, "--out", str(tmp_path / "cli")]
    )
    assert cli.exit_code == 0, cli.output
    result = run_probes(
        [tiny_dir],
        tmp_path / "api",
        functions="1-2",
        shots=(1, 2),
        trials=2,
        bootstrap=30,
        suite="all",
        progress=False,
    )
    for name in ("results.csv", "summary.json", "recall.json"):
        assert (tmp_path / "api" / name).read_text() == (tmp_path / "cli" / name).read_text()
    assert result.report().replace(str(tmp_path / "api"), "OUT") in cli.stdout.replace(
        str(tmp_path / "cli"), "OUT"
    )
    assert set(result.recall) == {"dna-tiny"}
