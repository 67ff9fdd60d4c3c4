"""What a run's model learns, and how its metrics read: the one place the training loop asks.

* :class:`NextToken` (causal models): the model's loss is next-token cross-entropy; metrics in
  bits per base beside an order-k Markov reference.
* :class:`MaskedTokens` (``objective: mlm``, ``--model caduceus``): bits per masked base
  (``train_masked_bits``, ``val_masked_bits``) beside a two-sided order-k Markov reference on
  the same validation targets (``markov_masked_bits``).
* :class:`MergeDNA` (``--model merge``, a ``MergeLM``): the MergeDNA loss (adaptive masked-token
  modelling + merged-token reconstruction, nats per base; not next-token: no Markov reference)
  and the learned bases per token.

Each gives the loop: the reference it fits (:meth:`~Objective.fit_reference`; which one:
:attr:`Objective.reference`) and what that reference scores on a validation batch
(:meth:`~Objective.reference_bits`), what to collect from a forward pass
(:meth:`~Objective.observe`), the metrics row (:meth:`~Objective.row`), its own progress line if
any, the title and description of the run, and its closing summary.

>>> from bioseq.train.config import TrainConfig
>>> objective_for(TrainConfig(model="merge", backbone="mamba")).title()
'mamba tiny with learned merging (ratio 2)'
>>> objective_for(TrainConfig(model="caduceus").resolved()).reference
'two-sided'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bioseq.models.markov import TwoSidedMarkov
from bioseq.train.config import TrainConfig


class Objective:
    """Next-token prediction: the base of the others (see the module doc)."""

    reference: str | None = "markov"  # "markov", "two-sided" or None
    auto_class = "AutoModelForCausalLM"  # how final/ loads

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    def fit_reference(self, data, notice: Callable[[str], None], is_main: bool) -> float | None:
        """Fit this objective's reference on ``data``'s training split (saying so through
        ``notice``) and return the number the run compares against, if it is one number: here
        the order-k Markov bits per symbol of the validation split (on the main process only;
        the others return None)."""
        if not is_main:
            return None
        train, val = data.markov_sequences()
        notice(
            f"fitting the order-{self.config.markov_order} Markov reference on the "
            "training split ..."
        )
        return data.markov_model(self.config.markov_order).fit(train).bits_per_symbol(val)

    def reference_bits(self, batch) -> float | None:
        """The reference's total bits on a validation batch's targets, where it is measured
        on the same targets as the model (None: it is not)."""
        return None

    def observe(self, out, counters: dict) -> None:
        """Collect what a micro-batch's model output says beyond its loss (into
        ``counters``, which checkpoints keep). Keep device values as tensors: the loop reads
        them (as floats) only when it logs or saves."""

    def row(self, row: dict, counters: dict, reference: float | None) -> dict:
        """The metrics row under this objective's names (``reference``: the reference's bits
        per symbol on the validation targets, from :meth:`reference_bits`)."""
        return row

    def progress_line(self, row: dict, total: int) -> str | None:
        """A line of its own for the progress output (None: the standard one)."""
        return None

    def model_name(self) -> str:
        return self.config.model

    def title(self) -> str:
        """``MODEL SIZE`` and what is special about the run (text, masking, merging)."""
        c = self.config
        return f"{self.model_name()} {c.size}{' on text' if c.text else ''}{self._suffix()}"

    def _suffix(self) -> str:
        return ""

    def reference_text(self, markov: float | None, unit: str) -> str:
        """The reference, for the line that describes the run."""
        if markov is None:
            return ""
        return f"; order-{self.config.markov_order} Markov reference {markov:#.4g} bits/{unit}"

    def summary(self, last: dict, markov: float | None, unit: str, model) -> list[str]:
        """Lines of the closing summary: the validation result against the reference."""
        val = last.get("val_bits_per_base")
        if val is None or markov is None:
            return []
        verdict = "below" if val < markov else "NOT below"
        return [
            f"validation {val:#.4g} bits/{unit}, {verdict} the order-"
            f"{self.config.markov_order} Markov reference {markov:#.4g}"
        ]


NextToken = Objective


class MaskedTokens(Objective):
    """BERT-style masked tokens (``objective: mlm``)."""

    reference = "two-sided"
    auto_class = "AutoModelForMaskedLM"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.two_sided: TwoSidedMarkov | None = None  # fitted on every process
        self._letter_of_id: np.ndarray | None = None  # token id -> letter index (-1: none)

    def fit_reference(self, data, notice: Callable[[str], None], is_main: bool) -> float | None:
        """Fit the two-sided order-k Markov model on the training split (every process: each
        scores its own validation batches); no single number (it is scored per target)."""
        train, _ = data.markov_sequences()
        notice(
            f"fitting the two-sided order-{self.config.markov_order} Markov reference "
            "on the training split ..."
        )
        self.two_sided = TwoSidedMarkov(self.config.markov_order, data.markov_letters)
        self.two_sided.fit(train)
        letter_ids = list(data.masking.letter_ids)
        self._letter_of_id = np.full(len(data.tokenizer), -1, dtype=np.int64)
        self._letter_of_id[letter_ids] = np.arange(len(letter_ids))
        return None

    def reference_bits(self, batch) -> float | None:
        """The two-sided Markov model's total bits on a masked batch's targets (it reads the
        clean neighbours)."""
        if self.two_sided is None:
            return None
        letters = self._letter_of_id[batch.clean_ids.numpy()]
        bits, _ = self.two_sided.masked_bits(letters, batch.labels.numpy() != -100)
        return bits

    def row(self, row: dict, counters: dict, reference: float | None) -> dict:
        return masked_row(row, reference)

    def _suffix(self) -> str:
        return " (masked LM)"

    def reference_text(self, markov: float | None, unit: str) -> str:
        return (
            f"; masked LM ({self.config.mask_fraction:.0%} of letters), against a two-sided "
            f"order-{self.config.markov_order} Markov reference"
        )

    def summary(self, last: dict, markov: float | None, unit: str, model) -> list[str]:
        val, markov = last.get("val_masked_bits"), last.get("markov_masked_bits")
        if val is None or markov is None:
            return []
        verdict = "below" if val < markov else "NOT below"
        return [
            f"validation {val:#.4g} bits per masked {unit}, {verdict} the two-sided "
            f"order-{self.config.markov_order} Markov reference {markov:#.4g} on the same "
            "positions"
        ]


class MergeDNA(Objective):
    """A MergeLM's own loss and its learned bases per token (``--model merge``)."""

    reference = None
    auto_class = "AutoModelForMaskedLM"

    def fit_reference(self, data, notice: Callable[[str], None], is_main: bool) -> float | None:
        return None  # the MergeDNA loss is not next-token: no Markov model compares

    def observe(self, out, counters: dict) -> None:
        # a tensor until the loop reads its counters at a log line (no wait for the GPU)
        counters["bpt_sum"] = counters.get("bpt_sum", 0.0) + out.bases_per_token.detach().double()
        counters["bpt_n"] = counters.get("bpt_n", 0) + 1

    def row(self, row: dict, counters: dict, reference: float | None) -> dict:
        """The MergeDNA loss under its own name and the learned bases per token; no bits per
        base (the loss is not next-token) and no Markov reference."""
        renamed = {"train_loss": "train_mergedna_loss", "val_loss": "val_mergedna_loss"}
        dropped = ("train_bits_per_base", "val_bits_per_base", "markov_bits_per_base")
        out = {renamed.get(k, k): v for k, v in row.items() if k not in (*dropped, "markov_order")}
        n = counters.get("bpt_n", 0)
        out["bases_per_token"] = counters.get("bpt_sum", 0.0) / n if n else None
        counters["bpt_sum"], counters["bpt_n"] = 0.0, 0
        return out

    def progress_line(self, row: dict, total: int) -> str | None:
        return format_merge_row(row, total)

    def model_name(self) -> str:
        return self.config.backbone or "hyena"

    def _suffix(self) -> str:
        return f" with learned merging (ratio {self.config.merge_ratio or 2:g})"

    def summary(self, last: dict, markov: float | None, unit: str, model) -> list[str]:
        lines = []
        if last.get("val_mergedna_loss") is not None:
            weight = model.config.reconstruction_weight
            lines.append(
                f"validation MergeDNA loss {last['val_mergedna_loss']:#.4g} nats/base (masked "
                f"tokens + {weight:g} x reconstruction; not a next-token loss: no Markov "
                "reference)"
            )
        if last.get("bases_per_token") is not None:
            lines.append(
                f"learned tokens: {last['bases_per_token']:.2f} bases/token "
                f"(merge ratio {model.config.merge_ratio:g})"
            )
        return lines


