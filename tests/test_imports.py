"""Start-up stays light: ``import bioseq.io`` loads no torch, transformers or numba, ``bioseq
--help`` imports no subcommand, and each command loads only its own module.

Each check runs in a fresh interpreter (this test process already holds torch, from conftest).
Start-up *times* are measured in ``benchmarks/RESULTS.md`` ("Start-up time (issue 17)"), not here.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import pytest

import bioseq.cli
from bioseq.cli.main import COMMANDS, NO_MODEL, main
from bioseq.data import default_genome, example_genome

HEAVY = ("torch", "transformers", "numba")


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def imported_by_command(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``bioseq ARGS`` (its click group, as the ``bioseq`` script does) in a fresh
    interpreter; its result and the modules loaded by the time it exits."""
    with tempfile.TemporaryDirectory() as folder:
        listing = Path(folder) / "modules.json"
        script = (
            "import atexit, json, sys\n"
            f"atexit.register(lambda: open({str(listing)!r}, 'w').write("
            "json.dumps(sorted(sys.modules))))\n"
            "from bioseq.cli.main import main\n"
            f"main({list(args)!r})\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        return done, set(json.loads(listing.read_text()))


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY}


def test_import_bioseq_io_loads_no_torch_transformers_or_numba():
    modules = loaded_after("import bioseq, bioseq.io")
    assert "bioseq.io" in modules and not heavy(modules)


def test_reading_files_through_the_entrance_loads_no_torch():
    code = (
        "from bioseq.io import Genome, open_input, read_genbank, summarize\n"
        f"assert open_input({str(example_genome('lambda'))!r}).format == 'genbank'\n"
        f"[r] = read_genbank({str(example_genome('lambda'))!r})\n"
        f"with open_input({str(default_genome())!r}).source() as g:\n"
        "    assert g.fetch('NC_000913.3', 0, 4) == 'AGCT'\n"
        f"summarize({str(default_genome())!r})\n"
    )
    assert not heavy(loaded_after(code))


def test_the_datasets_still_load_on_first_use():
    modules = loaded_after("import bioseq.io\nbioseq.io.GenomeWindows, bioseq.io.SequenceRecords")
    assert {"torch", "bioseq.io.windows", "bioseq.io.records"} <= modules


def test_bioseq_help_lists_every_command_and_imports_none_of_them():
    done = subprocess.run(
        [sys.executable, "-m", "bioseq", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    listing = done.stdout.split("Commands:")[1]
    for name, (_, short_help) in COMMANDS.items():
        line = next(line for line in listing.splitlines() if line.split()[:1] == [name])
        assert line.split(None, 1)[1].strip() == short_help
    done, modules = imported_by_command("--help")
    assert done.returncode == 0 and "Commands:" in done.stdout
    assert not heavy(modules)
    assert {m for m in modules if m.startswith("bioseq.cli.")} == {"bioseq.cli.main"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_loads_only_that_command(name):
    done, modules = imported_by_command(name, "--help")
    assert done.returncode == 0 and "Usage: " in done.stdout, done.stderr[-2000:]
    module = COMMANDS[name][0].split(":")[0]
    others = {spec.split(":")[0] for spec, _ in COMMANDS.values()} - {module}
    assert module in modules and not modules & others  # helpers such as cli.options may load
    assert "bioseq.models.ops.allocator" not in modules  # the model set-up waits for a real run
    if name in NO_MODEL:
        assert not heavy(modules)


def test_training_configs_load_no_torch():
    modules = loaded_after("import bioseq.train.config, bioseq.tasks.adapt.config")
    assert "bioseq.train.config" in modules and not heavy(modules)


@pytest.mark.parametrize("name", ["pretrain", "finetune"])
def test_help_built_from_the_configs_loads_no_torch(name):
    done, modules = imported_by_command(name, "--help")
    assert done.returncode == 0 and "[default: " in done.stdout, done.stderr[-2000:]
    assert not heavy(modules)


def test_info_runs_without_torch():
    done, modules = imported_by_command("info", str(example_genome("lambda")))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "NC_001416.1\tDNA\t48502\t" in done.stdout
    assert not heavy(modules)


def test_text_variant_tables_are_made_and_compared_without_torch(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat, the hat. a cat, a hat, a mat. " * 4)
    made = tmp_path / "made.tsv"
    done, modules = imported_by_command(
        "make-text-variants", str(text), "--out", str(made), "--n", "3", "--region", "all"
    )
    assert done.returncode == 0 and made.stat().st_size, done.stderr[-2000:]
    assert not heavy(modules)
    vcf = tmp_path / "dna.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=c,length=9>\n"
        '##INFO=<ID=BIOSEQ_EFFECT,Number=1,Type=String,Description="e">\n'
        '##INFO=<ID=BIOSEQ_LLR,Number=A,Type=Float,Description="s">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "c\t1\t.\tA\tC\t.\t.\tBIOSEQ_EFFECT=synonymous;BIOSEQ_LLR=0.1\n"
        "c\t2\t.\tA\tC\t.\t.\tBIOSEQ_EFFECT=nonsynonymous;BIOSEQ_LLR=-0.3\n"
    )
    scores = tmp_path / "text.tsv"
    scores.write_text("id\tlabel\tscore\tstatus\n1\tword\t1.0\tok\n2\tnonword\t-2.0\tok\n")
    out = tmp_path / "cmp.tsv"
    done, modules = imported_by_command(
        "compare-variants", "--dna", f"m={vcf}", "--text", f"m={scores}", "--out", str(out)
    )
    assert done.returncode == 0 and out.stat().st_size, done.stderr[-2000:]
    assert not heavy(modules)


@pytest.mark.slow
def test_a_model_command_still_turns_transformers_progress_bars_off(tmp_path):
    fasta = tmp_path / "t.fa"
    fasta.write_text(">a\nACGTACGTAC\n")
    code = (
        "from bioseq.cli.main import main\n"
        f"main(['tokenizer', 'report', 'kmer:2', {str(fasta)!r}], standalone_mode=False)\n"
        "from transformers.utils import logging\n"
        "print(json.dumps(logging.is_progress_bar_enabled()))\n"
    )
    script = f"import json\n{code}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bases_per_token" in done.stdout and done.stdout.strip().endswith("false")


def top_level_commands() -> dict[str, click.Command]:
    """Every click command a ``bioseq.cli`` module defines that is not a group's subcommand."""
    found, nested = {}, set()
    for info in pkgutil.iter_modules(bioseq.cli.__path__, "bioseq.cli."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, lambda v: isinstance(v, click.Command)):
            if isinstance(value, click.Group):
                nested |= {id(sub) for sub in value.commands.values()}
            if value is not main:
                found[value.name] = value
    return {name: cmd for name, cmd in found.items() if id(cmd) not in nested}


def test_the_command_table_names_every_command_and_nothing_else():
    commands = top_level_commands()
    assert set(commands) == set(COMMANDS)
    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is commands[name] and command.name == name
    assert set(COMMANDS) >= NO_MODEL
