"""In-context learning probes (issue 6): primitives, prompts, baselines, adapters, statistics."""

import json
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import bioseq.models  # noqa: F401
from bioseq.cli.main import main
from bioseq.errors import InputError
from bioseq.models import HyenaConfig, HyenaLM, TransformerConfig, TransformerLM
from bioseq.tasks.icl import (
    FORMS,
    CausalLMAdapter,
    Program,
    Symbols,
    bitload,
    cluster_bootstrap,
    cluster_bootstrap_se,
    load_functions,
    load_reference,
    log2_fit,
    make_trial,
    mqar,
    render_prompt,
    repeat_copy,
    run_bitstring,
    select_functions,
    summarize,
)
from bioseq.tasks.icl.evaluate import iter_trials, read_results
from bioseq.tasks.icl.primitives import PRIMITIVES, bits_to_str, str_to_bits
from bioseq.tasks.icl.recall import label_icl
from bioseq.tasks.icl.suite import DEFAULT_SHOTS
from bioseq.tokenizers import CharTokenizer
from tests.conftest import SHARED_DATA, require

FUNCTIONS = load_functions()
SHARED_FUNCTIONS = SHARED_DATA / "icl" / "functions.tsv"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run faster on one thread, and much faster when other jobs share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class FakeAdapter:
    """A "model" that reads only the prompt text; subclasses define ``answer``."""

    name, max_length = "fake", None

    def encodes(self, alphabet: str) -> bool:
        return True

    def count_tokens(self, text: str) -> int:
        return len(text)

    def complete(self, prompts, n_symbols=8):
        return [self.answer(p) for p in prompts]


class ModeModel(FakeAdapter):
    """Answers with the most frequent demonstration output (ties at random)."""

    name = "mode"

    def __init__(self, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)

    def answer(self, prompt: str) -> str:
        sep = prompt[16]  # x (8 symbols), f(x) (8 symbols), separator
        counts = Counter(demo[8:] for demo in prompt.split(sep)[:-1])
        best = max(counts.values())
        return str(self.rng.choice(sorted(o for o, c in counts.items() if c == best)))


class IdentityModel(FakeAdapter):
    name = "identity"

    def answer(self, prompt: str) -> str:
        return prompt[-8:]


class OracleModel(FakeAdapter):
    """Knows the function: it draws the same trials and answers f(query) in their symbols."""

    name = "oracle"

    def __init__(self, functions, shots, trials, forms, conditions=("clean",)) -> None:
        self.answers = {
            t.text: t.answer_text
            for n in shots
            for form in forms
            for condition in conditions
            for t in iter_trials(functions, n, trials, form, 0, condition)
        }

    def answer(self, prompt: str) -> str:
        return self.answers[prompt]


# --------------------------------------------------------------------------- primitives
def test_thirty_primitives_and_hundred_functions():
    assert len(PRIMITIVES) == 30
    assert len(FUNCTIONS) == 100 and [f.id for f in FUNCTIONS] == list(range(1, 101))
    used = {step for f in FUNCTIONS for step in f.program.steps}
    assert used == set(PRIMITIVES)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f"{f.id}:{f.name}")
def test_bitload_reproduced(function):
    assert bitload(function.program) == function.bitload


@require(SHARED_FUNCTIONS)
def test_bundled_functions_match_shared_data():
    bundled = load_functions()
    shared = load_functions(SHARED_FUNCTIONS)
    assert [(f.id, f.name, f.bitload) for f in bundled] == [
        (f.id, f.name, f.bitload) for f in shared
    ]


