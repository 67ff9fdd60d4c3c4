"""Documented settings: dataclass fields that carry their own help text.

A configuration class (:class:`bioseq.train.config.TrainConfig`,
:class:`bioseq.tasks.adapt.config.FinetuneConfig`) declares each field with :func:`setting`, so
its default, its allowed values and its description live in one place; the command-line options
are built from them (:func:`bioseq.cli.options.config_option`), so ``--help`` cannot drift
from the configuration. Light: no third-party import.

>>> from dataclasses import dataclass
>>> @dataclass
... class Demo:
...     lr: float = setting(3e-3, "Peak learning rate")
...     warmup: int | None = setting(None, "Warm-up steps", default_text="10% of the steps")
>>> describe(Demo, "lr"), describe(Demo, "warmup")
(('Peak learning rate', '0.003'), ('Warm-up steps', '10% of the steps'))
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any


def setting(
    default: Any = None,
    doc: str = "",
    *,
    default_text: str | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with its description ``doc``, the allowed ``choices`` of a string
    field, and ``default_text`` to show in place of a default that depends on other settings
    (a list or dict default is copied for each instance)."""
    metadata = {"doc": doc, "default_text": default_text, "choices": choices}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_of(cls: type, name: str) -> dataclasses.Field:
    """The dataclass field ``name`` of ``cls`` (KeyError naming it when there is none)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def default_of(cls: type, name: str) -> Any:
    """The default value of field ``name`` (a fresh copy for list and dict fields;
    :data:`dataclasses.MISSING` for a required field)."""
    f = field_of(cls, name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def describe(cls: type, name: str) -> tuple[str, str | None]:
    """``(description, default as shown)`` of field ``name``: its ``default_text``, else its
    default written out (None for no default worth showing: None, empty, or required)."""
    f = field_of(cls, name)
    doc, text = f.metadata.get("doc", ""), f.metadata.get("default_text")
    if text is not None:
        return doc, text
    value = default_of(cls, name)
    if value is dataclasses.MISSING or value is None or value in ((), [], {}):
        return doc, None
    if isinstance(value, bool):
        return doc, "on" if value else "off"
    if isinstance(value, float):
        return doc, f"{value:g}"
    return doc, str(value)


def choices_of(cls: type, name: str) -> tuple[str, ...] | None:
    """The allowed values of a string field, when it lists them."""
    return field_of(cls, name).metadata.get("choices")
