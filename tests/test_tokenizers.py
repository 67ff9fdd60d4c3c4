"""Tests for bioseq.tokenizers: round trips, numpy fast path, batching, saving, AutoTokenizer."""

from __future__ import annotations

import json
from itertools import product

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

import bioseq.tokenizers  # noqa: F401  (registers the tokenizers with transformers)
from bioseq.errors import InputError
from bioseq.io.alphabet import DNA, PROTEIN, InvalidCharacterError
from bioseq.tokenizers import CharTokenizer, KmerTokenizer, SequenceTokenizer, load_tokenizer

DNA_CHAR = CharTokenizer("dna")
RNA_CHAR = CharTokenizer("rna")
PROTEIN_CHAR = CharTokenizer("protein")
KMERS = {k: KmerTokenizer(k=k) for k in (1, 2, 3, 6)}
KMER6 = KMERS[6]

dna_text = st.text(alphabet="ACGTN", max_size=200)
raw_dna_text = st.text(alphabet="ACGTNacgtnRYSWKMBDHVryu", max_size=200)
protein_text = st.text(alphabet=PROTEIN.letters + PROTEIN.ambiguous, max_size=200)


# --------------------------------------------------------------------------- pure-Python references


def reference_char(tok: CharTokenizer, seq: str) -> list[int]:
    vocab = tok.get_vocab()
    return [vocab[DNA.normalize(c)] for c in seq]


def reference_kmer(k: int, seq: str) -> list[int]:
    """Non-overlapping k-mers; N-containing windows and the remainder as single bases."""
    seq = DNA.normalize(seq)
    kmers = ["".join(p) for p in product("ACGT", repeat=k)]
    vocab = {t: i for i, t in enumerate(kmers + [b for b in "ACGTN" if b not in kmers], start=5)}
    ids: list[int] = []
    full = len(seq) - len(seq) % k
    for start in range(0, full, k):
        window = seq[start : start + k]
        if "N" in window:
            ids.extend(vocab[b] for b in window)
        else:
            ids.append(vocab[window])
    ids.extend(vocab[b] for b in seq[full:])
    return ids


# --------------------------------------------------------------------------- round trips


@given(dna_text)
def test_char_dna_round_trip(seq: str) -> None:
    assert DNA_CHAR.decode(DNA_CHAR.encode(seq)) == seq
    assert RNA_CHAR.decode(RNA_CHAR.encode(seq.replace("T", "U"))) == seq.replace("T", "U")


@given(protein_text)
def test_char_protein_round_trip(seq: str) -> None:
    assert PROTEIN_CHAR.decode(PROTEIN_CHAR.encode(seq)) == seq


@given(dna_text, st.sampled_from(sorted(KMERS)))
def test_kmer_round_trip(seq: str, k: int) -> None:
    tok = KMERS[k]
    ids = tok.encode(seq)
    assert tok.decode(ids) == seq
    assert tok.decode(ids, skip_special_tokens=False) == f"[CLS]{seq}[SEP]"


def test_normalisation_lower_case_and_iupac() -> None:
    assert DNA_CHAR.decode(DNA_CHAR.encode("acgtRYn")) == "ACGTNNN"
    assert DNA_CHAR.encode("acgu") == DNA_CHAR.encode("ACGT")  # U -> T alias
    assert PROTEIN_CHAR.decode(PROTEIN_CHAR.encode("mbzjuo*")) == "MBZJCK*"
    assert KMER6.decode(KMER6.encode("acgtacgtr")) == "ACGTACGTN"


# --------------------------------------------------------------------------- numpy fast path


@given(raw_dna_text)
def test_char_encode_array_matches_reference(seq: str) -> None:
    codes = np.frombuffer(seq.encode(), dtype=np.uint8)
    ids = DNA_CHAR.encode_array(codes)
    assert ids.dtype == np.int64
    assert ids.tolist() == reference_char(DNA_CHAR, seq)
    assert DNA_CHAR.encode(seq, add_special_tokens=False) == ids.tolist()


@given(protein_text)
def test_protein_encode_array_matches_reference(seq: str) -> None:
    vocab = PROTEIN_CHAR.get_vocab()
    assert PROTEIN_CHAR.encode_array(seq.encode()).tolist() == [vocab[c] for c in seq]


