"""Learned merging (MergeLM): the vectorised merge layer against a per-example reference, the
source matrix, window, padding and ratio, gradients, save/load, pretraining, adaptivity."""

from __future__ import annotations

import json
import math
from unittest import mock

import pytest
import torch
import yaml
from click.testing import CliRunner
from transformers import AutoModelForMaskedLM

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.cli.main import main
from bioseq.data import example_genome
from bioseq.errors import InputError
from bioseq.models import MergeConfig, MergeLM
from bioseq.models.modules.merge import MergeState, TokenMerge, merge_budget
from bioseq.tokenizers import CharTokenizer
from bioseq.train.config import TrainConfig

PAD, BASES = 0, (5, 6, 7, 8)  # the CharTokenizer("dna") ids of [PAD] and A, C, G, T


def tiny(**overrides) -> MergeLM:
    torch.manual_seed(0)
    fields = dict(
        vocab_size=10, d_model=32, n_layer=1, pad_token_id=PAD, backbone_kwargs={"max_seq_len": 512}
    )
    if overrides.get("backbone", "hyena") != "hyena":
        fields["backbone_kwargs"] = {}
    return MergeLM(MergeConfig.from_preset("tiny", **{**fields, **overrides}))


def random_ids(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(BASES[0], BASES[-1] + 1, (batch, length), generator=gen)


def merge_inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 features (6, 60, 8) with exact ties (repeated vectors) and padding on the right,
    the left and in the middle."""
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(6, 60, 8, generator=gen, dtype=torch.float64)
    hidden[0, :20] = hidden[0, 0]  # a run of identical tokens: every pair ties
    hidden[1, 10:40] = hidden[1, 10:13].repeat(10, 1)  # a tandem repeat: ties every third pair
    mask = torch.ones(6, 60, dtype=torch.bool)
    mask[2, 45:] = False
    mask[3, :10] = False
    mask[4, 20:25] = False
    return hidden, mask


def run_layers(layers, hidden, mask, ratio) -> MergeState:
    state = MergeState.from_bases(hidden, mask)
    for i, layer in enumerate(layers):
        state = layer(state, merge_budget(state, ratio, i, len(layers)))
    return state


# -- a plain per-example reference ------------------------------------------------------------


def reference_merge(layers, hidden, mask, ratio, window):
    """One example at a time, in plain Python: sequential greedy matching of the best pairs."""
    results = []
    for x, m in zip(hidden, mask, strict=True):
        feats = [x[i] for i in range(len(x))]
        sizes, real = [1] * len(x), [bool(v) for v in m]
        source = list(range(len(x)))
        n_bases = sum(real)
        for i, layer in enumerate(layers):
            keys = [layer.proj(f) for f in feats]
            keys = [k / k.norm() for k in keys]
            density = [float(layer.density(f)) for f in feats]
            scores = [
                float(keys[j] @ keys[j + 1])
                - layer.density_weight * (density[j] + density[j + 1]) / 2
                for j in range(len(feats) - 1)
            ]
            valid = [
                real[j] and real[j + 1] and sizes[j] + sizes[j + 1] <= window
                for j in range(len(scores))
            ]
            taken: set[int] = set()
            for j in sorted(range(len(scores)), key=lambda j: (-scores[j], j % 2, j)):
                if valid[j] and j - 1 not in taken and j + 1 not in taken:
                    taken.add(j)
            budget = sum(real) - math.ceil(n_bases / ratio ** ((i + 1) / len(layers)))
            chosen = sorted(taken, key=lambda j: (-scores[j], j))[: max(budget, 0)]
            groups, j = [], 0
            while j < len(feats):
                groups.append([j, j + 1] if j in chosen else [j])
                j += len(groups[-1])
            new_of = {old: new for new, group in enumerate(groups) for old in group}
            feats = [sum(feats[o] * sizes[o] for o in g) / sum(sizes[o] for o in g) for g in groups]
            real = [real[g[0]] for g in groups]
            sizes = [sum(sizes[o] for o in g) for g in groups]
            source = [new_of[s] for s in source]
        results.append((torch.stack(feats), sizes, real, source))
    return results


def test_vectorised_merge_equals_a_per_example_reference():
    torch.manual_seed(1)
    layers = [TokenMerge(8, merge_dim=4, window=6).double() for _ in range(3)]
    hidden, mask = merge_inputs()
    with torch.no_grad():
        state = run_layers(layers, hidden, mask, ratio=2.5)
        expected = reference_merge(layers, hidden, mask, ratio=2.5, window=6)
    for b, (feats, sizes, real, source) in enumerate(expected):
        n = len(sizes)
        assert state.sizes[b, :n].tolist() == sizes
        assert not state.real[b, n:].any() and state.real[b, :n].tolist() == real
        assert state.source[b].tolist() == source
        torch.testing.assert_close(state.hidden[b, :n], feats)
    assert state.merges and all(m.any() for m in state.merges)


# -- the source matrix, the window, padding, the ratio -----------------------------------------


def test_unmerging_through_the_source_matrix():
    torch.manual_seed(2)
    layers = [TokenMerge(8, merge_dim=4, window=16).double() for _ in range(4)]
    hidden, mask = merge_inputs(seed=2)
    with torch.no_grad():
        state = run_layers(layers, hidden, mask, ratio=3.0)
    S = state.source_matrix()
    assert S.shape == (6, 60, state.hidden.shape[1])
    torch.testing.assert_close(S.sum(-1), torch.ones(6, 60, dtype=S.dtype))  # rows sum to 1
    torch.testing.assert_close(S.sum(1), state.sizes.to(S.dtype))  # columns: the sizes
    # every token is the mean of the input bases it holds (no mixing between these layers)
    means = (S.transpose(1, 2) @ hidden) / S.sum(1).clamp(min=1)[..., None]
    held = S.sum(1) > 0
    torch.testing.assert_close(state.hidden[held], means[held])
    # and un-merging gives every base the features of its token
    per_base = S @ state.hidden
    torch.testing.assert_close(per_base, state.unmerge(state.hidden))
    for b in range(6):
        for i in range(60):
            torch.testing.assert_close(per_base[b, i], state.hidden[b, state.source[b, i]])
    assert (state.sizes > 1).any()


def test_merged_tokens_never_exceed_the_window_and_stay_contiguous():
    torch.manual_seed(3)
    layers = [TokenMerge(8, merge_dim=4, window=4).double() for _ in range(6)]
    hidden, mask = merge_inputs(seed=3)
    with torch.no_grad():
        state = run_layers(layers, hidden, mask, ratio=4.0)
    assert state.sizes.max() == 4  # the budget asks for 4 bases per token: the window binds
    steps = state.source[:, 1:] - state.source[:, :-1]
    assert ((steps == 0) | (steps == 1)).all()
    lengths = torch.bincount(state.source[0], minlength=state.hidden.shape[1])
    assert lengths.max() <= 4
    model = tiny(window=8, merge_ratio=6.0)
    lengths = model.merge_tokens(random_ids(3, 400)).token_lengths()
    assert max(max(row) for row in lengths) <= 8


def test_padding_never_merges_with_bases():
    model = tiny().eval()
    ids = random_ids(4, 120, seed=4)
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[0, 90:] = False  # right padding
    mask[1, :30] = False  # left padding
    ids = ids.masked_fill(~mask, PAD)
    ids[2, 40:50] = PAD  # padding ids without a mask: found from pad_token_id
    state = model.merge_tokens(ids)
    S = state.source_matrix()
    pads = (ids == PAD).to(S.dtype)
    pad_count, base_count = (S * pads[..., None]).sum(1), (S * (1 - pads)[..., None]).sum(1)
    assert not ((pad_count > 0) & (base_count > 0)).any()  # no token holds both
    assert (pad_count <= 1).all()  # nor two pads
    real_sizes = (state.sizes * state.real).sum(1)
    assert real_sizes.tolist() == (ids != PAD).sum(1).tolist()
    explicit = model.merge_tokens(ids, attention_mask=(ids != PAD).long())
    assert torch.equal(explicit.source, state.source)


@pytest.mark.parametrize("ratio", [2.0, 3.0])
def test_the_merge_ratio_is_met(ratio):
    model = tiny(merge_ratio=ratio).eval()
    ids = random_ids(4, 300, seed=5)
    state = model.merge_tokens(ids)
    for b in range(4):
        n_tokens = len(set(state.source[b].tolist()))  # counted from the assignment itself
        assert 0.95 * ratio <= 300 / n_tokens <= 1.05 * ratio
    out = model(ids)
    assert abs(float(out.bases_per_token) - ratio) < 0.05 * ratio
    assert out.logits.shape == (4, 300, 10)


def test_segment_shows_which_bases_merged():
    model = tiny().eval()
    sequence = "ACGTTGCAAAAAAAAAGGCTAGCTAGCTAGCATCGATCG" * 2
    pieces = model.segment(sequence)
    assert "".join(pieces) == sequence
    assert sum(len(p) > 1 for p in pieces) > 0 and max(len(p) for p in pieces) <= 16
    assert abs(len(sequence) / len(pieces) - 2.0) < 0.1


# -- training signals ----------------------------------------------------------------------------


def test_gradients_reach_the_merge_projection():
    model = tiny()
    ids = random_ids(4, 128, seed=6)
    out = model(ids, labels=ids)
    assert torch.isfinite(out.loss)
    torch.testing.assert_close(
        out.loss, out.masked_token_loss + 0.25 * out.reconstruction_loss + out.density_loss
    )  # the merge-score term is zero in value
    out.loss.backward()
    for merge in model.local_encoder.merges:
        for param in (merge.proj.weight, merge.density[0].weight, merge.density[2].weight):
            grad = param.grad
            assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_masking_prefers_the_least_merged_tokens():
    model = tiny(mask_ratio=0.3).eval()
    state = model.merge_tokens(random_ids(8, 400, seed=7))
    masked = model._choose_masked(state)
    real = state.n_tokens.sum()
    assert abs(float(masked.sum() / real) - 0.3) < 0.02
    single = state.real & (state.sizes == 1)
    assert masked[single].float().mean() > masked[state.real & (state.sizes > 1)].float().mean()


@pytest.mark.parametrize("backbone", ["hyena", "mamba", "transformer"])
def test_save_and_load_give_identical_outputs(tmp_path, backbone):
    model = tiny(backbone=backbone, merge_ratio=2.5).eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, MergeLM) and loaded.config.backbone == backbone
    ids = random_ids(2, 100, seed=8)
    with torch.no_grad():
        a, b = model(ids, labels=ids), loaded(ids, labels=ids)
        assert torch.equal(a.logits, b.logits) and torch.equal(a.loss, b.loss)
        assert torch.equal(model(ids).logits, loaded(ids).logits)


def test_config_rejects_bad_values():
    with pytest.raises(InputError, match="unknown merge backbone"):
        MergeConfig(backbone="lstm")
    with pytest.raises(InputError, match="merge_ratio"):
        MergeConfig(merge_ratio=20.0)


# -- pretraining ------------------------------------------------------------------------------


def test_pretrain_cli_trains_a_merge_model(tmp_path):
    run = tmp_path / "m"
    result = CliRunner().invoke(
        main,
        [
            "pretrain",
            str(example_genome("lambda")),
            "--model",
            "merge",
            "--backbone",
            "mamba",
            "--merge-ratio",
            "3",
            "--d-model",
            "32",
            "--n-layer",
            "1",
            "--context",
            "128",
            "--batch-size",
            "4",
            "--steps",
            "4",
            "--log-every",
            "2",
            "--eval-every",
            "4",
            "--eval-windows",
            "4",
            "--final-eval-windows",
            "4",
            "--threads",
            "1",
            "--out",
            str(run),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert abs(row["bases_per_token"] - 3.0) < 0.15
        assert row["train_mergedna_loss"] > 0
        assert "train_bits_per_base" not in row and "markov_bits_per_base" not in row
    assert rows[-1]["val_mergedna_loss"] > 0
    assert "MergeDNA loss" in result.output
    assert "bits/base" not in result.output and "below the order" not in result.output
    assert "bases/token" in result.output and "mamba tiny with learned merging" in result.output
    model = AutoModelForMaskedLM.from_pretrained(run / "final")
    assert isinstance(model, MergeLM) and model.config.backbone == "mamba"
    assert model.config.merge_ratio == 3.0
    saved = (run / "config.yaml").read_text()
    assert "model: merge\n" in saved and "backbone: mamba\n" in saved
    assert "objective: merge\n" in saved and "causal" not in saved


def test_tokenizer_merge_is_the_old_spelling_of_model_merge(tmp_path):
    seen = []
    args = ["pretrain", "--tokenizer", "merge", "--model", "transformer", "--out", tmp_path / "o"]
    with mock.patch("bioseq.train.pretrain", lambda config, quiet=False: seen.append(config)):
        result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert (config.model, config.backbone, config.tokenizer) == ("merge", "transformer", "char")
    assert result.stderr.splitlines() == [
        "bioseq: warning: --tokenizer merge is deprecated; it means --model merge --backbone "
        "transformer"
    ]
    # an old run's config.yaml (and a Python config) reads the same
    old = TrainConfig(tokenizer="merge", model="hyena", merge_ratio=3.0)
    assert (old.model, old.backbone, old.tokenizer) == ("merge", "hyena", "char")
    assert old == TrainConfig(model="merge", backbone="hyena", merge_ratio=3.0)


def test_a_run_saved_with_the_old_spelling_resumes(tmp_path):
    run = tmp_path / "m"
    args = [
        str(example_genome("lambda")),
        "--model",
        "merge",
        "--d-model",
        "32",
        "--n-layer",
        "1",
        "--context",
        "128",
        "--batch-size",
        "4",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--eval-windows",
        "2",
        "--final-eval-windows",
        "2",
        "--threads",
        "1",
        "-q",
    ]
    first = CliRunner().invoke(main, ["pretrain", *args, "--stop-after", "2", "--out", str(run)])
    assert first.exit_code == 0, first.output
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert (saved["model"], saved["backbone"], saved["objective"]) == ("merge", "hyena", "merge")
    del saved["backbone"]  # as bioseq wrote it before --model merge existed
    saved.update(model="hyena", tokenizer="merge", objective="causal")
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    resumed = CliRunner().invoke(main, ["pretrain", "--resume", str(run)])
    assert resumed.exit_code == 0, resumed.output
    warnings = [line for line in resumed.stderr.splitlines() if "deprecated" in line]
    assert warnings == [
        f"bioseq: warning: {run / 'config.yaml'}: tokenizer: merge is "
        "deprecated; it means model: merge, backbone: hyena"
    ]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 4 and rows[-1]["val_mergedna_loss"] > 0
    rewritten = yaml.safe_load((run / "config.yaml").read_text())
    assert (rewritten["model"], rewritten["objective"]) == ("merge", "merge")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--merge-ratio", "2"], "merge_ratio applies only to model merge"),
        (["--backbone", "mamba"], "backbone applies only to model merge"),
        (["--model", "merge", "--text"], "model merge needs DNA input, not text"),
        (["--model", "merge", "--tokenizer", "kmer:3"], "learns its tokens from single bases"),
        (["--model", "merge", "--backbone", "caduceus"], "'caduceus' is not one of"),
        (["--model", "merge", "--objective", "mlm"], "model merge trains with its own objective"),
        (["--objective", "merge"], "objective merge is a MergeLM's own loss: --model merge"),
    ],
)
def test_merge_settings_that_do_not_go_together(args, message):
    result = CliRunner().invoke(main, ["pretrain", *args, "--out", "x"])
    assert result.exit_code == 2 and message in result.output, result.output


# -- adaptivity ---------------------------------------------------------------------------------


def repeat_batch(gen: torch.Generator, n: int, length: int = 256):
    """Half of each sequence random, half a tandem repeat of a random 2-6 base unit (which half:
    random); returns ids and the repeat mask."""
    ids = torch.randint(BASES[0], BASES[-1] + 1, (n, length), generator=gen)
    repeat = torch.zeros(n, length, dtype=torch.bool)
    half = length // 2
    for i in range(n):
        period = int(torch.randint(2, 7, (1,), generator=gen))
        unit = torch.randint(BASES[0], BASES[-1] + 1, (period,), generator=gen)
        start = half * int(torch.randint(0, 2, (1,), generator=gen))
        ids[i, start : start + half] = unit.repeat(half // period + 1)[:half]
        repeat[i, start : start + half] = True
    return ids, repeat


def region_bases_per_token(model: MergeLM, ids, region) -> float:
    """Bases / tokens inside ``region``, a token straddling its edge counted pro rata."""
    state = model.merge_tokens(ids)
    share = 1 / state.sizes.gather(1, state.source)  # each base's share of its token
    return float(region.sum() / (share * region).sum())


@pytest.mark.slow
def test_repeats_merge_into_longer_tokens_after_short_training():
    torch.set_num_threads(1)
    model = tiny(backbone="transformer", d_model=64)
    test_ids, test_repeat = repeat_batch(torch.Generator().manual_seed(123), 64)
    model.eval()
    before = (
        region_bases_per_token(model, test_ids, test_repeat),
        region_bases_per_token(model, test_ids, ~test_repeat),
    )
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(1)
    for _ in range(200):
        ids, _ = repeat_batch(gen, 16)
        model(ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    after = (
        region_bases_per_token(model, test_ids, test_repeat),
        region_bases_per_token(model, test_ids, ~test_repeat),
    )
    # untrained, the two regions merge about alike; trained, the repeat takes clearly longer
    # tokens (measured: 2.43 vs 1.70 bases per token after 200 steps, 0.16 apart before)
    assert abs(before[0] - before[1]) < 0.25
    assert after[0] - after[1] > before[0] - before[1] + 0.4, (before, after)


def test_compression_report_counts_the_learned_tokens_of_every_window(tmp_path):
    model = tiny().eval()
    rng = torch.Generator().manual_seed(3)
    seqs = {
        name: "".join("ACGT"[int(i)] for i in torch.randint(0, 4, (n,), generator=rng))
        for name, n in (("a", 300), ("b", 130))
    }
    fasta = tmp_path / "two.fa"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    [row] = model.compression_report([fasta], window=128, batch_size=4)
    # each window merged alone (no padding in the batch) gives the same token count
    tokens = 0
    for seq in seqs.values():
        for start in range(0, len(seq), 128):
            ids = torch.tensor([[BASES["ACGT".index(c)] for c in seq[start : start + 128]]])
            tokens += int(model.merge_tokens(ids).n_tokens.sum())
    assert (row["bases"], row["tokens"]) == (430, tokens)
    assert row["bases_per_token"] == round(430 / tokens, 4)
    run = tmp_path / "m"
    model.save_pretrained(run)
    CharTokenizer("dna").save_pretrained(run)  # as in a pretrain run's final/
    result = CliRunner().invoke(
        main, ["tokenizer", "report", str(run), str(fasta), "--window", "128"]
    )
    assert result.exit_code == 0, result.output
    assert f"{fasta}\t430\t{tokens}\t" in result.output
