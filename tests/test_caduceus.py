"""Caduceus model, mixer and tokenizer: save/load, RC equivariance (both half orders), padding,
hidden states, loss; BiMamba against its definition; complement maps."""

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoModelForMaskedLM

import bioseq.models  # noqa: F401 - registers the model types
from bioseq.errors import InputError
from bioseq.models import CONFIG_CLASSES, MODEL_CLASSES, CaduceusConfig, CaduceusLM, CaduceusModel
from bioseq.models.modules.bimamba import BiMamba
from bioseq.tokenizers import CharTokenizer, caduceus_tokenizer, complement_map

pytestmark = pytest.mark.usefixtures("one_thread")

COMP = [0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11]


def tiny(rcps=True, fused=True, seed=0, **kw) -> CaduceusLM:
    torch.manual_seed(seed)
    config = CaduceusConfig(
        vocab_size=12,
        d_model=16,
        n_layer=3,
        d_state=4,
        rcps=rcps,
        fused_add_norm=fused,
        complement_map=COMP,
        **kw,
    )
    model = CaduceusLM(config).eval()
    with torch.no_grad():  # make the norms and D non-trivial, so half orders matter
        for name, p in model.named_parameters():
            if name.endswith(("norm.weight", "norm_f.weight", ".D")):
                p.copy_(torch.rand_like(p) + 0.5)
    return model


def random_ids(batch=2, length=17, seed=1):
    return torch.randint(7, 12, (batch, length), generator=torch.Generator().manual_seed(seed))


def rc_ids(ids):
    return torch.tensor(COMP)[ids.flip(-1)]


@pytest.mark.parametrize("fused", [True, False])
def test_rc_equivariance_float64(fused):
    model = tiny(fused=fused).double()
    ids = random_ids()
    with torch.no_grad():
        a, b = model(ids).logits, model(rc_ids(ids)).logits
    comp16 = COMP + [12, 13, 14, 15]
    assert a.dtype == torch.float64
    torch.testing.assert_close(b.flip(1), a[..., comp16], rtol=0, atol=1e-10)
    # and the hidden state: rc of the input -> full-width flip of length and channels
    with torch.no_grad():
        ha = model.backbone(ids).last_hidden_state
        hb = model.backbone(rc_ids(ids)).last_hidden_state
    torch.testing.assert_close(hb, ha.flip(-2, -1), rtol=0, atol=1e-10)


def test_non_rcps_is_not_equivariant_and_fused_order_matters():
    ids = random_ids()
    with torch.no_grad():
        plain = tiny(rcps=False)
        a, b = plain(ids).logits, plain(rc_ids(ids)).logits
        assert (b.flip(1)[..., :12] - a[..., COMP]).abs().max() > 1e-3
        fused, unfused = tiny(fused=True), tiny(fused=False)
        unfused.load_state_dict(fused.state_dict())
        assert (fused(ids).logits - unfused(ids).logits).abs().max() > 1e-3
        # without rcps the two orders are the same computation
        p1, p2 = tiny(rcps=False, fused=True), tiny(rcps=False, fused=False)
        p2.load_state_dict(p1.state_dict())
        torch.testing.assert_close(p1(ids).logits, p2(ids).logits)


@pytest.mark.parametrize("rcps", [True, False])
def test_save_load_round_trip(tmp_path, rcps):
    model = tiny(rcps=rcps)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is CaduceusLM and loaded.config.rcps is rcps
    ids = random_ids()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)
        backbone = AutoModel.from_pretrained(tmp_path).eval()
        assert type(backbone) is CaduceusModel
        expected = model.backbone(ids).last_hidden_state
        torch.testing.assert_close(backbone(ids).last_hidden_state, expected, rtol=0, atol=0)
    assert loaded.config.complement_map == COMP


