"""``bioseq generate`` and :mod:`bioseq.tasks.adapt.generate`: the state/cache path against
re-reading and against a hand-written greedy loop, what each step feeds the model, the
sampling distribution, letters, end tokens, seeds, prompts and the CLI."""

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.io.fasta import iter_fasta
from bioseq.models.hub import LoadedModel
from bioseq.tasks.adapt.framing import start_ids
from bioseq.tasks.adapt.generate import (
    Prompt,
    generate_sequences,
    letter_ids,
    sample_tokens,
)
from bioseq.tokenizers import CharTokenizer, KmerTokenizer, caduceus_tokenizer, complement_map
from tests.conftest import tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

DNA = CharTokenizer("dna")
ACGT = [DNA.convert_tokens_to_ids(c) for c in "ACGT"]  # 5-8; N is 9
SIZE = dict(vocab_size=len(DNA), d_model=16, n_layer=2)


def tiny(kind: str, sharpen: float = 10.0, seed: int = 2, **extra):
    """A tiny random model with its own LM head (a tied one mostly repeats the input), scaled
    by ``sharpen`` so its distributions are not flat. The seeds used give varied greedy output
    (many seeds make a random model repeat one letter)."""
    torch.manual_seed(seed)
    extra.setdefault("tie_word_embeddings", False)
    if kind in ("mamba", "transformer"):
        model = tiny_model(kind, **SIZE, **extra)
    elif kind == "striped-hyena":  # Evo 2's: per-layer filter inputs, modal state, KV cache
        model = tiny_model(kind, len(DNA), hcm_filter_length=16, **extra)
    elif kind == "gpt2":  # a Hugging Face causal LM: its own DynamicCache and positions
        from transformers import GPT2Config, GPT2LMHeadModel

        model = GPT2LMHeadModel(
            GPT2Config(vocab_size=len(DNA), n_embd=16, n_layer=2, n_head=2, n_positions=64, **extra)
        )
    else:
        model = tiny_model("hyena", max_seq_len=16, **SIZE, **extra)
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(sharpen)
    return model.eval()


def saved(model, path: Path, tok=DNA, **config) -> Path:
    for key, value in config.items():
        setattr(model.config, key, value)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


class TokensSeen:
    """Counts the tokens the embedding reads, and keeps the first call's input."""

    def __init__(self, model) -> None:
        self.count, self.calls, self.first = 0, 0, None
        model.get_input_embeddings().register_forward_hook(self)

    def __call__(self, module, inputs, output) -> None:
        ids = inputs[0]
        self.first = ids.clone() if self.first is None else self.first
        self.count += ids.numel()
        self.calls += 1


