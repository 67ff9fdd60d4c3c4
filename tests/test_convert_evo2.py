"""Evo 2 release checkpoints (torch .pt or byte shards + evo2 YAML) -> bioseq directories.

The checkpoint written here is a tiny random one in the release layout (shared/docs/
striped-hyena.md): every block kind, Wqkv rows in (head, {q,k,v}, head_dim) order, rotary
``inv_freq`` buffers and Transformer Engine ``_extra_state`` BytesIO entries.
"""

import io
import os

import pytest
import torch
import yaml
from click.testing import CliRunner
from transformers import AutoModelForCausalLM

from bioseq.cli.main import main
from bioseq.errors import InputError
from bioseq.models.convert import convert_checkpoint
from bioseq.models.convert_evo2 import (
    find_checkpoint,
    load_release_state,
    read_evo2_config,
    read_release,
)
from bioseq.tokenizers.evo2 import Evo2Tokenizer

D, HEADS, MLP, STATE = 16, 2, 24, 4
CONFIG = {  # evo2 key names (evo2/configs/evo2-1b-8k.yml), tiny sizes
    "model_name": "tiny-test", "vocab_size": 512, "hidden_size": D, "num_filters": D,
    "hcl_layer_idxs": [2], "hcm_layer_idxs": [1], "hcs_layer_idxs": [0, 4],
    "attn_layer_idxs": [3], "hcm_filter_length": 128, "hcl_filter_groups": D,
    "hcm_filter_groups": 4, "hcs_filter_groups": 4, "hcs_filter_length": 7, "num_layers": 5,
    "short_filter_length": 3, "num_attention_heads": HEADS, "short_filter_bias": False,
    "eps": 1e-6, "state_size": STATE, "rotary_emb_base": 10000, "rotary_emb_scaling_factor": 1,
    "use_interpolated_rotary_pos_emb": False, "inner_size_multiple_of": 8, "inner_mlp_size": MLP,
    "proj_groups": 1, "column_split_hyena": False, "column_split": True, "interleave": True,
    "evo2_style_activations": True, "use_fp8_input_projections": True, "tie_embeddings": True,
    "mha_out_proj_bias": True, "hyena_out_proj_bias": True, "hyena_flip_x1x2": False,
    "qkv_proj_bias": False, "max_seqlen": 64, "max_batch_size": 1, "final_norm": True,
    "tokenizer_type": "CharLevelTokenizer", "prefill_style": "fft", "mlp_activation": "gelu",
}  # fmt: skip


