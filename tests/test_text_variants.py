"""Text variants (issue 18): make-text-variants labels, score-text LLRs against direct
full-sequence computations, the byte Markov LM, AUROC against a pairwise count, bad input."""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
from collections import Counter

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.models.markov import ByteMarkovModel
from bioseq.tasks.variants.metrics import bootstrap_auroc
from bioseq.tasks.variants.text import TextSource, TextVariant, read_variant_table
from bioseq.tasks.variants.text_make import make_text_variants
from bioseq.tasks.variants.text_markov import MarkovLM
from bioseq.tasks.variants.text_run import markov_model
from bioseq.tasks.variants.text_score import score_text
from bioseq.tokenizers import ByteTokenizer
from tests.conftest import tiny_model, write_file

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = (
    "The cat sat on the mat. The hat was on the cat, and the rat ran to the mat!\n"
    "A bat sat by the hat; a rat and a cat ran. Then the man had a map, a cap and a can.\n"
) * 3


def independent_vocab(text: str) -> set[str]:
    """Words (runs of ASCII letters; TEXT has no apostrophes) seen twice, lower case."""
    counts = Counter(w.lower() for w in re.findall(r"[A-Za-z]+", text))
    return {w for w, n in counts.items() if n >= 2}


def word_at(text: str, pos: int) -> tuple[int, int]:
    start, end = pos, pos + 1
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    while end < len(text) and text[end].isalpha():
        end += 1
    return start, end


def test_labels_match_an_independent_word_list_and_classes_are_balanced():
    vocab = independent_vocab(TEXT)
    letters = sorted({c for c in TEXT if c.isalpha()})
    # brute force: every same-case letter substitution that makes a word of the text
    making = 0
    for pos, ch in enumerate(TEXT):
        if not ch.isalpha():
            continue
        s, e = word_at(TEXT, pos)
        for alt in letters:
            if alt != ch and alt.isupper() == ch.isupper():
                making += (TEXT[s:pos] + alt + TEXT[pos + 1 : e]).lower() in vocab
    rows = make_text_variants(TEXT, n=10_000, seed=1, region="all")
    counts = Counter(r["label"] for r in rows)
    assert counts["word"] == making > 0
    assert counts["nonword"] > making  # all of them: far more
    for r in rows:
        pos, ref, alt = r["pos"], r["ref"], r["alt"]
        assert TEXT[pos : pos + len(ref)] == ref
        if r["label"] in ("word", "nonword"):
            s, e = word_at(TEXT, pos)
            edited = (TEXT[s:pos] + alt + TEXT[pos + 1 : e]).lower()
            assert r["label"] == ("word" if edited in vocab else "nonword"), r
            assert ref.isalpha() and alt.isalpha() and ref.isupper() == alt.isupper()
        elif r["label"] == "space":
            assert ref.isspace() and not alt.isspace()
        else:
            assert not ref.isalpha() and not ref.isspace() and not alt.isalpha()
    few = make_text_variants(TEXT, n=5, seed=1, region="all")
    assert Counter(r["label"] for r in few) == {"word": 5, "nonword": 5, "space": 5, "punct": 5}
    assert few == make_text_variants(TEXT, n=5, seed=1, region="all")  # seeded
    tail = make_text_variants(TEXT, n=50, region="last-tenth")
    assert min(r["pos"] for r in tail) >= int(len(TEXT) * 0.9) - 1


