"""Options built from the configuration classes: ``pretrain`` and ``finetune`` show the
dataclass defaults (they cannot drift), a default left untyped never overrides a YAML file or a
resumed run, and ``TrainConfig.from_flags`` decides resume and steps-vs-tokens."""

from __future__ import annotations

import dataclasses
from unittest import mock

import click
import pytest
import yaml
from click.testing import CliRunner

from bioseq.cli.finetune import finetune
from bioseq.cli.main import main
from bioseq.cli.pretrain import pretrain
from bioseq.errors import InputError
from bioseq.settings import describe
from bioseq.tasks.adapt.config import FinetuneConfig
from bioseq.train.config import TrainConfig

# options that parse their own text into the field (counts, KEY=VALUE, comma lists)
PARSED = {"tokens", "model_config", "val_contigs"}
NOT_THE_FIELD = {"resume"}  # pretrain --resume DIR names the run; the field says "resume"


def options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option)}


def field_default(cls, name):
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


@pytest.mark.parametrize("command, cls", [(pretrain, TrainConfig), (finetune, FinetuneConfig)])
def test_every_option_of_a_field_has_its_default_and_help(command, cls):
    fields = {f.name for f in dataclasses.fields(cls)}
    shared = {n: opt for n, opt in options(command).items() if n in fields - NOT_THE_FIELD}
    assert len(shared) >= 20
    for name, opt in shared.items():
        if name not in PARSED:
            assert opt.default == field_default(cls, name), name
        doc, shown = describe(cls, name)
        assert opt.help.startswith(doc), name
        if shown is not None and not opt.is_flag:
            assert opt.help.endswith(f"[default: {shown}]"), name


def test_the_help_states_the_defaults_the_config_resolves_to():
    help_text = options(pretrain)["warmup_steps"].help
    assert help_text.endswith("[default: 10% of the steps, at most 1,000]")
    assert TrainConfig(steps=300).resolved().warmup_steps == 30
    assert TrainConfig(steps=50_000).resolved().warmup_steps == 1000
    assert options(pretrain)["steps"].help.endswith("[default: 200, unless --tokens]")
    assert TrainConfig().resolved().steps == 200
    assert options(pretrain)["lr"].help.endswith("[default: 0.003]") and TrainConfig().lr == 3e-3
    assert options(pretrain)["model"].type.choices[:2] == ("hyena", "mamba")


def run_pretrain(*args):
    """``bioseq pretrain ARGS`` with the training loop replaced: the config it would train."""
    seen = {}

    def fake(config, quiet=False):
        seen["config"] = config
        return config.out

    with mock.patch("bioseq.train.pretrain", fake):
        result = CliRunner().invoke(main, ["pretrain", *map(str, args)])
    return result, seen.get("config")


def test_untyped_defaults_leave_the_yaml_file_alone(tmp_path):
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(yaml.safe_dump({"lr": 0.01, "batch_size": 8, "steps": 50}))
    result, config = run_pretrain("--config", run_yaml, "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert (config.lr, config.batch_size, config.steps) == (0.01, 8, 50)
    # a flag typed on the command line wins, even when it equals the default
    result, config = run_pretrain("--config", run_yaml, "--lr", "0.003", "--out", tmp_path / "r")
    assert result.exit_code == 0 and config.lr == 0.003 and config.batch_size == 8


def test_tokens_and_steps_replace_each_other_across_sources(tmp_path):
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("steps: 50\n")
    config = TrainConfig.from_flags({"tokens": 10_000}, config_file=run_yaml)
    assert (config.steps, config.tokens) == (None, 10_000)
    run_yaml.write_text("tokens: 10000\n")
    config = TrainConfig.from_flags({"steps": 7}, config_file=run_yaml)
    assert (config.steps, config.tokens) == (7, None)
    with pytest.raises(InputError, match="give steps or tokens, not both"):
        TrainConfig.from_flags({"steps": 7, "tokens": 100}).validate()


def test_resume_reads_the_runs_own_config(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"out": str(run), "steps": 40, "lr": 0.02}))
    config = TrainConfig.from_flags({"steps": 80}, resume=run)
    assert (config.steps, config.lr, config.resume, config.out) == (80, 0.02, True, str(run))
    for kwargs, message in (
        ({"inputs": ["g.fa"]}, "takes its inputs and settings from"),
        ({"config_file": "x.yaml"}, "takes its inputs and settings from"),
    ):
        with pytest.raises(InputError, match=message):
            TrainConfig.from_flags({}, resume=run, **kwargs)
    with pytest.raises(InputError, match="leave out --out"):
        TrainConfig.from_flags({"out": str(tmp_path / "other")}, resume=run)
    with pytest.raises(InputError, match="not a run directory"):
        TrainConfig.from_flags({}, resume=tmp_path)


def test_finetune_resume_changes_only_epochs_and_device(tmp_path):
    run = tmp_path / "ft"
    run.mkdir()
    saved = FinetuneConfig(model="m", train="t.tsv", out=str(run), epochs=2.0, lr=5e-4)
    (run / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(saved)))
    config = FinetuneConfig.from_flags({"epochs": 6.0, "progress": False}, resume=run)
    assert (config.epochs, config.lr, config.model, config.progress) == (6.0, 5e-4, "m", False)
    with pytest.raises(InputError, match=r"only --epochs and --device may change \(not --lr\)"):
        FinetuneConfig.from_flags({"lr": 1e-3}, resume=run)
    with pytest.raises(InputError, match="missing --train, --out"):
        FinetuneConfig.from_flags({"model": "m"})
    result = CliRunner().invoke(main, ["finetune", "--resume", str(run), "--mode", "lora"])
    assert result.exit_code == 2 and "not --mode" in result.stderr
