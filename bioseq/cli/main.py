"""The ``bioseq`` command: a click group whose subcommands each call one API function.

Errors in the user's input (:class:`bioseq.errors.InputError`) and operating-system errors (a
missing file, a full disk) end the command with one line on standard error and exit code 2,
never a traceback; a broken pipe ends it quietly.

Subcommands are loaded lazily from :data:`COMMANDS`: ``bioseq --help`` imports none of them
and ``bioseq CMD ...`` imports only CMD's module, so the command starts in a fraction of a
second; torch and transformers load only when a command that runs a model does.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable

import click

from bioseq import __version__
from bioseq.errors import BioseqError

# name -> ("module:object", the line `bioseq --help` shows); a new command is added here
COMMANDS = {
    "compare-variants": ("bioseq.cli.text_variants:compare_variants",
                         "DNA and text variant AUROCs side by side."),
    "convert": ("bioseq.cli.convert:convert",
                "Convert a HyenaDNA, Mamba, Caduceus or Evo 2 checkpoint."),
    "embed": ("bioseq.cli.embed:embed", "Embed every sequence of INPUTS with a model."),
    "fetch": ("bioseq.cli.fetch:fetch", "Print regions of a genome as FASTA."),
    "finetune": ("bioseq.cli.finetune:finetune", "Fine-tune a model on labelled sequences."),
    "generate": ("bioseq.cli.generate:generate", "Sample sequences from a causal LM."),
    "info": ("bioseq.cli.info:info", "Length, GC and N fraction of every record in files."),
    "make-text-variants": ("bioseq.cli.text_variants:make_text_variants",
                           "Write labelled single-character edits of a text."),
    "make-snv-vcf": ("bioseq.cli.score:make_snv_vcf",
                     "Write every possible SNV of chosen CDS as a VCF."),
    "predict": ("bioseq.cli.finetune:predict",
                "Apply a fine-tuned model to a table of sequences."),
    "pretrain": ("bioseq.cli.pretrain:pretrain",
                 "Pretrain a language model on DNA, protein or text files."),
    "probe": ("bioseq.cli.probe:probe",
              "In-context learning probes: bitstring functions, recall."),
    "score-mutations": ("bioseq.cli.score:score_mutations",
                        "Zero-shot scores of protein substitutions in DMS tables."),
    "score-text": ("bioseq.cli.text_variants:score_text",
                   "Score text edits: log-likelihood ratio ALT vs REF."),
    "score-vcf": ("bioseq.cli.score:score_vcf",
                  "Score every ALT of a VCF: log-likelihood ALT vs REF."),
    "tokenizer": ("bioseq.cli.tokenizer:tokenizer",
                  "Train tokenizers (BPE, k-mer) and measure compression."),
}  # fmt: skip
# Commands that run no model: they skip the model set-up (transformers, the allocator tuning).
NO_MODEL = {"info", "fetch", "make-text-variants", "compare-variants"}


class BioseqGroup(click.Group):
    """A click group that turns expected failures into a one-line message and exit code 2,
    and loads its subcommands from :data:`COMMANDS` when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands or name not in COMMANDS:
            return self.commands.get(name)
        module, _, attr = COMMANDS[name][0].partition(":")
        command = getattr(importlib.import_module(module), attr)
        if name not in NO_MODEL:
            _before_running(command, _prepare_models)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from :data:`COMMANDS`, without importing a command module."""
        rows = []
        for name in self.list_commands(ctx):
            known = COMMANDS.get(name)
            rows.append((name, known[1] if known else self.commands[name].get_short_help_str()))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BioseqError as err:
            _fail(str(err))
        except BrokenPipeError:  # e.g. `bioseq info ... | head`
            sys.stderr.close()
            sys.exit(0)
        except OSError as err:  # a missing file, a full disk, a folder where a file should be
            _fail(f"{err.filename or ''}: {err.strerror or err}".lstrip(": "))
        except (MemoryError, RuntimeError) as err:  # past the estimates made before allocating
            if not _out_of_memory(err):
                raise
            _fail(
                f"out of memory ({str(err).strip().splitlines()[0][:160]}); lower --batch-size, "
                f"--window or --context"
            )


def _out_of_memory(err: BaseException) -> bool:
    """torch's CPU and CUDA allocation failures (RuntimeError subclasses) and MemoryError."""
    text = str(err).lower()
    return isinstance(err, MemoryError) or "out of memory" in text or "can't allocate" in text


def _fail(message: str) -> None:
    line = " ".join(message.split("\n"))  # one line, whatever the message held
    click.echo(f"bioseq: error: {line}", err=True)
    sys.exit(2)


def _prepare_models() -> None:
    """Set-up for a command that runs models, done once its arguments have parsed (so never
    for ``--help``): transformers' "Loading weights" bars off (our commands show their own),
    and the CPU allocator tuned for long passes."""
    from transformers.utils import logging as hf_logging

    from bioseq.models.ops.allocator import tune_cpu_allocator

    hf_logging.disable_progress_bar()
    tune_cpu_allocator()


def _before_running(command: click.Command, prepare: Callable[[], None]) -> None:
    """Make ``command`` (each command of a group) call ``prepare`` before its own callback."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _before_running(sub, prepare)
        return
    callback = command.callback
    if callback is None or getattr(callback, "__wrapped_by_bioseq__", False):
        return

    @functools.wraps(callback)
    def run(*args, **kwargs):
        prepare()
        return callback(*args, **kwargs)

    run.__wrapped_by_bioseq__ = True
    command.callback = run


@click.group(cls=BioseqGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="bioseq")
def main() -> None:
    """bioseq: pretrain, score variants with, and probe genomic and protein sequence models."""