@given(raw_dna_text, st.sampled_from(sorted(KMERS)))
@settings(max_examples=200)
def test_kmer_encode_array_matches_reference(seq: str, k: int) -> None:
    ids = KMERS[k].encode_array(np.frombuffer(seq.encode(), dtype=np.uint8))
    assert ids.dtype == np.int64
    assert ids.tolist() == reference_kmer(k, seq)


def test_encode_array_special_tokens_and_input_types() -> None:
    ids = DNA_CHAR.encode_array(np.frombuffer(b"GAT", dtype=np.uint8), add_special_tokens=True)
    assert ids.tolist() == [2, 7, 5, 8, 3]
    assert DNA_CHAR.encode_array("GAT").tolist() == DNA_CHAR.encode_array(b"GAT").tolist()
    assert KMER6.encode_array(b"").tolist() == []
    with pytest.raises(InputError, match="uint8"):
        DNA_CHAR.encode_array(np.array([65, 67], dtype=np.int64))
    with pytest.raises(InputError, match="1-D"):
        DNA_CHAR.encode_array(np.zeros((2, 2), dtype=np.uint8))


# --------------------------------------------------------------------------- k-mer rules


def test_kmer_vocabulary_layout() -> None:
    vocab = KMER6.get_vocab()
    assert KMER6.vocab_size == len(vocab) == 5 + 4**6 + 5
    assert [vocab[t] for t in ("AAAAAA", "AAAAAC", "TTTTTT")] == [5, 6, 5 + 4**6 - 1]
    assert [vocab[b] for b in "ACGTN"] == list(range(5 + 4**6, 5 + 4**6 + 5))
    assert KMERS[1].get_vocab() == {
        **dict(zip(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], range(5), strict=True)),
        **{b: 5 + i for i, b in enumerate("ACGTN")},
    }
    assert KMER6.bases_per_token == 6 and DNA_CHAR.bases_per_token == 1


def test_kmer_remainder_rule() -> None:
    tok = KMERS[3]
    tokens = tok.convert_ids_to_tokens(tok.encode("ACGTTGCA", add_special_tokens=False))
    assert tokens == ["ACG", "TTG", "C", "A"]
    assert tok.tokenize("ACGTTGCA") == tokens
    assert tok.convert_ids_to_tokens(tok.encode("AC", add_special_tokens=False)) == ["A", "C"]


def test_kmer_n_rule() -> None:
    tok = KMERS[3]
    tokens = tok.convert_ids_to_tokens(tok.encode("ACGTNAGGTNNN", add_special_tokens=False))
    assert tokens == ["ACG", "T", "N", "A", "GGT", "N", "N", "N"]
    assert tok.convert_ids_to_tokens(tok.encode_array(b"ACRGTA").tolist()) == [
        "A",
        "C",
        "N",
        "GTA",
    ]


# --------------------------------------------------------------------------- special tokens


@pytest.mark.parametrize("tok", [DNA_CHAR, KMER6], ids=["char", "kmer"])
def test_special_tokens(tok: SequenceTokenizer) -> None:
    ids = (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id)
    assert ids + (tok.mask_token_id,) == (0, 1, 2, 3, 4)
    assert (tok.cls_token_id, tok.sep_token_id) == (tok.bos_token_id, tok.eos_token_id)
    body = tok.encode("ACGTAC", add_special_tokens=False)
    assert tok.encode("ACGTAC") == [2, *body, 3]
    assert tok.encode("") == [2, 3]
    assert tok("ACGTAC")["input_ids"] == [2, *body, 3]
    assert tok.encode("ACGTAC", "GG") == [
        2,
        *body,
        3,
        *tok.encode("GG", add_special_tokens=False),
        3,
    ]
    # literal special tokens in the text are recognised, as in Hugging Face tokenizers
    assert tok.encode("ACGTAC[MASK]", add_special_tokens=False) == [*body, 4]
    assert tok.decode([2, *body, 4, 3], skip_special_tokens=False) == "[CLS]ACGTAC[MASK][SEP]"


def test_custom_special_token_aliases_must_agree() -> None:
    with pytest.raises(InputError, match="cls_token must equal bos_token"):
        CharTokenizer("dna", cls_token="<cls>")


def test_decode_batches_and_tensors() -> None:
    batch = DNA_CHAR(["ACGT", "A"], padding=True, return_tensors="pt")
    assert DNA_CHAR.decode(batch["input_ids"]) == ["ACGT", "A"]
    assert DNA_CHAR.batch_decode(batch["input_ids"].numpy()) == ["ACGT", "A"]
    with pytest.raises(InputError, match="out of range"):
        DNA_CHAR.decode([5, 99])