def test_indels_are_vcf_style_and_labelled_by_the_edited_word():
    vocab = independent_vocab(TEXT)
    rows = [
        r
        for r in make_text_variants(TEXT, 200, 0, "all", indels=True)
        if r["kind"] != "substitution"
    ]
    assert {r["kind"] for r in rows} == {"deletion", "insertion"}
    for r in rows:
        pos, ref, alt = r["pos"], r["ref"], r["alt"]
        assert TEXT[pos : pos + len(ref)] == ref and ref[0] == alt[0]
        edited = TEXT[:pos] + alt + TEXT[pos + len(ref) :]
        if r["label"] in ("word", "nonword"):
            changed = pos + 1  # the deleted letter's or inserted letter's place
            s, e = word_at(edited, min(changed, len(edited) - 1))
            if not edited[min(changed, len(edited) - 1)].isalpha():  # deleted the last letter
                s, e = word_at(edited, changed - 1)
            assert r["label"] == ("word" if edited[s:e].lower() in vocab else "nonword"), r


def window_ll(model, tok, text: str) -> float:
    """Summed log-likelihood of tokens 1..n-1 of ``text`` (no BOS), one full forward pass."""
    ids = torch.from_numpy(tok.encode_array(text))[None]
    with torch.no_grad():
        logp = model(ids).logits[0, :-1].float().log_softmax(-1)
    return float(logp.gather(-1, ids[0, 1:, None]).sum())


def text_model(family: str, vocab_size: int):
    if family == "gpt2":  # a Hugging Face causal LM, not a bioseq one
        from transformers import GPT2Config, GPT2LMHeadModel

        torch.manual_seed(0)
        config = GPT2Config(vocab_size=vocab_size, n_embd=16, n_layer=2, n_head=2, n_positions=64,
                            bos_token_id=0, eos_token_id=0)  # fmt: skip
        return GPT2LMHeadModel(config).eval()
    if family == "striped-hyena":  # Evo 2's layout (7 blocks), narrowed
        small = dict(d_model=32, hcl_filter_groups=32, inner_mlp_size=64)
        return tiny_model(family, vocab_size, seed=0, **small).eval()
    return tiny_model(family, vocab_size, seed=0, d_model=16, n_layer=2).eval()