@pytest.mark.parametrize(
    "program, x, expected",
    [
        ("xor_with_s0", "10110010", "00000000"),
        ("flip_bits > xor_with_s0", "10110010", "11111111"),
        ("invert_prefix", "10110010", "01000010"),
        ("invert_suffix", "10110010", "10111101"),
        ("rotl1", "10110010", "01100101"),
        ("rotr1", "10110010", "01011001"),
        ("double_rotl", "10110010", "11001010"),
        ("double_rotr", "10110010", "10101100"),
        ("shift_left_zero", "10110011", "01100110"),
        ("shift_right_zero", "10110011", "01011001"),
        ("swap_halves", "10110010", "00101011"),
        ("swap_pairs", "10110010", "01110001"),
        ("mirror_half", "10110010", "10111101"),
        ("left_half", "10110111", "10110000"),
        ("right_half", "10110111", "00000111"),
        ("keep_even_positions", "11111111", "10101010"),
        ("keep_odd_positions", "11111111", "01010101"),
        ("edge_mask", "11111111", "10000001"),
        ("center_mask", "11111111", "01111110"),
        ("spread_first_bit", "10000000", "11111111"),
        ("spread_last_bit", "10000000", "00000000"),
        ("alternating_start_one", "00000000", "10101010"),
        ("alternating_start_zero", "00000000", "01010101"),
        ("ones_if_palindrome", "10011001", "11111111"),
        ("ones_if_palindrome", "10011000", "00000000"),
        ("majority", "11110000", "11111111"),  # ones >= zeros
        ("minority", "11110000", "00000000"),  # ones only if zeros > ones
        ("minority", "11100000", "11111111"),
        ("parity_fill", "11100000", "11111111"),
        ("parity_fill", "11000000", "00000000"),
    ],
)
def test_primitive_examples(program, x, expected):
    assert bits_to_str(Program.parse(program)(str_to_bits(x))) == expected


def test_unknown_primitive_is_an_input_error():
    with pytest.raises(InputError, match="unknown primitive"):
        Program.parse("identity > rotate_everything")


# --------------------------------------------------------------------------- prompts
def test_prompt_matches_the_specification_example_literally():
    symbols = Symbols(zero="A", one="T", sep="G")
    inputs = ["0001", "0100", "1110", "0101"]
    reverse = Program.parse("reverse_bits")
    outputs = [bits_to_str(reverse(str_to_bits(x))) for x in inputs]
    text = render_prompt(inputs, outputs, "0011", symbols)
    assert text == "AAATTAAAGATAAAATAGTTTAATTTGATATTATAGAATT"
    assert symbols.render(reverse(str_to_bits("0011"))) == "TTAA"


@pytest.mark.parametrize("form", list(FORMS))
def test_generated_prompt_has_the_specified_form(form):
    function = FUNCTIONS[2]  # reverse_bits
    trial = make_trial(function, shots=5, trial=3, form=form, seed=7)
    s = trial.symbols
    assert {s.zero, s.one, s.sep} <= set(FORMS[form]) and len({s.zero, s.one, s.sep}) == 3
    expected = ""
    for x in trial.inputs:
        y = function.program(x)
        expected += s.render(x) + s.render(y) + s.sep
    expected += s.render(trial.query)
    assert trial.text == expected  # x f(x) SEP ... x f(x) SEP query, nothing after the query
    assert trial.answer_text == s.render(function.program(trial.query))
    inputs = {bits_to_str(x) for x in [*trial.inputs, trial.query]}
    assert len(inputs) == 6  # n + 1 distinct inputs


def test_128_shot_prompt_is_about_2200_symbols_and_mapping_redrawn():
    trials = [make_trial(FUNCTIONS[0], 128, t, "genomic") for t in range(20)]
    assert {len(t.text) for t in trials} == {128 * 17 + 8}
    assert len({(t.symbols.zero, t.symbols.one, t.symbols.sep) for t in trials}) > 5
    digits = make_trial(FUNCTIONS[0], 128, 0, "linguistic")
    assert set(digits.text) <= set("0123456789") and len(set(digits.text)) == 3
    # forms share inputs and query; seeds change them
    assert (digits.query == trials[0].query).all()
    assert not (make_trial(FUNCTIONS[0], 128, 0, seed=1).inputs == trials[0].inputs).all()


