"""The training input pipeline and RNG state of issue 19 (defects 6 and 7), on CPU.

* DataLoader workers build the same batches as the training process itself, so a run with
  workers (stopped and resumed, too) trains exactly as one without.
* The loop reads the loss back from the device only at log lines, evaluations and checkpoints.
* Checkpoints keep each process's own CUDA RNG state, and a CPU run never calls torch.cuda's RNG
  functions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForCausalLM

import bioseq.models  # noqa: F401  (registers the Auto classes)
import bioseq.runtime as runtime
from bioseq.cli.main import main
from bioseq.train import TIMING_FIELDS, TrainConfig, pretrain
from bioseq.train.checkpoint import load_checkpoint, run_rng_state, save_checkpoint
from bioseq.train.data import build_data, context_at, step_loader
from bioseq.train.distributed import Dist
from bioseq.train.model import build_model, make_optimizer, make_scheduler
from tests.conftest import TINY_RUN


def rows(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS} for line in lines]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return AutoModelForCausalLM.from_pretrained(run / "final").state_dict()


# -- defect 6: batches built ahead by workers ------------------------------------------------------


@pytest.mark.parametrize("model", ["hyena", "caduceus"])  # caduceus: masked batches
def test_worker_processes_build_the_batches_the_training_process_builds(model):
    config = TrainConfig(
        **{**TINY_RUN, "model": model, "context": 128, "context_warmup": 4, "steps": 6}
    ).resolved()
    data = build_data(config)
    loader = step_loader(data, config, start=1, stop=6, workers=2)
    built = list(loader)
    assert len(built) == 5
    for step, micro in zip(range(1, 6), built, strict=True):
        expected = data.batch(step, context_at(step, config), config.batch_size)
        assert len(micro) == len(expected) == 1
        got, want = micro[0], expected[0]
        assert got.input_ids.shape[1] == context_at(step, config)  # the staged warm-up
        assert torch.equal(got.input_ids, want.input_ids)
        assert torch.equal(got.labels, want.labels)
        assert (got.n_tokens, got.n_bases, got.n_seen) == (want.n_tokens, want.n_bases, want.n_seen)
    assert built[0][0].input_ids.shape[1] == 64 and built[-1][0].input_ids.shape[1] == 128


def test_a_run_with_workers_stopped_and_resumed_trains_as_one_without(tmp_path):
    plain = pretrain(dict(TINY_RUN, out=str(tmp_path / "a"), steps=6, workers=0), quiet=True)
    stopped = pretrain(
        dict(TINY_RUN, out=str(tmp_path / "b"), steps=6, workers=2, stop_after=3), quiet=True
    )
    assert not (stopped / "final").exists()
    resume = ["pretrain", "--resume", str(stopped), "--workers", "1", "-q"]
    result = CliRunner().invoke(main, resume)
    assert result.exit_code == 0, result.output
    assert rows(plain) == rows(stopped)  # train and validation losses, step by step
    a, b = weights(plain), weights(stopped)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_loss_is_read_back_only_at_log_lines_and_checkpoints(tmp_path, monkeypatch):
    """Every read of a tensor's value by the training loop (``.item()``, ``float()``, ...) makes
    the host wait for the GPU; the loop may read at steps 3 and 6 (log lines, the evaluation and
    checkpoint of the last step) and nowhere else."""
    import bioseq.train.loop as loop

    forwards, reads = [0], []

    def counted(config, data):
        model = build(config, data)

        def count(module, args):
            forwards[0] += module.training

        model.register_forward_pre_hook(count)
        return model

    build = loop.build_model
    monkeypatch.setattr(loop, "build_model", counted)
    loop_files = ("loop.py", "objectives.py")
    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "numpy"):
        original = getattr(torch.Tensor, name)

        def read(self, *args, _original=original, _name=name, **kwargs):
            caller = Path(sys._getframe(1).f_code.co_filename)
            if caller.parent.name == "train" and caller.name in loop_files:
                reads.append((forwards[0], _name))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, read)
    settings = dict(steps=6, log_every=3, eval_every=6, save_every=6, workers=0)
    pretrain(dict(TINY_RUN, out=str(tmp_path / "run"), **settings), quiet=True)
    assert forwards[0] == 6 and reads
    assert {step for step, _ in reads} <= {3, 6}, sorted(set(reads))


# -- defect 7: each process's own CUDA RNG state, none on CPU ----------------------------------


def fake_cuda_rng(monkeypatch) -> list:
    """CUDA looks present; a device's generator state is (index, 7); restores are recorded
    and the calls that touch every GPU (or CUDA on a CPU run) raise."""
    restored = []

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.cuda RNG touched")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", forbidden)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", forbidden)
    monkeypatch.setattr(
        torch.cuda,
        "get_rng_state",
        lambda device="cuda": torch.tensor([torch.device(device).index, 7], dtype=torch.uint8),
    )
    monkeypatch.setattr(
        torch.cuda, "set_rng_state", lambda state, device="cuda": restored.append((state, device))
    )
    return restored


def test_a_cpu_run_and_its_resume_never_call_torch_cuda_rng(tmp_path, monkeypatch):
    fake_cuda_rng(monkeypatch)
    for name in ("get_rng_state", "set_rng_state", "current_device", "init"):
        monkeypatch.setattr(torch.cuda, name, lambda *a, **k: pytest.fail("torch.cuda touched"))
    run = pretrain(
        dict(TINY_RUN, out=str(tmp_path / "run"), steps=4, stop_after=2, device="cpu"), quiet=True
    )
    result = CliRunner().invoke(main, ["pretrain", "--resume", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert (run / "final").is_dir()
    state = torch.load(run / "checkpoints" / "step-4" / "trainer_state.pt", weights_only=True)
    assert "cuda" not in state["rng"]


def test_each_rank_saves_and_restores_its_own_gpu_rng_state(tmp_path, monkeypatch):
    restored = fake_cuda_rng(monkeypatch)
    rank0 = torch.tensor([0, 7], dtype=torch.uint8)

    class Rank1(Dist):
        def gather(self, obj):
            return [rank0, obj]  # what all_gather_object gives process 1 of 2

    dist = Rank1(rank=1, local_rank=1, world_size=2, device=torch.device("cuda", 1))
    state = run_rng_state(dist)
    assert [t.tolist() for t in state["cuda"]] == [[0, 7], [1, 7]]  # in rank order

    # through a checkpoint: rank 1 restores its own entry onto its own GPU, nothing else
    config = TrainConfig(**{**TINY_RUN, "context": 64}).resolved()
    data = build_data(config)
    model = build_model(config, data)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config)
    path = save_checkpoint(tmp_path, 1, model, data.tokenizer, optimizer, scheduler, {}, rng=state)
    load_checkpoint(path, model, optimizer, scheduler, torch.device("cuda", 1), rank=1)
    assert [(s.tolist(), d) for s, d in restored] == [([1, 7], torch.device("cuda", 1))]

    restored.clear()  # a rank the checkpoint does not reach (resumed on more GPUs) keeps its own
    runtime.set_rng_state(state, torch.device("cuda", 2), rank=2)
    assert restored == []
    runtime.set_rng_state(state, torch.device("cpu"), rank=1)  # a CPU run: none
    assert restored == [] and "cuda" not in runtime.rng_state(torch.device("cpu"))


def test_workers_out_of_range_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["pretrain", "--workers", "-1", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and not (tmp_path / "r").exists()
    assert "--workers must be an integer in 0..256, not -1" in result.output