@pytest.mark.parametrize("family", ["mamba", "hyena", "transformer", "striped-hyena", "gpt2"])
def test_llr_equals_a_direct_full_sequence_computation(family):
    tok = ByteTokenizer()
    model = text_model(family, len(tok))
    text = TEXT
    edits = [(10, "x"), (40, "o"), (3, "z"), (len(text) - 1, "?"), (60, "Q")]
    rows_in = [(pos, text[pos], alt) for pos, alt in edits]
    rows_in.append((1, text[1:3], text[1]))  # a deletion, VCF-style
    rows = [TextVariant(i + 2, pos, ref, alt) for i, (pos, ref, alt) in enumerate(rows_in)]
    window = 24
    scores = score_text(model, tok, TextSource(text), rows, window=window, batch_size=3)
    for (pos, ref, alt), s in zip(rows_in, scores, strict=True):
        assert s.status == "ok" and s.pos == pos
        if len(ref) == len(alt):  # centred on the edit, then clipped at the text's ends
            start, end = max(pos - window // 2, 0), min(pos - window // 2 + window, len(text))
        else:  # indel: equal flanks of (window - len(ref)) // 2
            flank = (window - len(ref)) // 2
            start, end = max(pos - flank, 0), min(pos + len(ref) + flank, len(text))
        ref_window = text[start:end]
        alt_window = text[start:pos] + alt + text[pos + len(ref) : end]
        expected = window_ll(model, tok, alt_window) - window_ll(model, tok, ref_window)
        assert s.score == pytest.approx(expected, abs=1e-3)  # float32 sums of ~130 nats


def test_multi_character_tokens_are_scored_over_the_whole_window():
    """A Hugging Face causal LM whose BPE tokens hold several characters: an edit changes how
    the words around it split, and the score is still the full ALT window's log-likelihood
    minus the REF window's, each tokenized as a whole."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator([TEXT] * 3, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=backend)
    model = text_model("gpt2", len(tok))
    edits = [(10, "x"), (40, "o"), (33, " "), (61, "Q")]
    rows = [TextVariant(i + 2, pos, TEXT[pos], alt) for i, (pos, alt) in enumerate(edits)]
    window = 40
    scores = score_text(model, tok, TextSource(TEXT), rows, window=window, batch_size=2)

    def ll(text: str) -> float:
        ids = torch.tensor(tok(text, add_special_tokens=False)["input_ids"])[None]
        with torch.no_grad():
            logp = model(ids).logits[0, :-1].float().log_softmax(-1)
        return float(logp.gather(-1, ids[0, 1:, None]).sum())

    merged = 0
    for (pos, alt), s in zip(edits, scores, strict=True):
        start, end = max(pos - window // 2, 0), pos - window // 2 + window
        ref_window = TEXT[start:end]
        alt_window = TEXT[start:pos] + alt + TEXT[pos + 1 : end]
        assert s.status == "ok"
        assert s.score == pytest.approx(ll(alt_window) - ll(ref_window), abs=1e-3)
        merged += len(tok(ref_window)["input_ids"]) < len(ref_window)
    assert merged == len(edits)  # the windows really hold multi-character tokens


def test_markov_lm_matches_the_reference_byte_markov_model():
    data = np.frombuffer((TEXT * 4).encode(), dtype=np.uint8)
    train, held = data[:900], data[900:1300]
    reference = ByteMarkovModel(order=3).fit([train])
    lm = MarkovLM(reference, ByteTokenizer())
    probs = lm.next_byte_probs(held)
    assert np.allclose(probs.sum(1), 1.0)
    # bits per byte over the positions with a full context, as the reference scores them
    bits = -np.log2(probs[np.arange(len(held) - 1), held[1:]])[2:].mean()
    assert bits == pytest.approx(reference.bits_per_symbol([held]), rel=1e-9)
    # and it scores through the shared core like any causal LM
    tok = ByteTokenizer()
    [s] = score_text(lm, tok, TextSource(TEXT), [TextVariant(2, 20, TEXT[20], "q")], window=16)
    start = 20 - 8
    ref_w, alt_w = TEXT[start : start + 16], TEXT[start:20] + "q" + TEXT[21 : start + 16]
    direct = window_ll(lm, tok, alt_w) - window_ll(lm, tok, ref_w)
    assert s.score == pytest.approx(direct, abs=1e-4)


def test_add_one_markov_lm_matches_counts_made_here():
    """``markov:K:add-one``: ``(n(c s) + 1) / (n(c) + 256)`` from the longest context there is,
    counted here with a dict over random bytes drawn from a few letters."""
    rng = np.random.default_rng(1)
    order = 3
    train = rng.choice(np.frombuffer(b"abcde ", np.uint8), size=3000)
    held = rng.choice(np.frombuffer(b"abcdefg ", np.uint8), size=200)
    grams, contexts = Counter(), Counter()
    for j in range(order + 1):  # every order, for the positions near the start
        for t in range(j, len(train)):
            grams[bytes(train[t - j : t + 1])] += 1
            contexts[bytes(train[t - j : t])] += 1
    lm = MarkovLM.fit([train], order, smoothing="add-one")
    probs = lm.next_byte_probs(held)
    for t in range(len(held) - 1):
        context = bytes(held[max(0, t + 1 - order) : t + 1])
        for nxt in (held[t + 1], ord("z")):
            expected = (grams[context + bytes([nxt])] + 1) / (contexts[context] + 256)
            assert probs[t, nxt] == pytest.approx(expected, rel=1e-12)
    assert np.allclose(probs.sum(1), 1.0)
    # the witten-bell model of the same counts backs off instead: an unseen byte is rarer
    witten_bell = MarkovLM.fit([train], order).next_byte_probs(held)
    assert (witten_bell[:, ord("z")] < probs[:, ord("z")]).all()


@pytest.mark.parametrize(
    "spec, parsed",
    [("markov:4", (4, "witten-bell")), ("markov:2:add-one", (2, "add-one")), ("runs/x", None)],
)
def test_markov_specs(spec, parsed):
    from bioseq.tasks.variants.text_markov import parse_markov

    assert parse_markov(spec) == parsed


@pytest.mark.parametrize("spec", ["markov:7", "markov:x", "markov:4:laplace", "markov:"])
def test_a_bad_markov_spec_is_one_line(files, spec):
    tmp, text, variants = files
    result = run("score-text", "--model", spec, "--text", text, "--variants", variants,
                 "--out", tmp / "s.tsv")  # fmt: skip
    assert result.exit_code == 2 and f"--model {spec}: expected markov:K" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp / "s.tsv").exists()


def test_score_text_scores_an_add_one_markov_model(files):
    """``markov:2:add-one`` through the CLI gives the ratio of the add-one model's windows."""
    tmp, text, variants = files
    out = tmp / "s.tsv"
    result = run("score-text", "--model", "markov:2:add-one", "--train-text", text, "--text",
                 text, "--variants", variants, "--out", out, "--window", 16,
                 "--markov-holdout", 0, "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        score = {r["id"]: float(r["score"]) for r in csv.DictReader(handle, delimiter="\t")
                 if r["status"] == "ok"}  # fmt: skip
    data = np.frombuffer(TEXT.encode(), dtype=np.uint8)
    lm, tok = MarkovLM.fit([data], 2, smoothing="add-one"), ByteTokenizer()
    pos, window = 4, 16  # row "a": c -> h; the centred window clipped at the text's start
    start, end = max(pos - window // 2, 0), pos - window // 2 + window
    ref_w, alt_w = TEXT[start:end], TEXT[start:pos] + "h" + TEXT[pos + 1 : end]
    direct = window_ll(lm, tok, alt_w) - window_ll(lm, tok, ref_w)
    assert score["a"] == pytest.approx(direct, abs=1e-4)


def test_markov_model_fits_every_training_file_less_its_held_out_tenth(tmp_path):
    """``markov_model`` on several files learns each file's training part and none of its
    held-out tenth, as ``pretrain --text`` splits them."""
    book = write_file(tmp_path, "book.txt", TEXT)
    table = "".join(f"{i} = qz qz qz\n" for i in range(60)) + "xj xj xj xj xj xj xj\n"
    other = write_file(tmp_path, "table.txt", table)
    assert table.index("xj") > len(table) * 0.9  # "xj" only in the held-out tenth

    def prob(model, context: str, nxt: str) -> float:  # P(next byte | context), raw bytes
        data = np.frombuffer(context.encode(), dtype=np.uint8)
        return float(model.model.next_byte_probs(data)[-1, ord(nxt)])

    both, alone = markov_model(2, [book, other]), markov_model(2, book)
    assert prob(both, " q", "z") > 0.9 > 0.1 > prob(alone, " q", "z")
    assert prob(both, " x", "j") < 0.1 and prob(alone, " x", "j") < 0.1


def test_auroc_against_a_pairwise_count():
    rng = np.random.default_rng(0)
    pos = rng.normal(1, 1, 40).round(1)  # rounded: ties count half
    neg = rng.normal(0, 1, 60).round(1)
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    value, low, high = bootstrap_auroc(pos, neg, n_boot=300)
    assert value == pytest.approx(sum(pairs) / len(pairs))
    assert low < value < high


@pytest.fixture
def files(tmp_path):
    text = write_file(tmp_path, "book.txt", TEXT)
    rows = [
        "id\tpos\tref\talt\tkind\tlabel",
        "a\t4\tc\th\tsubstitution\tword",  # cat -> hat
        "b\t4\tc\tx\tsubstitution\tnonword",
        f"c\t{len(TEXT) + 5}\ta\tb\tsubstitution\tnonword",  # outside the text
        "d\t5\tz\tb\tsubstitution\tnonword",  # the text has "a" there
        "e\tfive\ta\tb\tsubstitution\tnonword",
        "f\t3\t\\n\tx\tsubstitution\tspace",  # escaped REF that does not match (" ")
        "g\t8\ts\tm\tsubstitution\tword",  # sat -> mat
    ]
    variants = write_file(tmp_path, "v.tsv", "\n".join(rows) + "\n")
    return tmp_path, text, variants


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def test_score_text_cli_keeps_going_past_bad_rows(files):
    tmp, text, variants = files
    out = tmp / "s.tsv"
    result = run("score-text", "--model", "markov:2", "--train-text", text, "--text", text,
                 "--variants", variants, "--out", out, "--window", 16, "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        table = list(csv.DictReader(handle, delimiter="\t"))
    status = {r["id"]: r["status"] for r in table}
    assert status == {
        "a": "ok", "b": "ok", "c": "outside_text", "d": "ref_mismatch",
        "e": "malformed_row", "f": "ref_mismatch", "g": "ok",
    }  # fmt: skip
    assert {r["id"]: r["score"] for r in table}["c"] == "NA"
    metrics = json.loads((tmp / "s.metrics.json").read_text())
    assert metrics["n_word"] == 2 and metrics["n_nonword"] == 1 and metrics["n_ref_mismatch"] == 2
    scores = {r["id"]: float(r["score"]) for r in table if r["status"] == "ok"}
    pairs = [(w > n) + 0.5 * (w == n) for w in (scores["a"], scores["g"]) for n in [scores["b"]]]
    assert metrics["auroc_word_vs_nonword"] == pytest.approx(sum(pairs) / 2, abs=1e-4)
    assert (tmp / "s.classes.png").stat().st_size > 0
    assert "outside_text" in result.output
    assert re.search(r"AUROC word vs nonword \d\.\d{3} \[", result.output), result.output


@pytest.mark.parametrize(
    "content, expected",
    [
        ("id\tpos\tref\talt\n", "no variant rows"),
        ("", "empty table"),
        ("id\tposition\tref\n1\t2\ta\n", "no pos, alt column"),
    ],
)
def test_score_text_refuses_an_empty_or_headless_table_in_one_line(files, content, expected):
    tmp, text, _ = files
    variants = write_file(tmp, "bad.tsv", content)
    result = run("score-text", "--model", "markov:2", "--train-text", text, "--text", text,
                 "--variants", variants, "--out", tmp / "s.tsv")  # fmt: skip
    assert result.exit_code == 2 and expected in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_non_utf8_text_is_one_line(files):
    tmp, _, variants = files
    bad = write_file(tmp, "latin1.txt.gz", gzip.compress("café au lait".encode("latin-1")))
    for args in (
        ["make-text-variants", bad, "--out", tmp / "v2.tsv"],
        ["score-text", "--model", "markov:2", "--text", bad, "--variants", variants,
         "--out", tmp / "s.tsv"],
    ):  # fmt: skip
        result = run(*args)
        assert result.exit_code == 2 and "not UTF-8 text (byte 3 is 0xe9)" in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_a_dna_model_is_refused(files, tmp_path):
    from bioseq.tokenizers import CharTokenizer

    tok = CharTokenizer("dna")
    tiny_model("mamba", tok.vocab_size, seed=0, d_model=16, n_layer=1).save_pretrained(
        tmp_path / "m"
    )
    tok.save_pretrained(tmp_path / "m")
    _, text, variants = files
    result = run("score-text", "--model", tmp_path / "m", "--text", text, "--variants", variants,
                 "--out", tmp_path / "s.tsv", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 2 and "reads dna, not this text" in result.output


def test_make_text_variants_cli_writes_a_table_score_text_reads(files):
    tmp, text, _ = files
    out = tmp / "made.tsv"
    result = run("make-text-variants", text, "--out", out, "--n", 4, "--region", "all")
    assert result.exit_code == 0, result.output
    header, rows = read_variant_table(out)
    assert header[:4] == ["id", "pos", "ref", "alt"] and len(rows) == 16
    assert all(TEXT[r.pos : r.pos + len(r.ref)] == r.ref for r in rows)  # escapes undone


def test_make_text_variants_says_when_there_is_nothing_to_edit(tmp_path):
    text = write_file(tmp_path, "short.txt", "a cat.")  # its last tenth: "."
    out = tmp_path / "made.tsv"
    result = run("make-text-variants", text, "--out", out)
    assert result.exit_code == 2 and not out.exists()
    [line] = result.output.strip().splitlines()
    assert "short.txt: nothing to edit in its last tenth (no letter, space or punct" in line
    assert "--region all" in line
    assert run("make-text-variants", text, "--out", out, "--region", "all").exit_code == 0


def test_compare_variants_puts_both_forms_side_by_side(tmp_path):
    vcf = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=c1,length=100>",
        '##INFO=<ID=BIOSEQ_EFFECT,Number=1,Type=String,Description="effect">',
        '##INFO=<ID=BIOSEQ_LLR,Number=A,Type=Float,Description="score">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    dna = {"synonymous": [0.1, -0.2, 0.3], "nonsynonymous": [-0.5, 0.2, -0.1, -0.3]}
    pos = 1
    for effect, values in dna.items():
        for value in values:
            vcf.append(f"c1\t{pos}\t.\tA\tC\t.\t.\tBIOSEQ_EFFECT={effect};BIOSEQ_LLR={value}")
            pos += 1
    dna_path = write_file(tmp_path, "dna.vcf", "\n".join(vcf) + "\n")
    text = {"word": [1.0, 2.0], "nonword": [0.5, 3.0, -1.0]}
    lines = ["id\tlabel\tscore\tstatus"] + [
        f"{i}\t{label}\t{v}\tok" for label, vs in text.items() for i, v in enumerate(vs)
    ]
    lines.append("x\tnonword\tNA\tref_mismatch")
    text_path = write_file(tmp_path, "text.tsv", "\n".join(lines) + "\n")
    out = tmp_path / "cmp.tsv"
    result = run("compare-variants", "--dna", f"m={dna_path}", "--text", f"m={text_path}",
                 "--out", out, "--n-boot", 50)  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        table = {r["form"]: r for r in csv.DictReader(handle, delimiter="\t")}

    def pairwise(p, n):
        return sum((a > b) + 0.5 * (a == b) for a in p for b in n) / (len(p) * len(n))

    genomic = pairwise(dna["synonymous"], dna["nonsynonymous"])
    linguistic = pairwise(text["word"], text["nonword"])
    assert float(table["genomic"]["auroc"]) == pytest.approx(genomic, abs=1e-4)
    assert float(table["linguistic"]["auroc"]) == pytest.approx(linguistic, abs=1e-4)
    assert table["linguistic"]["n_negative"] == "3"
    md = (tmp_path / "cmp.md").read_text()
    assert md.count("| m |") == 1 and f"{genomic:.4f}" in md and f"{linguistic:.4f}" in md
    assert (tmp_path / "cmp.png").stat().st_size > 0
    assert not math.isnan(genomic)


def test_compare_variants_with_one_class_warns_in_one_line_and_still_plots(tmp_path):
    import warnings

    from bioseq.tasks.variants.text_compare import compare_variants

    scores = write_file(tmp_path, "one.tsv", "id\tlabel\tscore\tstatus\n1\tnonword\t-1\tok\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing from matplotlib (an empty legend) either
        done = compare_variants([], [("m", str(scores))], tmp_path / "cmp.tsv", n_boot=10)
    assert done.report.warnings() == ["no AUROC without both classes: m (linguistic)"]
    assert "| m | - | NA [NA, NA] (0 / 1) |" in (tmp_path / "cmp.md").read_text()
    assert (tmp_path / "cmp.png").stat().st_size > 0
