"""``metrics.png`` of a fine-tuning run: training loss and the validation metric per step."""

from __future__ import annotations

from pathlib import Path

from bioseq.runtime import read_metrics


def plot_finetune(metrics: str | Path, out: str | Path, key: str) -> Path:
    """Draw ``metrics.jsonl`` (train loss on the left axis, ``val_<key>`` on the right; a
    probe's rows plot the validation metric against the regularisation strength)."""
    import matplotlib  # deferred: choose the Agg backend when drawing, not on import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg")

    rows = read_metrics(metrics)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    strength = next((k for k in ("C", "alpha") if rows and k in rows[0]), None)
    if strength:  # a probe: one row per regularisation strength
        ax.semilogx(
            [r[strength] for r in rows], [r[f"val_{key}"] for r in rows], "o-", color="tab:orange"
        )
        ax.set_xlabel(strength)
        ax.set_ylabel(f"validation {key}")
    else:
        steps = [r["step"] for r in rows]
        ax.plot(steps, [r["train_loss"] for r in rows], color="tab:blue", label="train loss")
        ax.set_xlabel("step")
        ax.set_ylabel("train loss")
        right = ax.twinx()
        right.plot(
            steps,
            [r[f"val_{key}"] for r in rows],
            "o-",
            color="tab:orange",
            label=f"validation {key}",
        )
        right.set_ylabel(f"validation {key}")
        fig.legend(loc="upper center", ncol=2)
    ax.grid(alpha=0.3)
    ax.set_title("bioseq finetune")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)
