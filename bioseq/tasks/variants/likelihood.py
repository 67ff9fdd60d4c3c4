"""Log-likelihood differences between a reference sequence and its alternatives (causal LMs).

A causal model gives every token before the first difference the same log-likelihood in the
reference and in an alternative, so only the rest needs computing. :class:`PairScorer` scores
groups ``(reference, [alternatives])`` that way, with one strategy per model family:

* every model: each reference is scored once per group, and alternatives are batched;
* ``TransformerLM``: the reference's key/value cache, cut at the first differing token, is
  reused, so only the alternative's suffix runs through the model. ``auto`` does this on CUDA
  only: a suffix that attends to a cached prefix needs an explicit attention mask, and on the
  CPU PyTorch then leaves its fused causal kernel for the plain one, which costs more than the
  prefix saves (``benchmarks/bench_variants.py``); ``strategy="reuse"`` forces it;
* ``MambaLM``: the reference is run in segments that end at every distinct split point, keeping
  the recurrent state there; each alternative's suffix then starts from that state (batched
  across split points: :meth:`~bioseq.models.MambaLM.forward_from_state`,
  :meth:`~bioseq.models.MambaState.stack`);
* anything else (``HyenaLM``, other causal LMs): alternatives are run in full, but only their
  suffix is summed, so rounding in the shared prefix cannot leak into the score.

:func:`naive_pair_scores` scores every reference and alternative independently: the reference
against which the fast paths are tested and benchmarked.

>>> import torch
>>> from bioseq.models import MambaConfig, MambaLM
>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("dna")
>>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=tok.vocab_size, d_model=32)).eval()
>>> ref, alts = "ACGTACGTAC", ["ACGTTCGTAC", "ACGAACGTAC"]
>>> fast = PairScorer(model, tok).score([(ref, alts)])
>>> slow = naive_pair_scores(model, tok, [(ref, alt) for alt in alts])
>>> all(abs(f.llr() - s.llr()) < 1e-4 for f, s in zip(fast[0], slow))
True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from transformers import DynamicCache

from bioseq.errors import InputError
from bioseq.models import MambaLM, MambaState, TransformerLM
from bioseq.models.memory import check_forward_memory

Reduce = Literal["mean", "sum"]
Strategy = Literal["auto", "full", "reuse"]


@dataclass(frozen=True)
class PairScore:
    """Summed log-likelihoods (nats) of a reference/alternative pair.

    ``shared`` covers the tokens both share at the start (same context, same token);
    ``ref_rest``/``alt_rest`` the remaining scored tokens; ``*_tokens`` count scored tokens and
    ``*_bases`` the sequence characters they hold (as many as tokens for single-base tokenizers;
    with k-mer or BPE tokens the reference and alternative may tokenise differently).
    """

    shared: float
    ref_rest: float
    alt_rest: float
    ref_tokens: int
    alt_tokens: int
    ref_bases: int = -1  # -1: one base per token
    alt_bases: int = -1

    def __post_init__(self) -> None:
        if self.ref_bases < 0:
            object.__setattr__(self, "ref_bases", self.ref_tokens)
        if self.alt_bases < 0:
            object.__setattr__(self, "alt_bases", self.alt_tokens)

    @property
    def ref_total(self) -> float:
        return self.shared + self.ref_rest

    @property
    def alt_total(self) -> float:
        return self.shared + self.alt_rest

    def llr(self, reduce: Reduce = "sum") -> float:
        """``alt - ref``: summed log-likelihoods, or per-base means with ``reduce="mean"``
        (bases, not tokens, so windows that tokenise differently share one denominator)."""
        if reduce not in ("mean", "sum"):
            raise InputError(f"reduce must be 'mean' or 'sum', not {reduce!r}")
        diff = self.alt_rest - self.ref_rest
        if reduce == "sum":
            return diff
        if self.ref_bases == self.alt_bases:
            return diff / max(self.ref_bases, 1)
        return self.alt_total / max(self.alt_bases, 1) - self.ref_total / max(self.ref_bases, 1)


def encode(tokenizer, sequence: str, add_bos: bool = True, add_eos: bool = False) -> np.ndarray:
    """Token ids (int64) of ``sequence``, with BOS (so the first residue is scored) and EOS."""
    if hasattr(tokenizer, "encode_array"):
        ids = tokenizer.encode_array(sequence)
    else:  # any Hugging Face tokenizer
        ids = np.asarray(tokenizer(sequence, add_special_tokens=False)["input_ids"])
    parts = [[tokenizer.bos_token_id]] if add_bos else []
    parts.append(ids)
    if add_eos:
        parts.append([tokenizer.eos_token_id])
    return np.concatenate(parts).astype(np.int64)


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common prefix of two 1-D arrays."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if differ.size else n


def _token_ll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) per position: logits (..., L, V), targets (..., L)."""
    return logits.float().log_softmax(-1).gather(-1, targets[..., None])[..., 0]


