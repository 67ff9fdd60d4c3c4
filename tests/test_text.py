"""The linguistic control: byte tokenizer, text data, byte Markov reference, ``pretrain --text``
end to end, and an ICL probe of the text model in linguistic (digit) form."""

from __future__ import annotations

import doctest
import gzip
import hashlib
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from transformers import AutoModelForCausalLM, AutoTokenizer

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.cli.main import main
from bioseq.data import default_text
from bioseq.errors import InputError
from bioseq.models.markov import ByteMarkovModel
from bioseq.tasks.icl import CausalLMAdapter, load_functions, read_results, run_bitstring
from bioseq.tasks.icl.prompts import Symbols
from bioseq.tokenizers import ByteTokenizer, CharTokenizer, load_tokenizer
from bioseq.train import TrainConfig, merge
from bioseq.train.data import build_data

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TINY_FLAGS = ["--d-model", "32", "--n-layer", "1", "--context", "64", "--batch-size", "4",
              "--log-every", "1", "--eval-every", "2", "--eval-windows", "4",
              "--final-eval-windows", "8", "--threads", "1"]  # fmt: skip


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# -- the byte tokenizer ------------------------------------------------------------------------


@given(st.text())
@settings(max_examples=300)
def test_byte_tokenizer_round_trips_any_text(text):
    assume(not any(s in text for s in SPECIALS))  # literal special tokens are read as such
    tok = ByteTokenizer()
    ids = tok.encode(text)
    data = text.encode("utf-8")
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert ids[1:-1] == [b + 5 for b in data] == tok.encode_array(text).tolist()
    assert tok.decode(ids) == text
    assert tok.convert_tokens_to_string(tok.tokenize(text)) == text
    assert tok.unk_token_id not in ids


@given(st.binary())
def test_byte_tokenizer_round_trips_any_bytes(data):
    tok = ByteTokenizer()
    ids = tok.encode_array(np.frombuffer(data, dtype=np.uint8))
    assert tok.decode_bytes(ids) == data == tok.decode_bytes(tok.encode_array(data))
    assert tok.decode(ids.tolist()) == data.decode("utf-8", errors="replace")


def test_byte_tokenizer_saves_and_loads(tmp_path):
    tok = ByteTokenizer()
    tok.save_pretrained(tmp_path)
    for loaded in (AutoTokenizer.from_pretrained(tmp_path), load_tokenizer(tmp_path)):
        assert type(loaded) is ByteTokenizer and loaded.alphabet == "text"
        assert loaded.get_vocab() == tok.get_vocab() and len(loaded) == 261
        assert loaded.encode("Größe 42\n") == tok.encode("Größe 42\n")
    assert type(load_tokenizer("byte")) is ByteTokenizer
    assert tok.decode([2, 53, 3], skip_special_tokens=False) == "[CLS]0[SEP]"
    assert tok.convert_ids_to_tokens([15, 37, 260]) == ["<0x0A>", " ", "<0xFF>"]
    with pytest.raises(InputError, match="out of range"):
        tok.decode_bytes([261])
    with pytest.raises(InputError, match="not valid Unicode"):
        tok.encode_array("a\ud800")


def test_module_doctests():
    import bioseq.data as data
    import bioseq.models.markov as markov
    import bioseq.tokenizers.byte as byte
    import bioseq.train.data.text as text

    for module in (byte, data, markov, text):
        assert doctest.testmod(module).failed == 0, module.__name__


# -- the byte Markov reference -----------------------------------------------------------------


def naive_witten_bell(train: bytes, val: bytes, order: int) -> float:
    grams = [Counter() for _ in range(order + 1)]
    for p in range(order, len(train)):
        for j in range(order + 1):
            grams[j][train[p - j : p], train[p]] += 1
    seen = [Counter() for _ in range(order + 1)]
    kinds = [Counter() for _ in range(order + 1)]
    for j, table in enumerate(grams):
        for (context, _), n in table.items():
            seen[j][context] += n
            kinds[j][context] += 1
    bits = []
    for p in range(order, len(val)):
        prob = 1 / 256
        for j in range(order + 1):
            context = val[p - j : p]
            n, t = seen[j][context], kinds[j][context]
            if n:
                prob = (grams[j][context, val[p]] + t * prob) / (n + t)
        bits.append(-math.log2(prob))
    return sum(bits) / len(bits)


def test_byte_markov_matches_a_naive_witten_bell_count():
    rng = np.random.default_rng(2)
    words = [b"the ", b"cat ", b"sat ", b"on ", b"a ", b"mat", b". ", b"\xc3\xa9 "]
    text = b"".join(words[i] for i in rng.integers(0, len(words), 700))
    train, val = text[:2000], text[2000:]
    for order in (0, 1, 3):
        model = ByteMarkovModel(order).fit([np.frombuffer(train, dtype=np.uint8)])
        got = model.bits_per_symbol([np.frombuffer(val, dtype=np.uint8)])
        assert got == pytest.approx(naive_witten_bell(train, val, order), rel=1e-9), order


# -- the data ------------------------------------------------------------------------------------


