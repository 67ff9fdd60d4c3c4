"""The 100 functions of the bitstring suite and the paper's reference accuracies.

Both tables ship with the package (``bioseq/tasks/icl/data``, provenance in PROVENANCE.md).

>>> from bioseq.tasks.icl.suite import load_functions, load_reference, DEFAULT_SHOTS
>>> functions = load_functions()
>>> len(functions), functions[22].name, functions[22].bitload
(100, 'flip_bits > reverse_bits', 8)
>>> load_reference()["Evo2-40B"][128]
0.411
>>> DEFAULT_SHOTS
(1, 2, 4, 8, 16, 32, 64, 128)
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from bioseq.errors import InputError, located
from bioseq.tasks.icl.primitives import Program

DEFAULT_SHOTS = (1, 2, 4, 8, 16, 32, 64, 128)
FUNCTIONS_FILE = "functions.tsv"
REFERENCE_FILE = "paper_table4.tsv"


@dataclass(frozen=True)
class Function:
    """One task: its id in the paper's table, its program and the paper's BitLoad."""

    id: int
    program: Program
    bitload: int

    @property
    def name(self) -> str:
        return str(self.program)


def data_path(name: str) -> Path:
    """Path of a bundled table (``functions.tsv`` or ``paper_table4.tsv``)."""
    return Path(str(files("bioseq.tasks.icl") / "data" / name))


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def load_functions(path: str | os.PathLike | None = None) -> list[Function]:
    """The functions table (default: the bundled copy of the paper's 100), in id order."""
    path = Path(path) if path is not None else data_path(FUNCTIONS_FILE)
    functions = []
    for line, row in enumerate(_read_tsv(path), start=2):
        try:
            functions.append(
                Function(int(row["id"]), Program.parse(row["program"]), int(row["bitload"]))
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(located(path, line, f"bad functions row ({err})")) from None
    return sorted(functions, key=lambda f: f.id)


def select_functions(functions: list[Function], spec: str | None) -> list[Function]:
    """Keep the functions whose ids match ``"1-22,39,48"`` (``None`` keeps all).

    >>> [f.id for f in select_functions(load_functions(), "3-5,99")]
    [3, 4, 5, 99]
    """
    if not spec:
        return functions
    wanted: set[int] = set()
    try:
        for part in spec.split(","):
            lo, _, hi = part.strip().partition("-")
            wanted.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise InputError(f"bad function ids {spec!r} (expected e.g. '1-22,39')") from None
    chosen = [f for f in functions if f.id in wanted]
    if not chosen:
        raise InputError(f"no function has an id in {spec!r}")
    return chosen


def load_reference(path: str | os.PathLike | None = None) -> dict[str, dict[int, float]]:
    """The paper's Table 4 as ``{model: {shots: accuracy}}``, accuracy as a fraction."""
    path = Path(path) if path is not None else data_path(REFERENCE_FILE)
    table = {}
    for line, row in enumerate(_read_tsv(path), start=2):
        try:
            model = row.pop("model")
            table[model] = {
                int(key.removeprefix("shots_")): round(float(value) / 100, 6)
                for key, value in row.items()
            }
        except (KeyError, ValueError) as err:
            raise InputError(located(path, line, f"bad reference row ({err})")) from None
    return table
