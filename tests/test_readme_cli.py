"""Every ``bioseq ...`` line of the README's shell blocks runs, in README order, as a new user
would type it after the demo: in one working folder, where ``runs/demo`` is the README's demo
command with a small budget, ``bioseq/data`` and ``benchmarks/data`` are the repository's, and
the user's own files that the README names (``genome.fa.gz``, ``family.a2m``, ``dms.csv`` ...)
are small stand-ins written here.

The commands run as written with two exceptions, both listed below: a few take a budget flag
that keeps them to seconds (:data:`BUDGET`; never a flag that makes a failing command pass,
such as a fitting ``--window`` or ``--shots``), and the commands in :data:`SKIPPED` need what a
fresh clone lacks. Output paths are the README's own, relative to the working folder.
"""

from __future__ import annotations

import gzip
import random
import re
import shlex
import shutil
from pathlib import Path

import pysam
import pytest
from click.testing import CliRunner

from bioseq.cli.main import main
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

README = (REPO / "README.md").read_text()
DEMO = "bioseq pretrain --out runs/demo"

# Flags appended to keep a command to seconds; appended flags win over the README's.
TRAIN_BUDGET = ["--steps", "4", "--d-model", "16", "--n-layer", "2", "--context", "64",
                "--batch-size", "2", "--eval-every", "4", "--eval-windows", "2",
                "--final-eval-windows", "2", "--save-every", "2", "--threads", "1"]  # fmt: skip
BUDGET = {
    "pretrain": TRAIN_BUDGET,
    "pretrain --resume": ["--steps", "6"],
    "probe": ["--functions", "1-2", "--trials", "1", "--bootstrap", "10", "--threads", "1"],
}
SKIPPED = {
    "bioseq convert": "needs a released checkpoint (HyenaDNA, Mamba, Evo 2, Caduceus) downloaded "
    "first; tests/test_convert*.py convert small stand-ins",
    "torchrun": "several processes or machines; tests/test_train.py runs DDP on two processes",
}


