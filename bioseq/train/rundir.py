"""The run directory of ``bioseq pretrain``: what may be written there, by whom, and when.

Before anything is written, :func:`check_run_dir` resolves the configuration and checks the
directory: ``--out`` must be creatable and writable, a finished or stopped run is replaced only
with ``--overwrite`` (a folder of other files never), and ``--resume`` may not change a setting
that defines the model or its data (:data:`FIXED_ON_RESUME`). Then rank 0 takes
:class:`RunLock`, an advisory lock on ``RUN/.lock`` held for the whole run, so that a second
run in the same directory is refused instead of deleting the first's checkpoints, and
:func:`prepare_run_dir` clears a replaced run and the temporary folders a killed run left, and
writes ``config.yaml`` (atomically).

>>> from bioseq.train.rundir import FIXED_ON_RESUME
>>> "model" in FIXED_ON_RESUME and "steps" not in FIXED_ON_RESUME
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import shutil
from pathlib import Path

from bioseq.errors import InputError
from bioseq.io.outputs import os_error_message, write_text_atomic
from bioseq.models.hub import list_checkpoints
from bioseq.train.config import TrainConfig, default_objective, load_yaml

try:
    import fcntl
except ImportError:  # not on POSIX: no lock
    fcntl = None

LOCK_FILE = ".lock"
RUN_FILES = ("final", "checkpoints", "metrics.jsonl", "loss.png", "config.yaml")
# temporary names this package writes (removed at the start of a run)
TEMPORARY = (".final-", ".old-", ".tmp-")
# what a resumed run cannot change: the model, its tokens and the data it learns from (the
# schedule, optimizer settings, batch, logging and checkpointing may change)
FIXED_ON_RESUME = (
    "inputs", "text", "alphabet", "tokenizer", "merge_ratio", "context", "val_fraction",
    "val_contigs", "direction", "model", "size", "d_model", "n_layer", "model_config", "seed",
    "markov_order", "objective", "mask_fraction", "aligned", "backbone",
)  # fmt: skip


def check_run_dir(config: TrainConfig) -> tuple[Path, TrainConfig]:
    """The run directory and the resolved config; refuse to mix two runs in one directory.

    Reads only: call it before writing anything, and again under the lock."""
    if config.out is None:
        raise InputError("no output directory: pass --out DIR (or --resume DIR)")
    run_dir = Path(config.out)
    option = "--resume" if config.resume else "--out"
    config = config.resolved()
    check_out_dir(run_dir, option)
    if config.resume:
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise InputError(f"{run_dir}: not a run directory (no config.yaml) to resume")
        check_resume_settings(load_yaml(saved), config, run_dir)
    elif _entries(run_dir):
        if not (run_dir / "config.yaml").is_file():
            raise InputError(
                f"--out {run_dir}: already holds files and is not a bioseq run (no config.yaml); "
                "choose another --out"
            )
        started = bool(list_checkpoints(run_dir)) or (run_dir / "final").exists()
        if started and not config.overwrite:
            raise InputError(
                f"{run_dir}: already holds files; use --resume {run_dir} to continue that run, "
                "--overwrite to replace it, or another --out"
            )
    return run_dir, config


def check_out_dir(path: Path, option: str = "--out") -> None:
    """InputError when a run directory cannot be created or written at ``path``."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: is a file, expected a directory")
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise InputError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.R_OK | os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: {existing} is not writable")


def check_resume_settings(saved: TrainConfig, given: TrainConfig, run_dir: Path) -> None:
    """InputError naming each setting of :data:`FIXED_ON_RESUME` that ``given`` changes."""
    old, new = saved.with_absolute_paths(), given.with_absolute_paths()
    # a config.yaml from before objectives existed: its run trained with the default
    old = dataclasses.replace(old, objective=old.objective or default_objective(old.model))
    new = dataclasses.replace(new, objective=new.objective or default_objective(new.model))
    changed = [
        f"{key} {getattr(old, key)!r} -> {getattr(new, key)!r}"
        for key in FIXED_ON_RESUME
        if getattr(old, key) != getattr(new, key)
    ]
    if changed:
        raise InputError(
            f"--resume {run_dir}: cannot change {'; '.join(changed)} (the run's model and data "
            "are fixed; start a new run with --out to change them)"
        )


def _entries(run_dir: Path) -> list[str]:
    """The names in ``run_dir`` other than the lock and temporary leftovers ([] if absent)."""
    if not run_dir.is_dir():
        return []
    return [p.name for p in run_dir.iterdir() if p.name != LOCK_FILE and not _temporary(p.name)]


def _temporary(name: str) -> bool:
    return name.startswith(TEMPORARY)


class RunLock:
    """An advisory lock (``fcntl.flock``) on ``RUN/.lock`` that holds the owner's pid.

    >>> import tempfile
    >>> from pathlib import Path
    >>> run = Path(tempfile.mkdtemp())
    >>> first, second = RunLock(), RunLock()
    >>> first.acquire(run)
    >>> second.acquire(run)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bioseq.errors.InputError: ...: another bioseq pretrain (pid ...) is running in this directory...
    >>> first.release(); second.acquire(run); second.release()
    """

    def __init__(self) -> None:
        self.handle = None

    def acquire(self, run_dir: Path) -> None:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            handle = open(run_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
        except OSError as err:
            raise InputError(os_error_message(run_dir, err)) from None
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    self.handle = handle  # a file system without locks: run unlocked
                    return
                handle.seek(0)
                pid = handle.read().strip() or "unknown"
                handle.close()
                raise InputError(
                    f"{run_dir}: another bioseq pretrain (pid {pid}) is running in this "
                    "directory; wait for it to finish or stop it"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the file releases the lock
            self.handle = None


def prepare_run_dir(run_dir: Path, config: TrainConfig) -> None:
    """Under the lock: empty a replaced run (a fresh run), remove the temporary folders a
    killed run left, and write ``config.yaml``."""
    if not config.resume:
        for name in RUN_FILES:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    for folder in (run_dir, run_dir / "checkpoints"):
        if folder.is_dir():
            for path in folder.iterdir():
                if _temporary(path.name) or path.name.startswith(".step-"):
                    shutil.rmtree(path, ignore_errors=True)
    write_text_atomic(run_dir / "config.yaml", config.with_absolute_paths().to_yaml())


def append_line(path: Path, line: str) -> None:
    """Append ``line`` to ``path``; on a write error (disk full) cut the file back to where
    it was, so that no partial line stays, and raise the OSError."""
    size = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError:
        with contextlib.suppress(OSError):
            os.truncate(path, size)
        raise


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the rows logged after ``step``, the checkpoint being resumed (they will be logged
    again), and any line cut short by a kill."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            kept.append(line)
    write_text_atomic(path, "".join(line + "\n" for line in kept))