def greedy_reference(model, prompt: list[int], length: int, allowed: list[int], window=None):
    """Greedy decoding written out: read the whole (windowed) sequence, take the likeliest
    allowed token."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(length):
            context = ids if window is None else ids[-window:]
            logits = model(torch.tensor([context])).logits[0, -1]
            ids.append(allowed[int(logits[allowed].argmax())])
    return ids[len(prompt) :]


# -- the state / cache path ------------------------------------------------------------------


CACHED = ["mamba", "transformer", "striped-hyena", "gpt2"]


@pytest.mark.parametrize("kind", CACHED)
def test_cached_tokens_equal_rereading_and_a_hand_written_greedy_loop(kind):
    model = tiny(kind, seed=5 if kind == "striped-hyena" else 2)
    prompt = [5, 7, 7, 8, 6, 5]
    greedy, _, cached = sample_tokens(model, prompt, [0], 24, ACGT, temperature=0)
    assert cached
    assert greedy[0].tolist() == greedy_reference(model, prompt, 24, ACGT)
    assert len(set(greedy[0].tolist())) > 1
    seeds = [3, 4, 5]
    with_state, _, _ = sample_tokens(model, prompt, seeds, 24, ACGT, top_k=3)
    rereading, _, cached = sample_tokens(model, prompt, seeds, 24, ACGT, top_k=3, use_cache=False)
    assert not cached
    assert torch.equal(with_state, rereading)
    assert len({tuple(r) for r in with_state.tolist()}) == 3  # the seeds differ


@pytest.mark.parametrize("kind", CACHED)
def test_the_state_is_fed_one_new_token_per_step(kind):
    model = tiny(kind)
    seen = TokensSeen(model)
    n, p, length = 3, 5, 12
    sample_tokens(model, [5] * p, list(range(n)), length, ACGT)
    assert (seen.calls, seen.count) == (length, n * (p + length - 1))
    seen.count = seen.calls = 0
    sample_tokens(model, [5] * p, list(range(n)), length, ACGT, use_cache=False)
    assert seen.count == n * sum(p + t for t in range(length))


def test_hyena_rereads_its_last_max_seq_len_tokens(tmp_path):
    model = tiny("hyena", seed=1)  # max_seq_len 16
    prompt = [5, 6, 7, 8] * 5  # 20 tokens: longer than the window already
    tokens, _, cached = sample_tokens(model, prompt, [0], 10, ACGT, temperature=0, window=16)
    assert not cached
    expected = greedy_reference(model, prompt, 10, ACGT, window=16)
    assert tokens[0].tolist() == expected
    loaded = LoadedModel(model, DNA, tmp_path)  # the window comes from the config
    result = generate_sequences(loaded, [Prompt("p", "ACGT" * 5)], length=10, temperature=0)
    assert result.samples[0].sequence == DNA.decode(expected) and not result.cached
    seen = TokensSeen(model)
    sample_tokens(model, prompt, [0, 1], 10, ACGT, window=16)
    assert (seen.calls, seen.count) == (10, 2 * 10 * 16)


# -- what is drawn ---------------------------------------------------------------------------


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.5, None), (1.0, 2)])
def test_first_tokens_follow_the_models_distribution(temperature, top_k):
    model = tiny("mamba")
    prompt = [7, 5, 8]
    with torch.no_grad():
        logits = model(torch.tensor([prompt])).logits[0, -1, ACGT].double() / temperature
    if top_k:
        logits[logits < logits.topk(top_k).values[-1]] = -torch.inf
    expected = torch.softmax(logits, -1).numpy()
    draws = 4000
    tokens, _, _ = sample_tokens(
        model, prompt, list(range(draws)), 1, ACGT, temperature=temperature, top_k=top_k
    )
    observed = np.bincount(tokens[:, 0].numpy() - 5, minlength=4) / draws
    assert expected.max() < 0.9  # a distribution worth checking
    assert np.abs(observed - expected).max() < 0.03, (observed, expected)
    assert (observed[expected == 0] == 0).all()


def test_only_the_alphabets_letters_are_drawn_unless_asked():
    model = tiny("mamba")
    drawn, _, _ = sample_tokens(model, [5, 6], list(range(50)), 40, ACGT, temperature=50.0)
    assert set(drawn.unique().tolist()) == set(ACGT)
    with_n, _, _ = sample_tokens(model, [5, 6], list(range(50)), 40, ACGT + [9], temperature=50.0)
    assert 9 in with_n.unique().tolist()  # N, about one draw in five once allowed


def test_letter_ids_follow_the_tokenizer():
    assert letter_ids(DNA, "ACGT") == ACGT
    assert letter_ids(DNA, "ACGTN") == ACGT + [9]
    assert letter_ids(DNA, None) == ACGT + [9]  # any non-special token
    kmer = KmerTokenizer(2)
    texts = [kmer.decode([i]) for i in letter_ids(kmer, "ACGT")]
    assert texts and all(set(t) <= set("ACGT") for t in texts)
    assert len([t for t in texts if len(t) == 2]) == 16  # every 2-mer without N


def test_stop_at_end_ends_a_sample_at_its_end_token(tmp_path):
    model = tiny("mamba")
    loaded = LoadedModel(model, DNA, tmp_path)
    # only A or the end token, nearly uniform: samples end after a few letters
    result = generate_sequences(
        loaded,
        [Prompt("p", "ACGT")],
        n=20,
        length=50,
        letters="A",
        temperature=100.0,
        stop_at_end=True,
    )
    lengths = [len(s.sequence) for s in result.samples]
    assert all(set(s.sequence) <= {"A"} for s in result.samples)
    assert max(lengths) < 50 and all(s.stopped for s in result.samples if len(s.sequence) < 50)
    assert result.n_tokens == sum(n + 1 for n in lengths)  # the end tokens count
    whole = generate_sequences(
        loaded, [Prompt("p", "ACGT")], n=5, length=50, letters="A", temperature=100.0
    )
    assert [s.sequence for s in whole.samples] == ["A" * 50] * 5


def test_samples_do_not_depend_on_the_batch_and_each_has_its_own_seed(tmp_path):
    loaded = LoadedModel(tiny("transformer"), DNA, tmp_path)
    prompts = [Prompt("a", "ACGTAC"), Prompt("b", "GGGA")]
    whole = generate_sequences(loaded, prompts, n=3, length=20, seed=7, batch_size=3)
    assert [(s.prompt, s.index, s.seed) for s in whole.samples] == [
        ("a", 0, 7),
        ("a", 1, 8),
        ("a", 2, 9),
        ("b", 0, 10),
        ("b", 1, 11),
        ("b", 2, 12),
    ]
    by_one = generate_sequences(loaded, prompts, n=3, length=20, seed=7, batch_size=1)
    assert [s.sequence for s in by_one.samples] == [s.sequence for s in whole.samples]
    alone = generate_sequences(loaded, [prompts[1]], n=1, length=20, seed=11)
    assert alone.samples[0].sequence == whole.samples[4].sequence
    assert len({s.sequence for s in whole.samples}) == 6


# -- where generation starts -----------------------------------------------------------------


def test_a_protein_model_starts_from_its_beginning_token(tmp_path):
    tok = CharTokenizer("protein")
    model = tiny_model("mamba", len(tok), seed=0, d_model=16, n_layer=2)
    model.config.objective, model.config.alphabet = "causal", "protein"
    assert start_ids(model, tok) == [tok.bos_token_id]
    seen = TokensSeen(model)
    loaded = LoadedModel(model.eval(), tok, tmp_path)
    result = generate_sequences(loaded, None, n=4, length=30, temperature=5.0)
    assert seen.first[0].tolist() == [tok.bos_token_id]
    letters = "".join(s.sequence for s in result.samples)
    assert len(letters) == 120 and set(letters) <= set("ACDEFGHIKLMNPQRSTVWY")
    assert len(set(letters)) > 10
    seen.first = None
    generate_sequences(loaded, [Prompt("p", "MKV")], n=1, length=3)
    mkv = tok.encode("MKV", add_special_tokens=False)
    assert seen.first[0].tolist() == [tok.bos_token_id] + mkv


def test_a_reverse_model_reads_the_prompt_reversed_and_returns_left_to_right(tmp_path):
    model = tiny("mamba")
    seen = TokensSeen(model)
    loaded = LoadedModel(model, DNA, tmp_path, direction="reverse")
    result = generate_sequences(loaded, [Prompt("p", "AACGT")], n=1, length=12, temperature=0)
    reversed_prompt = DNA.encode("TGCAA", add_special_tokens=False)
    assert seen.first[0].tolist() == reversed_prompt
    expected = DNA.decode(greedy_reference(model, reversed_prompt, 12, ACGT))[::-1]
    assert result.samples[0].sequence == expected


# -- the command -----------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(main, ["generate", *[str(a) for a in args]])


def test_cli_writes_reproducible_fasta_named_by_prompt_sample_and_seed(tmp_path):
    saved(tiny("mamba"), tmp_path / "m", objective="causal", alphabet="dna")
    prompts = tmp_path / "prompts.fa"
    prompts.write_text(">first\nACGTAC\n>second some words\nttgacA\n")
    out = tmp_path / "s.fa"

    def args(seed, out):
        return [
            "--model",
            tmp_path / "m",
            "--prompt-fasta",
            prompts,
            "--n",
            2,
            "--length",
            100,
            "--seed",
            seed,
            "--batch-size",
            2,
            "--device",
            "cpu",
            "--no-progress",
            "--out",
            out,
        ]

    result = run(*args(3, out))
    assert result.exit_code == 0, result.output
    assert "tokens/s" in result.output and "with its state/cache" in result.output
    records = list(iter_fasta(out))
    assert [(r.name, r.description) for r in records] == [
        ("first_0", "prompt=first sample=0 seed=3 length=100"),
        ("first_1", "prompt=first sample=1 seed=4 length=100"),
        ("second_0", "prompt=second sample=0 seed=5 length=100"),
        ("second_1", "prompt=second sample=1 seed=6 length=100"),
    ]
    assert all(len(r.sequence) == 100 and set(r.sequence) <= set("ACGT") for r in records)
    again = tmp_path / "again.fa"
    assert run(*args(3, again)).exit_code == 0
    assert again.read_text() == out.read_text()
    other = tmp_path / "other.fa"
    assert run(*args(4, other)).exit_code == 0
    assert list(iter_fasta(other))[0].sequence == records[1].sequence  # seed 4 = sample 1
    result = run(
        "--model",
        tmp_path / "m",
        "--prompt",
        "ACGT",
        "--length",
        5,
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0 and len(list(iter_fasta(out))) == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "trained without a beginning token, so it needs a prompt"),
        (["--prompt", "ACXGT"], "prompt 'prompt': invalid character 'X' at position 2"),
        (["--prompt", "AC", "--prompt-fasta", "p.fa"], "--prompt or --prompt-fasta, not both"),
        (["--prompt-fasta", "dup.fa"], "record name 'a' repeats"),
        (["--prompt", "AC", "--letters", "Z"], "no token of the tokenizer is made of the letters"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    saved(tiny("mamba"), tmp_path / "m", objective="causal", alphabet="dna")
    Path("dup.fa").write_text(">a\nAC\n>a\nGT\n")
    result = run("--model", "m", "--length", 5, "--out", "s.fa", "--device", "cpu", *extra)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not Path("s.fa").exists()


def test_cli_refuses_a_masked_model(tmp_path):
    tok = caduceus_tokenizer()
    model = tiny_model(
        "caduceus", len(tok), d_model=16, n_layer=2, rcps=True, complement_map=complement_map(tok)
    )
    saved(model, tmp_path / "cad", tok=tok)
    result = run(
        "--model",
        tmp_path / "cad",
        "--prompt",
        "ACGT",
        "--length",
        5,
        "--out",
        tmp_path / "s.fa",
        "--device",
        "cpu",
    )
    assert result.exit_code == 2 and "cannot generate" in result.output
