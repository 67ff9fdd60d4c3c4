"""Tests for BPE tokenization: BpeTokenizer, train_bpe, compression_report, `bioseq tokenizer`."""

from __future__ import annotations

import doctest
import json
import random
import time

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer
from transformers import AutoTokenizer

import bioseq.tokenizers  # noqa: F401  (registers the tokenizers with transformers)
from bioseq.cli.main import main
from bioseq.data import default_genome
from bioseq.errors import InputError
from bioseq.io import Genome
from bioseq.io.alphabet import DNA, PROTEIN, InvalidCharacterError
from bioseq.tokenizers import (
    BpeTokenizer,
    CharTokenizer,
    KmerTokenizer,
    compression_report,
    load_tokenizer,
    train_bpe,
)
from tests.conftest import SHARED_DATA, require

BLAT_A2M = SHARED_DATA / "proteins" / "BLAT_ECOLX_r24-286.a2m"
PROTEIN_LETTERS = PROTEIN.letters + PROTEIN.ambiguous

raw_dna_text = st.text(alphabet="ACGTNacgtnRYSWKMBDHVryu", max_size=300)
protein_text = st.text(alphabet=PROTEIN_LETTERS + PROTEIN_LETTERS.lower() + "UO", max_size=300)


def ecoli_codes() -> np.ndarray:
    with Genome(default_genome()) as genome:
        return genome.fetch_codes(next(iter(genome.contigs)))


def random_sequence(letters: str, n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(letters) for _ in range(n))


@pytest.fixture(scope="module")
def genome() -> np.ndarray:
    return ecoli_codes()


@pytest.fixture(scope="module")
def small_dna(genome) -> BpeTokenizer:
    """256 tokens, 64-base chunks: short strings already cross chunk boundaries."""
    real = genome[:200_000].tobytes().decode("ascii")
    return train_bpe(
        [real, random_sequence("ACGTN", 5_000, 0)], vocab_size=256, chunk_length=64, progress=False
    )


@pytest.fixture(scope="module")
def small_protein() -> BpeTokenizer:
    sequences = [random_sequence(PROTEIN.letters[:20], 400, seed) for seed in range(50)]
    return train_bpe(sequences, vocab_size=120, alphabet="protein", chunk_length=50, progress=False)


@pytest.fixture(scope="module")
def ecoli_bpe(genome) -> tuple[BpeTokenizer, float]:
    """Vocabulary 4096 trained on the first megabase of E. coli (the whole genome: ~10 s)."""
    start = time.perf_counter()
    tok = train_bpe([genome[:1_000_000]], vocab_size=4096, progress=False)
    return tok, time.perf_counter() - start


def reference_bpe(tok: BpeTokenizer, seq: str) -> list[int]:
    """Textbook BPE from tokenizer.json's merge list: merge the best-ranked adjacent pair,
    leftmost first, until none is left; chunk by chunk."""
    model = json.loads(tok.hf_tokenizer.to_str())["model"]
    rank = {tuple(m): i for i, m in enumerate(model["merges"])}
    vocab = tok.get_vocab()
    ids: list[int] = []
    for start in range(0, len(seq), tok.chunk_length):
        parts = list(seq[start : start + tok.chunk_length])
        while len(parts) > 1:
            ranks = [rank.get(pair, len(rank)) for pair in zip(parts, parts[1:], strict=False)]
            best = min(range(len(ranks)), key=ranks.__getitem__)
            if ranks[best] == len(rank):
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
        ids.extend(vocab[p] for p in parts)
    return ids


# --------------------------------------------------------------------------- round trips


@settings(max_examples=200, deadline=None)
@given(raw_dna_text)
def test_dna_round_trip_and_token_lengths(small_dna, seq: str) -> None:
    ids = small_dna.encode_array(seq)
    assert small_dna.decode(ids) == DNA.normalize(seq)
    assert int(small_dna.token_lengths[ids].sum()) == len(seq)
    assert small_dna.encode(seq) == [2, *ids.tolist(), 3]
    assert small_dna.decode(small_dna.encode(seq)) == DNA.normalize(seq)


@settings(max_examples=200, deadline=None)
@given(protein_text)
def test_protein_round_trip_and_token_lengths(small_protein, seq: str) -> None:
    ids = small_protein.encode_array(seq)
    assert small_protein.decode(ids) == PROTEIN.normalize(seq, ambiguous="keep")
    assert int(small_protein.token_lengths[ids].sum()) == len(seq)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="ACGTN", max_size=200))
def test_encoding_matches_a_textbook_bpe_of_the_saved_merges(small_dna, seq: str) -> None:
    assert small_dna.encode_array(seq).tolist() == reference_bpe(small_dna, seq)


def test_normalisation_matches_the_char_tokenizer(small_dna, small_protein):
    for tok, text in ((small_dna, "acgtRYnu" * 20), (small_protein, "acdUObzjx*" * 20)):
        char = CharTokenizer(tok.alphabet)
        assert tok.decode(tok.encode(text)) == char.decode(char.encode(text))


