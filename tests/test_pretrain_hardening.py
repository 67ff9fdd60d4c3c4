"""bioseq pretrain under abuse: bad settings, a changed or concurrent resume, non-finite weights,
signals, a full disk, damaged checkpoints, runs killed early, steps that cannot fit in memory."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForCausalLM

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.cli.main import main
from bioseq.data import example_genome
from bioseq.errors import InputError
from bioseq.train import TrainConfig, latest_checkpoint, load_yaml, pretrain
from bioseq.train.checkpoint import STATE_FILE, list_checkpoints
from bioseq.train.memory import check_memory
from bioseq.train.progress import format_row
from bioseq.train.rundir import RunLock
from tests.conftest import TINY_RUN

REPO = Path(__file__).resolve().parents[1]
LAMBDA = str(example_genome("lambda"))
TINY = TINY_RUN
TINY_FLAGS = ["--d-model", "32", "--n-layer", "1", "--context", "64", "--batch-size", "4",
              "--log-every", "1", "--eval-every", "2", "--eval-windows", "4",
              "--final-eval-windows", "8", "--save-every", "2", "--threads", "1"]  # fmt: skip


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result, code: int = 2) -> str:
    """The single ``bioseq: error:`` line of a failed command (no traceback)."""
    assert result.exit_code == code, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bioseq: error:"), result.stderr
    return lines[0]


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes (to prove that nothing was written); the lock
    file, which a refused run may have opened, aside."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A tiny run stopped with checkpoints at steps 2 and 4 (copy it before changing it)."""
    run = tmp_path_factory.mktemp("stopped") / "run"
    pretrain(dict(TINY, out=str(run), steps=8, stop_after=4), quiet=True)
    assert [p.name for p in list_checkpoints(run)] == ["step-2", "step-4"]
    return run


