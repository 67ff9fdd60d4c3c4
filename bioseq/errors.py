"""Errors that carry a one-line, user-facing message.

Every problem with a user's input raises :class:`InputError` (or a subclass) whose message names
the file, line or record and what was expected. The CLI prints that line and exits with code 2;
Python callers can catch it like any ``ValueError``.
"""

from __future__ import annotations


class BioseqError(Exception):
    """Base class of every error bioseq raises on purpose."""


class InputError(BioseqError, ValueError):
    """Bad user input: a malformed file, an unknown contig, an impossible option.

    >>> raise InputError("genome.fa:12: invalid character 'J' in contig chr1")
    Traceback (most recent call last):
    ...
    bioseq.errors.InputError: genome.fa:12: invalid character 'J' in contig chr1
    """


def located(path: object, line: int | None, message: str) -> str:
    """Format ``path:line: message`` (``path: message`` when the line is unknown)."""
    where = str(path) if line is None else f"{path}:{line}"
    return f"{where}: {message}"
