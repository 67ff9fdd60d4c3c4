"""The training loop of ``bioseq pretrain``, meant to be read in one sitting.

One optimizer step: take the step's batch (a pure function of seed and step, see
:mod:`bioseq.train.data`; built ahead by DataLoader workers with ``workers``, pinned on CUDA and
copied with ``non_blocking``), run ``grad_accum`` micro-batches forward and backward (bf16
autocast on CUDA), clip the gradient norm, and take an AdamW step with a
linear-warmup-then-cosine learning rate. A step whose loss or gradient is NaN or infinite is
skipped (on the device: the fused AdamW's ``found_inf``) and counted. Loss, skipped steps and
token counts stay on the device until the next log line, evaluation or checkpoint, the only
points where the loop waits for the GPU; there ``max_bad_steps`` skipped steps in a row stop
the run. Every ``log_every`` steps a line goes to ``metrics.jsonl``; every
``eval_every`` steps the validation loss is measured on a fixed subset of held-out windows; every
``save_every`` steps (and at the end, and on Ctrl-C or SIGTERM) a checkpoint is written.

The loss is the model's own. What the model learns and how its metrics read, which reference
it is compared with and how, is one object per objective (:mod:`bioseq.train.objectives`); the
loop only asks it. The validation targets are fixed once for the run, so a reference scored on
them is scored once per evaluation size.

>>> from bioseq.train import TrainConfig, pretrain
>>> run = pretrain(TrainConfig(out="runs/demo"))  # doctest: +SKIP
>>> run / "final"  # doctest: +SKIP
PosixPath('runs/demo/final')
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from bioseq.errors import BioseqError, InputError
from bioseq.io.outputs import os_error_message
from bioseq.models.hub import latest_checkpoint
from bioseq.models.markov import check_order
from bioseq.models.ops import kernel_backends
from bioseq.runtime import StopSignal, TrainingInterrupted, notice_if_slow, read_metrics
from bioseq.train.checkpoint import (
    load_latest_checkpoint,
    run_rng_state,
    save_checkpoint,
    save_model_atomic,
    weights_finite,
)
from bioseq.train.config import TrainConfig, load_yaml, merge
from bioseq.train.data import Batch, TrainData, auto_workers, build_data, step_loader
from bioseq.train.distributed import Dist, param_digest, setup, teardown
from bioseq.train.memory import check_memory
from bioseq.train.model import build_model, make_optimizer, make_scheduler
from bioseq.train.objectives import objective_for
from bioseq.train.plot import plot_metrics
from bioseq.train.progress import Progress, symbol_unit
from bioseq.train.rundir import (
    RunLock,
    append_line,
    check_run_dir,
    prepare_run_dir,
    truncate_metrics,
)

TIMING_FIELDS = ("tokens_per_s", "elapsed_s")  # differ between runs; everything else is exact
LN2 = math.log(2)


class TrainingDiverged(BioseqError):
    """The loss was NaN or infinite for ``max_bad_steps`` steps in a row, or the weights
    became NaN or infinite (such weights are never saved)."""


def pretrain(config: TrainConfig | Mapping[str, Any] | str | Path, quiet: bool = False) -> Path:
    """Train a model as ``bioseq pretrain`` does and return the run directory.

    ``config`` is a :class:`TrainConfig`, a mapping of its keys, or a YAML file. The run
    directory holds ``final/`` (the model), ``checkpoints/step-N/``, ``metrics.jsonl``,
    ``loss.png`` and ``config.yaml``. With ``resume=True`` the run in ``out`` continues from its
    latest checkpoint. Under ``torchrun`` each process calls this and rank 0 writes.

    Raises :class:`TrainingInterrupted` after saving a checkpoint on SIGINT or SIGTERM
    (``stop_after`` is a deliberate stop and returns), :class:`TrainingDiverged` when the loss
    or the weights became NaN or infinite, and InputError for bad settings or a directory
    that another run holds.
    """
    if isinstance(config, (str, Path)):
        config = load_yaml(config)
    elif isinstance(config, Mapping):
        config = merge(TrainConfig(), config, source="pretrain()")
    config.validate()
    dist = setup(config.device)
    if dist.device.type == "cpu":
        if config.threads <= 0:  # resolved once and saved, so a resumed run uses the same
            config = dataclasses.replace(config, threads=auto_threads())
        torch.set_num_threads(config.threads)
    lock = RunLock()
    try:
        return Trainer(config, dist, quiet=quiet, lock=lock).run()
    finally:
        lock.release()
        teardown(dist)


def auto_threads() -> int:
    """CPU threads for this process: PyTorch's count (every core, or 1 per process under
    torchrun) less the cores other processes keep busy (the 1-minute load average).

    Oversubscribed OpenMP threads spin-wait on each other: on 2 busy cores, 2 threads can run
    ten times slower than 1, so leaving the busy cores alone is worth the fixed choice.
    """
    threads = torch.get_num_threads()
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return threads
    cores = os.cpu_count() or threads
    free = cores - busy + 0.5  # about half a core of the load is this process starting up
    return max(1, min(threads, int(free + 0.5)))


class Trainer:
    """Holds one run's state; :meth:`run` is the loop."""

    # read the loss back after every step, as the loop once did: for benchmarks comparing
    # the pipelines (benchmarks/bench_train.py --pipeline), not a setting of runs
    sync_every_step = False

    def __init__(
        self, config: TrainConfig, dist: Dist, quiet: bool = False, lock: RunLock | None = None
    ) -> None:
        self.dist, self.quiet = dist, quiet
        self.run_dir, self.config = check_run_dir(config)  # reads only
        dist.barrier()  # every process has looked before rank 0 writes
        config = self.config
        if config.batch_size % (dist.world_size * config.grad_accum):
            raise InputError(
                f"batch_size {config.batch_size} must be divisible by processes x grad_accum "
                f"({dist.world_size} x {config.grad_accum})"
            )
        weighting = (
            ""
            if config.sequence_weights is None
            else (
                f" and weighting their sequences (1 / neighbours at >= {config.sequence_weights:g} "
                "identity)"
            )
        )
        # a large alignment's weights take a while; a quick read (or a quick error) says nothing
        with notice_if_slow(f"reading the inputs{weighting} ...", enabled=self._talks):
            self.data: TrainData = build_data(config)  # bad input fails here, before writing
        self.unit = symbol_unit(self.data)
        # what the model learns, its reference and its metrics (next token, mlm, MergeDNA)
        self.objective = objective_for(config)
        if not config.text:
            check_order(config.markov_order, len(self.data.markov_letters))
        rcps = (
            config.model == "caduceus"
            and self.data.alphabet == "dna"
            and config.model_config.get("rcps") is not False
        )
        check_memory(
            config,
            len(self.data.tokenizer),
            self.data.max_tokens(config.context),
            dist.world_size,
            dist.device,
            rcps=rcps,
        )
        torch.manual_seed(config.seed)
        self.model = self._build_model()
        self.optimizer = make_optimizer(self.model, config)
        self.scheduler = make_scheduler(self.optimizer, config)
        self.step, self.bad_in_a_row = 0, 0
        # on the device, read at log lines (_flush): loss, bits, good steps, skipped steps,
        # tokens read, the current run of skipped steps and the longest since the last read
        self._pending: torch.Tensor | None = None
        self.counters = {
            "skipped_steps": 0,
            "tokens": 0,
            "loss_sum": 0.0,
            "loss_steps": 0,
            "bits_sum": 0.0,
        }  # and what the objective collects (Objective.observe)
        self.markov: float | None = None  # the reference's bits per symbol, if one number
        # the reference's (bits, symbols) on the validation targets, per evaluation size
        self._val_reference: dict[int, tuple[float, float] | None] = {}
        self._claim_run_dir(lock)
        self._notice(self.data.description)  # every check passed: what the run reads
        if self.data.has_val and self.markov is None:  # a resumed run's checkpoint holds it
            self.markov = self.objective.fit_reference(self.data, self._notice, dist.is_main)
        self.ddp = self.model
        if dist.enabled:
            ids = [dist.device.index] if dist.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids)
        use_bf16 = config.precision == "bf16" or (
            config.precision == "auto" and dist.device.type == "cuda"
        )
        self.autocast = (
            (lambda: torch.autocast(dist.device.type, dtype=torch.bfloat16))
            if use_bf16
            else contextlib.nullcontext
        )

    def _build_model(self) -> torch.nn.Module:
        config = self.config
        try:
            model = build_model(config, self.data)
        except InputError:
            raise
        except (ValueError, TypeError, RuntimeError) as err:  # settings the model rejects
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise InputError(
                f"cannot build a {config.model} model with these settings ({first})"
            ) from None
        return model.to(self.dist.device)

    def _claim_run_dir(self, lock: RunLock | None) -> None:
        """Lock the run directory (rank 0), restore the checkpoint being resumed, and only
        then write: clear a replaced run, write ``config.yaml``, cut back ``metrics.jsonl``."""
        dist, failure = self.dist, None
        if dist.is_main and lock is not None:
            try:
                lock.acquire(self.run_dir)
                check_run_dir(self.config)  # again, now that no other run can change it
            except InputError as err:
                failure = err
        if dist.any(failure is not None):
            raise failure or InputError(f"{self.run_dir}: refused on rank 0")
        damaged = self._resume() if self.config.resume else []
        if dist.is_main:
            prepare_run_dir(self.run_dir, self.config)
            if self.config.resume:
                truncate_metrics(self.run_dir / "metrics.jsonl", self.step)
            for path in damaged:  # out of the way of latest_checkpoint and resolve_model_dir
                path.rename(path.with_name(f"damaged-{path.name}-{os.getpid()}"))
        dist.barrier()

    def _resume(self) -> list[Path]:
        """Restore the newest intact checkpoint (none yet: start at step 0); return the
        damaged newer ones."""
        ckpt, state, skipped = load_latest_checkpoint(
            self.run_dir,
            self.model,
            self.optimizer,
            self.scheduler,
            self.dist.device,
            self.dist.rank,
        )
        reasons = "; ".join(why for _, why in skipped)
        if ckpt is None:
            if skipped:
                raise InputError(f"{self.run_dir}: no intact checkpoint to resume from ({reasons})")
            if (self.run_dir / "final").exists():
                raise InputError(
                    f"{self.run_dir}: has final/ but no checkpoint to resume from; "
                    "--overwrite trains it again from the start"
                )
            self._note(f"{self.run_dir}: no checkpoint yet; starting from step 0")
            return []
        if skipped:
            self._note(
                f"warning: skipped damaged checkpoint(s), renamed damaged-*: {reasons}; "
                f"resuming from {ckpt}"
            )
        self.step = state["step"]
        self._notice(f"resuming from step {self.step:,} ({ckpt})")
        self.counters.update(state["counters"])
        self.markov = state.get("markov_bits_per_base")
        self._apply_optimizer_settings()
        return [path for path, _ in skipped]

    def _apply_optimizer_settings(self) -> None:
        """A resumed run's optimizer takes this run's lr, betas and weight decay (the restored
        state holds the saved ones); unchanged settings change nothing."""
        config, scheduler = self.config, self.scheduler
        decays = (config.weight_decay, 0.0)  # matrices, then biases and norms (make_optimizer)
        scheduler.base_lrs = [config.lr] * len(scheduler.base_lrs)
        for group, decay, lr_lambda in zip(
            self.optimizer.param_groups, decays, scheduler.lr_lambdas, strict=True
        ):
            group.update(weight_decay=decay, betas=tuple(config.betas), initial_lr=config.lr)
            group["lr"] = config.lr * lr_lambda(scheduler.last_epoch)

    def _note(self, text: str) -> None:
        """A line on stderr from rank 0, even with --quiet (the user needs it)."""
        if self.dist.is_main:
            print(text, file=sys.stderr, flush=True)

    @property
    def _talks(self) -> bool:
        """Whether this process prints notices: rank 0, not --quiet."""
        return self.dist.is_main and not self.quiet

    def _notice(self, text: str) -> None:
        """A line on stderr from rank 0 unless --quiet: what the run does now (before a step
        that may take a while, or where a resumed run starts)."""
        if self._talks:
            print(text, file=sys.stderr, flush=True)

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> Path:
        config, dist = self.config, self.dist
        total = config.steps
        progress = Progress(
            total, self.step, enabled=dist.is_main and not self.quiet, unit=self.unit
        )
        stop = StopSignal()
        interval = {"tokens": self.counters["tokens"], "time": time.perf_counter()}
        start_time = time.perf_counter()
        with stop, progress, self._batches(total) as batches:
            if dist.is_main:
                progress.note(self._describe())
            for micro in batches:
                lr = self._train_step(micro)
                self.step += 1
                final = self.step == total
                evaluate = final or self.step % config.eval_every == 0
                log = evaluate or self.step % config.log_every == 0
                stopping = dist.any(stop.requested is not None) or self.step == config.stop_after
                save = final or stopping or self.step % config.save_every == 0
                if log or save or self.sync_every_step:
                    self._flush()  # the loop's one wait for the device between log lines
                row = None
                if log:
                    val = self._evaluate(final) if evaluate else None
                    elapsed = time.perf_counter() - start_time
                    row = self._log(val, lr, interval, final, elapsed)
                own = None if row is None else self.objective.progress_line(row, total)
                progress.update(self.step, None if own else row)
                if own:
                    progress.note(own)
                if self.bad_in_a_row >= config.max_bad_steps:
                    self._diverged()
                if save:
                    self._save(check_sync=final)
                if stopping and not final:
                    return self._stop(stop)
        self._check_finite()
        if dist.is_main:
            try:
                save_model_atomic(self.run_dir / "final", self.model, self.data.tokenizer)
            except OSError as err:
                raise self._write_error(self.run_dir / "final", err) from None
            self._plot()
            if not self.quiet:
                print(self._summary(time.perf_counter() - start_time), flush=True)
        dist.barrier()
        return self.run_dir

    @contextlib.contextmanager
    def _batches(self, stop: int):
        """This process's batches of steps ``self.step .. stop - 1``, built ahead by
        ``workers`` processes (the same batches whatever their number), pinned on CUDA."""
        config, dist = self.config, self.dist
        workers = config.workers if config.workers is not None else auto_workers(dist.device)
        loader = step_loader(
            self.data,
            config,
            self.step,
            stop,
            dist.rank,
            dist.world_size,
            workers,
            pin_memory=dist.device.type == "cuda",
        )
        batches = iter(loader)
        try:
            yield batches
        finally:  # stop the workers now, not when a traceback holding them is freed
            getattr(batches, "_shutdown_workers", lambda: None)()

    def _stop(self, stop: StopSignal) -> Path:
        """After the checkpoint of a stop: the resume command; a signal's stop raises
        :class:`TrainingInterrupted` (exit 130 or 143), ``--stop-after`` returns."""
        self._plot()
        why = stop.requested or f"--stop-after {self.config.stop_after}"
        message = (
            f"stopped after step {self.step} ({why}); checkpoint {self._latest()}\n"
            f"resume with: bioseq pretrain --resume {self.run_dir}"
        )
        self._note(message)
        if stop.requested is not None:
            raise TrainingInterrupted(message, stop.signum, reported=True)
        return self.run_dir

    def _train_step(self, micro: list[Batch]) -> float:
        """One optimizer step on this process's micro-batches; returns the learning rate.
        Nothing is read back from the device: the loss and whether the step was finite add up
        in ``self._pending`` until :meth:`_flush`."""
        config, dist = self.config, self.dist
        # dropout masks depend only on (seed, step, rank), whatever happened before a resume
        torch.manual_seed(config.seed * 1_000_003 + self.step * 1009 + dist.rank)
        n_global, bases_global, seen = self._step_counts(micro)
        loss_sum = None
        for i, batch in enumerate(micro):
            batch = batch.to(dist.device, non_blocking=True)
            last = i == len(micro) - 1
            sync = contextlib.nullcontext() if last or not dist.enabled else self.ddp.no_sync()
            with sync, self.autocast():
                out = self.ddp(batch.input_ids, labels=batch.labels, **self._extra_inputs(batch))
                # sum over this micro-batch's tokens / all tokens of the step; DDP averages
                # gradients over processes, hence the factor world_size
                weight = batch.n_tokens * dist.world_size / n_global
                loss = out.loss * weight
            loss.backward()
            part = out.loss.detach().double() * batch.n_tokens
            loss_sum = part if loss_sum is None else loss_sum + part
            self.objective.observe(out, self.counters)  # e.g. a MergeLM's bases per token
        clip = config.grad_clip if config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        loss_sum = dist.sum_tensor(loss_sum)
        good = torch.isfinite(loss_sum) & torch.isfinite(grad_norm)
        lr = self.optimizer.param_groups[0]["lr"]
        self._optimizer_step(good)
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # a skipped first step is not the mistake it warns of
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            self.scheduler.step()
        self._accumulate(good, loss_sum, n_global, bases_global, seen)
        return lr

    def _step_counts(self, micro: list[Batch]) -> list:
        """(predicted tokens, their bases, tokens read) of the whole step over all processes:
        ints on one process, else a sum left on the device (an mlm step reads more tokens
        than it predicts)."""
        local = [
            sum(b.n_tokens for b in micro),
            sum(b.n_bases for b in micro),
            sum(b.n_seen for b in micro),
        ]
        if not self.dist.enabled:
            return local
        counts = torch.tensor(local, dtype=torch.float64)
        if self.dist.device.type == "cuda":
            counts = counts.pin_memory().to(self.dist.device, non_blocking=True)
        return list(self.dist.sum_tensor(counts))

    def _optimizer_step(self, good: torch.Tensor) -> None:
        """The AdamW step, skipped when ``good`` (a device bool) is false: by the fused
        optimizer on the device, else (no fused kernel) by asking the host, which waits."""
        if self.optimizer.defaults.get("fused"):
            self.optimizer.found_inf = (~good).float()  # 1: leave weights and moments alone
            self.optimizer.step()
        elif bool(good):
            self.optimizer.step()
        if hasattr(self.model, "constrain_"):  # e.g. StripedHyena: keep hcl poles stable
            self.model.constrain_()  # a projection: unchanged weights stay unchanged

    def _accumulate(self, good: torch.Tensor, loss_sum: torch.Tensor, n, bases, seen) -> None:
        """Add a step to ``self._pending`` (on the device; see __init__ for the slots)."""
        if self._pending is None:
            self._pending = torch.zeros(7, dtype=torch.float64, device=good.device)
        pending, ok = self._pending, good.double()
        bases = bases.clamp(min=1) if isinstance(bases, torch.Tensor) else max(bases, 1)
        loss = torch.where(good, loss_sum / n, 0.0)
        bits = torch.where(good, loss_sum / bases / LN2, 0.0)
        pending[:4] += torch.stack([loss, bits, ok, 1 - ok])
        pending[4] += seen
        pending[5] = (pending[5] + 1) * (1 - ok)
        pending[6] = torch.maximum(pending[6], pending[5])

    def _flush(self) -> None:
        """Read what the steps since the last read left on the device into the counters;
        ``bad_in_a_row`` becomes the longest run of skipped steps since then."""
        c = self.counters
        for key, value in c.items():  # e.g. an objective's per-batch statistics
            if isinstance(value, torch.Tensor):
                c[key] = value.item()
        if self._pending is None:
            return
        loss, bits, good, bad, seen, run, longest = self._pending.tolist()
        c["loss_sum"] += loss
        c["bits_sum"] = c.get("bits_sum", 0.0) + bits
        c["loss_steps"] += int(good)
        c["skipped_steps"] += int(bad)
        c["tokens"] += int(seen)
        self.bad_in_a_row = int(longest)
        self._pending[:5] = 0
        self._pending[6] = run

    def _extra_inputs(self, batch) -> dict:
        """A batch's attention mask where it has one (a bidirectional model must not read
        padding)."""
        if batch.attention_mask is None:
            return {}
        return {"attention_mask": batch.attention_mask.to(self.dist.device)}

    # -- evaluation and logging -----------------------------------------------------------
    @torch.no_grad()
    def _evaluate(self, final: bool) -> tuple[float, float, float | None] | None:
        """Validation loss on the fixed subset of held-out windows: (nats per token, bits per
        base, the objective's reference in bits per base on the same targets, else None),
        where bases are those the predicted tokens hold."""
        if not self.data.has_val:
            return None
        config, dist = self.config, self.dist
        n = config.final_eval_windows if final else config.eval_windows
        batch_size = max(1, config.batch_size // (dist.world_size * config.grad_accum))
        self.model.eval()
        total = torch.zeros((), dtype=torch.float64, device=dist.device)  # read once, below
        count = bases = ref_bits = 0.0
        scored = False
        known = n in self._val_reference  # the targets are fixed: the reference's score is too
        for batch in self.data.eval_batches(n, batch_size, dist.rank, dist.world_size):
            moved = batch.to(dist.device, non_blocking=True)
            with self.autocast():
                out = self.model(moved.input_ids, labels=moved.labels, **self._extra_inputs(moved))
            total += out.loss.detach().double() * batch.n_tokens
            count += batch.n_tokens
            bases += batch.n_bases
            bits = None if known else self.objective.reference_bits(batch)
            if bits is not None:
                ref_bits, scored = ref_bits + bits, True
        self.model.train()
        total = total.item()
        if not known:
            self._val_reference[n] = (ref_bits, bases) if scored else None
        ref_bits, ref_bases = self._val_reference[n] or (0.0, 0.0)
        total, count, bases, ref_bits, ref_bases = dist.all_reduce_sum(
            [total, count, bases, ref_bits, ref_bases]
        )
        if not count:
            return None
        reference = ref_bits / ref_bases if ref_bases else None
        return total / count, total / max(bases, 1) / LN2, reference

    def _log(
        self,
        val: tuple[float, float, float | None] | None,
        lr: float,
        interval: dict,
        final: bool,
        elapsed: float,
    ):
        c = self.counters
        train = c["loss_sum"] / c["loss_steps"] if c["loss_steps"] else None
        train_bits = c.get("bits_sum", 0.0) / c["loss_steps"] if c["loss_steps"] else None
        val_loss, val_bits, reference = val if val is not None else (None, None, None)
        now = time.perf_counter()
        row = {
            "step": self.step,
            "tokens": c["tokens"],
            "train_loss": train,
            "train_bits_per_base": train_bits,
            "val_loss": val_loss,
            "val_bits_per_base": val_bits,
            "markov_bits_per_base": self.markov,
            "markov_order": self.config.markov_order,
            "lr": lr,
            "skipped_steps": c["skipped_steps"],
            "tokens_per_s": (c["tokens"] - interval["tokens"]) / max(now - interval["time"], 1e-9),
            "elapsed_s": elapsed,
        }
        row = self.objective.row(row, c, reference)
        finite = {k: v for k, v in row.items() if not isinstance(v, float) or math.isfinite(v)}
        row = {k: finite.get(k) for k in row}  # NaN and inf become null: JSON has no NaN
        if final:
            row["final"] = True
        c["loss_sum"], c["bits_sum"], c["loss_steps"] = 0.0, 0.0, 0
        interval.update(tokens=c["tokens"], time=now)
        if self.dist.is_main:
            path = self.run_dir / "metrics.jsonl"
            try:
                append_line(path, json.dumps(row))
            except OSError as err:
                raise self._write_error(path, err) from None
        return row

    # -- saving ------------------------------------------------------------------------------
    def _save(self, check_sync: bool = False) -> None:
        self._flush()  # the counters as of this step
        self._check_finite()
        state = {
            "counters": dict(self.counters),
            "markov_bits_per_base": self.markov,
            "world_size": self.dist.world_size,
        }
        if check_sync and self.dist.enabled:  # DDP keeps replicas identical; prove it at the end
            digests = self.dist.gather(param_digest(self.model))
            if len(set(digests)) > 1:
                raise RuntimeError(f"processes ended with different weights: {digests}")
            state["rank_digests"] = digests
        rng = run_rng_state(self.dist)  # on CUDA every process's own GPU state, gathered
        if self.dist.is_main:
            try:
                save_checkpoint(
                    self.run_dir,
                    self.step,
                    self.model,
                    self.data.tokenizer,
                    self.optimizer,
                    self.scheduler,
                    state,
                    keep=self.config.keep_checkpoints,
                    rng=rng,
                )
            except OSError as err:
                path = self.run_dir / "checkpoints" / f"step-{self.step}"
                raise self._write_error(path, err) from None
        self.dist.barrier()

    def _check_finite(self) -> None:
        """Only finite weights are saved: NaN or infinite ones stop the run (exit 1)."""
        if not weights_finite(self.model):
            raise TrainingDiverged(
                f"the weights became NaN or infinite by step {self.step}; not saved. Last good "
                f"checkpoint: {self._latest()}. Try a lower --lr (now {self.config.lr:g}) or "
                "--precision fp32"
            )

    def _write_error(self, path: Path, err: OSError) -> InputError:
        latest = self._latest()
        kept = f"last checkpoint: {latest}" if latest else "no checkpoint yet"
        return InputError(f"{os_error_message(path, err)}; {kept}")

    def _latest(self) -> Path | None:
        return latest_checkpoint(self.run_dir)

    def _plot(self) -> None:
        metrics = self.run_dir / "metrics.jsonl"
        if self.dist.is_main and metrics.is_file() and metrics.stat().st_size:
            png = self.run_dir / "loss.png"
            try:
                plot_metrics(metrics, png, title=self._title(), unit=self.unit)
            except OSError as err:
                raise self._write_error(png, err) from None

    def _diverged(self) -> None:
        self._save()  # the weights are still the last finite ones: skipped steps change nothing
        raise TrainingDiverged(
            f"the loss was NaN or infinite for {self.bad_in_a_row} steps in a row (up to step "
            f"{self.step}); stopped. Last good checkpoint: {self._latest()}. Try a lower --lr "
            f"(now {self.config.lr:g}) or --precision fp32"
        )

    # -- text --------------------------------------------------------------------------------
    def _title(self) -> str:
        c = self.config
        return f"{self.objective.title()}, context {c.context}, batch {c.batch_size}, lr {c.lr:g}"

    def _describe(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        n = self.config.threads
        threads = f" ({n} thread{'s' * (n != 1)})" if self.dist.device.type == "cpu" else ""
        markov = self.objective.reference_text(self.markov, self.unit)
        return (
            f"{self._title()}, {n_params / 1e6:.2f} M parameters, "
            f"{self.config.steps} steps on {self.dist.world_size} process(es), "
            f"{self.dist.device}{threads}{kernel_backends(self.model, self.dist.device)}{markov}"
        )

    def _summary(self, elapsed: float) -> str:
        rows = read_metrics(self.run_dir / "metrics.jsonl")
        last = rows[-1] if rows else {}
        run = self.run_dir
        tokens = self.counters["tokens"]
        auto = self.objective.auto_class
        lines = [f"trained {self.step} steps ({tokens:,} tokens) in {elapsed:.0f} s"]
        lines += self.objective.summary(last, self.markov, self.unit, self.model)
        lines += [
            f"model       {run / 'final'}  ({auto}.from_pretrained after import bioseq.models)",
            f"checkpoints {run / 'checkpoints'}",
            f"metrics     {run / 'metrics.jsonl'}",
            f"plot        {run / 'loss.png'}",
            f"config      {run / 'config.yaml'}",
        ]
        return "\n".join(lines)