# --------------------------------------------------------------------------- batching


@pytest.mark.parametrize("tok", [DNA_CHAR, KMERS[3]], ids=["char", "kmer"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batch_padding(tok: SequenceTokenizer, side: str) -> None:
    seqs = ["ACGTACGTA", "AC", "", "NNACGT"]
    rows = [tok.encode(s) for s in seqs]
    width = max(map(len, rows))
    out = tok.batch_encode(seqs, padding_side=side)
    assert isinstance(out["input_ids"], torch.Tensor) and out["input_ids"].dtype == torch.int64
    assert out["input_ids"].shape == (len(seqs), width)
    for row, ids, mask in zip(
        rows, out["input_ids"].tolist(), out["attention_mask"].tolist(), strict=True
    ):
        pad = [tok.pad_token_id] * (width - len(row))
        assert ids == (row + pad if side == "right" else pad + row)
        assert mask == (
            [1] * len(row) + [0] * len(pad) if side == "right" else [0] * len(pad) + [1] * len(row)
        )
    hf = tok(seqs, padding=True, padding_side=side, return_tensors="pt")
    assert torch.equal(hf["input_ids"], out["input_ids"])
    assert torch.equal(hf["attention_mask"], out["attention_mask"])


@pytest.mark.parametrize("tok", [DNA_CHAR, KMERS[3]], ids=["char", "kmer"])
def test_batch_truncation_and_max_length(tok: SequenceTokenizer) -> None:
    seqs = ["ACGTACGTACGTAC", "ACG"]
    kwargs = {"padding": "max_length", "truncation": True, "max_length": 5}
    out = tok.batch_encode(seqs, **kwargs)
    hf = tok(seqs, return_tensors="pt", **kwargs)
    assert out["input_ids"].shape == (2, 5)
    assert torch.equal(out["input_ids"], hf["input_ids"])
    assert torch.equal(out["attention_mask"], hf["attention_mask"])
    assert (
        out["input_ids"][0, 0] == tok.bos_token_id and out["input_ids"][0, -1] == tok.eos_token_id
    )
    multiple = tok.batch_encode(seqs, pad_to_multiple_of=8, return_tensors="np")
    assert multiple["input_ids"].shape[1] % 8 == 0
    ragged = tok.batch_encode(seqs, padding=False, return_tensors=None)
    assert ragged["input_ids"] == [tok.encode(s) for s in seqs]
    with pytest.raises(InputError, match="padding"):
        tok.batch_encode(seqs, padding=False)
    with pytest.raises(InputError, match="max_length"):
        tok.batch_encode(seqs, truncation=True)


def test_batch_encode_accepts_arrays() -> None:
    arrays = [np.frombuffer(b"ACGT", dtype=np.uint8), np.frombuffer(b"GG", dtype=np.uint8)]
    out = DNA_CHAR.batch_encode(arrays, return_tensors="np")
    assert out["input_ids"].tolist() == [[2, 5, 6, 7, 8, 3], [2, 7, 7, 3, 0, 0]]


# --------------------------------------------------------------------------- errors


def test_invalid_character_raises_with_position() -> None:
    with pytest.raises(InvalidCharacterError, match=r"'X' at position 3") as info:
        DNA_CHAR.encode("ACGXT")
    assert isinstance(info.value, InputError) and info.value.index == 3
    with pytest.raises(InputError, match=r"'-' at position 4"):
        KMER6.encode_array(b"ACGT-A")
    with pytest.raises(InputError, match=r"'X' at position 9"):  # position counts the [MASK] text
        DNA_CHAR.encode("A[MASK]CGX")
    with pytest.raises(InputError, match=r"'O' at position 1"):
        CharTokenizer("ACGT").encode("AOC")


def test_unknown_policy_unk() -> None:
    char = CharTokenizer("dna", unknown="unk")
    assert char.encode("AX-", add_special_tokens=False) == [5, 1, 1]
    assert char.decode(char.encode("AX-")) == "A"
    kmer = KmerTokenizer(k=2, unknown="unk")
    tokens = kmer.convert_ids_to_tokens(kmer.encode("ACG-TT", add_special_tokens=False))
    assert tokens == ["AC", "G", "[UNK]", "TT"]
    with pytest.raises(InputError, match="unknown-character policy"):
        CharTokenizer("dna", unknown="ignore")


def test_constructor_errors() -> None:
    with pytest.raises(InputError, match="k must be"):
        KmerTokenizer(k=0)
    with pytest.raises(InputError, match="'dna' or 'rna'"):
        KmerTokenizer(alphabet="protein")
    with pytest.raises(InputError, match="repeats"):
        CharTokenizer("ACCA")


def test_custom_alphabet() -> None:
    tok = CharTokenizer("ACGT-")
    assert tok.get_vocab()["-"] == 9
    assert tok.decode(tok.encode("ac-gt")) == "AC-GT"
    cased = CharTokenizer("Aa")  # both cases in the alphabet: case-sensitive
    assert cased.encode("aA", add_special_tokens=False) == [6, 5]


# --------------------------------------------------------------------------- saving and loading


@pytest.mark.parametrize(
    "tok",
    [DNA_CHAR, PROTEIN_CHAR, KMERS[3], CharTokenizer("ACGT-", unknown="unk")],
    ids=["dna", "protein", "kmer3", "custom"],
)
def test_save_load_round_trip(tok: SequenceTokenizer, tmp_path) -> None:
    tok.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == type(tok).__name__
    assert json.loads((tmp_path / "vocab.json").read_text()) == tok.get_vocab()
    seq = "ACGTAACGTNCA" if tok is not PROTEIN_CHAR else "MKVLAT*X"
    for loaded in (type(tok).from_pretrained(tmp_path), load_tokenizer(tmp_path)):
        assert type(loaded) is type(tok)
        assert loaded.get_vocab() == tok.get_vocab()
        assert loaded.encode(seq) == tok.encode(seq)
        assert (loaded.alphabet, loaded.unknown) == (tok.alphabet, tok.unknown)


def test_edited_vocab_is_rejected(tmp_path) -> None:
    KMERS[2].save_pretrained(tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    vocab["AA"], vocab["AC"] = vocab["AC"], vocab["AA"]
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(InputError, match="does not match"):
        KmerTokenizer.from_pretrained(tmp_path)


@pytest.mark.parametrize("tok", [DNA_CHAR, KMER6, PROTEIN_CHAR], ids=["char", "kmer", "protein"])
def test_auto_tokenizer_loads_our_class(tok: SequenceTokenizer, tmp_path) -> None:
    tok.save_pretrained(tmp_path)
    auto = AutoTokenizer.from_pretrained(str(tmp_path))
    assert type(auto) is type(tok)
    seqs = ["ACGTACGTAACGTTTAGC", "ACNNNGTA"] if tok is not PROTEIN_CHAR else ["MKVLAT", "WY*"]
    assert [auto.encode(s) for s in seqs] == [tok.encode(s) for s in seqs]
    batch = auto(seqs, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], tok.batch_encode(seqs)["input_ids"])


def test_load_tokenizer_specs(tmp_path) -> None:
    assert isinstance(load_tokenizer("char"), CharTokenizer)
    assert load_tokenizer("protein").alphabet == "protein"
    assert load_tokenizer("char:rna").alphabet == "rna"
    assert load_tokenizer("kmer").k == 6 and load_tokenizer("kmer:3").k == 3
    assert load_tokenizer(DNA_CHAR) is DNA_CHAR
    for bad in ("bpe", "kmer:x"):
        with pytest.raises(InputError):
            load_tokenizer(bad)
    with pytest.raises(InputError, match="tokenizer_config.json"):
        load_tokenizer(tmp_path)


def test_imposed_vocab_layout(tmp_path) -> None:
    """from_vocab keeps a checkpoint's ids (HyenaDNA layout); extras become special tokens."""
    layout = ["[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]", *"ACGTN"]
    tok = CharTokenizer.from_vocab(layout)
    assert tok.get_vocab() == {t: i for i, t in enumerate(layout)}
    assert (tok.pad_token_id, tok.unk_token_id, tok.mask_token_id) == (4, 6, 3)
    assert tok.encode("ACGTN") == [0, 7, 8, 9, 10, 11, 1]
    assert tok.decode([2, 5, 7, 8]) == "AC"
    tok.save_pretrained(tmp_path)
    auto = AutoTokenizer.from_pretrained(str(tmp_path))
    assert type(auto) is CharTokenizer and auto.get_vocab() == tok.get_vocab()
    assert auto.encode("GATTACA") == tok.encode("GATTACA")
    with pytest.raises(InputError, match="lacks"):
        CharTokenizer.from_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"ACGT"])
    with pytest.raises(InputError, match="fixed vocabulary"):
        KmerTokenizer(k=2, vocab=layout)