def test_bundled_text_is_the_documented_one():
    data = gzip.decompress(default_text().read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    assert len(data) == 148_480 and data.startswith(b"\n\n\n\n                ALICE'S ADV")
    assert digest in (Path(bioseq.data.__file__).parent / "PROVENANCE.md").read_text()


def test_text_data_split_windows_and_batches(tmp_path):
    a = "The quick brown fox jumps over the lazy dog. 0123456789\n" * 40
    b = "Größe, naïve café; ünïcödé text.\n" * 30
    (tmp_path / "a.txt").write_text(a, encoding="utf-8")
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(b.encode()))
    (tmp_path / "notes.md").write_text("not picked up from a folder")
    base = merge(
        TrainConfig(), dict(inputs=[str(tmp_path)], text=True, context=64, val_fraction=0.25)
    )
    data = build_data(base.resolved())
    assert data.unit == "byte" and data.alphabet == "text" and len(data.train_parts) == 2
    for part, val, whole in zip(data.train_parts, data.val_parts, (a, b), strict=True):
        raw = whole.encode()
        assert part.tobytes() + val.tobytes() == raw
        assert len(val) == round(len(raw) * 0.25)
    # validation tiles every held-out byte; windows are cut at context bytes
    tiles = [bytes(w) for w in data._val_items(data._val_indices(0))]
    assert b"".join(tiles) == b"".join(v.tobytes() for v in data.val_parts)
    assert max(len(t) for t in tiles) == 64
    # a step's batch is the same whatever the processes, and differs between steps
    whole = torch.cat([x.input_ids for x in data.batch(3, 64, 8, grad_accum=2)])
    ranks = [x.input_ids for r in range(2) for x in data.batch(3, 64, 8, rank=r, world_size=2)]
    assert torch.equal(whole, torch.cat(ranks))
    assert torch.equal(whole, build_data(base.resolved()).batch(3, 64, 8)[0].input_ids)
    assert not torch.equal(whole, data.batch(4, 64, 8)[0].input_ids)
    for row in whole:  # windows of the train split only
        window = bytes((row - 5).tolist())
        assert len(window) == 64 and any(window in p.tobytes() for p in data.train_parts), window
    # a reversed run reads the same windows right to left
    rev = build_data(merge(base, {"direction": "reverse"}).resolved())
    assert torch.equal(rev.batch(3, 64, 8)[0].input_ids, whole.flip(1))


def test_text_input_errors(tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café".encode("latin-1"))
    short = tmp_path / "short.txt"
    short.write_text("too short\n")
    cases = [
        (("--text", latin1), "latin1.txt: not UTF-8 text (byte 3 is 0xe9)"),
        (("--text", short), "context 64 (64 bytes) is longer than the train split"),
        (("--text", "--rc-augment"), "rc_augment does not apply to text"),
        (("--text", "--tokenizer", "kmer"), "tokenizer 'kmer' does not read text"),
        ((short,), "to train on plain text pass --text"),
    ]
    for args, expected in cases:
        result = run_cli("pretrain", *args, "--context", "64", "--out", tmp_path / "run")
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (expected, result.output)
    assert not (tmp_path / "run").exists()


# -- end to end: pretrain --text, load, probe ---------------------------------------------------


def test_cli_text_pretrain_loads_and_probes_in_digit_form(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("text: true\nmodel: transformer\n")
    run = tmp_path / "run"
    result = run_cli("pretrain", "--config", config, "--out", run, "--steps", "4", *TINY_FLAGS)
    assert result.exit_code == 0, result.output
    # the bundled corpus: the book, the numeral-rich Factbook excerpt, the table of decimals
    assert "alice_in_wonderland.txt.gz" in result.output
    assert "world_factbook_1992.txt.gz" in result.output
    assert "circulating_decimals.txt.gz" in result.output
    assert "bits/byte" in result.output and "bits/base" not in result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["final"] and rows[-1]["val_bits_per_base"] is not None
    # order-4 bytes of the last tenths of the three files (2.94: the table's long periods, such
    # as 1/97's 96 digits, are new to a 4-byte context; the book and Factbook alone: 2.10)
    assert 2.85 < rows[-1]["markov_bits_per_base"] < 3.0
    saved = json.loads((run / "final" / "config.json").read_text())
    assert saved["alphabet"] == "text" and saved["vocab_size"] == 261
    model = AutoModelForCausalLM.from_pretrained(run / "final")
    tokenizer = AutoTokenizer.from_pretrained(run / "final")
    assert type(tokenizer) is ByteTokenizer
    ids = torch.tensor([tokenizer.encode("Alice 0123", add_special_tokens=False)])
    assert model(ids).logits.shape == (1, 10, 261)
    # the ICL adapter reads digits with the text model's tokenizer (a DNA model's cannot)
    adapter = CausalLMAdapter.from_path(run, name="text")
    assert adapter.encodes("0123456789") and adapter.encodes("ACGT")
    dna = CausalLMAdapter(model, CharTokenizer("dna"))
    assert not dna.encodes("0123456789")
    [row] = run_bitstring(adapter, load_functions()[:1], shots=(2,), trials=1, form="linguistic")
    symbols = Symbols(row["zero"], row["one"], row["sep"])
    assert row["form"] == "linguistic"
    assert {symbols.zero, symbols.one, symbols.sep} <= set("0123456789")
    assert len(row["completion"]) >= 8 and row["answer"] == symbols.parse(row["completion"])
    # and `bioseq probe --form both` runs the text model in both forms
    out = tmp_path / "probe"
    probe = run_cli(
        "probe",
        "--model",
        run,
        "--functions",
        "1",
        "--shots",
        "1",
        "--trials",
        "1",
        "--bootstrap",
        "10",
        "--threads",
        "1",
        "--out",
        out,
    )
    assert probe.exit_code == 0, probe.output
    assert {r["form"] for r in read_results(out / "results.csv")} == {"genomic", "linguistic"}