def release_state(seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return 0.1 * torch.randn(*shape, generator=g)

    state = {"embedding_layer.weight": r(512, D), "norm.scale": 1 + r(D)}
    kinds = {0: "hcs", 1: "hcm", 2: "hcl", 3: "attn", 4: "hcs"}
    for i, kind in kinds.items():
        p = f"blocks.{i}."
        state.update(
            {
                p + "pre_norm.scale": 1 + r(D),
                p + "post_norm.scale": 1 + r(D),
                p + "mlp.l1.weight": r(MLP, D),
                p + "mlp.l2.weight": r(MLP, D),
                p + "mlp.l3.weight": r(D, MLP),
                p + "mlp.l1._extra_state": io.BytesIO(b"te-fp8-meta"),
            }
        )
        if kind == "attn":
            hd = D // HEADS
            state[p + "inner_mha_cls.Wqkv.weight"] = r(3 * D, D)
            state[p + "inner_mha_cls.Wqkv._extra_state"] = io.BytesIO(bytes(range(256)))
            state[p + "inner_mha_cls.out_proj.weight"] = r(D, D)
            state[p + "inner_mha_cls.out_proj.bias"] = r(D)
            state[p + "inner_mha_cls.rotary_emb.inv_freq"] = 1.0 / 10000 ** (
                torch.arange(0, hd, 2).float() / hd
            )
            continue
        state.update(
            {
                p + "filter.short_filter_weight": r(3 * D, 1, 3),
                p + "projections.weight": r(3 * D, D),
                p + "projections._extra_state": io.BytesIO(b"\x00\x01"),
                p + "out_filter_dense.weight": r(D, D),
                p + "out_filter_dense.bias": r(D),
            }
        )
        if kind == "hcs":
            state[p + "filter.h"] = r(4, 1, 7)
        if kind == "hcm":
            state[p + "filter.h"] = r(4, 1, 128)
        if kind in ("hcm", "hcl"):
            state[p + "filter.D"] = r(D)
        if kind == "hcl":
            state[p + "filter.log_poles"] = -torch.rand(D, STATE, 1, generator=g) - 0.1
            state[p + "filter.residues"] = r(D, STATE)
    return state


def write_release(folder, config=CONFIG, state=None, shards=0):
    folder.mkdir(parents=True, exist_ok=True)
    state = release_state() if state is None else state
    (folder / "evo2-tiny.yml").write_text(yaml.safe_dump(config))
    ckpt = folder / "evo2_tiny.pt"
    torch.save(state, ckpt)
    if shards:
        data = ckpt.read_bytes()
        ckpt.unlink()
        step = -(-len(data) // shards)
        for n in range(shards):
            (folder / f"evo2_tiny.pt.part{n}").write_bytes(data[n * step : (n + 1) * step])
    return state


def one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def reference_wqkv(weight):
    """Independent permutation: row (q/k/v c, head h, j) <- stored row (h, c, j), by loops."""
    hd = D // HEADS
    out = torch.empty_like(weight)
    for c in range(3):
        for h in range(HEADS):
            for j in range(hd):
                out[c * D + h * hd + j] = weight[h * 3 * hd + c * hd + j]
    return out


@pytest.mark.parametrize("shards", [0, 3])
def test_release_converts_to_checked_state_and_config(tmp_path, shards):
    original = write_release(tmp_path / "evo2", shards=shards)
    values, state = read_release(tmp_path / "evo2")
    assert values["hidden_size"] == D and values["attn_layer_idxs"] == [3]
    assert values["rotary_emb_base"] == 10000.0 and values["evo2_style_activations"] is True
    assert "model_name" not in values and "prefill_style" not in values
    assert not any(k.endswith("_extra_state") or k.endswith("inv_freq") for k in state)
    expected = {k for k in original if not k.endswith(("_extra_state", "inv_freq"))}
    assert set(state) == expected
    key = "blocks.3.inner_mha_cls.Wqkv.weight"
    assert torch.equal(state[key], reference_wqkv(original[key]))
    assert not torch.equal(state[key], original[key])
    for k in expected - {key}:
        assert torch.equal(state[k], original[k]), k


def test_file_with_config_option(tmp_path):
    write_release(tmp_path / "a")
    (tmp_path / "a" / "evo2-tiny.yml").rename(tmp_path / "evo2-1b-8k.yml")
    values, state = read_release(tmp_path / "a" / "evo2_tiny.pt", tmp_path / "evo2-1b-8k.yml")
    assert values["num_layers"] == 5 and "norm.scale" in state


def test_tokenizer_reads_dna_as_evo2(tmp_path):
    from transformers import AutoTokenizer

    Evo2Tokenizer().save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert type(tok) is Evo2Tokenizer
    assert tok("ACGT")["input_ids"] == [65, 67, 71, 84]
    assert tok.encode("acgtN") == [65, 67, 71, 84, 78]
    assert (tok.pad_token_id, tok.eos_token_id, tok.vocab_size) == (1, 0, 512)
    batch = tok(["ACGT", "AC"], padding=True)["input_ids"]
    assert batch == [[65, 67, 71, 84], [65, 67, 1, 1]]
    assert tok.decode([65, 67, 0, 1, 71]) == "ACG"
    assert list(tok.token_lengths[[0, 1, 65, 300]]) == [0, 0, 1, 0]


def test_shape_mismatch_names_key_and_shapes(tmp_path):
    write_release(tmp_path / "r", config={**CONFIG, "inner_mlp_size": 32})
    with pytest.raises(InputError) as excinfo:
        read_release(tmp_path / "r")
    message = one_line(excinfo)
    assert "blocks.0.mlp.l1.weight" in message and "(24, 16)" in message and "(32, 16)" in message


def test_wrong_layer_kind_and_layer_count(tmp_path):
    swapped = {**CONFIG, "hcs_layer_idxs": [0, 3], "attn_layer_idxs": [4]}
    write_release(tmp_path / "k", config=swapped)
    with pytest.raises(InputError) as excinfo:
        read_release(tmp_path / "k")
    assert "blocks.3." in one_line(excinfo) and "hcs_layer_idxs" in str(excinfo.value)
    fewer = {**CONFIG, "num_layers": 4, "hcs_layer_idxs": [0]}
    write_release(tmp_path / "n", config=fewer)
    with pytest.raises(InputError, match="5 blocks in the checkpoint, but .* num_layers 4"):
        read_release(tmp_path / "n")


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"state_size": None}, "no 'state_size'"),
        ({"use_interpolated_rotary_pos_emb": True}, "use_interpolated_rotary_pos_emb"),
        ({"hcs_layer_idxs": [0]}, "layer 4 is in none"),
        ({"rotary_emb_base": 500}, "rotary_emb_base 500"),
    ],
)
def test_config_errors_are_one_line(tmp_path, change, fragment):
    config = {k: v for k, v in {**CONFIG, **change}.items() if v is not None}
    write_release(tmp_path / "c", config=config)
    with pytest.raises(InputError) as excinfo:
        read_release(tmp_path / "c")
    assert fragment in one_line(excinfo)


