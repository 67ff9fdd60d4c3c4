"""What a whole run has to say (:class:`Report`), and writing its outputs together.

Shared by every ``score-*`` / ``make-*`` run; light (no torch), so that the commands that only
read and write tables start fast.

>>> report = Report()
>>> report.problems([("ref_mismatch", "chr1:5", "REF A, genome C")], total=10, what="variants")
>>> report.notes()
['not scored: 1 ref_mismatch (of 10 variants)', '  ref_mismatch: chr1:5: REF A, genome C']
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pysam

from bioseq.io.outputs import atomic_output, check_output

EXAMPLES = 3  # problems shown per status


@dataclass
class Report:
    """The lines a run has to say, in order: ``(kind, text)`` with kind ``note`` (progress
    and counts), ``warning`` or ``result`` (the metrics line; standard output)."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.lines.append(("note", text))

    def warn(self, text: str) -> None:
        self.lines.append(("warning", text))

    def result(self, text: str) -> None:
        self.lines.append(("result", text))

    def notes(self) -> list[str]:
        return [text for kind, text in self.lines if kind == "note"]

    def warnings(self) -> list[str]:
        return [text for kind, text in self.lines if kind == "warning"]

    def results(self) -> list[str]:
        return [text for kind, text in self.lines if kind == "result"]

    def problems(self, problems: list[tuple[str, str, str]], total: int, what: str) -> None:
        """problems: (status, where, detail). One summary line, then a few examples per
        status."""
        counts = Counter(status for status, _, _ in problems)
        if not counts:
            return
        summary = ", ".join(f"{n:,} {status}" for status, n in counts.most_common())
        self.note(f"not scored: {summary} (of {total:,} {what})")
        shown: dict[str, int] = defaultdict(int)
        for status, where, detail in problems:
            if shown[status] < EXAMPLES:
                shown[status] += 1
                self.note(f"  {status}: {where}: {detail}")


def quiet_htslib() -> None:
    """htslib's own [E::...]/[W::...] lines would stand beside ours, which already say what
    went wrong (a status per record, one line per problem)."""
    pysam.set_verbosity(0)


def check_outputs(*paths: str | os.PathLike) -> None:
    """Check every output path up front, before a model is loaded or anything scored."""
    for path in paths:
        check_output(path)


@contextlib.contextmanager
def written_together(paths: list[Path]) -> Iterator[list[Path | None]]:
    """Temporary paths for ``paths`` (``[None]`` when there are none), renamed onto them only
    when the block succeeds: write the main output last, inside the block, so a failure
    anywhere replaces nothing."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_output(p)) for p in paths] or [None]