def objective_for(config: TrainConfig) -> Objective:
    """The objective of a resolved config: a MergeLM's own, masked tokens, or next token."""
    if config.objective == "merge" or config.model == "merge":
        return MergeDNA(config)
    if config.objective == "mlm":
        return MaskedTokens(config)
    return NextToken(config)


def masked_row(row: dict, markov: float | None) -> dict:
    """An mlm run's row: bits per masked base under their own names (``train_masked_bits``,
    ``val_masked_bits``) and the two-sided Markov reference on the same validation targets
    (``markov_masked_bits``) in place of the next-token ones.

    >>> masked_row({"step": 5, "train_bits_per_base": 1.9, "val_bits_per_base": 1.8,
    ...             "markov_bits_per_base": None, "lr": 0.1}, 1.95)
    {'step': 5, 'train_masked_bits': 1.9, 'val_masked_bits': 1.8, 'markov_masked_bits': 1.95, \
'lr': 0.1}
    """
    out = {}
    for key, value in row.items():
        if key == "train_bits_per_base":
            out["train_masked_bits"] = value
        elif key == "val_bits_per_base":
            out["val_masked_bits"] = value
            out["markov_masked_bits"] = markov
        elif key != "markov_bits_per_base":
            out[key] = value
    return out


def format_merge_row(row: dict, total: int) -> str:
    """A merge run's progress line: the MergeDNA loss (nats per base) and bases per token.

    >>> format_merge_row({"step": 4, "train_mergedna_loss": 1.23456, "bases_per_token": 2.5}, 8)
    'step 4/8 | train MergeDNA loss 1.235 | 2.50 bases/token'
    """
    parts = [f"step {row['step']}/{total}"]
    for key, name in (("train_mergedna_loss", "train"), ("val_mergedna_loss", "val")):
        if row.get(key) is not None:
            parts.append(f"{name} MergeDNA loss {row[key]:#.4g}")
    if row.get("bases_per_token") is not None:
        parts.append(f"{row['bases_per_token']:.2f} bases/token")
    if row.get("tokens_per_s") is not None:
        parts.append(f"{row['tokens_per_s']:,.0f} bases/s")
    if row.get("lr") is not None:
        parts.append(f"lr {row['lr']:.1e}")
    return " | ".join(parts)