def test_meta_constant_is_drawn_per_prompt():
    meta = next(f for f in FUNCTIONS if f.name == "meta_constant")
    trials = [make_trial(meta, 4, t) for t in range(12)]
    for t in trials:
        assert (t.outputs == t.target).all()  # one constant within a prompt
    assert len({bits_to_str(t.target) for t in trials}) > 6


def test_deranged_control_permutes_outputs_and_keeps_the_answer():
    function = FUNCTIONS[3]  # flip_bits
    clean = make_trial(function, 16, 2)
    deranged = make_trial(function, 16, 2, condition="deranged")
    assert (clean.inputs == deranged.inputs).all() and (clean.target == deranged.target).all()
    key = [bits_to_str(o) for o in clean.outputs]
    shown = [bits_to_str(o) for o in deranged.outputs]
    assert sorted(key) == sorted(shown)
    assert all(a != b for a, b in zip(key, shown, strict=True))  # no fixed point
    assert deranged.text != clean.text and deranged.score(clean.answer_text)


def test_parsing_rule():
    symbols = Symbols("C", "G", "A")
    assert symbols.parse("GGCCGGCCAAAA") == "11001100"
    assert symbols.parse("GGC[SEP]GG") == "110"
    assert symbols.parse(" GGCC") == ""
    trial = make_trial(FUNCTIONS[0], 2, 0)
    assert trial.score(trial.answer_text + "TTTT")
    assert not trial.score(trial.answer_text[:7])


# --------------------------------------------------------------------------- baselines and models
def test_oracle_scores_100_percent_in_both_forms_and_conditions():
    shots = (1, 8, 128)
    forms, conditions = ("genomic", "linguistic"), ("clean", "deranged")
    oracle = OracleModel(FUNCTIONS, shots, 2, forms, conditions)
    rows = []
    for form in forms:
        for condition in conditions:
            rows += run_bitstring(oracle, FUNCTIONS, shots, 2, form, 0, condition)
    assert len(rows) == 100 * 3 * 2 * 4 and all(r["correct"] == 1 for r in rows)
    summary = summarize(rows, n_boot=200)
    for run in summary["runs"]:
        assert run["accuracy"] == [1.0, 1.0, 1.0]
        assert all(p < 1e-6 for p in run["p_vs_mode"])


@pytest.fixture(scope="module")
def mode_summary():
    rows = run_bitstring(ModeModel(), FUNCTIONS, DEFAULT_SHOTS, trials=8)
    rows += run_bitstring(IdentityModel(), FUNCTIONS, DEFAULT_SHOTS, trials=8)
    return summarize(rows, n_boot=300)


@pytest.mark.slow
def test_mode_model_reproduces_the_mode_baseline(mode_summary):
    run = next(r for r in mode_summary["runs"] if r["model"] == "mode")
    for acc, se, base, p in zip(
        run["accuracy"], run["se"], run["mode_baseline"], run["p_vs_mode"], strict=True
    ):
        assert 0.14 < base < 0.24  # "about 19% at every n"
        assert abs(acc - 0.19) < 2.5 * se
        assert abs(acc - base) < 0.03  # only tie-breaking differs
        assert p > 0.01  # never significantly above its own baseline


@pytest.mark.slow
def test_identity_answer_scores_about_4_percent(mode_summary):
    run = next(r for r in mode_summary["runs"] if r["model"] == "identity")
    assert run["accuracy"] == run["identity_baseline"]
    assert 0.025 < np.mean(run["accuracy"]) < 0.055
    for acc, se in zip(run["accuracy"], run["se"], strict=True):
        assert abs(acc - 0.04) < 3 * se
    assert run["by_bitload"]["0"] == [0.0] * 8  # constants never equal a random query


