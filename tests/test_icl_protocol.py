"""The probe protocol of the paper's harness (issue 19): completion parsing, best-of-256
derangements, the 5,000-replicate cluster bootstrap, against simple references."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.cli.probe import probe
from bioseq.errors import InputError
from bioseq.tasks.icl import (
    FORMS,
    Symbols,
    cluster_bootstrap,
    load_functions,
    make_trial,
    run_bitstring,
    select_functions,
    summarize,
)
from bioseq.tasks.icl.prompts import best_derangement, cut_at_special, parse_completion

FUNCTIONS = load_functions()


def reference_parse(text: str, zero: str, one: str, alphabet: str, width: int = 8) -> str:
    """The harness rule written out independently: drop everything outside the alphabet
    (ignoring case), take the first ``width`` symbols, keep the leading run of bit symbols."""
    kept = re.sub(f"[^{alphabet}]", "", text.upper())[:width]
    bits = ""
    for char in kept:
        if char not in (zero, one):
            break
        bits += "0" if char == zero else "1"
    return bits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ggccggcc", "11001100"),  # lower case
        (" GG CC\nGGCC", "11001100"),  # spaces and newlines between symbols
        ("GGCCxGGCCGG", "11001100"),  # other letters dropped, at most 8 symbols read
        ("GGCAGGCC", "110"),  # the separator stops the answer
        ("GGTCC", "11"),  # so does the unused symbol
        ("", ""),
    ],
)
def test_harness_parse_examples(text, expected):
    symbols = Symbols("C", "G", "A")
    assert parse_completion(text, symbols, "genomic") == expected


def test_harness_parse_linguistic_form_drops_letters_and_punctuation():
    symbols = Symbols("3", "7", "0")
    assert parse_completion("7, 7, 3, 3 and 7737", symbols, "linguistic") == "11001101"
    assert parse_completion("7, 7, 3, 3 and 7737", symbols, "linguistic", rule="strict") == "1"
    with pytest.raises(InputError, match="parse rule"):
        parse_completion("77", symbols, "linguistic", rule="loose")


def test_harness_parse_matches_the_reference_on_random_text():
    rng = np.random.default_rng(0)
    noise = list("ACGTacgtN n\n.,0123456789<|>[]")
    for form, alphabet in FORMS.items():
        for _ in range(300):
            zero, one, sep = rng.choice(list(alphabet), 3, replace=False)
            symbols = Symbols(str(zero), str(one), str(sep))
            text = "".join(rng.choice(noise + [str(zero), str(one)] * 6, rng.integers(0, 20)))
            want = reference_parse(text, symbols.zero, symbols.one, alphabet)
            assert parse_completion(text, symbols, form) == want, (form, text)


def test_cut_at_special_tokens():
    assert cut_at_special("GG[SEP]CC", ["[SEP]", "[PAD]"]) == "GG"
    assert cut_at_special("GG[PAD][SEP]", ["[SEP]", "[PAD]"]) == "GG"
    assert cut_at_special("GGCC", ["[SEP]"]) == "GGCC"
    assert cut_at_special("GGCC", []) == "GGCC"


class Answers:
    """Answers every prompt with its true answer, written through ``style``."""

    name, max_length = "styled", None

    def __init__(self, style, special_tokens=()) -> None:
        self.style, self.special_tokens = style, special_tokens
        self.answers = {}

    def encodes(self, alphabet):
        return True

    def count_tokens(self, text):
        return len(text)

    def complete(self, prompts, n_symbols=8):
        return [self.style(self.answers[p]) for p in prompts]


def _styled_rows(style, parse, special=()):
    functions = FUNCTIONS[:5]
    adapter = Answers(style, special)
    for n in (1, 4):
        for t in range(2):
            for f in functions:
                trial = make_trial(f, n, t, "genomic")
                adapter.answers[trial.text] = trial.answer_text
    return run_bitstring(adapter, functions, (1, 4), 2, "genomic", parse=parse)


def test_run_bitstring_parses_by_the_harness_rule_unless_strict():
    def spaced_lower(answer):
        return " " + " ".join(answer.lower())

    harness = _styled_rows(spaced_lower, "harness")
    strict = _styled_rows(spaced_lower, "strict")
    assert all(r["correct"] == 1 and r["parse"] == "harness" for r in harness)
    assert all(r["correct"] == 0 and r["answer"] == "" for r in strict)
    # generation ends at the first special token: what follows it never counts
    after_eos = _styled_rows(lambda a: "<eos>" + a, "harness", special=("<eos>",))
    assert all(r["correct"] == 0 for r in after_eos)
    assert all(r["completion"].startswith("<eos>") for r in after_eos)  # kept as generated


# --------------------------------------------------------------------------- derangements
def _shown_true_outputs(trial) -> int:
    """Count, from the prompt text alone, demonstrations whose shown output is f(input)."""
    sym = trial.symbols
    demos = trial.text.split(sym.sep)[:-1]
    count = 0
    for demo in demos:
        bits = demo.translate({ord(sym.zero): "0", ord(sym.one): "1"})
        x = np.array([[int(b) for b in bits[:8]]], dtype=np.uint8)
        true = "".join(map(str, trial.function.program(x, _constant(trial))[0]))
        count += true == bits[8:]
    return count


def _constant(trial) -> np.ndarray:
    """meta_constant's constant is the clean trial's output for any input."""
    clean = make_trial(trial.function, trial.shots, trial.trial, trial.form)
    return clean.outputs[0] if trial.function.name == "meta_constant" else np.zeros(8, np.uint8)


def _exact_minimum(codes: np.ndarray) -> int:
    n = len(codes)
    return min(
        int((codes[list(p)] == codes).sum())
        for p in itertools.permutations(range(n))
        if all(p[i] != i for i in range(n))
    )


@pytest.mark.parametrize("codes", [[0, 0, 0, 1], [0, 0, 1, 1], [5, 5, 5, 5], [1, 2, 3, 3]])
def test_best_of_256_finds_the_fewest_outputs_in_place(codes):
    outputs = np.array([[c >> i & 1 for i in range(3)] for c in codes], dtype=np.uint8)
    perm = best_derangement(outputs, np.random.default_rng(7))
    assert sorted(perm) == list(range(4)) and all(perm != np.arange(4))  # a derangement
    in_place = int((outputs[perm] == outputs).all(axis=1).sum())
    assert in_place == _exact_minimum(np.array(codes))  # 9 derangements of 4: all are drawn


@pytest.mark.parametrize("derangement", ["best-of-256", "index"])
def test_in_place_counts_match_the_prompt_text(derangement):
    for f in select_functions(FUNCTIONS, "1,6,7,18,22,23"):  # majority, spread, constant...
        for n in (2, 8, 32):
            trial = make_trial(f, n, 1, "genomic", condition="deranged", derangement=derangement)
            assert trial.in_place == _shown_true_outputs(trial), (f.name, n)
            clean = make_trial(f, n, 1, "genomic")
            assert clean.in_place == n and sorted(map(bytes, trial.outputs)) == sorted(
                map(bytes, clean.outputs)
            )  # the same outputs, permuted


def test_best_of_256_leaves_fewer_true_outputs_than_the_index_derangement():
    functions = select_functions(FUNCTIONS, "1-40")
    share = {}
    for mode in ("index", "best-of-256"):
        shown = total = 0
        for f in functions:
            for t in range(3):
                trial = make_trial(f, 16, t, condition="deranged", derangement=mode)
                shown, total = shown + trial.in_place, total + 16
        share[mode] = shown / total
    lower = 0  # no permutation can do better than 2 * (largest multiplicity) - n
    for f in functions:
        for t in range(3):
            _, counts = np.unique(make_trial(f, 16, t).outputs, axis=0, return_counts=True)
            lower += max(0, 2 * counts.max() - 16)
    assert lower / (16 * 40 * 3) <= share["best-of-256"] < share["index"] - 0.04


def test_index_derangement_is_the_old_rule_and_bad_names_are_refused():
    old = make_trial(FUNCTIONS[3], 16, 2, condition="deranged", derangement="index")
    key = [bytes(o) for o in make_trial(FUNCTIONS[3], 16, 2).outputs]
    assert all(a != b for a, b in zip(key, map(bytes, old.outputs), strict=True))
    with pytest.raises(InputError, match="derangement"):
        make_trial(FUNCTIONS[3], 16, 2, condition="deranged", derangement="best")


# --------------------------------------------------------------------------- bootstrap
def _loop_bootstrap(scores: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """The two-stage bootstrap written as loops: functions, then trials within each."""
    rng = np.random.default_rng(seed)
    rows = [row[~np.isnan(row)] for row in scores]
    out = np.empty(n_boot)
    for b in range(n_boot):
        picks = rng.integers(0, len(rows), len(rows))
        out[b] = np.mean([rng.choice(rows[f], len(rows[f])).mean() for f in picks])
    return out


def test_cluster_bootstrap_matches_the_loop_reference():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 0.6, 30)
    scores = (rng.random((30, 12)) < p[:, None]).astype(float)
    scores[0, 5:] = np.nan  # ragged
    ours = cluster_bootstrap(scores, 4000, seed=0)
    ref = _loop_bootstrap(scores, 2000, seed=1)
    assert ours.mean() == pytest.approx(ref.mean(), abs=0.003)
    assert ours.std() == pytest.approx(ref.std(), rel=0.06)
    # stacked matrices are resampled with the same draws: the difference's replicates are
    # the differences of the replicates
    other = (rng.random((30, 12)) < 0.2).astype(float)
    both = cluster_bootstrap(np.stack([scores, other, scores - other]), 500)
    assert np.allclose(both[:, 0] - both[:, 1], both[:, 2])


def test_5000_replicates_by_default(tmp_path):
    rows = _styled_rows(lambda a: a, "harness")
    assert summarize(rows)["n_bootstrap"] == 5000
    assert {p.name: p.default for p in probe.params}["bootstrap"] == 5000


def test_summary_reports_the_share_of_true_outputs_shown(tmp_path):
    functions = "1,6,7,18"
    out = tmp_path / "p"

    class Constant(Answers):
        def complete(self, prompts, n_symbols=8):
            return ["AAAAAAAA"] * len(prompts)

    from bioseq.tasks.icl import run_probes

    result = run_probes(
        [Constant(None)],
        out,
        form="genomic",
        shots=(1, 8),
        trials=3,
        deranged=True,
        functions=functions,
        bootstrap=50,
        progress=False,
        log=lambda line: None,
    )
    runs = {r["condition"]: r for r in json.loads((out / "summary.json").read_text())["runs"]}
    assert runs["clean"]["in_place_share"] == [1.0, 1.0]
    rows = [r for r in result.rows if r["condition"] == "deranged" and r["shots"] == 8]
    want = sum(r["in_place"] for r in rows) / (8 * len(rows))
    assert runs["deranged"]["in_place_share"] == [1.0, pytest.approx(want)]
    assert runs["deranged"]["derangement"] == "best-of-256" and runs["clean"]["parse"] == "harness"


def test_cli_probe_takes_the_protocol_options(tmp_path):
    from bioseq.models import TransformerConfig, TransformerLM
    from bioseq.tokenizers import CharTokenizer

    model = tmp_path / "m"
    TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=10)).save_pretrained(model)
    CharTokenizer("dna").save_pretrained(model)
    out = tmp_path / "o"
    args = ["probe", "--model", model, "--functions", "1-2", "--shots", "1,2", "--trials", "1"]
    args += ["--deranged", "--derangement", "index", "--parse", "strict", "--bootstrap", "20"]
    result = CliRunner().invoke(main, [str(a) for a in [*args, "--out", out]])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["parse"], r["derangement"]) for r in summary["runs"]} == {
        ("strict", None),
        ("strict", "index"),
    }
    bad = CliRunner().invoke(main, [str(a) for a in [*args[:-2], "--parse", "x", "--out", out]])
    assert bad.exit_code == 2 and "--parse" in bad.output
