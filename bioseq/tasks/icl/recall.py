"""Recall probes beside the bitstring suite: repeat copy, multi-query associative recall, label ICL.

* :func:`repeat_copy`: a random nucleotide string followed by itself; the loss per position on
  the second copy against the first (an induction signal: a model that copies has a lower loss
  on the second copy).
* :func:`mqar`: Zoology's multi-query associative recall over k-mer keys and values (no
  separators): ``k1 v1 k2 v2 ... kN vN`` then queries ``kq`` whose value the model must write;
  earlier queries are followed by their true values. Accuracy against the number of pairs and
  against the gap between a pair and its query, with the key-value block read once or twice
  ("just read twice", which helps recurrent models).
* :func:`label_icl`: HyenaDNA-style label ICL: ``k`` sequences of each of two classes, each
  followed by its class's label nucleotide (two drawn per trial), then a query sequence.

Every probe goes through the :class:`~bioseq.tasks.icl.adapters.Adapter` interface (greedy
completion; ``repeat_copy`` also needs ``token_losses``), so any model the suite runs on works.

>>> import bioseq
>>> from bioseq.models import MambaConfig, MambaLM
>>> from bioseq.tokenizers import CharTokenizer
>>> from bioseq.tasks.icl.adapters import CausalLMAdapter
>>> tok = CharTokenizer("dna")
>>> adapter = CausalLMAdapter(MambaLM(MambaConfig.from_preset("tiny", vocab_size=10)), tok)
>>> result = mqar(adapter, pairs=(2, 4), trials=2, n_queries=2)
>>> [c["pairs"] for c in result["curves"]], result["chance"]
([[2, 4], [2, 4]], 0.015625)
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from bioseq.errors import InputError
from bioseq.tasks.icl.adapters import Adapter

NUCLEOTIDES = "ACGT"
Sampler = Callable[[np.random.Generator, int], str]


def random_dna(rng: np.random.Generator, length: int, gc: float = 0.5) -> str:
    """A random nucleotide string with the given GC fraction."""
    p = np.array([1 - gc, gc, gc, 1 - gc]) / 2
    return "".join(np.array(list(NUCLEOTIDES))[rng.choice(4, size=length, p=p)])


def _check(adapter: Adapter, longest: int) -> None:
    if not adapter.encodes(NUCLEOTIDES):
        raise InputError(f"{adapter.name}: its tokenizer cannot encode {NUCLEOTIDES!r}")
    if adapter.max_length is not None and longest > adapter.max_length:
        raise InputError(
            f"{adapter.name}: the probe needs {longest} tokens, the model takes "
            f"at most {adapter.max_length}"
        )


def _binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n else float("nan")


# --------------------------------------------------------------------------- repeat copy
def repeat_copy(adapter: Adapter, length: int = 128, n_sequences: int = 16, seed: int = 0) -> dict:
    """Mean loss (nats per token) on the first and the second copy, and per position.

    A token belongs to the copy holding its last character; the first token of the text has
    no prediction and is left out.
    """
    if not hasattr(adapter, "token_losses"):
        raise InputError(f"{adapter.name}: the repeat-copy probe needs token losses")
    _check(adapter, 2 * length)
    rng = np.random.default_rng([seed, length, 11])
    texts = []
    for _ in range(n_sequences):
        s = random_dna(rng, length)
        texts.append(s + s)
    first = np.full((n_sequences, length), np.nan)
    second = np.full((n_sequences, length), np.nan)
    for i, (losses, ends) in enumerate(adapter.token_losses(texts)):
        last_char = np.asarray(ends) - 1
        for loss, pos in zip(losses, last_char, strict=True):
            target = first if pos < length else second
            target[i, pos % length] = loss
    first_mean, second_mean = float(np.nanmean(first)), float(np.nanmean(second))
    return {
        "length": length,
        "n_sequences": n_sequences,
        "first_loss": first_mean,
        "second_loss": second_mean,
        "difference": first_mean - second_mean,
        "first_per_position": _nanmean_columns(first),
        "second_per_position": _nanmean_columns(second),
    }


def _nanmean_columns(matrix: np.ndarray) -> list[float | None]:
    out = []
    for column in matrix.T:
        values = column[~np.isnan(column)]
        out.append(float(values.mean()) if values.size else None)
    return out


# --------------------------------------------------------------------------- MQAR
def mqar_prompts(n_pairs: int, k: int, n_queries: int, rng: np.random.Generator):
    """Key-value block, and per query (context after the block, key, value, pair index)."""
    if n_pairs > 4**k:
        raise InputError(f"{n_pairs} distinct {k}-mer keys do not exist (at most {4**k})")
    letters = np.array(list(NUCLEOTIDES))
    keys = [
        "".join(letters[(code >> 2 * np.arange(k - 1, -1, -1)) & 3])
        for code in rng.choice(4**k, size=n_pairs, replace=False)
    ]
    values = ["".join(letters[rng.integers(0, 4, size=k)]) for _ in range(n_pairs)]
    block = "".join(key + value for key, value in zip(keys, values, strict=True))
    asked = rng.choice(n_pairs, size=min(n_queries, n_pairs), replace=False)
    queries, context = [], ""
    for j in asked:
        queries.append((context, keys[j], values[j], int(j)))
        context += keys[j] + values[j]
    return block, queries


def mqar(
    adapter: Adapter,
    pairs: Sequence[int] = (2, 4, 8, 16, 32, 64),
    k: int = 3,
    n_queries: int = 4,
    trials: int = 8,
    seed: int = 0,
) -> dict:
    """Accuracy (exact k-mer) against the number of pairs, block read once and twice, and
    against the gap (symbols from the end of the pair's last occurrence to the query)."""
    jobs = []  # (read_twice, n_pairs, prompt, value, gap)
    for n_pairs in pairs:
        for t in range(trials):
            block, queries = mqar_prompts(
                n_pairs, k, n_queries, np.random.default_rng([seed, n_pairs, t, 13])
            )
            for twice in (False, True):
                head = block * (2 if twice else 1)
                for context, key, value, j in queries:
                    gap = len(block) - 2 * k * (j + 1) + len(context)
                    jobs.append((twice, n_pairs, head + context + key, value, gap))
    _check(adapter, max(len(job[2]) for job in jobs) + k)
    completions = adapter.complete([job[2] for job in jobs], k)
    hits: dict[tuple[bool, int], list[int]] = defaultdict(list)
    by_gap: dict[tuple[bool, int], list[int]] = defaultdict(list)
    for (twice, n_pairs, _, value, gap), completion in zip(jobs, completions, strict=True):
        correct = int(completion[:k] == value)
        hits[twice, n_pairs].append(correct)
        by_gap[twice, int(math.log2(max(gap, 1)))].append(correct)
    curves = []
    for twice in (False, True):
        acc = [float(np.mean(hits[twice, n])) for n in pairs]
        se = [_binomial_se(a, len(hits[twice, n])) for a, n in zip(acc, pairs, strict=True)]
        curves.append({"read_twice": twice, "pairs": list(pairs), "accuracy": acc, "se": se})
    gaps = [
        {"read_twice": tw, "log2_gap": b, "accuracy": float(np.mean(v)), "n": len(v)}
        for (tw, b), v in sorted(by_gap.items())
    ]
    return {
        "k": k,
        "n_queries": n_queries,
        "trials": trials,
        "chance": 4.0**-k,
        "curves": curves,
        "by_gap": gaps,
    }


# --------------------------------------------------------------------------- label ICL
def gc_classes(gc_low: float = 0.3, gc_high: float = 0.7) -> tuple[Sampler, Sampler]:
    """Default classes: AT-rich and GC-rich random sequences."""
    return (lambda rng, n: random_dna(rng, n, gc_low), lambda rng, n: random_dna(rng, n, gc_high))


def label_icl(
    adapter: Adapter,
    shots_per_class: Sequence[int] = (1, 2, 4, 8, 16),
    trials: int = 32,
    seq_len: int = 32,
    classes: tuple[Sampler, Sampler] | None = None,
    seed: int = 0,
) -> dict:
    """Accuracy of the first generated symbol against the query's label, per shots per class.

    Per trial two distinct label nucleotides are drawn (one per class), the ``2k``
    demonstrations are shuffled, and the query's class alternates between trials.
    """
    classes = classes or gc_classes()
    jobs = []
    for shots in shots_per_class:
        for t in range(trials):
            rng = np.random.default_rng([seed, shots, t, 17])
            labels = rng.choice(list(NUCLEOTIDES), size=2, replace=False)
            demos = [(classes[c](rng, seq_len), labels[c]) for c in (0, 1) for _ in range(shots)]
            order = rng.permutation(len(demos))
            query_class = t % 2
            prompt = "".join(demos[i][0] + demos[i][1] for i in order)
            jobs.append((shots, prompt + classes[query_class](rng, seq_len), labels[query_class]))
    _check(adapter, max(len(job[1]) for job in jobs) + 1)
    completions = adapter.complete([job[1] for job in jobs], 1)
    hits: dict[int, list[int]] = defaultdict(list)
    for (shots, _, label), completion in zip(jobs, completions, strict=True):
        hits[shots].append(int(completion[:1] == label))
    acc = [float(np.mean(hits[n])) for n in shots_per_class]
    se = [_binomial_se(a, trials) for a in acc]
    return {
        "seq_len": seq_len,
        "trials": trials,
        "shots_per_class": list(shots_per_class),
        "accuracy": acc,
        "se": se,
        "chance": 0.5,
    }


def recall_sizes(max_length: int | None) -> dict[str, dict]:
    """Keyword arguments of each probe: its defaults, cut to prompts of at most ``max_length``
    symbols (a repeat copy of ``max_length // 2``; the MQAR pair counts and label-ICL shot
    counts that fit, label-ICL sequences shortened until one shot does).

    >>> recall_sizes(64)
    {'repeat_copy': {'length': 32}, 'mqar': {'pairs': (2,)}, 'label_icl': {'shots_per_class': (1,), 'seq_len': 20}}
    """  # noqa: E501
    max_length = max_length or 2**31  # no known limit: the defaults
    k, queries = 3, 4  # mqar's defaults: a prompt is the block twice, the queries, the answer
    pairs = tuple(
        n
        for n in (2, 4, 8, 16, 32, 64)
        if 4 * k * n + 2 * k * (min(queries, n) - 1) + 2 * k <= max_length
    )
    seq_len = max(1, min(32, (max_length - 1) // 3 - 1))  # label ICL: 2s demos, query, answer
    shots = tuple(s for s in (1, 2, 4, 8, 16) if (2 * s + 1) * (seq_len + 1) + 1 <= max_length)
    return {
        "repeat_copy": {"length": max(1, min(128, max_length // 2))},
        "mqar": {"pairs": pairs or (2,)},
        "label_icl": {"shots_per_class": shots or (1,), "seq_len": seq_len},
    }


def run_recall(adapter: Adapter, seed: int = 0, quick: bool = False) -> dict:
    """All three probes with their defaults (``quick``: fewer, shorter trials); for a model
    that reads fewer tokens, cut to what fits (:func:`recall_sizes`; one line on stderr)."""
    if quick:
        return {
            "repeat_copy": repeat_copy(adapter, length=32, n_sequences=4, seed=seed),
            "mqar": mqar(adapter, pairs=(2, 4, 8), trials=2, n_queries=2, seed=seed),
            "label_icl": label_icl(
                adapter, shots_per_class=(1, 2), trials=4, seq_len=16, seed=seed
            ),
        }
    sizes = recall_sizes(adapter.max_length)
    if sizes != recall_sizes(None):
        label = sizes["label_icl"]
        pairs = ", ".join(map(str, sizes["mqar"]["pairs"]))
        shots = ", ".join(map(str, label["shots_per_class"]))
        print(
            f"{adapter.name}: the model reads at most {adapter.max_length} tokens: repeat "
            f"copy of {sizes['repeat_copy']['length']}, MQAR with {pairs} pairs, label ICL "
            f"with {shots} shots per class of {label['seq_len']} bases",
            file=sys.stderr,
            flush=True,
        )
    return {
        "repeat_copy": repeat_copy(adapter, seed=seed, **sizes["repeat_copy"]),
        "mqar": mqar(adapter, seed=seed, **sizes["mqar"]),
        "label_icl": label_icl(adapter, seed=seed, **sizes["label_icl"]),
    }