# --------------------------------------------------------------------------- statistics
def test_log2_fit_recovers_a_known_slope():
    shots = np.array(DEFAULT_SHOTS)
    rng = np.random.default_rng(0)
    acc = 0.12 + 0.03 * np.log2(shots) + rng.normal(0, 0.005, shots.size)
    fit = log2_fit(shots, acc)
    assert fit.slope == pytest.approx(0.03, abs=0.003)
    assert fit.intercept == pytest.approx(0.12, abs=0.01)
    assert fit.p_value < 1e-5 and fit.r_squared > 0.95
    flat = log2_fit(shots, 0.2 + rng.normal(0, 0.01, shots.size))
    assert flat.p_value > 0.01
    assert log2_fit(shots, 0.4 - 0.02 * np.log2(shots)).p_value > 0.99
    paper = load_reference()
    slopes = {m: log2_fit(shots, [paper[m][n] for n in shots]).slope for m in paper}
    assert slopes["Evo2-40B"] == pytest.approx(0.038, abs=0.001)
    assert slopes["Qwen3-0.6B"] == pytest.approx(0.011, abs=0.001)


def test_cluster_bootstrap_standard_error():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 100)  # heterogeneous functions, many trials: SE ~ sd(p) / sqrt(100)
    scores = (rng.random((100, 400)) < p[:, None]).astype(float)
    se = cluster_bootstrap_se(scores, 1000, seed=0)
    assert se == pytest.approx(scores.mean(1).std(ddof=1) / 10, rel=0.15)
    assert se == cluster_bootstrap_se(scores, 1000, seed=0)  # reproducible
    homogeneous = (rng.random((100, 8)) < 0.3).astype(float)
    naive = np.sqrt(0.3 * 0.7 / 800)
    assert naive < cluster_bootstrap_se(homogeneous) < 1.7 * naive  # two-stage: up to ~sqrt(2)
    ragged = scores[:, :8].copy()
    ragged[0, 2:] = np.nan
    assert np.isfinite(cluster_bootstrap_se(ragged))
    assert cluster_bootstrap(np.stack([scores, scores]), 50).shape == (50, 2)