@dataclass
class _Pair:
    """One alternative: ids, split point ``k`` and, once computed, its suffix log-likelihoods."""

    ids: np.ndarray
    k: int
    rest: float | None = None


class PairScorer:
    """Scores alternatives against their reference with a causal LM (see the module doc).

    ``strategy="full"`` turns the suffix reuse off (every alternative runs in full; each
    reference is still scored once per group); ``"reuse"`` forces it where the model supports
    it; ``"auto"`` picks the faster (see the module doc). Sequences get a BOS token (``add_bos``) so
    their first residue is scored, and an EOS token with ``add_eos`` (protein models trained
    on whole records).
    """

    def __init__(
        self,
        model,
        tokenizer,
        batch_size: int = 8,
        strategy: Strategy = "auto",
        add_bos: bool = True,
        add_eos: bool = False,
    ) -> None:
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, not {batch_size}")
        if strategy not in ("auto", "full", "reuse"):
            raise InputError(f"strategy must be 'auto', 'full' or 'reuse', not {strategy!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.add_bos, self.add_eos = add_bos, add_eos
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.lengths = _token_lengths(tokenizer)
        self.device = next(model.parameters()).device
        self._checked = 0  # tokens of the largest batch found to fit in memory
        if strategy == "full":
            self.kind = "full"
        elif isinstance(model, MambaLM):
            self.kind = "mamba"
        elif isinstance(model, TransformerLM) and (
            strategy == "reuse" or self.device.type == "cuda"
        ):
            self.kind = "transformer"
        else:
            self.kind = "full"

    def encode(self, sequence: str) -> np.ndarray:
        return encode(self.tokenizer, sequence, self.add_bos, self.add_eos)

    @torch.no_grad()
    def score(
        self,
        groups: Sequence[tuple[str, Sequence[str]]],
        progress: Callable[[int], None] | None = None,
    ) -> list[list[PairScore]]:
        """One :class:`PairScore` per alternative of every ``(reference, alternatives)`` group.

        ``progress(n)`` is called after each chunk with the number of alternatives it scored.
        """
        results: list[list[PairScore]] = []
        chunk = self.batch_size if self.kind != "transformer" else 1
        for start in range(0, len(groups), chunk):
            part = groups[start : start + chunk]
            refs = [self.encode(ref) for ref, _ in part]
            pairs = [
                [_Pair(ids, common_prefix(ref_ids, ids)) for ids in map(self.encode, alts)]
                for ref_ids, (_, alts) in zip(refs, part, strict=True)
            ]
            ref_lls = getattr(self, f"_score_{self.kind}")(refs, pairs)
            for ref_ids, ref_ll, group in zip(refs, ref_lls, pairs, strict=True):
                results.append([_pair_score(ref_ids, ref_ll, p, self.lengths) for p in group])
            if progress is not None:
                progress(sum(len(alts) for _, alts in part))
        return results

    # -- helpers ------------------------------------------------------------------------
    def _tensor(self, rows: Sequence[np.ndarray]) -> torch.Tensor:
        """Right-padded (batch, max length) ids on the model's device; a batch larger than any
        before is first checked to fit in memory."""
        width = max(len(r) for r in rows)
        if len(rows) * width > self._checked:
            check_forward_memory(self.model, len(rows), width)
            self._checked = len(rows) * width
        out = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.from_numpy(row)
        return out.to(self.device)

    def _full_ll(self, seqs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-token log-likelihoods (tokens 1..n-1) of whole sequences, batched by length."""
        out: list[np.ndarray | None] = [None] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            ids = self._tensor([seqs[i] for i in index])
            ll = _token_ll(self.model(ids).logits[:, :-1], ids[:, 1:]).double().cpu().numpy()
            for row, i in enumerate(index):
                out[i] = ll[row, : len(seqs[i]) - 1]
        return out  # type: ignore[return-value]

    def _todo(self, pairs: list[list[_Pair]]) -> list[_Pair]:
        """Alternatives that differ from their reference (identical ones score 0)."""
        return [p for group in pairs for p in group if p.rest is None]

    # -- strategies ---------------------------------------------------------------------
    def _score_full(self, refs: list[np.ndarray], pairs: list[list[_Pair]]) -> list[np.ndarray]:
        ref_lls = self._full_ll(refs)
        for ref_ids, group in zip(refs, pairs, strict=True):
            for p in group:
                if np.array_equal(p.ids, ref_ids):
                    p.rest = 0.0  # identical: nothing to compute (ref_rest is recomputed too)
        todo = self._todo(pairs)
        for p, ll in zip(todo, self._full_ll([p.ids for p in todo]), strict=True):
            p.rest = float(ll[max(p.k - 1, 0) :].sum())
        return ref_lls

    def _score_transformer(
        self, refs: list[np.ndarray], pairs: list[list[_Pair]]
    ) -> list[np.ndarray]:
        (ref_ids,), (group,) = refs, pairs
        ids = self._tensor([ref_ids])
        out = self.model(ids, use_cache=True)
        logp = out.logits[0].float().log_softmax(-1)
        by_k: dict[int, list[_Pair]] = defaultdict(list)
        for p in group:
            by_k[p.k].append(p)
        for k, items in by_k.items():
            if k == 0:  # nothing shared (no BOS): run in full
                for p, ll in zip(items, self._full_ll([p.ids for p in items]), strict=True):
                    p.rest = float(ll.sum())
                continue
            for start in range(0, len(items), self.batch_size):
                batch = items[start : start + self.batch_size]
                past = _prefix_cache(out.cache, k, len(batch))
                self._finish_suffixes(
                    batch, logp, lambda x, past=past: self.model(x, cache=past).logits
                )
        return [_token_ll(logp[None, :-1], ids[:, 1:])[0].double().cpu().numpy()]

    def _score_mamba(self, refs: list[np.ndarray], pairs: list[list[_Pair]]) -> list[np.ndarray]:
        ref_lls, rows = [], []  # rows: (pair, state after its k tokens, ref log-probs)
        for ref_ids, group in zip(refs, pairs, strict=True):
            ends = sorted({p.k for p in group if 0 < p.k < len(p.ids)} | {len(ref_ids)})
            ids = self._tensor([ref_ids])
            logits, states, state, prev = [], {}, None, 0
            for end in ends:  # segments of the reference, keeping the state at each end
                part, state = self.model.forward_from_state(ids[:, prev:end], state)
                logits.append(part)
                states[end], prev = state, end
            logp = torch.cat(logits, dim=1)[0].float().log_softmax(-1)
            ref_lls.append(_token_ll(logp[None, :-1], ids[:, 1:])[0].double().cpu().numpy())
            for p in group:
                if 0 < p.k < len(p.ids):
                    rows.append((p, states[p.k], logp))
                elif p.k == 0:
                    p.rest = float(self._full_ll([p.ids])[0].sum())
                else:  # the alternative is a prefix of the reference: no token of its own
                    p.rest = 0.0
        rows.sort(key=lambda row: len(row[0].ids) - row[0].k)
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            state = MambaState.stack([s for _, s, _ in batch])
            self._finish_suffixes(
                [p for p, _, _ in batch],
                [lp for _, _, lp in batch],
                lambda x, state=state: self.model.forward_from_state(x, state)[0],
            )
        return ref_lls

    def _finish_suffixes(self, batch: list[_Pair], logp, run: Callable) -> None:
        """Set ``rest`` of alternatives that share the reference up to their split point ``k``.

        Token ``k`` is predicted from the reference's log-probs at ``k - 1``; tokens after it
        from ``run(ids[k:-1])``. ``logp``: one (L, V) tensor, or one per alternative.
        """
        logps = logp if isinstance(logp, list) else [logp] * len(batch)
        first = [
            float(lp[p.k - 1, int(p.ids[p.k])]) if p.k < len(p.ids) else 0.0
            for p, lp in zip(batch, logps, strict=True)
        ]
        inputs = [p.ids[p.k : -1] for p in batch]
        ll = None
        if max(len(x) for x in inputs) > 0:
            x = self._tensor([row if len(row) else np.array([self.pad_id]) for row in inputs])
            targets = self._tensor(
                [
                    p.ids[p.k + 1 :] if len(p.ids) > p.k + 1 else np.array([self.pad_id])
                    for p in batch
                ]
            )
            ll = _token_ll(run(x), targets).double().cpu().numpy()
        for i, p in enumerate(batch):
            n = len(inputs[i])
            p.rest = first[i] + (float(ll[i, :n].sum()) if n else 0.0)


def _prefix_cache(cache, k: int, n: int) -> DynamicCache:
    """A new cache: the first ``k`` positions of ``cache`` (batch 1), repeated ``n`` times."""
    prefix = DynamicCache()
    for i, layer in enumerate(cache.layers):
        keys = layer.keys[:, :, :k].expand(n, -1, -1, -1).contiguous()
        values = layer.values[:, :, :k].expand(n, -1, -1, -1).contiguous()
        prefix.update(keys, values, i)
    return prefix


def _token_lengths(tokenizer) -> np.ndarray | None:
    """Bases per token id, or None for tokenizers of one symbol per token (or unknown ones)."""
    lengths = getattr(tokenizer, "token_lengths", None)
    return None if lengths is None or lengths.max(initial=0) <= 1 else np.asarray(lengths)


def _bases(ids: np.ndarray, lengths: np.ndarray | None) -> int:
    """Bases held by the scored tokens ``ids[1:]`` (-1: one per token)."""
    return -1 if lengths is None else int(lengths[ids[1:]].sum())


def _pair_score(
    ref_ids: np.ndarray, ref_ll: np.ndarray, pair: _Pair, lengths: np.ndarray | None = None
) -> PairScore:
    s = max(pair.k - 1, 0)  # tokens 1..k-1 share token and context
    ref_bases = _bases(ref_ids, lengths)
    if np.array_equal(pair.ids, ref_ids):
        rest = float(ref_ll[s:].sum())
        return PairScore(
            float(ref_ll[:s].sum()), rest, rest, len(ref_ll), len(ref_ll), ref_bases, ref_bases
        )
    return PairScore(
        float(ref_ll[:s].sum()),
        float(ref_ll[s:].sum()),
        float(pair.rest),
        len(ref_ll),
        len(pair.ids) - 1,
        ref_bases,
        _bases(pair.ids, lengths),
    )


@torch.no_grad()
def naive_pair_scores(
    model,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    add_bos: bool = True,
    add_eos: bool = False,
) -> list[PairScore]:
    """Score each ``(reference, alternative)`` by two independent full forward passes."""
    model = model.eval()
    device = next(model.parameters()).device
    lengths = _token_lengths(tokenizer)
    out = []
    for ref, alt in pairs:
        totals = []
        for seq in (ref, alt):
            encoded = encode(tokenizer, seq, add_bos, add_eos)
            ids = torch.from_numpy(encoded)[None].to(device)
            totals.append(
                (
                    float(_token_ll(model(ids).logits[:, :-1], ids[:, 1:]).sum()),
                    ids.shape[1] - 1,
                    _bases(encoded, lengths),
                )
            )
        (ref_total, n_ref, ref_bases), (alt_total, n_alt, alt_bases) = totals
        out.append(PairScore(0.0, ref_total, alt_total, n_ref, n_alt, ref_bases, alt_bases))
    return out