def readme_commands(text: str = README) -> list[str]:
    """The ``bioseq`` commands of the README's ``bash`` blocks, in order, without comments or
    line continuations; ``cat FILE | bioseq ...`` stays one command (its input is FILE)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                command = shlex.join(words[:cut]).replace(" '|' ", " | ")
                words = words[cut + 1 :]
                known = command.startswith(("bioseq ", "python -m bioseq", "cat ", "torchrun "))
                if known and command not in commands:
                    commands.append(command)
    return commands


def skip_reason(command: str) -> str | None:
    return next((why for start, why in SKIPPED.items() if command.startswith(start)), None)


def cli_arguments(command: str) -> tuple[list[str], str | None]:
    """The arguments after ``bioseq`` (budget flags appended) and the standard input file."""
    stdin = None
    if command.startswith("cat "):
        source, _, command = command.partition(" | ")
        stdin = shlex.split(source)[1]
    words = shlex.split(command)
    words = words[3:] if words[:3] == ["python", "-m", "bioseq"] else words[1:]
    if words[:1] == ["pretrain"] and "--resume" in words:
        return words + BUDGET["pretrain --resume"], stdin
    return words + BUDGET.get(words[0], []), stdin


COMMANDS = readme_commands()


# -- the user's files the README names: small stand-ins -------------------------------------
def random_dna(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def write_fasta(path: Path, records: dict[str, str], opener=open) -> None:
    with opener(path, "wt") as handle:
        for name, seq in records.items():
            handle.write(f">{name}\n{seq}\n")


def write_family(path: Path, rng: random.Random) -> str:
    """An a2m family: a 40-residue wild type and 40 homologs of it (upper case: match columns,
    ``-`` deletions); returns the wild type."""
    letters = "ACDEFGHIKLMNPQRSTVWY"
    wildtype = "M" + "".join(rng.choice(letters) for _ in range(39))
    records = {"WT/1-40": wildtype}
    for i in range(40):
        seq = [rng.choice(letters + "-") if rng.random() < 0.2 else c for c in wildtype]
        records[f"h{i}"] = "".join(seq)
    write_fasta(path, records)
    return wildtype


def write_user_files(work: Path) -> None:
    rng = random.Random(0)
    genome = {"chr1": random_dna(rng, 6000), "chr2": random_dna(rng, 4000)}
    write_fasta(work / "genome.fa", genome)
    pysam.tabix_compress(str(work / "genome.fa"), str(work / "genome.fa.gz"))
    write_fasta(work / "other.fa.gz", {"other": random_dna(rng, 3000)}, opener=gzip.open)
    write_fasta(work / "reads.fa", {f"read{i}": random_dna(rng, 150) for i in range(3)})
    shutil.copy(REPO / "bioseq" / "data" / "lambda_NC_001416.gbk", work / "annotation.gbk")
    vcf = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr1,length=6000>",
        "##contig=<ID=chr2,length=4000>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    for contig, pos in (("chr1", 1500), ("chr1", 3001), ("chr2", 2000)):
        ref = genome[contig][pos - 1]
        alt = next(b for b in "ACGT" if b != ref)
        vcf.append(f"{contig}\t{pos}\t.\t{ref}\t{alt}\t.\t.\t.")
    (work / "calls.vcf").write_text("\n".join(vcf) + "\n")
    pysam.tabix_compress(str(work / "calls.vcf"), str(work / "calls.vcf.gz"))
    wildtype = write_family(work / "family.a2m", rng)
    shutil.copy(work / "family.a2m", work / "proteins.a2m")
    rows = ["mutant,DMS_score"]
    for pos in range(2, 41, 3):
        mutant = next(c for c in "ACDEFGHIKLMNPQRSTVWY" if c != wildtype[pos - 1])
        rows.append(f"{wildtype[pos - 1]}{pos}{mutant},{rng.gauss(0, 1):.3f}")
    (work / "dms.csv").write_text("\n".join(rows) + "\n")
    (work / "run.yaml").write_text("out: runs/yaml\nmodel: mamba\n")


# -- the working folder -------------------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory, one_thread):
    """The user's folder after the README's demo (with the budget flags)."""
    work = tmp_path_factory.mktemp("readme")
    for folder in ("bioseq/data", "benchmarks/data"):
        (work / folder).parent.mkdir(parents=True, exist_ok=True)
        (work / folder).symlink_to(REPO / folder)
    write_user_files(work)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        result = invoke(DEMO)
        assert result.exit_code == 0, result.output
        # the README's stand-in for "a Hugging Face causal LM folder you have"
        shutil.copytree(work / "runs/demo/final", work / "path/to/hf-causal-lm")
        yield work


def invoke(command: str):
    args, stdin = cli_arguments(command)
    text = Path(stdin).read_text() if stdin else None
    return CliRunner().invoke(main, args, input=text)


def test_the_readme_has_commands_and_every_one_is_run_or_skipped_for_a_reason():
    assert DEMO in COMMANDS and len(COMMANDS) > 30
    assert {c.split()[0] for c in COMMANDS} <= {"bioseq", "python", "cat", "torchrun"}
    skipped = [c for c in COMMANDS if skip_reason(c)]
    assert 0 < len(skipped) < 10


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[:70])
def test_readme_command_runs(work, command, monkeypatch):
    why = skip_reason(command)
    if why:
        pytest.skip(why)
    monkeypatch.chdir(work)
    if command == DEMO:  # the fixture ran it: the run is complete
        assert {"final", "checkpoints", "loss.png", "metrics.jsonl", "config.yaml"} <= {
            p.name for p in (work / "runs/demo").iterdir()
        }
        return
    result = invoke(command)
    assert result.exit_code == 0, f"{command}\n{result.output}\n{result.exception!r}"