# --------------------------------------------------------------------------- adapters
@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    """A 2-layer GPT-2 with a locally trained byte-level BPE (digits merge into multi-digit
    tokens), saved as a Hugging Face directory. No download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    rng = np.random.default_rng(0)
    corpus = ["".join(rng.choice(list("0123456789ACGT"), 200)) for _ in range(50)]
    trainer = trainers.BpeTrainer(
        vocab_size=330,
        special_tokens=["<unk>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", unk_token="<unk>"
    )
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=2400,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("gpt2") / "tiny-gpt2"
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_hf_adapter_on_tiny_gpt2(tiny_gpt2):
    adapter = CausalLMAdapter.from_path(tiny_gpt2, batch_size=3)
    assert adapter.name == "tiny-gpt2" and adapter.max_length == 2400
    assert adapter.encodes(FORMS["linguistic"]) and adapter.encodes(FORMS["genomic"])
    trial = make_trial(FUNCTIONS[0], 128, 0, "linguistic")
    assert adapter.count_tokens(trial.text) < len(trial.text)  # multi-digit tokens
    prompts = ["0120110201", "01201", "7777777333", "ACGTTGCAACG"]
    batched = adapter.complete(prompts, 8)  # left-padded batch
    assert batched == [adapter.complete([p], 8)[0] for p in prompts]
    assert all(len(c) >= 8 for c in batched)
    rows = run_bitstring(adapter, FUNCTIONS[:2], (1, 128), 2, "linguistic")
    assert len(rows) == 8 and {r["prompt_symbols"] for r in rows} == {25, 2184}


def test_hf_adapter_refuses_prompts_longer_than_the_model(tiny_gpt2, tmp_path):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_gpt2)
    assert config.n_positions == 2400
    adapter = CausalLMAdapter.from_path(tiny_gpt2)
    adapter.max_length = 300
    with pytest.raises(InputError, match="use fewer --shots"):
        run_bitstring(adapter, FUNCTIONS[:1], (1, 128), 1, "genomic")


def _greedy_reference(model, tokenizer, prompt: str, n: int = 8) -> str:
    ids = torch.tensor([tokenizer.encode_array(prompt).tolist()])
    with torch.no_grad():
        for _ in range(n):
            token = model(ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, token], dim=1)
    return tokenizer.decode(ids[0, -n:].tolist(), skip_special_tokens=False)


@pytest.mark.parametrize("kind", ["transformer", "hyena"])
def test_bioseq_adapter_from_a_saved_directory(tmp_path, kind):
    tokenizer = CharTokenizer("dna")
    torch.manual_seed(0)
    if kind == "transformer":
        model = TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=10))
    else:
        model = HyenaLM(HyenaConfig.from_preset("tiny", vocab_size=10, max_seq_len=256))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    adapter = CausalLMAdapter.from_path(tmp_path, batch_size=2)
    assert adapter.encodes("ACGT") and not adapter.encodes("0123456789")
    prompts = [make_trial(f, 4, 0).text for f in FUNCTIONS[:3]]  # equal lengths: KV cache path
    assert adapter.complete(prompts) == [
        _greedy_reference(adapter.model, tokenizer, p) for p in prompts
    ]
    with pytest.raises(InputError, match="cannot encode the linguistic"):
        run_bitstring(adapter, FUNCTIONS[:1], (1,), 1, "linguistic")
    if kind == "hyena":
        with pytest.raises(InputError, match="at most 256"):
            run_bitstring(adapter, FUNCTIONS[:1], (1, 128), 1, "genomic")


def test_hyena_fixed_point_decoding_is_exactly_greedy():
    from bioseq.tasks.icl.adapters import _greedy

    torch.manual_seed(3)
    model = HyenaLM(HyenaConfig.from_preset("tiny", vocab_size=10, max_seq_len=128)).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(20)  # sharper, more varied predictions
    ids = torch.randint(5, 10, (6, 40))
    got = _greedy(model, ids, None, 8)
    expected = ids
    with torch.no_grad():
        for _ in range(8):
            token = model(expected).logits[:, -1].argmax(-1, keepdim=True)
            expected = torch.cat([expected, token], dim=1)
    assert torch.equal(got, expected[:, -8:])
    assert any(len(set(row.tolist())) > 1 for row in got)


def test_bioseq_model_with_a_digit_alphabet_runs_both_forms():
    tokenizer = CharTokenizer("ACGT0123456789")
    model = TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size))
    adapter = CausalLMAdapter(model, tokenizer, name="chars")
    for form in FORMS:
        rows = run_bitstring(adapter, FUNCTIONS[:2], (2,), 2, form)
        assert len(rows) == 4 and all(len(r["completion"]) >= 8 for r in rows)


# --------------------------------------------------------------------------- recall probes
@pytest.mark.slow
def test_repeat_copy_loss_drops_on_the_second_copy_after_training():
    torch.manual_seed(0)
    tokenizer = CharTokenizer("dna")
    model = TransformerLM(TransformerConfig(vocab_size=10, d_model=64, n_layer=2, n_head=4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(200):
        half = torch.randint(5, 9, (32, 16))  # A C G T
        ids = torch.cat([half, half], dim=1)
        loss = model(ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    result = repeat_copy(CausalLMAdapter(model, tokenizer), length=16, n_sequences=16)
    assert result["first_loss"] > 1.2  # random bases: about ln 4
    assert result["second_loss"] < result["first_loss"] - 0.5
    assert len(result["second_per_position"]) == 16


class RecallOracle(FakeAdapter):
    """Reads MQAR prompts exactly (pairs sit at multiples of 2k)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def answer(self, prompt: str) -> str:
        k = self.k
        key = prompt[-k:]
        pairs = {
            prompt[i : i + k]: prompt[i + k : i + 2 * k] for i in range(0, len(prompt) - k, 2 * k)
        }
        return pairs[key]