def test_missing_shard(tmp_path):
    write_release(tmp_path / "s", shards=3)
    os.unlink(tmp_path / "s" / "evo2_tiny.pt.part1")
    with pytest.raises(InputError) as excinfo:
        find_checkpoint(tmp_path / "s")
    assert "evo2_tiny.pt.part1: missing shard" in one_line(excinfo)
    write_release(tmp_path / "t", shards=3)
    os.unlink(tmp_path / "t" / "evo2_tiny.pt.part2")  # the last one: only the bytes tell
    with pytest.raises(InputError) as excinfo:
        read_release(tmp_path / "t")
    assert "is a shard missing?" in one_line(excinfo)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickle_with_other_globals_is_refused_unexecuted(tmp_path):
    marker = tmp_path / "executed"
    state = release_state()
    state["blocks.0.evil"] = _Payload(str(marker))
    write_release(tmp_path / "p", state=state)
    with pytest.raises(InputError) as excinfo:
        load_release_state([tmp_path / "p" / "evo2_tiny.pt"])
    message = one_line(excinfo)
    assert "refused" in message and "mkdir" in message
    assert not marker.exists()


def test_non_evo2_files(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    torch.save({"backbone.embedding.weight": torch.zeros(2, 2)}, folder / "model.pt")
    (folder / "evo2.yml").write_text(yaml.safe_dump(CONFIG))
    with pytest.raises(InputError) as excinfo:
        read_release(folder)
    assert "not an Evo 2 checkpoint" in one_line(excinfo)
    (folder / "model.pt").write_text("hello, not a checkpoint\n")
    with pytest.raises(InputError) as excinfo:
        read_release(folder)
    assert "not a readable torch checkpoint" in one_line(excinfo)
    (folder / "evo2.yml").write_text("d_model: 4\nn_layer: 2\n")
    with pytest.raises(InputError) as excinfo:
        read_evo2_config(folder / "evo2.yml")
    assert "not an Evo 2 config" in one_line(excinfo)


def test_cli_error_is_one_line(tmp_path):
    write_release(tmp_path / "r", config={**CONFIG, "inner_mlp_size": 32})
    result = CliRunner().invoke(
        main,
        [
            "convert",
            str(tmp_path / "r" / "evo2_tiny.pt"),
            str(tmp_path / "out"),
            "--config",
            str(tmp_path / "r" / "evo2-tiny.yml"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "blocks.0.mlp.l1.weight" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_converted_folder_loads_with_auto_classes(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    write_release(tmp_path / "evo2", shards=2)
    out = convert_checkpoint(tmp_path / "evo2", tmp_path / "out")
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert type(tok) is Evo2Tokenizer and model.config.model_type == "bioseq-striped-hyena"
    assert model.config.attn_layer_idxs == [3] and model.config.hcs_layer_idxs == [0, 4]
    _, expected = read_release(tmp_path / "evo2")
    loaded = model.state_dict()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value.to(loaded[key].dtype)), key
    ids = torch.tensor([tok("ACGTACGTTTGA")["input_ids"]])
    logits = model(ids).logits
    assert logits.shape == (1, 12, 512) and torch.isfinite(logits).all()


def test_cli_converts_a_pt_file_with_config(tmp_path):
    write_release(tmp_path / "r")
    ckpt, config = tmp_path / "r" / "evo2_tiny.pt", tmp_path / "r" / "evo2-tiny.yml"
    result = CliRunner().invoke(
        main, ["convert", str(ckpt), str(tmp_path / "out"), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= names


def test_converted_release_checkpoint_matches_the_reference_maths(tmp_path):
    """Release layout -> `bioseq convert` -> logits equal the documented maths computed from the
    release tensors (attention rows reordered by the loop above, not by the converter)."""
    from tests.test_striped_hyena import reference_logits_from

    state = write_release(tmp_path / "src")
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "src"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    ours = {
        k: v for k, v in state.items() if isinstance(v, torch.Tensor) and not k.endswith("inv_freq")
    }
    ours["blocks.3.inner_mha_cls.Wqkv.weight"] = reference_wqkv(
        state["blocks.3.inner_mha_cls.Wqkv.weight"]
    )
    ids = torch.randint(0, 512, (2, 40), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = model(ids).logits.double()
    want = reference_logits_from(ours, model.config, ids)
    assert ((got - want).norm() / want.norm()).item() <= 1e-4
