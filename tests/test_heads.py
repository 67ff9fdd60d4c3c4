"""Hugging Face conventions of every bioseq model: AutoModel backbones with per-layer hidden
states, sequence/token classification heads, LoRA through peft, and the HF Trainer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

import bioseq.models  # noqa: F401  (registers the model types)
from bioseq.models.heads import LORA_TARGETS
from tests.conftest import tiny_model

FAMILIES = ["hyena", "mamba", "transformer", "striped-hyena", "caduceus", "caduceus-rcps", "merge"]
COMP = [0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11]


# per family: what its tiny test model sets beyond 32 wide and 2 deep (no dropout: outputs
# are compared across save and load)
EXTRA = {
    "hyena": {"max_seq_len": 64, "embed_dropout": 0.0},
    "transformer": {"dropout": 0.0},
    "caduceus": {"rcps": False},
    "caduceus-rcps": {"rcps": True, "complement_map": COMP},
    "merge": {"backbone": "mamba", "backbone_kwargs": {}},
}


def tiny_lm(kind: str):
    if kind == "striped-hyena":
        return tiny_model(kind, 12, seed=0, hcm_filter_length=8)
    family = kind.removesuffix("-rcps")
    return tiny_model(family, 12, seed=0, d_model=32, n_layer=2, **EXTRA.get(kind, {}))


def lm_head_weight(lm) -> torch.Tensor:
    head = lm.get_output_embeddings()
    return (head if head is not None else lm.get_input_embeddings()).weight


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each family's LM saved with save_pretrained."""
    out = {}
    for kind in FAMILIES:
        path = tmp_path_factory.mktemp(kind)
        lm = tiny_lm(kind).eval()
        lm.save_pretrained(path)
        out[kind] = (lm, path)
    return out


def ids_batch(n: int = 3, length: int = 20) -> torch.Tensor:
    return torch.randint(7, 11, (n, length), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("kind", FAMILIES)
def test_automodel_backbone_gives_the_lm_its_features(saved, kind):
    lm, path = saved[kind]
    base = AutoModel.from_pretrained(path).eval()
    assert type(base).__name__.endswith("Model")
    ids = ids_batch()
    with torch.no_grad():
        out = base(ids, output_hidden_states=True)
        logits = lm(ids).logits
    # MergeLM: the base embeddings, the latent encoder's and decoder's outputs, the final one
    assert len(out.hidden_states) == (4 if kind == "merge" else lm.config.n_layer + 1)
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state)
    if kind in ("merge", "caduceus-rcps"):
        return  # a per-base decoder / an RCPS head: covered by their own tests
    embedding = lm.get_input_embeddings().weight
    torch.testing.assert_close(out.hidden_states[0], embedding[ids])
    # the LM's logits are its head applied to the backbone's output
    expected = F.linear(out.last_hidden_state, lm_head_weight(lm))[..., : logits.shape[-1]]
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["hyena", "mamba"])
def test_hidden_states_are_each_blocks_output(saved, kind):
    lm, _ = saved[kind]
    ids = ids_batch()
    with torch.no_grad():
        states = lm(ids, output_hidden_states=True).hidden_states
        hidden = lm.backbone.embedding(ids)
        for i, layer in enumerate(lm.backbone.layers[:-1], start=1):  # blocks run by hand
            hidden = layer(hidden)
            torch.testing.assert_close(states[i], hidden)


@pytest.mark.parametrize("kind", FAMILIES)
def test_sequence_classifier_loads_the_backbone_and_pools_real_tokens(saved, kind, tmp_path):
    lm, path = saved[kind]
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3).eval()
    base = AutoModel.from_pretrained(path).eval()
    lm_state = {
        k.split(".", 1)[-1] if k.startswith(f"{lm.base_model_prefix}.") else k: v
        for k, v in lm.state_dict().items()
    }
    for name, tensor in model.base_model.state_dict().items():
        torch.testing.assert_close(tensor, lm_state[name], rtol=0, atol=0)
    long, short = ids_batch(1, 20), ids_batch(1, 13)
    batch = torch.full((2, 20), 0)
    batch[0], batch[1, :13] = long[0], short[0]
    mask = (torch.arange(20)[None] < torch.tensor([[20], [13]])).long()
    with torch.no_grad():
        logits = model(batch, attention_mask=mask).logits
        for row, alone in enumerate((long, short)):  # by hand: mean of the backbone's output
            hidden = base(alone).last_hidden_state[0]
            if kind == "caduceus-rcps":
                d = hidden.shape[-1] // 2
                hidden = (hidden[:, :d] + hidden[:, d:].flip(-1)) / 2
            expected = model.score(hidden.mean(0))
            torch.testing.assert_close(logits[row], expected, rtol=1e-4, atol=1e-4)
    model.save_pretrained(tmp_path)  # a fine-tuned classifier round-trips as it is
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(batch, attention_mask=mask).logits, logits)