def test_vocabulary_layout(small_dna, small_protein):
    for tok, letters in ((small_dna, "ACGTN"), (small_protein, PROTEIN_LETTERS)):
        assert tok.convert_ids_to_tokens(list(range(5))) == [
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "[MASK]",
        ]
        vocab = tok.get_vocab()
        assert all(letter in vocab for letter in letters)
        assert tok.token_lengths[:5].tolist() == [0] * 5
        assert tok.token_lengths[5:].tolist() == [
            len(t) for t in tok.convert_ids_to_tokens(list(range(5, len(tok))))
        ]
        assert tok.variable_length is True
    assert len(small_dna) == 256 and small_dna.token_lengths.max() > 3
    assert getattr(CharTokenizer("dna"), "variable_length", False) is False


def test_empty_and_batched_input(small_dna):
    assert small_dna.encode_array("").tolist() == []
    assert small_dna.encode("") == [2, 3]
    batch = small_dna.batch_encode(["ACGTACGT", "AC"], return_tensors="np")
    first = [2, *small_dna.encode_array("ACGTACGT").tolist(), 3]
    assert batch["input_ids"][0, : len(first)].tolist() == first
    out = small_dna(["ACGTACGTAAAA"], padding=True, return_tensors="pt")["input_ids"][0].tolist()
    assert out == small_dna.encode("ACGTACGTAAAA")


# --------------------------------------------------------------------------- compression


@pytest.mark.slow
def test_ecoli_bpe_4096_reaches_4_5_bases_per_token(ecoli_bpe, genome):
    tok, seconds = ecoli_bpe
    assert len(tok) == 4096
    ids = tok.encode_array(genome)  # the whole genome: 3.6 of its 4.6 Mb were not trained on
    assert int(tok.token_lengths[ids].sum()) == genome.size
    assert genome.size / ids.size >= 4.5
    assert tok.decode(ids) == genome.tobytes().decode("ascii")
    trained = genome[:1_000_000]
    assert tok.bases_per_token == pytest.approx(
        trained.size / tok.encode_array(trained).size, rel=1e-3
    )
    assert seconds < 60


def test_compression_report_counts_tokens_of_each_file(small_dna, tmp_path):
    a, b = tmp_path / "a.fa", tmp_path / "b.fa"
    seqs = [random_sequence("ACGT", 3000, 1), random_sequence("ACGT", 500, 2)]
    a.write_text(f">x\n{seqs[0]}\n>y\n{seqs[1]}\n")
    b.write_text(">z\n" + "ACGT" * 100 + "\n")
    report = compression_report(small_dna, [a, b])
    assert [r["file"] for r in report] == [str(a), str(b)]
    tokens = sum(small_dna.encode_array(s).size for s in seqs)
    assert report[0]["bases"] == 3500 and report[0]["tokens"] == tokens
    assert report[0]["bases_per_token"] == pytest.approx(3500 / tokens, abs=1e-4)
    assert compression_report(KmerTokenizer(4), [b])[0]["tokens"] == 100


def test_max_token_length_is_respected(genome):
    sample = [genome[:100_000]]
    short = train_bpe(sample, vocab_size=512, max_token_length=4, progress=False)
    longer = train_bpe(sample, vocab_size=512, max_token_length=12, progress=False)
    assert short.token_lengths.max() == 4
    assert longer.token_lengths.max() > 4


@pytest.mark.slow
def test_long_sequences_equal_chunk_by_chunk_encoding(ecoli_bpe, genome):
    tok = ecoli_bpe[0]
    seq = genome[123_457 : 123_457 + 5 * tok.chunk_length + 1234]
    pieces = [
        tok.encode_array(seq[i : i + tok.chunk_length])
        for i in range(0, seq.size, tok.chunk_length)
    ]
    assert np.array_equal(tok.encode_array(seq), np.concatenate(pieces))
    as_text = seq.tobytes().decode("ascii")
    assert tok.encode(as_text, add_special_tokens=False) == tok.encode_array(seq).tolist()


# --------------------------------------------------------------------------- saving and loading


def test_save_and_load_round_trip(small_dna, tmp_path, genome):
    small_dna.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "BpeTokenizer"
    assert config["alphabet"] == "dna" and config["chunk_length"] == 64
    assert config["bases_per_token"] == small_dna.bases_per_token
    assert json.loads((tmp_path / "vocab.json").read_text()) == small_dna.get_vocab()
    sample = genome[:5000]
    expected = small_dna.encode_array(sample).tolist()
    for loaded in (
        load_tokenizer(tmp_path),
        AutoTokenizer.from_pretrained(tmp_path),
        BpeTokenizer.from_pretrained(tmp_path),
    ):
        assert type(loaded) is BpeTokenizer
        assert loaded.get_vocab() == small_dna.get_vocab()
        assert loaded.encode_array(sample).tolist() == expected
        assert loaded.bases_per_token == small_dna.bases_per_token
        assert loaded.chunk_length == 64
    plain = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert (
        plain.encode(sample[:64].tobytes().decode()).ids
        == expected[: len(plain.encode(sample[:64].tobytes().decode()).ids)]
    )


