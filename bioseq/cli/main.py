"""The ``bioseq`` command: a click group whose subcommands each call one API function.

Errors in the user's input (:class:`bioseq.errors.InputError`) and operating-system errors (a
missing file, a full disk) end the command with one line on standard error and exit code 2,
never a traceback; a broken pipe ends it quietly.
"""

from __future__ import annotations

import sys

import click

from bioseq import __version__
from bioseq.errors import BioseqError
from bioseq.models.ops.allocator import tune_cpu_allocator


class BioseqGroup(click.Group):
    """A click group that turns expected failures into a one-line message and exit code 2."""

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
            _fail(f"out of memory ({str(err).strip().splitlines()[0][:160]}); lower --batch-size, "
                  f"--window or --context")


def _out_of_memory(err: BaseException) -> bool:
    """torch's CPU and CUDA allocation failures (RuntimeError subclasses) and MemoryError."""
    text = str(err).lower()
    return isinstance(err, MemoryError) or "out of memory" in text or "can't allocate" in text


def _fail(message: str) -> None:
    line = " ".join(message.split("\n"))  # one line, whatever the message held
    click.echo(f"bioseq: error: {line}", err=True)
    sys.exit(2)


@click.group(cls=BioseqGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="bioseq")
def main() -> None:
    """bioseq: pretrain, score variants with, and probe genomic and protein sequence models."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars; our commands show their own
    tune_cpu_allocator()


def _register_commands() -> None:
    from bioseq.cli.convert import convert
    from bioseq.cli.embed import embed
    from bioseq.cli.fetch import fetch
    from bioseq.cli.finetune import finetune, predict
    from bioseq.cli.generate import generate
    from bioseq.cli.info import info
    from bioseq.cli.pretrain import pretrain
    from bioseq.cli.probe import probe
    from bioseq.cli.score import make_snv_vcf, score_mutations, score_vcf
    from bioseq.cli.tokenizer import tokenizer

    main.add_command(info)
    main.add_command(fetch)
    main.add_command(convert)
    main.add_command(pretrain)
    main.add_command(score_vcf)
    main.add_command(score_mutations)
    main.add_command(make_snv_vcf)
    main.add_command(probe)
    main.add_command(generate)
    main.add_command(embed)
    main.add_command(finetune)
    main.add_command(predict)
    main.add_command(tokenizer)


_register_commands()