def copy_run(source: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(source, run)
    return run


# -- settings: one line, exit 2, nothing written ------------------------------------------------

PROTEINS = ">p1\nMKVLHEEWRTQPLISDFGHKKLLMMQQ\n>p2\nMSSHHEEWRTQPLIDFGHKKWWQQ\n" * 4
YAML_CASES = {
    "betas.yaml": (b"betas: [1.5, -1]\n", "betas.yaml:1: betas must each be a finite number"),
    "dup.yaml": (b"steps: 3\nlr: 0.01\nsteps: 4\n", "dup.yaml:3: duplicate key 'steps'"),
    "nested.yaml": (
        b"model_config:\n  d_state: 4\n  d_state: 8\n",
        "nested.yaml:3: duplicate key 'd_state'",
    ),  # fmt: skip
    "nul.yaml": (b"steps: 3\nlr: \x00\x01\n", "nul.yaml:2: a NUL byte: a binary file"),
    "latin1.yaml": (b"steps: 3\nout: caf\xe9\n", "latin1.yaml:2: not UTF-8 text"),
    "list.yaml": (b"- 1\n- 2\n", "list.yaml: expected a mapping of keys to values"),
    "inf.yaml": (b"lr: .inf\n", "inf.yaml:1: lr must be a finite number in (0, 10], not inf"),
}
BAD_SETTINGS = [
    (["--n-layer", "0"], "--n-layer must be an integer in 1..1,024, not 0"),
    (["--n-layer", "-1"], "--n-layer must be an integer in 1..1,024, not -1"),
    (["--d-model", "0"], "--d-model must be an integer in 1..65,536, not 0"),
    (["--model", "transformer", "--d-model", "129"], "d_model 129 is not divisible by n_head 2"),
    (["--model", "transformer", "--d-model", "7"], "a Transformer head needs an even number"),
    (["--model", "mamba", "--model-config", "d_state=-1"], "cannot build a mamba model"),
    (["--weight-decay", "-0.1"], "--weight-decay must be a finite number in [0, 10]"),
    (["--grad-clip", "-1"], "--grad-clip must be a finite number in [0, 1e+06]"),
    (["--grad-clip", "inf"], "--grad-clip must be a finite number in [0, 1e+06], not inf"),
    (["--threads", "-1"], "--threads must be an integer in 0..4,096, not -1"),
    (["--keep-checkpoints", "-1"], "--keep-checkpoints must be an integer in 0.."),
    (["--eval-windows", "0"], "--eval-windows must be an integer in 1.."),
    (["--eval-windows", "-1"], "--eval-windows must be an integer in 1.."),
    (["--final-eval-windows", "-1"], "--final-eval-windows must be an integer in 0.."),
    (["--context-warmup", "-1"], "--context-warmup must be an integer in 0.."),
    (["--stop-after", "0"], "--stop-after must be an integer in 1.."),
    (["--seed", "-1"], "--seed must be an integer in 0..4,294,967,295, not -1"),
    (["--markov-order", "13"], "--markov-order must be an integer in 0..12, not 13"),
    (["--markov-order", "-1"], "--markov-order must be an integer in 0..12, not -1"),
    (["--warmup-steps", "50", "--steps", "10"], "warmup_steps 50 is more than the 10 steps"),
    (["--min-lr-ratio", "nan"], "--min-lr-ratio must be a finite number in [0, 1], not nan"),
    (["--val-fraction", "nan"], "--val-fraction must be a finite number in [0, 1), not nan"),
    (["--tokenizer", "merge", "--merge-ratio", "inf"], "--merge-ratio must be a finite number"),
    (["--sequence-weights", "nan"], "--sequence-weights must be a finite number in (0, 1]"),
    (["--lr", "nan"], "--lr must be a finite number in (0, 10], not nan"),
    (["--lr", "inf"], "--lr must be a finite number in (0, 10], not inf"),
    (["--lr", "1e38"], "--lr must be a finite number in (0, 10], not 1e+38"),
    (["--lr", "0"], "--lr must be a finite number in (0, 10], not 0.0"),
    (["--steps", "0"], "--steps must be an integer in 1..1,000,000,000, not 0"),
    (["--tokens", "inf"], "--tokens: expected a count from 1 to 1e15"),
    (["--tokens", "1e30"], "--tokens: expected a count from 1 to 1e15"),
    (
        ["--tokens", "10G", "--batch-size", "1", "--context", "1"],
        "tokens 10,000,000,000 are 10,000,000,000 steps",
    ),  # fmt: skip
    (
        ["--context", "40000", "--batch-size", "100000", "--val-fraction", "0"],
        "a training step needs at least",
    ),  # fmt: skip
    (["--d-model", "65536", "--n-layer", "1024"], "the model alone does not fit"),
    (["--resume", "{tmp}/run", "--overwrite"], "give resume or overwrite, not both"),
    *[(["--config", f"{{tmp}}/{name}"], expected) for name, (_, expected) in YAML_CASES.items()],
    (["{tmp}/p.fa", "--batch-size", "2", "--markov-order", "6"], "markov_order 6 over 21 letters"),
]


@pytest.mark.parametrize(
    ("args", "expected"), [pytest.param(*case, id=" ".join(case[0])[-40:]) for case in BAD_SETTINGS]
)
def test_bad_settings_are_one_line_and_nothing_is_written(tmp_path, args, expected):
    for name, (content, _) in YAML_CASES.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "p.fa").write_text(PROTEINS)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("steps: 4\n")
    before = snapshot(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    inputs = [] if args[0] in ("--config", "--resume") or args[0].endswith(".fa") else [LAMBDA]
    out = [] if "--resume" in args else ["--out", tmp_path / "new"]
    line = one_error_line(run_cli("pretrain", *inputs, "--threads", "1", *args, *out))
    assert expected in line, line
    assert snapshot(tmp_path) == before and not (tmp_path / "new").exists()


def test_yaml_ranges_name_the_file_and_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("steps: 10\neval_windows: 0\n")
    with pytest.raises(InputError, match=r"run.yaml:2: eval_windows must be an integer in 1\.\."):
        load_yaml(path)
    with pytest.raises(InputError, match="keep_checkpoints must be an integer in 0"):
        TrainConfig(keep_checkpoints=-1).validate()  # the Python API checks the same ranges


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_cuda_is_one_line(tmp_path):
    line = one_error_line(run_cli("pretrain", LAMBDA, "--device", "cuda", "--out", tmp_path / "r"))
    assert "device cuda was asked for, but torch sees no CUDA device" in line
    assert not (tmp_path / "r").exists()


def test_out_must_be_a_writable_directory_for_a_run(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_text("meow")
    cases = [
        (a_file, [], "notes.txt: is a file, expected a directory"),
        (a_file / "run", [], "notes.txt is a file, not a folder"),
        (other, [], "photos: already holds files and is not a bioseq run"),
        (other, ["--overwrite"], "photos: already holds files and is not a bioseq run"),
    ]
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases.append((locked / "run", [], "locked is not writable"))
    before = snapshot(tmp_path)
    for out, extra, expected in cases:
        line = one_error_line(run_cli("pretrain", LAMBDA, "--out", out, *extra, *TINY_FLAGS))
        assert expected in line, line
    assert snapshot(tmp_path) == before and not (other / ".lock").exists()


# -- resume -----------------------------------------------------------------------------------


def test_a_refused_resume_changes_nothing_and_a_valid_one_applies_new_settings(
    stopped_run, tmp_path
):
    run = copy_run(stopped_run, tmp_path)
    before = snapshot(run)
    for args, expected in [
        (["--model", "mamba"], "cannot change model 'hyena' -> 'mamba'"),
        (["--context", "32"], "cannot change context 64 -> 32"),
        (["--d-model", "64", "--seed", "3"], "d_model 32 -> 64; seed 0 -> 3"),
        (["--model-config", "embed_dropout=0.5"], "cannot change model_config {} -> "),
        (["--lr", "inf"], "--lr must be a finite number"),
    ]:
        line = one_error_line(run_cli("pretrain", "--resume", run, *args))
        assert expected in line, line
        assert snapshot(run) == before  # config.yaml above all: a plain --resume still works
    result = run_cli("pretrain", "--resume", run, "--steps", "6", "--lr", "1e-4", "--quiet")
    assert result.exit_code == 0, result.output
    saved = load_yaml(run / "config.yaml")
    assert (saved.steps, saved.lr, saved.model) == (6, 1e-4, "hyena")
    rows = metrics(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[3]["lr"] > 1e-3 and all(r["lr"] <= 1e-4 for r in rows[4:])  # the new peak lr
    assert (run / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize("damaged", ["model.safetensors", STATE_FILE])
def test_resume_skips_a_damaged_checkpoint_with_a_warning(stopped_run, tmp_path, damaged):
    run = copy_run(stopped_run, tmp_path)
    (run / "checkpoints" / "step-4" / damaged).write_bytes(b"\x00garbage")
    result = run_cli("pretrain", "--resume", run, "--steps", "5", "--quiet")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "step-4" in warnings[0] and "step-2" in warnings[0], warnings
    assert [r["step"] for r in metrics(run)] == [1, 2, 3, 4, 5]  # resumed after step 2
    assert [p.name for p in list_checkpoints(run)] == ["step-2", "step-4", "step-5"]
    assert any(p.name.startswith("damaged-step-4") for p in (run / "checkpoints").iterdir())
    # with no intact checkpoint left: one line, and the run as it was
    run = copy_run(stopped_run, tmp_path / "none")
    for step in (2, 4):
        (run / "checkpoints" / f"step-{step}" / damaged).write_bytes(b"")
    before = snapshot(run)
    line = one_error_line(run_cli("pretrain", "--resume", run, "--quiet"))
    assert "no intact checkpoint to resume from" in line and "step-2" in line, line
    assert snapshot(run) == before


def test_a_run_killed_before_its_first_checkpoint_restarts(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(**TINY, out=str(run), steps=3).resolved()
    (run / "config.yaml").write_text(config.to_yaml())
    (run / "metrics.jsonl").write_text('{"step": 1, "tokens": 9}\n{"step": 2, "tok')  # cut short
    (run / ".final-abc").mkdir()  # left by a kill while writing final/
    (run / "checkpoints" / ".step-2-xyz").mkdir(parents=True)
    result = run_cli("pretrain", "--resume", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert "no checkpoint yet; starting from step 0" in result.stderr
    assert [r["step"] for r in metrics(run)] == [1, 2, 3]
    assert not (run / ".final-abc").exists() and not (run / "checkpoints" / ".step-2-xyz").exists()
    shutil.rmtree(run / "checkpoints")  # a finished model is not retrained by --resume
    line = one_error_line(run_cli("pretrain", "--resume", run, "--quiet"))
    assert "has final/ but no checkpoint to resume from" in line, line
    shutil.rmtree(run / "final")  # killed early again: the same --out starts afresh
    result = run_cli("pretrain", LAMBDA, "--out", run, "--steps", "2", *TINY_FLAGS, "--quiet")
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in metrics(run)] == [1, 2]
    line = one_error_line(run_cli("pretrain", "--resume", tmp_path, "--quiet"))
    assert "not a run directory (no config.yaml) to resume" in line


# -- non-finite weights -------------------------------------------------------------------------


def test_non_finite_weights_are_never_saved(tmp_path, monkeypatch):
    import bioseq.train.loop as loop

    def poisoned(model, config):
        optimizer, calls = make(model, config), []

        def poison(optimizer, args, kwargs):
            calls.append(1)
            if len(calls) >= 3:  # the update of step 3 makes the weights infinite
                with torch.no_grad():
                    next(model.parameters()).fill_(float("inf"))

        optimizer.register_step_post_hook(poison)
        return optimizer

    make = loop.make_optimizer
    monkeypatch.setattr(loop, "make_optimizer", poisoned)
    run = tmp_path / "run"
    result = run_cli("pretrain", LAMBDA, "--out", run, "--steps", "6", *TINY_FLAGS)
    lines = [line for line in result.stderr.splitlines() if line.startswith("bioseq:")]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert "weights became NaN or infinite by step 4; not saved" in lines[0]
    assert "step-2" in lines[0] and "Traceback" not in result.output
    assert [p.name for p in list_checkpoints(run)] == ["step-2"] and not (run / "final").exists()
    model = AutoModelForCausalLM.from_pretrained(run / "checkpoints" / "step-2")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_progress_lines_survive_missing_values():
    row = {
        "step": 3,
        "train_bits_per_base": None,
        "val_bits_per_base": None,
        "tokens_per_s": None,
        "lr": None,
    }
    assert format_row(row, total=4, eta=float("nan")) == "step 3/4"


# -- a full disk -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["checkpoint", "final", "metrics"])
def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, target):
    import bioseq.train.checkpoint as checkpoint
    import bioseq.train.rundir as rundir

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    save_model_dir, real_open = checkpoint.save_model_dir, open

    def save_until_full(path, model, tokenizer):
        save_model_dir(path, model, tokenizer)  # a partial folder is left to clean up
        if path.name.startswith(".step-4-" if target == "checkpoint" else ".final-"):
            full()

    class FullFile:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, text):
            self.handle.write(text[:5])
            self.handle.flush()
            full()

    def open_until_full(path, mode="r", **kwargs):
        path = Path(path)
        full_now = (
            path.name == "metrics.jsonl"
            and path.is_file()
            and (len(path.read_text().splitlines()) >= 3)
        )
        handle = real_open(path, mode, **kwargs)
        return FullFile(handle) if full_now else handle

    if target == "metrics":
        monkeypatch.setattr(rundir, "open", open_until_full, raising=False)
    else:
        monkeypatch.setattr(checkpoint, "save_model_dir", save_until_full)
    run = tmp_path / "run"
    result = run_cli("pretrain", LAMBDA, "--out", run, "--steps", "4", *TINY_FLAGS, "--quiet")
    line = one_error_line(result)
    expected = ["step-2", "step-4"] if target == "final" else ["step-2"]
    assert "no space left on the device" in line and f"checkpoint: {run}" in line, line
    assert line.endswith(expected[-1]), line
    assert [p.name for p in list_checkpoints(run)] == expected
    leftovers = [p.name for p in [*run.iterdir(), *(run / "checkpoints").iterdir()]]
    assert not [name for name in leftovers if name.startswith((".step-", ".final-"))], leftovers
    assert metrics(run)  # every line whole: the partial row was cut back
    AutoModelForCausalLM.from_pretrained(latest_checkpoint(run))


# -- memory ------------------------------------------------------------------------------------


def test_the_memory_estimate_allows_the_readme_examples(monkeypatch):
    import bioseq.train.memory as memory

    gib = 2**30
    monkeypatch.setattr(memory, "available_memory", lambda device: 16 * gib)
    readme = TrainConfig(model="mamba", size="small", context=4096, batch_size=32).resolved()
    check_memory(readme, 10, 4096, 1, torch.device("cuda"))  # a 16 GB GPU
    monkeypatch.setattr(memory, "available_memory", lambda device: 2 * gib)
    check_memory(TrainConfig().resolved(), 10, 256, 1, torch.device("cpu"))  # the demo
    with pytest.raises(InputError, match="use --grad-accum 4 "):
        check_memory(dict_config(context=4096, batch_size=64), 10, 4096, 1, torch.device("cpu"))


def dict_config(**values) -> TrainConfig:
    return TrainConfig(**values).resolved()


# -- signals and a second run in the same directory ----------------------------------------------


@pytest.mark.slow
def test_sigint_exits_130_and_a_second_run_is_refused_while_it_trains(tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "bioseq",
        "pretrain",
        LAMBDA,
        "--out",
        str(run),
        *TINY_FLAGS,
        "--steps",
        "100000",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    stderr = open(tmp_path / "stderr", "w+")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=env)
    try:
        deadline = time.time() + 120
        while not (run / "metrics.jsonl").is_file() or len(metrics(run)) < 2:
            assert proc.poll() is None and time.time() < deadline, "training did not start"
            time.sleep(0.2)
        while latest_checkpoint(run) is None:
            assert proc.poll() is None and time.time() < deadline, "no checkpoint"
            time.sleep(0.2)
        for args in (["--resume", run], [LAMBDA, "--out", run, "--overwrite", *TINY_FLAGS]):
            line = one_error_line(run_cli("pretrain", *args, "--quiet"))
            assert f"another bioseq pretrain (pid {proc.pid}) is running" in line, line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr.seek(0)
    assert f"resume with: bioseq pretrain --resume {run}" in stderr.read()
    assert latest_checkpoint(run) is not None and not (run / "final").exists()
    steps = [r["step"] for r in metrics(run)]
    assert steps == list(range(1, len(steps) + 1))  # no rows from the refused runs


def test_a_held_lock_refuses_a_run_until_it_is_released(tmp_path):
    run = tmp_path / "run"
    lock = RunLock()
    lock.acquire(run)
    line = one_error_line(run_cli("pretrain", LAMBDA, "--out", run, *TINY_FLAGS))
    assert f"(pid {os.getpid()})" in line
    lock.release()
    result = run_cli("pretrain", LAMBDA, "--out", run, "--steps", "2", *TINY_FLAGS, "--quiet")
    assert result.exit_code == 0, result.output


def test_module_doctests():
    import doctest

    import bioseq.train.memory as memory
    import bioseq.train.rundir as rundir

    for module in (memory, rundir):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_empty_and_badly_tagged_yaml(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("")
    assert load_yaml(path) == TrainConfig()
    for text in ("steps: 1\nout: !!timestamp x\n", "steps: !!int x\n", "out: 2001-13-45\n"):
        path.write_text(text)
        with pytest.raises(InputError, match=r"run.yaml: invalid YAML value \("):
            load_yaml(path)


def test_a_second_signal_aborts_with_the_signal_exit_code():
    from bioseq.runtime import StopSignal, TrainingInterrupted

    aborted = pytest.raises(TrainingInterrupted, match="aborted by a second SIGTERM")
    with aborted as err, StopSignal() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handler runs between bytecodes of the main thread
        assert stop.requested == "SIGTERM"
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
    assert err.value.exit_code == 143
