"""An order-k byte Markov model as a causal LM, so ``score-text --model markov:4`` scores it
by the same code as a network: :class:`MarkovLM` wraps a fitted
:class:`~bioseq.models.markov.ByteMarkovModel` (the reference every ``pretrain --text`` run
reports) and returns, at every position, the log-probabilities of the next byte over the
:class:`~bioseq.tokenizers.ByteTokenizer` vocabulary.

The next byte is predicted from the last ``order`` bytes of the sequence the model reads, by
the same interpolated Witten-Bell estimate as ``ByteMarkovModel.bits_per_symbol`` (``markov:4``)
or, with ``markov:4:add-one``, by the plain add-one (Laplace) estimate
``(n(c s) + 1) / (n(c) + 256)`` of the order-``order`` counts alone, the textbook Markov chain
without back-off: a much weaker reference for text, where most contexts are rare. Nearer the
start than ``order`` bytes, either predicts from as many as there are (a lower order).

>>> import numpy as np
>>> from bioseq.tokenizers import ByteTokenizer
>>> tok = ByteTokenizer()
>>> text = b"the cat sat on the mat. " * 20
>>> lm = MarkovLM.fit([np.frombuffer(text, np.uint8)], order=2, tokenizer=tok)
>>> ids = torch.from_numpy(tok.encode_array("the cat"))[None]
>>> logp = lm(ids).logits.log_softmax(-1)
>>> round(float(logp[0, 1, tok.encode_array("e")[0]].exp()), 2)  # "th" -> "e"
1.0
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace

import numpy as np
import torch
from transformers import PretrainedConfig

from bioseq.errors import InputError
from bioseq.models.markov import ByteMarkovModel
from bioseq.tokenizers import ByteTokenizer

PREFIX = "markov:"
SMOOTHINGS = ("witten-bell", "add-one")


def parse_markov(spec: str) -> tuple[int, str] | None:
    """The order and smoothing of a ``markov:K`` or ``markov:K:add-one`` model spec, or None
    when ``spec`` names something else.

    >>> parse_markov("markov:4"), parse_markov("markov:4:add-one"), parse_markov("runs/text")
    ((4, 'witten-bell'), (4, 'add-one'), None)
    """
    if not str(spec).startswith(PREFIX):
        return None
    order, _, smoothing = str(spec)[len(PREFIX) :].partition(":")
    if not order.isdigit() or not 0 <= int(order) <= 6 or smoothing not in ("", *SMOOTHINGS):
        raise InputError(
            f"--model {spec}: expected markov:K or markov:K:add-one with an order K from 0 to 6"
        )
    return int(order), smoothing or SMOOTHINGS[0]


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` of ``query`` in the sorted ``keys``; 0 where absent."""
    if not keys.size:
        return np.zeros(query.shape)
    at = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return np.where(keys[at] == query, values[at], 0.0)


class MarkovLM(torch.nn.Module):
    """A fitted byte Markov model behind the causal-LM interface (see the module doc):
    ``model(input_ids).logits`` of shape ``(batch, length, vocabulary)``; ``smoothing`` is
    ``"witten-bell"`` or ``"add-one"``."""

    def __init__(
        self, markov: ByteMarkovModel, tokenizer: ByteTokenizer, smoothing: str = "witten-bell"
    ) -> None:
        super().__init__()
        if smoothing not in SMOOTHINGS:
            raise InputError(f"smoothing {smoothing!r}: expected one of {', '.join(SMOOTHINGS)}")
        self.markov, self.order, self.smoothing = markov, markov.order, smoothing
        self.config = PretrainedConfig(model_type="byte-markov", vocab_size=len(tokenizer))
        self.config.markov_order, self.config.markov_smoothing = markov.order, smoothing
        self._device = torch.nn.Parameter(torch.zeros(0), requires_grad=False)  # a device
        byte_of = np.full(len(tokenizer), 0, dtype=np.int64)  # special tokens read as byte 0
        byte_of[tokenizer.encode_array(bytes(range(256)))] = np.arange(256)
        self.byte_of, self.byte_ids = byte_of, tokenizer.encode_array(bytes(range(256)))
        self.tables = []
        for keys, counts in markov.tables:
            contexts, inverse = np.unique(keys >> 8, return_inverse=True)
            seen = np.bincount(inverse, weights=counts, minlength=contexts.size)
            kinds = np.bincount(inverse, minlength=contexts.size).astype(np.float64)
            self.tables.append((keys, counts.astype(np.float64), contexts, seen, kinds))

    @classmethod
    def fit(
        cls,
        texts: Iterable[np.ndarray],
        order: int = 4,
        tokenizer: ByteTokenizer | None = None,
        smoothing: str = "witten-bell",
    ) -> MarkovLM:
        """An order-``order`` model fitted on ``texts`` (uint8 arrays of UTF-8 bytes)."""
        return cls(ByteMarkovModel(order).fit(texts), tokenizer or ByteTokenizer(), smoothing)

    def next_byte_probs(self, data: np.ndarray) -> np.ndarray:
        """``P(next byte | data[: t + 1])`` for every ``t``: ``(len(data), 256)``."""
        data = np.asarray(data, dtype=np.int64)
        n = len(data)
        symbols = np.arange(256, dtype=np.int64)
        prob = np.full((n, 256), 1 / 256)
        context = np.zeros(n, dtype=np.int64)  # the last j bytes up to t, as an integer
        for j, (keys, counts, contexts, seen, kinds) in enumerate(self.tables):
            if j > 0:  # one byte more of context: data[t - j + 1]
                shifted = np.zeros(n, dtype=np.int64)
                shifted[j - 1 :] = data[: n - j + 1]
                context = context | (shifted << 8 * (j - 1))
            has = np.arange(n) >= j - 1  # j bytes exist before the next one
            n_ctx = _lookup(contexts, seen, context)
            hits = _lookup(keys, counts, (context[:, None] << 8) | symbols)
            if self.smoothing == "add-one":  # the longest context there is, alone
                prob = np.where(has[:, None], (hits + 1) / (n_ctx + 256)[:, None], prob)
                continue
            t_ctx = _lookup(contexts, kinds, context)
            with np.errstate(invalid="ignore", divide="ignore"):
                mixed = (hits + t_ctx[:, None] * prob) / (n_ctx + t_ctx)[:, None]
            prob = np.where((has & (n_ctx > 0))[:, None], mixed, prob)
        return prob

    def forward(self, input_ids: torch.Tensor, **_) -> SimpleNamespace:
        ids = input_ids.detach().cpu().numpy()
        logits = torch.full((*ids.shape, self.config.vocab_size), -1e9, dtype=torch.float32)
        columns = torch.from_numpy(self.byte_ids)
        for row, seq in enumerate(ids):
            probs = self.next_byte_probs(self.byte_of[seq])
            logits[row][:, columns] = torch.from_numpy(np.log(probs)).float()
        return SimpleNamespace(logits=logits.to(input_ids.device))