def test_a_tampered_vocab_file_is_refused(small_dna, tmp_path):
    small_dna.save_pretrained(tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    vocab["ZZZ"] = len(vocab)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(InputError, match="vocab.json: vocabulary does not match"):
        load_tokenizer(tmp_path)


# --------------------------------------------------------------------------- invalid input


def test_invalid_characters_raise_or_become_unk(small_dna, tmp_path):
    with pytest.raises(InvalidCharacterError, match="'J' at position 5"):
        small_dna.encode("ACGTAJ")
    small_dna.save_pretrained(tmp_path)
    unk = load_tokenizer(tmp_path, unknown="unk")
    ids = unk.encode_array("ACJJT")
    assert ids.tolist().count(unk.unk_token_id) == 2
    assert unk.decode(ids) == "ACT"


def test_training_arguments_are_checked(genome):
    with pytest.raises(InputError, match="vocab_size"):
        train_bpe([genome[:1000]], vocab_size=6, progress=False)
    with pytest.raises(InputError, match="chunk_length must be a positive integer"):
        train_bpe([genome[:1000]], chunk_length=0, progress=False)
    with pytest.raises(InputError, match="no such file"):
        train_bpe(["missing/genome.fa"], progress=False)
    with pytest.raises(InvalidCharacterError, match="'!'"):
        train_bpe(["ACGT!"], progress=False)


def test_training_reads_genbank_fasta_and_protein_files(tmp_path):
    from bioseq.data import example_genome

    tok = train_bpe([example_genome("lambda")], vocab_size=300, progress=False)
    assert tok.alphabet == "dna" and tok.bases_per_token > 2
    fasta = tmp_path / "p.fa"
    fasta.write_text("".join(f">p{i}\n{random_sequence('ACDEFGHIK', 200, i)}\n" for i in range(20)))
    protein = train_bpe([fasta], vocab_size=80, alphabet="auto", progress=False)
    assert protein.alphabet == "protein" and "W" in protein.get_vocab()
    with pytest.raises(InputError, match="holds protein sequences"):
        train_bpe([fasta], alphabet="dna", progress=False)


@pytest.mark.slow
@require(BLAT_A2M)
def test_training_on_an_alignment_uses_ungapped_sequences():
    tok = train_bpe([BLAT_A2M], vocab_size=300, alphabet="protein", progress=False)
    assert "-" not in "".join(tok.get_vocab()) and tok.bases_per_token > 1.5


# --------------------------------------------------------------------------- command line


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_trains_bpe_and_writes_the_report(tmp_path):
    genome = tmp_path / "g.fa"
    genome.write_text(">g\n" + ecoli_codes()[:60_000].tobytes().decode() + "\n")
    out = tmp_path / "bpe"
    result = run(
        "tokenizer",
        "train",
        "--type",
        "bpe",
        "--vocab-size",
        "300",
        "--max-token-length",
        "8",
        "--out",
        out,
        "-q",
        genome,
    )
    assert result.exit_code == 0, result.output
    tok = load_tokenizer(out)
    assert type(tok) is BpeTokenizer and len(tok) == 300 and tok.token_lengths.max() <= 8
    rows = (out / "compression.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["file", "bases", "tokens", "bases_per_token"]
    file, bases, tokens, ratio = rows[1].split("\t")
    expected = tok.encode_array(ecoli_codes()[:60_000]).size
    assert (file, int(bases), int(tokens)) == (str(genome), 60_000, expected)
    assert float(ratio) == pytest.approx(60_000 / expected, abs=1e-4)
    assert result.stdout.splitlines() == rows
    again = run("tokenizer", "report", out, genome)
    assert again.exit_code == 0 and again.stdout.splitlines() == rows


def test_cli_saves_a_kmer_tokenizer(tmp_path):
    genome = tmp_path / "g.fa"
    genome.write_text(">g\n" + "ACGTAC" * 1000 + "\n")
    result = run(
        "tokenizer", "train", "--type", "kmer", "--k", "3", "--out", tmp_path / "k", genome
    )
    assert result.exit_code == 0, result.output
    tok = load_tokenizer(tmp_path / "k")
    assert type(tok) is KmerTokenizer and tok.k == 3
    row = (tmp_path / "k" / "compression.tsv").read_text().splitlines()[1].split("\t")
    assert row[1:] == ["6000", "2000", "3.0"]


@pytest.mark.parametrize("command", ["train", "report"])
def test_cli_missing_input_is_one_line_and_exit_code_2(tmp_path, command):
    missing = tmp_path / "nope.fa"
    args = ["--out", tmp_path / "o"] if command == "train" else ["kmer:6"]
    result = run("tokenizer", command, *args, missing)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [f"bioseq: error: {missing}: no such file or folder"]
    assert "Traceback" not in result.output


def test_cli_kmer_refuses_protein(tmp_path):
    result = run("tokenizer", "train", "--type", "kmer", "--alphabet", "protein", "--out", tmp_path)
    assert result.exit_code == 2 and "--type kmer tokenizes DNA" in result.stderr


def test_module_doctests():
    import bioseq.tokenizers.bpe as bpe

    assert doctest.testmod(bpe).failed == 0