def test_regression_and_classification_losses(saved):
    _, path = saved["mamba"]
    ids = ids_batch(4)
    regress = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).eval()
    target = torch.tensor([0.5, -1.0, 2.0, 0.0])
    out = regress(ids, labels=target)
    assert regress.config.problem_type == "regression"
    torch.testing.assert_close(out.loss, ((out.logits[:, 0] - target) ** 2).mean())
    classify = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3).eval()
    labels = torch.tensor([0, 2, 1, 2])
    out = classify(ids, labels=labels)
    expected = -out.logits.log_softmax(-1)[torch.arange(4), labels].mean()
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.parametrize("pooling", ["last", "first"])
def test_last_and_first_pooling_read_the_right_token(saved, pooling):
    _, path = saved["transformer"]
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=2, classifier_pooling=pooling
    ).eval()
    base = AutoModel.from_pretrained(path).eval()
    short = ids_batch(1, 9)
    batch = torch.cat([short, torch.zeros(1, 6, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 9), torch.zeros(1, 6)], dim=1).long()
    with torch.no_grad():
        hidden = base(short).last_hidden_state[0]
        token = hidden[-1] if pooling == "last" else hidden[0]
        torch.testing.assert_close(
            model(batch, attention_mask=mask).logits[0], model.score(token), rtol=1e-4, atol=1e-4
        )


@pytest.mark.slow
def test_rcps_classifier_is_reverse_complement_invariant(saved):
    _, path = saved["caduceus-rcps"]
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    model.double()
    ids = ids_batch(2)
    rc = torch.tensor(COMP)[ids.flip(-1)]
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, model(rc).logits, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["mamba", "caduceus"])
def test_token_classification(saved, kind):
    _, path = saved[kind]
    model = AutoModelForTokenClassification.from_pretrained(path, num_labels=4).eval()
    base = AutoModel.from_pretrained(path).eval()
    ids = ids_batch(2, 10)
    labels = torch.randint(0, 4, (2, 10))
    labels[0, :3] = -100
    out = model(ids, labels=labels)
    with torch.no_grad():
        expected_logits = model.score(base(ids).last_hidden_state)
    torch.testing.assert_close(out.logits, expected_logits, rtol=1e-4, atol=1e-4)
    keep = labels != -100
    expected = -out.logits.log_softmax(-1)[keep].gather(-1, labels[keep][:, None]).mean()
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.parametrize("kind", FAMILIES)
def test_lora_adapts_every_named_layer_and_saves(saved, kind, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    _, path = saved[kind]
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    targets = LORA_TARGETS[model.config.model_type]
    lora = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, target_modules=targets))
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "score" in n for n in trainable)
    lora(ids_batch(), labels=torch.tensor([0, 1, 1])).loss.backward()
    lora_b = [(n, p) for n, p in lora.named_parameters() if "lora_B" in n]
    assert lora_b
    unused = [n for n, p in lora_b if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not unused, unused  # every adapter sits on a layer the forward pass calls
    with torch.no_grad():
        for _, p in lora_b:
            p.add_(0.05)  # trained adapters change the output
    lora.eval()
    ids = ids_batch()
    with torch.no_grad():
        logits = lora(ids).logits
    lora.save_pretrained(tmp_path / "adapter")
    fresh = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    reloaded = PeftModel.from_pretrained(fresh, tmp_path / "adapter").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, logits, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_hf_trainer_trains_a_bioseq_classifier(saved, tmp_path):
    from transformers import Trainer, TrainingArguments

    _, path = saved["mamba"]
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for i in range(32):  # label: whether the sequence is mostly token 7
        label = i % 2
        ids = torch.randint(7, 11, (16,), generator=gen)
        ids[: 12 if label else 2] = 7
        rows.append({"input_ids": ids, "labels": torch.tensor(label)})
    before = [p.detach().clone() for p in model.parameters()]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
    )
    result = Trainer(model=model, args=args, train_dataset=rows).train()
    assert result.global_step == 4 and result.training_loss > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