@pytest.mark.parametrize("rcps", [True, False])
@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_does_not_leak(rcps, side):
    model = tiny(rcps=rcps)
    short, long = random_ids(1, 9, seed=2), random_ids(1, 14, seed=3)
    pad = torch.full((1, 5), 4)
    if side == "right":
        padded, mask = (
            torch.cat([short, pad], 1),
            torch.cat([torch.ones(1, 9), torch.zeros(1, 5)], 1),
        )
        real = slice(0, 9)
    else:
        padded, mask = (
            torch.cat([pad, short], 1),
            torch.cat([torch.zeros(1, 5), torch.ones(1, 9)], 1),
        )
        real = slice(5, 14)
    batch = torch.cat([padded, long])
    masks = torch.cat([mask, torch.ones(1, 14)]).long()
    with torch.no_grad():
        alone = model(short).logits[0]
        together = model(batch, attention_mask=masks).logits
        unmasked = model(batch).logits
    torch.testing.assert_close(together[0, real], alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(together[1], model(long).logits[0], rtol=1e-5, atol=1e-5)
    assert (unmasked[0, real] - alone).abs().max() > 1e-4  # the mask is what keeps it out


def test_hidden_states_and_loss():
    model = tiny()
    ids = random_ids()
    labels = torch.full_like(ids, -100)
    labels[:, 3] = ids[:, 3]
    labels[0, 10] = 9
    with torch.no_grad():
        out = model(ids, labels=labels, output_hidden_states=True)
        emb = model.backbone.embedding.weight
    assert out.logits.shape == (2, 17, 16)
    assert len(out.hidden_states) == model.config.n_layer + 1
    assert out.hidden_states[0].shape == (2, 17, 32)  # rcps: two strands of d_model
    torch.testing.assert_close(out.hidden_states[0][..., :16], emb[ids])
    torch.testing.assert_close(out.hidden_states[-1], model.backbone(ids).last_hidden_state)
    keep = labels != -100
    expected = F.cross_entropy(out.logits[keep], labels[keep])
    torch.testing.assert_close(out.loss, expected)
    loss, logits, hidden = model(ids, labels=labels, output_hidden_states=True, return_dict=False)
    torch.testing.assert_close(loss, out.loss)


def test_bimamba_matches_its_definition_and_ties():
    torch.manual_seed(0)
    mixer = BiMamba(8, d_state=4)
    assert mixer.mamba_rev.in_proj is mixer.mamba_fwd.in_proj
    assert mixer.mamba_rev.out_proj is mixer.mamba_fwd.out_proj
    x = torch.randn(2, 11, 8)
    expected = mixer.mamba_fwd(x) + mixer.mamba_rev(x.flip(1)).flip(1)
    torch.testing.assert_close(mixer(x), expected)
    names = {n for n, _ in mixer.named_parameters()}
    assert "mamba_rev.in_proj.weight" not in names and "mamba_rev.conv1d.weight" in names
    mixer(x).sum().backward()
    assert mixer.mamba_fwd.in_proj.weight.grad is not None
    untied = BiMamba(8, d_state=4, weight_tie=False, strategy="ew_multiply")
    assert untied.mamba_rev.in_proj is not untied.mamba_fwd.in_proj
    torch.testing.assert_close(untied(x), untied.mamba_fwd(x) * untied.mamba_rev(x.flip(1)).flip(1))


def test_config_preset_and_registration():
    tok = CharTokenizer("dna")
    config = CONFIG_CLASSES["caduceus"].from_preset(
        "tiny",
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        rcps=True,
        complement_map=complement_map(tok),
    )
    assert MODEL_CLASSES["caduceus"] is CaduceusLM
    assert config.d_model == 128 and config.padded_complement_map[10:] == list(range(10, 16))
    with pytest.raises(InputError, match="complement_map"):
        CaduceusConfig(vocab_size=12, rcps=True)
    with pytest.raises(InputError, match="involution"):
        CaduceusConfig(vocab_size=12, complement_map=[1] * 12)
    with pytest.raises(InputError, match="bidirectional_strategy"):
        CaduceusConfig(vocab_size=12, bidirectional_strategy="concat")
    assert CaduceusConfig(
        vocab_size=4, complement_map={"0": 3, "1": 2, "2": 1, "3": 0}
    ).complement_map == [3, 2, 1, 0]


def test_tokenizers_and_complement_maps(tmp_path):
    tok = caduceus_tokenizer()
    names = ["[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]", *"ACGTN"]
    assert tok.get_vocab() == {t: i for i, t in enumerate(names)}
    assert tok.encode("acgtr", add_special_tokens=False) == [7, 8, 9, 10, 11]
    assert (tok.pad_token_id, tok.mask_token_id, tok.unk_token_id) == (4, 3, 6)
    assert complement_map(tok) == COMP
    dna = CharTokenizer("dna")  # [PAD] [UNK] [CLS] [SEP] [MASK] A C G T N
    assert complement_map(dna) == [0, 1, 2, 3, 4, 8, 7, 6, 5, 9]
    assert complement_map(CharTokenizer("ACGTacgt")) == [0, 1, 2, 3, 4, 8, 7, 6, 5, 12, 11, 10, 9]
    with pytest.raises(InputError, match="complement"):
        complement_map(CharTokenizer("ACG"))
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tmp_path).get_vocab() == tok.get_vocab()
