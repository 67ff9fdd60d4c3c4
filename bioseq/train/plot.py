"""``loss.png``: train and validation bits per symbol (base, residue or byte) against tokens,
with the Markov reference; a merge run's MergeDNA loss.

>>> from bioseq.train.plot import plot_metrics
>>> plot_metrics("runs/demo/metrics.jsonl", "runs/demo/loss.png")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from bioseq.runtime import read_metrics
from bioseq.train.progress import bits_keys


def plot_metrics(
    metrics: str | Path, out: str | Path, title: str | None = None, unit: str = "base"
) -> Path:
    """Draw ``metrics.jsonl`` into the PNG ``out`` (matplotlib's Agg backend, no display);
    ``unit`` names the symbol of the bits (``residue`` for proteins, ``byte`` for text)."""
    import matplotlib  # deferred: choose the Agg backend when drawing, not on import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg")

    rows = read_metrics(metrics)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    train_key, val_key, markov_key, what = bits_keys(rows[0] if rows else {})
    train = [(r["tokens"], r[train_key]) for r in rows if r.get(train_key) is not None]
    val = [(r["tokens"], r[val_key]) for r in rows if r.get(val_key) is not None]
    if train:
        ax.plot(*zip(*train, strict=True), label="train", color="tab:blue", alpha=0.6)
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="validation", color="tab:orange")
    order = rows[0].get("markov_order", 4) if rows else 4
    if what == "masked ":  # mlm: the reference is measured on each evaluation's targets
        ref = [(r["tokens"], r[markov_key]) for r in rows if r.get(markov_key) is not None]
        if ref:
            ax.plot(
                *zip(*ref, strict=True),
                "--",
                color="gray",
                label=f"two-sided order-{order} Markov ({ref[-1][1]:#.4g})",
            )
    markov = next((r[markov_key] for r in rows if markov_key and r.get(markov_key)), None)
    if markov is not None and not what:
        ax.axhline(markov, color="gray", ls="--", label=f"order-{order} Markov ({markov:#.4g})")
    ax.set_xlabel("training tokens")
    merging = what == "MergeDNA "
    ax.set_ylabel(f"MergeDNA loss (nats per {unit})" if merging else f"bits per {what}{unit}")
    ax.set_title(title or "bioseq pretrain")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)
