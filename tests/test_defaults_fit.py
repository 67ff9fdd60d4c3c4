"""Commands whose defaults exceed a small model's context choose what fits and say so: the
probe suite's default shot counts and the recall probes' sizes."""

from __future__ import annotations

import pytest

from bioseq.errors import InputError
from bioseq.tasks.icl.evaluate import run_bitstring
from bioseq.tasks.icl.prompts import make_trial
from bioseq.tasks.icl.recall import label_icl, mqar, recall_sizes, repeat_copy, run_recall
from bioseq.tasks.icl.suite import DEFAULT_SHOTS, load_functions

FUNCTIONS = load_functions()[:2]


class Reader:
    """A model of ``max_length`` symbols that answers with zeros and refuses longer prompts
    (one symbol a token), recording the longest prompt it was given."""

    def __init__(self, max_length: int | None) -> None:
        self.name, self.max_length, self.longest = "reader", max_length, 0

    def encodes(self, alphabet: str) -> bool:
        return True

    def count_tokens(self, text: str) -> int:
        return len(text)

    def _read(self, text: str, n_new: int) -> None:
        assert self.max_length is None or len(text) + n_new <= self.max_length
        self.longest = max(self.longest, len(text) + n_new)

    def complete(self, prompts, n_symbols=8):
        for prompt in prompts:
            self._read(prompt, n_symbols)
        return ["A" * n_symbols for _ in prompts]

    def token_losses(self, texts):
        for text in texts:
            self._read(text, 0)
        return [([1.0] * (len(t) - 1), list(range(2, len(t) + 1))) for t in texts]


@pytest.mark.parametrize("limit", [40, 64, 256, 1000])
def test_default_shots_are_those_whose_prompts_fit(limit, capsys):
    reader = Reader(limit)
    fits = [
        n for n in DEFAULT_SHOTS if len(make_trial(FUNCTIONS[0], n, 0, "genomic").text) + 8 <= limit
    ]
    rows = run_bitstring(reader, FUNCTIONS, trials=1)
    assert sorted({r["shots"] for r in rows}) == fits
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and f"at most {limit} tokens" in said
    assert ", ".join(map(str, fits)) + " shots" in said


def test_a_model_that_reads_every_default_prompt_runs_them_silently(capsys):
    rows = run_bitstring(Reader(None), FUNCTIONS, trials=1)
    assert sorted({r["shots"] for r in rows}) == list(DEFAULT_SHOTS)
    assert capsys.readouterr().err == ""


def test_shot_counts_given_explicitly_must_all_fit():
    with pytest.raises(InputError, match="use fewer --shots"):
        run_bitstring(Reader(100), FUNCTIONS, shots=(1, 8), trials=1)


@pytest.mark.parametrize("limit", [64, 100, 256, 700])
def test_recall_probes_take_the_largest_sizes_that_fit(limit, capsys):
    reader = Reader(limit)
    result = run_recall(reader)
    assert 0 < reader.longest <= limit
    assert f"at most {limit} tokens" in capsys.readouterr().err
    sizes = recall_sizes(limit)
    assert result["mqar"]["curves"][0]["pairs"] == list(sizes["mqar"]["pairs"])
    # a size cut from its default is the largest that fits: one more is refused
    copy = sizes["repeat_copy"]["length"]
    if copy < 128:
        with pytest.raises((InputError, AssertionError)):
            repeat_copy(Reader(limit), length=copy + 1)
    larger = [n for n in (2, 4, 8, 16, 32, 64) if n > max(sizes["mqar"]["pairs"])][:1]
    if larger:
        with pytest.raises((InputError, AssertionError)):
            mqar(Reader(limit), pairs=larger)
    label = sizes["label_icl"]
    more = [s for s in (1, 2, 4, 8, 16) if s > max(label["shots_per_class"])][:1]
    if more:
        with pytest.raises((InputError, AssertionError)):
            label_icl(Reader(limit), shots_per_class=more, seq_len=label["seq_len"])


def test_recall_probes_keep_their_defaults_on_a_model_without_a_limit(capsys):
    result = run_recall(Reader(None))
    assert result["repeat_copy"]["length"] == 128
    assert result["mqar"]["curves"][0]["pairs"] == [2, 4, 8, 16, 32, 64]
    assert result["label_icl"]["shots_per_class"] == [1, 2, 4, 8, 16]
    assert capsys.readouterr().err == ""