def test_mqar_prompts_are_aligned_and_scored():
    result = mqar(RecallOracle(3), pairs=(2, 8, 64), trials=2, n_queries=4)
    assert all(c["accuracy"] == [1.0, 1.0, 1.0] for c in result["curves"])
    assert {c["read_twice"] for c in result["curves"]} == {False, True}
    assert result["chance"] == 1 / 64 and result["by_gap"]
    assert mqar(IdentityModel(), pairs=(4,), trials=2)["curves"][0]["accuracy"] == [0.0]


class GCModel(FakeAdapter):
    """Label ICL by GC content: answers the label of the demonstrations closest in GC."""

    def answer(self, prompt: str) -> str:
        n = 33  # sequence of 32 + label
        demos = [prompt[i : i + n] for i in range(0, len(prompt) - 32, n)]
        gc = lambda s: sum(c in "GC" for c in s) / len(s)  # noqa: E731
        query = gc(prompt[-32:])
        return min(demos, key=lambda d: abs(gc(d[:32]) - query))[-1]


def test_label_icl_prompts():
    result = label_icl(GCModel(), shots_per_class=(1, 4), trials=16, seq_len=32)
    assert result["accuracy"][1] > 0.8 and result["chance"] == 0.5


# --------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "dna-tiny"
    torch.manual_seed(0)
    TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=10)).save_pretrained(path)
    CharTokenizer("dna").save_pretrained(path)
    return path


def test_cli_probe_compares_several_models(tiny_dir, tmp_path):
    out = tmp_path / "probe"
    args = [
        "probe",
        "--model",
        tiny_dir,
        "--model",
        tiny_dir,
        "--functions",
        "1-3",
        "--shots",
        "2,1",
        "--trials",
        "2",
        "--deranged",
        "--bootstrap",
        "50",
        "--out",
        out,
    ]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "skipping the linguistic form" in result.stderr
    for name in ("results.csv", "summary.json", "icl.png", "icl_bitload.png"):
        assert (out / name).stat().st_size > 0
    rows = read_results(out / "results.csv")
    assert len(rows) == 2 * 3 * 2 * 2 * 2  # models x functions x shots x trials x conditions
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["model"], r["condition"]) for r in summary["runs"]} == {
        ("dna-tiny", "clean"),
        ("dna-tiny", "deranged"),
        ("dna-tiny-2", "clean"),
        ("dna-tiny-2", "deranged"),
    }
    assert summary["runs"][0]["shots"] == [1, 2] and summary["clean_minus_deranged"]
    assert summarize(rows, n_boot=50)["runs"][0]["accuracy"] == summary["runs"][0]["accuracy"]


@pytest.mark.slow
def test_cli_probe_recall_suite_on_a_run_directory(tiny_dir, tmp_path):
    run = tmp_path / "my-run"
    shutil.copytree(tiny_dir, run / "final")
    out = tmp_path / "recall"
    result = CliRunner().invoke(
        main, ["probe", "--model", str(run), "--suite", "recall", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    recall = json.loads((out / "recall.json").read_text())
    assert set(recall) == {"my-run"} and (out / "recall.png").stat().st_size > 0
    assert set(recall["my-run"]) == {"repeat_copy", "mqar", "label_icl"}
    assert not (out / "results.csv").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--form", "linguistic"], "cannot encode the linguistic symbols"),
        (["--shots", "1,x"], "--shots"),
        (["--shots", "0,4"], "--shots"),
        (["--functions", "200-300"], "no function has an id"),
    ],
)
def test_cli_probe_errors_are_one_line(tiny_dir, tmp_path, extra, message):
    args = ["probe", "--model", str(tiny_dir), "--out", str(tmp_path / "o"), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("bioseq: error: ") and message in errors[0]


def test_cli_probe_missing_model_dir(tmp_path):
    result = CliRunner().invoke(
        main, ["probe", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "nope: no" in result.stderr  # "no such ..." / "not a ..."


def test_select_functions():
    assert [f.id for f in select_functions(FUNCTIONS, "1-3,50")] == [1, 2, 3, 50]
    with pytest.raises(InputError):
        select_functions(FUNCTIONS, "a-b")
