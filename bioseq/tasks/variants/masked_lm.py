"""Reading log-probabilities out of a masked LM: the core of masked-marginal scoring.

Any masked LM whose forward pass gives ``model(input_ids, attention_mask).logits`` (``CaduceusLM``,
transformers' ``EsmForMaskedLM`` for ESM-2 and the Nucleotide Transformer, BERT-like models) is
read through :class:`MaskedLMReader`:

* :meth:`~MaskedLMReader.tokenize` turns a sequence into the ids the model reads and says which
  bases each content token holds. bioseq tokenizers give bare tokens (as ``bioseq pretrain`` feeds
  windows: no [CLS]/[SEP]); Hugging Face tokenizers add their own special tokens (ESM: ``<cls>``
  before and ``<eos>`` after, as ESM and the Nucleotide Transformer were trained), and the
  content tokens are located inside them, so position ``i`` of a sequence is token
  ``start + i`` for one-symbol tokens. Tokens of several bases (Nucleotide Transformer 6-mers) keep
  their lengths (``Tokens.lengths``);
* :meth:`~MaskedLMReader.read` runs *passes* (ids with some positions replaced by the mask token)
  and returns only the log-probabilities asked for, ``log_softmax(logits)[position, id]``, batching
  passes of equal length (no padding ever enters, so a value does not depend on its batch).
  Logits wider than the tokenizer (a vocabulary padded to a multiple of 8, as Caduceus's) are cut
  to the tokenizer's ids before the softmax.

:mod:`~bioseq.tasks.variants.masked_dna` (score-vcf) and
:mod:`~bioseq.tasks.variants.masked_protein` (score-mutations) build their passes on this.

>>> import torch
>>> from transformers import EsmConfig, EsmForMaskedLM
>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("protein")
>>> _ = torch.manual_seed(0)
>>> model = EsmForMaskedLM(EsmConfig(
...     vocab_size=len(tok), hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
...     intermediate_size=8, pad_token_id=tok.pad_token_id, mask_token_id=tok.mask_token_id,
...     position_embedding_type="rotary"))
>>> reader = MaskedLMReader(model, tok)
>>> tokens = reader.tokenize("MKVL")
>>> k = tokens.start + 1  # the K, hidden; read log p(K) and log p(A) there
>>> values = reader.read([(tokens.masked([k]), [(k, tokens.ids[k]), (k, reader.symbol_id("A"))])])
>>> values[0].shape, bool((values[0] < 0).all())
((2,), True)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bioseq.errors import InputError
from bioseq.models.context import position_limit
from bioseq.models.memory import check_forward_memory
from bioseq.tokenizers.base import SequenceTokenizer

# (ids of one pass, [(token position, token id), ...] whose log-probabilities are wanted)
Pass = tuple[np.ndarray, Sequence[tuple[int, int]]]


@dataclass(frozen=True)
class Tokens:
    """A tokenised sequence: ``ids`` as the model reads them (special tokens included), the first
    content token at ``start``, and the bases (or residues) each content token holds."""

    ids: np.ndarray
    start: int
    lengths: np.ndarray
    mask_id: int

    @property
    def content(self) -> np.ndarray:
        """The ids of the content tokens (no special tokens)."""
        return self.ids[self.start : self.start + len(self.lengths)]

    @property
    def spans(self) -> np.ndarray:
        """``(n, 2)`` ``[first base, end)`` of each content token within the sequence."""
        ends = np.cumsum(self.lengths)
        return np.stack([ends - self.lengths, ends], axis=1)

    def masked(self, positions: Sequence[int]) -> np.ndarray:
        """A copy of ``ids`` with the token positions ``positions`` replaced by the mask."""
        ids = self.ids.copy()
        ids[list(positions)] = self.mask_id
        return ids


class MaskedLMReader:
    """Tokenises sequences for a masked LM and reads log-probabilities of masked passes (see the
    module doc). ``batch_size`` passes of equal length run together."""

    def __init__(self, model, tokenizer, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, not {batch_size}")
        mask_id = getattr(tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise InputError(
                f"{type(tokenizer).__name__} has no mask token: masked-marginal "
                "scores hide tokens behind it"
            )
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.mask_id = int(mask_id)
        self.bare = isinstance(tokenizer, SequenceTokenizer)  # bioseq: windows as in pretraining
        self.device = next(model.parameters()).device
        self.n_vocab = len(tokenizer)
        self._attention = "attention_mask" in inspect.signature(model.forward).parameters
        self._checked = 0  # tokens of the largest batch found to fit in memory
        self.max_tokens = position_limit(model.config)

    # -- tokens -------------------------------------------------------------------------------
    def tokenize(self, sequence: str) -> Tokens:
        """:class:`Tokens` of ``sequence``; InputError when the tokens do not spell it out."""
        tok = self.tokenizer
        if self.bare:
            ids = np.asarray(tok.encode_array(sequence), dtype=np.int64)
            lengths = np.asarray(tok.token_lengths)[ids]
            if int(lengths.sum()) != len(sequence) or (lengths == 0).any():
                raise InputError(
                    f"{type(tok).__name__} does not tokenise the window base by "
                    "base (special or unknown tokens)"
                )
            return Tokens(ids, 0, lengths, self.mask_id)
        content = list(tok(sequence, add_special_tokens=False)["input_ids"])
        pieces = tok.convert_ids_to_tokens(content)
        if "".join(pieces).upper() != sequence.upper():
            raise InputError(
                f"{type(tok).__name__} does not spell out {sequence[:20]!r} in "
                "its tokens (unknown symbols?); cannot map tokens to positions"
            )
        full = list(tok.build_inputs_with_special_tokens(content))
        start = _find(full, content)
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)
        return Tokens(np.asarray(full, dtype=np.int64), start, lengths, self.mask_id)

    def symbol_id(self, symbol: str) -> int | None:
        """The id of the one-symbol token ``symbol`` (None when the vocabulary lacks it)."""
        vocab = self.tokenizer.get_vocab()
        for key in (symbol, symbol.upper(), symbol.lower()):
            if key in vocab:
                return int(vocab[key])
        return None

    def check_length(self, tokens: Tokens, what: str) -> None:
        """InputError when ``tokens`` are more than the model's position embeddings reach."""
        if self.max_tokens is not None and len(tokens.ids) > self.max_tokens:
            raise InputError(
                f"{what} makes {len(tokens.ids):,} tokens but the model reads at "
                f"most {self.max_tokens:,}"
            )

    # -- passes -------------------------------------------------------------------------------
    def read(
        self, passes: Sequence[Pass], progress: Callable[[int], None] | None = None
    ) -> list[np.ndarray]:
        """Per pass, the log-probabilities (float64) of the ``(position, id)`` pairs it asks for;
        ``progress(n)`` hears how many passes each batch ran."""
        out: list[np.ndarray | None] = [None] * len(passes)
        order = sorted(range(len(passes)), key=lambda i: len(passes[i][0]))
        start = 0
        while start < len(order):
            length = len(passes[order[start]][0])
            batch = [
                i for i in order[start : start + self.batch_size] if len(passes[i][0]) == length
            ]
            logits = self._logits([passes[i][0] for i in batch])
            for row, i in enumerate(batch):
                wanted = torch.as_tensor(np.asarray(passes[i][1], dtype=np.int64).reshape(-1, 2))
                at, ids = wanted[:, 0].to(self.device), wanted[:, 1].to(self.device)
                logp = logits[row, at].float().log_softmax(-1)  # only the rows read
                out[i] = logp.gather(-1, ids[:, None])[:, 0].double().cpu().numpy()
            start += len(batch)
            if progress is not None:
                progress(len(batch))
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def _logits(self, rows: list[np.ndarray]) -> torch.Tensor:
        """Logits over the tokenizer's ids of a batch of equal-length passes."""
        length = len(rows[0])
        if len(rows) * length > self._checked:
            check_forward_memory(self.model, len(rows), length)
            self._checked = len(rows) * length
        ids = torch.from_numpy(np.stack(rows)).to(self.device)
        extra = {"attention_mask": torch.ones_like(ids)} if self._attention else {}
        logits = self.model(input_ids=ids, **extra).logits
        return logits[..., : self.n_vocab]


def rc_equivariant(model, reader: MaskedLMReader) -> bool:
    """Whether one strand gives both strands' score exactly: a model built reverse-complement
    equivariant (``config.rcps``, Caduceus "ps") reading bare windows (special tokens at one end
    would break the symmetry)."""
    return getattr(model.config, "rcps", False) is True and reader.bare


def _find(full: list[int], content: list[int]) -> int:
    """Where ``content`` starts inside ``full`` (the tokens with special tokens added)."""
    n = len(content)
    for start in range(len(full) - n + 1):
        if full[start : start + n] == content:
            return start
    raise InputError(
        "the tokenizer's special tokens change the sequence's own tokens; cannot "
        "map tokens to positions"
    )
