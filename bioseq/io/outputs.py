"""Output files that appear only when complete: check the path first, write beside it, rename.

Every command that writes a file goes through :func:`atomic_output`: the path is checked up
front (:func:`check_output`: not a directory, not under a file, writable), the content goes to
a temporary file in the same folder, and only a command that succeeded renames it onto the
output. A failed or interrupted command leaves any earlier output as it was and no partial
file. Companion files written next to the output (a tabix ``.tbi``) move with it.

>>> import tempfile
>>> from pathlib import Path
>>> from bioseq.io.outputs import atomic_output
>>> out = Path(tempfile.mkdtemp()) / "scores.csv"
>>> with atomic_output(out) as tmp:
...     _ = tmp.write_text("a,b\\n")
>>> out.read_text()
'a,b\\n'
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from bioseq.errors import InputError

__all__ = [
    "atomic_directory",
    "atomic_output",
    "check_output",
    "check_output_dir",
    "os_error_message",
    "replace_dir",
    "temporary_dir",
    "temporary_name",
    "write_errors",
    "write_text_atomic",
]

TEMP_PREFIX = ".tmp-"
_WRITE_ERRNOS = (errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT)


def os_error_message(path: str | os.PathLike, err: OSError) -> str:
    """One line for an OSError met while writing ``path`` (disk full, permission, ...)."""
    if err.errno == errno.ENOSPC:
        return f"{path}: no space left on the device (nothing was replaced)"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: not writable ({err.strerror})"
    return f"{path}: cannot write ({err.strerror or err})"


@contextlib.contextmanager
def write_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn a full disk, a quota or a permission refusal while writing ``path`` into a
    one-line InputError (other OSErrors pass through)."""
    try:
        yield
    except OSError as err:
        if err.errno in _WRITE_ERRNOS:
            raise InputError(os_error_message(path, err)) from None
        raise


def check_output(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check that a file can be written at ``path``; create its missing parent folders.

    InputError (naming ``option``) when ``path`` is a directory or another non-regular file,
    when a parent is a file, or when the folder is not writable.
    """
    target = Path(path)
    text = os.fspath(path)
    if text == "" or target.name in ("", ".", "..") or text.endswith(("/", os.sep)):
        raise InputError(f"{option} {text!r}: expected a file name, not a folder")
    if target.is_dir():
        raise InputError(f"{option} {target}: is a directory, expected a file name")
    if target.exists() and not target.is_file():
        raise InputError(f"{option} {target}: exists and is not a regular file")
    parent = target.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise InputError(f"{option} {target}: {folder} is a file, not a folder")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=parent)
    except OSError as err:
        raise InputError(f"{option} {os_error_message(target, err)}") from None
    os.close(fd)
    os.unlink(probe)
    return target


def temporary_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new, uniquely named folder in ``parent`` with the user's umask (``tempfile.mkdtemp``
    would make it private, 700, and so the output it becomes)."""
    while True:
        path = Path(parent) / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def temporary_name(path: str | os.PathLike) -> Path:
    """A hidden name beside ``path`` that keeps its suffixes (``.vcf.gz``), unique per process."""
    target = Path(path)
    return target.with_name(f"{TEMP_PREFIX}{os.getpid()}-{target.name}")


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, companions: Sequence[str] = (), option: str = "--out"
) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it (and ``path + ext`` for each of
    ``companions``) onto ``path``. On an exception the temporary files are removed and ``path``
    keeps its old content. A disk-full or permission error becomes a one-line InputError."""
    target = check_output(path, option)
    tmp = temporary_name(target)
    extras = [(Path(f"{tmp}{ext}"), Path(f"{target}{ext}")) for ext in companions]
    try:
        with write_errors(target):
            yield tmp
        os.replace(tmp, target)
        for written, final in extras:
            if written.exists():
                os.replace(written, final)
            else:  # a stale companion would describe the old file
                with contextlib.suppress(FileNotFoundError):
                    final.unlink()
    finally:
        for leftover in (tmp, *(written for written, _ in extras)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def check_output_dir(
    path: str | os.PathLike, overwrite: bool = False, option: str = "--out"
) -> Path:
    """Check that a folder can be written at ``path`` (see :func:`atomic_directory`)."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"{option} {target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise InputError(
            f"{option} {target}: already exists and is not empty; pass --overwrite to replace it"
        )
    check_output(target.with_name(f"{target.name}.probe"), option)  # the parent is writable
    return target


@contextlib.contextmanager
def atomic_directory(
    path: str | os.PathLike, overwrite: bool = False, option: str = "--out"
) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``.

    An existing non-empty ``path`` is refused unless ``overwrite``; on an exception the
    temporary folder is removed and ``path`` is left as it was.
    """
    target = check_output_dir(path, overwrite, option)
    tmp = temporary_dir(target.parent, f"{TEMP_PREFIX}{target.name}-")
    try:
        with write_errors(target):
            yield tmp
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the folder ``tmp`` onto ``final``; an existing ``final`` is swapped out first (so a
    kill leaves one of the two in place), then removed."""
    old = None
    if final.exists():
        old = final.with_name(f"{TEMP_PREFIX}old-{os.getpid()}-{final.name}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename; a full disk or a
    permission refusal is a one-line InputError and leaves ``path`` as it was."""
    tmp = temporary_name(path)
    try:
        with write_errors(path):
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
