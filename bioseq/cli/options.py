"""Command-line options built from documented configuration fields (:mod:`bioseq.settings`).

:func:`config_option` makes ``--lr`` from ``TrainConfig.lr``: its type, choices, default and
help all come from the field, so ``--help`` and the configuration cannot disagree.
:func:`given` keeps the options that were typed on the command line, so that a default never
overrides a setting from a YAML file or a resumed run.

>>> from bioseq.train.config import TrainConfig
>>> option = config_option(TrainConfig, "lr")(lambda **kw: None).__click_params__[0]
>>> option.opts, option.default, option.help
(['--lr'], 0.003, 'Peak learning rate [default: 0.003]')
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import click
from click.core import ParameterSource

from bioseq.settings import choices_of, default_of, describe, field_of

TYPES = {int: int, float: float, str: str}


def _base_type(cls: type, name: str) -> type:
    """The field's type without ``| None``: ``int``, ``float``, ``str``, ``bool``, ``list``..."""
    hint = typing.get_type_hints(cls)[name]
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def config_option(
    cls: type, name: str, *decls: str, negatable: bool = False, **overrides: Any
) -> Callable:
    """A click option for field ``name`` of the dataclass ``cls``: ``--name-with-dashes``
    (plus ``decls``, e.g. ``-o``), the field's type (a flag for ``bool``, with ``negatable``
    also ``--no-name``; a choice when the field lists ``choices``), its default, and its
    description with the default shown as ``[default: ...]`` (the field's ``default_text``
    when the default depends on other settings). ``overrides`` are passed to
    :func:`click.option` over these (e.g. a ``type`` the command parses itself)."""
    field_of(cls, name)  # KeyError for a name the class does not have
    flag = f"--{name.replace('_', '-')}"
    kind = _base_type(cls, name)
    doc, shown = describe(cls, name)
    default = default_of(cls, name)
    kwargs: dict[str, Any] = {"default": None if default is dataclasses.MISSING else default}
    if kind is bool:
        kwargs["is_flag"] = True
        if negatable:
            flag = f"{flag}/--no-{flag[2:]}"
            doc = f"{doc} [default: {shown}]"
    elif choices_of(cls, name):
        kwargs["type"] = click.Choice(choices_of(cls, name))
    elif kind in TYPES:
        kwargs["type"] = TYPES[kind]
    if shown is not None and kind is not bool:
        doc = f"{doc} [default: {shown}]"
    kwargs["help"] = doc
    kwargs["show_default"] = False  # shown in the help text, from the field
    kwargs.update(overrides)
    return click.option(flag, name, *decls, **kwargs)


def given(values: Mapping[str, Any], ctx: click.Context | None = None) -> dict[str, Any]:
    """The entries of ``values`` (a command's parameters) typed on the command line, not
    left at their defaults."""
    ctx = ctx or click.get_current_context()
    return {
        key: value
        for key, value in values.items()
        if ctx.get_parameter_source(key)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }


# options that every model-loading command shares, declared once
device_option = click.option(
    "--device", default=None, help="cpu, cuda, cuda:1... (default: cuda if available)."
)
trust_remote_code_option = click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Run Python code that a model folder ships (auto_map). Off by default: only "
    "for folders you trust.",
)
threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch (1 suits tiny models on a busy machine).",
)


def show_report(report) -> None:
    """A run's :class:`~bioseq.tasks.variants.report.Report`: notes and warnings on standard
    error, results on standard output, in order."""
    for kind, text in report.lines:
        if kind == "result":
            click.echo(text)
        else:
            click.echo(f"bioseq: warning: {text}" if kind == "warning" else text, err=True)
