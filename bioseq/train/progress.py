"""What the user sees while training: a tqdm bar on a terminal, plain lines otherwise (stop
signals: :class:`bioseq.runtime.StopSignal`).

>>> from bioseq.train.progress import Progress, format_row
>>> format_row({"step": 10, "train_bits_per_base": 1.95312, "val_bits_per_base": None,
...             "tokens_per_s": 31000.0, "lr": 0.003}, total=300)
'step 10/300 | train 1.953 bits/base | 31,000 tok/s | lr 3.0e-03'
"""

from __future__ import annotations

import math
import sys
import time

from tqdm.auto import tqdm


def symbol_unit(data) -> str:
    """What one symbol of a run's bits-per-symbol metrics is: ``byte`` (text), ``residue``
    (proteins) or ``base`` (DNA)."""
    if data.unit == "base" and getattr(data, "alphabet", "dna") == "protein":
        return "residue"
    return data.unit


def bits_keys(row: dict) -> tuple[str, str, str, str]:
    """``(train, val, Markov key, what)`` of a row: next-token bits per base, an mlm run's
    bits per masked base (``train_masked_bits`` ...), or a merge run's MergeDNA loss (no
    Markov reference)."""
    if "val_masked_bits" in row or "train_masked_bits" in row:
        return "train_masked_bits", "val_masked_bits", "markov_masked_bits", "masked "
    if "train_mergedna_loss" in row or "val_mergedna_loss" in row:
        return "train_mergedna_loss", "val_mergedna_loss", "", "MergeDNA "
    return "train_bits_per_base", "val_bits_per_base", "markov_bits_per_base", ""


def format_row(row: dict, total: int, eta: float | None = None, unit: str = "base") -> str:
    """One plain log line for a metrics row, 4 significant digits (bits per ``unit``: base,
    residue, or byte for text; an mlm run's bits per masked symbol beside the two-sided Markov
    reference).

    >>> format_row({"step": 50, "train_masked_bits": 1.9, "val_masked_bits": 1.88,
    ...             "markov_masked_bits": 1.91}, total=100, unit="residue")
    'step 50/100 | train 1.900 bits/masked residue | val 1.880 (two-sided Markov 1.910)'
    """
    parts = [f"step {row['step']}/{total}"]
    train, val_key, markov, what = bits_keys(row)
    if row.get(train) is not None:
        parts.append(f"train {row[train]:#.4g} bits/{what}{unit}")
    if row.get(val_key) is not None:
        val = f"val {row[val_key]:#.4g}"
        if row.get(markov) is not None:
            val += f" ({'two-sided ' if what else ''}Markov {row[markov]:#.4g})"
        parts.append(val)
    if row.get("tokens_per_s") is not None:
        parts.append(f"{row['tokens_per_s']:,.0f} tok/s")
    if row.get("lr") is not None:
        parts.append(f"lr {row['lr']:.1e}")
    if eta is not None and math.isfinite(eta):
        parts.append(f"eta {int(eta // 60)}m{int(eta % 60):02d}s")
    return " | ".join(parts)


class Progress:
    """A progress bar on a terminal (loss, bits/base, tokens/s, ETA), else one line per log."""

    def __init__(
        self, total: int, initial: int = 0, enabled: bool = True, unit: str = "base"
    ) -> None:
        self.total, self.initial, self.enabled, self.unit = total, initial, enabled, unit
        self.start = time.perf_counter()
        self.val: float | None = None
        self.bar = None
        if enabled and sys.stderr.isatty():
            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
                desc="pretrain",
            )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, step: int, row: dict | None) -> None:
        if not self.enabled:
            return
        train, val, _, _ = bits_keys(row or {})
        if row is not None and row.get(val) is not None:
            self.val = row[val]
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            if row is not None:
                postfix = {
                    "loss": _fmt(row.get("train_loss")),
                    f"bits/{self.unit}": _fmt(row.get(train)),
                    "val": _fmt(self.val),
                    "tok/s": f"{row.get('tokens_per_s') or 0:,.0f}",
                }
                self.bar.set_postfix(postfix, refresh=False)
        elif row is not None:
            done = step - self.initial
            elapsed = time.perf_counter() - self.start
            eta = elapsed / done * (self.total - step) if done else None
            print(format_row(row, self.total, eta, self.unit), file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        """A message that does not break the bar."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:#.4g}"
