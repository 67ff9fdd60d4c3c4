"""One small interface to the models the probes query: bioseq models and Hugging Face causal LMs.

An :class:`Adapter` turns prompt texts into greedy continuations (text) and, for the recall
probes, texts into per-token losses. :class:`CausalLMAdapter` implements it for any causal LM
and tokenizer pair:

* bioseq models (``HyenaLM``, ``MambaLM``, ``TransformerLM``) with any bioseq tokenizer: prompts
  are encoded with ``encode_array`` and no special tokens (as the pretraining windows are), and
  decoded by a loop that keeps the Transformer's key/value cache and Mamba's recurrent state
  between steps (Hyena, which has no cache, reruns the whole sequence each step);
* any local Hugging Face causal LM directory (``AutoModelForCausalLM`` + ``AutoTokenizer``,
  ``trust_remote_code=False``), decoded with ``model.generate`` (greedy, left padding).

Tokens may hold several symbols (BPE merges digits), so continuations are always decoded to text
and the caller parses symbols from it; generating ``n`` tokens yields at least ``n`` symbols.

>>> import bioseq
>>> from bioseq.models import TransformerConfig, TransformerLM
>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("dna")
>>> lm = TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=tok.vocab_size))
>>> adapter = CausalLMAdapter(lm, tok, name="tiny")
>>> adapter.encodes("ACGT"), adapter.encodes("0123")
(True, False)
>>> [len(c) for c in adapter.complete(["ACGTAC", "GGATTA"], n_symbols=8)]
[8, 8]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from bioseq.errors import InputError
from bioseq.models.context import position_limit
from bioseq.models.hub import load_model, resolve_device
from bioseq.models.lm import BioseqLM
from bioseq.tokenizers.base import SequenceTokenizer


@runtime_checkable
class Adapter(Protocol):
    """What the probes need from a model. An adapter may also name its tokenizer's special
    tokens as text (``special_tokens``, a sequence of strings): the suite cuts a completion at
    the first of them before parsing it."""

    name: str
    max_length: int | None  # most tokens the model accepts (None: no limit known)

    def encodes(self, alphabet: str) -> bool:
        """Whether every symbol of ``alphabet`` survives the tokenizer (encode then decode)."""

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` becomes."""

    def complete(self, prompts: Sequence[str], n_symbols: int = 8) -> list[str]:
        """Greedy continuation text of each prompt (``n_symbols`` tokens, special tokens kept
        as text so that parsing stops at them)."""


class CausalLMAdapter:
    """A causal LM and its tokenizer behind :class:`Adapter` (see module doc).

    ``batch_size`` prompts are decoded together (left-padded when their lengths differ).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        name: str | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
    ) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.name = name or type(model).__name__
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        self._bioseq_tokenizer = isinstance(tokenizer, SequenceTokenizer)
        self._bioseq_model = isinstance(model, BioseqLM)
        self.max_length = position_limit(model.config)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (tokenizer.eos_token_id or 0)
        self.special_tokens = tuple(getattr(tokenizer, "all_special_tokens", ()))

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike,
        name: str | None = None,
        device: str = "cpu",
        batch_size: int = 8,
        dtype: str | torch.dtype | None = None,
        trust_remote_code: bool = False,
    ) -> CausalLMAdapter:
        """Load a bioseq model directory (or run directory) or a local Hugging Face LM directory
        through :func:`bioseq.models.hub.load_model` (no foreign code unless
        ``trust_remote_code``).

        ``dtype`` defaults to float32 on CPU and to the checkpoint's own dtype on GPUs. A masked
        model (MergeLM, Caduceus, ESM...: :func:`~bioseq.models.hub.masked_description`) is a
        one-line InputError: probes score generated continuations, which a masked model cannot make.
        """
        target = resolve_device(device)
        if dtype is None:
            dtype = "auto" if target.type == "cuda" else torch.float32
        why = "cannot generate the continuations the probes score; probes need a causal LM"
        loaded = load_model(
            path, target, causal_only=why, trust_remote_code=trust_remote_code, dtype=dtype
        )
        return cls(
            loaded.model, loaded.tokenizer, name or Path(path).resolve().name, target, batch_size
        )

    # -- text <-> ids -----------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of a prompt: bioseq tokenizers without special tokens; Hugging Face ones
        with their usual prefix (e.g. a BOS) but never a trailing EOS."""
        if self._bioseq_tokenizer:
            return self.tokenizer.encode_array(text).tolist()
        ids = list(self.tokenizer(text, add_special_tokens=True)["input_ids"])
        eos = self.tokenizer.eos_token_id
        if ids and eos is not None and ids[-1] == eos and len(ids) > 1:
            ids = ids[:-1]
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def encodes(self, alphabet: str) -> bool:
        try:
            ids = self.encode(alphabet)
        except (InputError, ValueError, KeyError):
            return False
        unk = self.tokenizer.unk_token_id
        return (unk is None or unk not in ids) and self.decode(ids).strip() == alphabet

    # -- generation ---------------------------------------------------------------------------
    def complete(self, prompts: Sequence[str], n_symbols: int = 8) -> list[str]:
        """Greedy continuations (text) of ``n_symbols`` tokens, batched by token length."""
        encoded = [self.encode(p) for p in prompts]
        longest = max((len(ids) for ids in encoded), default=0) + n_symbols
        if self.max_length is not None and longest > self.max_length:
            raise InputError(
                f"{self.name}: a prompt needs {longest} tokens but the model takes "
                f"at most {self.max_length}"
            )
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out: list[str] = [""] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            new = self._generate([encoded[i] for i in rows], n_symbols)
            for i, ids in zip(rows, new, strict=True):
                out[i] = self._continuation(encoded[i], ids)
        return out

    @torch.no_grad()
    def _generate(self, rows: list[list[int]], n_new: int) -> list[list[int]]:
        ids, mask = self._left_pad(rows)
        if self._bioseq_model:
            new = _greedy(self.model, ids, mask, n_new)
        else:
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=n_new,
                do_sample=False,
                num_beams=1,
                pad_token_id=self.pad_id,
                use_cache=True,
            )
            new = out[:, ids.shape[1] :]
        return new.tolist()

    def _left_pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor | None]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if row:
                ids[i, width - len(row) :] = torch.tensor(row)
                mask[i, width - len(row) :] = 1
        equal = all(len(r) == width for r in rows)
        if equal and self._bioseq_model:
            return ids.to(self.device), None  # no padding: the fast causal path
        return ids.to(self.device), mask.to(self.device)

    def _continuation(self, prompt_ids: list[int], new_ids: list[int]) -> str:
        """Text the new tokens add to the prompt (robust to tokenizers that merge across the
        boundary or mark word starts). Special tokens stay in as text (``[SEP]``,
        ``<|endoftext|>``), so that the answer parser stops at them."""
        if self._bioseq_tokenizer:
            return self.decode(new_ids, skip_special_tokens=False)
        head = self.decode(prompt_ids, skip_special_tokens=False)
        full = self.decode(prompt_ids + new_ids, skip_special_tokens=False)
        if full.startswith(head):
            return full[len(head) :]
        return self.decode(new_ids, skip_special_tokens=False)

    # -- scoring ------------------------------------------------------------------------------
    @torch.no_grad()
    def token_losses(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text: the loss (nats) of each token given the tokens before it (NaN for the
        first) and the character offset at which each token ends."""
        results = []
        for text in texts:
            ids = self.encode(text)
            logits = self.model(torch.tensor([ids], device=self.device)).logits[0].float()
            logp = torch.log_softmax(logits[:-1], dim=-1)
            target = torch.tensor(ids[1:], device=self.device)
            losses = -logp.gather(-1, target[:, None])[:, 0]
            losses = np.concatenate([[np.nan], losses.cpu().numpy()])
            ends = np.cumsum([len(self.decode([i])) for i in ids])
            results.append((losses, ends))
        return results


@torch.no_grad()
def _greedy(
    model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor | None, n_new: int
) -> torch.Tensor:
    """Greedy decoding for bioseq models: one token at a time through the cache when the model
    returns one (Transformer, Mamba), else by fixed-point iteration (Hyena)."""
    out = model(ids, attention_mask=mask, use_cache=True)
    cache = out.cache
    token = out.logits[:, -1].argmax(-1, keepdim=True)
    if cache is None:
        return _fixed_point_greedy(model, ids, mask, token, n_new)
    new = [token]
    for _ in range(n_new - 1):
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        out = model(token, attention_mask=mask, cache=cache, use_cache=True)
        cache = out.cache
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        new.append(token)
    return torch.cat(new, dim=1)


def _fixed_point_greedy(
    model: torch.nn.Module,
    ids: torch.Tensor,
    mask: torch.Tensor | None,
    first: torch.Tensor,
    n_new: int,
) -> torch.Tensor:
    """Greedy decoding without a cache by Jacobi iteration: run prompt + draft, replace the draft
    by the model's argmax at each draft position, until it no longer changes.

    A causal model's prediction at draft position i only sees the draft before i, so after k
    passes at least k + 1 tokens are the greedy ones: the result is exactly greedy decoding,
    reached in at most ``n_new - 1`` passes after the prompt's (rather than always that many),
    and in one when the continuation repeats its first token. Rows that have converged leave
    the batch.
    """
    draft = first.expand(-1, n_new).clone()
    if mask is not None:
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], n_new)], dim=1)
    start = ids.shape[1] - 1
    active = torch.arange(ids.shape[0], device=ids.device)
    for _ in range(n_new - 1):
        rows = torch.cat([ids[active], draft[active]], dim=1)
        logits = model(rows, attention_mask=None if mask is None else mask[active]).logits
        predicted = logits[:, start : start + n_new].argmax(-1)
        changed = (predicted != draft[active]).any(-1)
        draft[active] = predicted
        active = active[changed]
        if active.numel() == 0:
            break
    return draft


def load_adapter(
    spec: str | os.PathLike | Adapter,
    device: str = "cpu",
    batch_size: int = 8,
    trust_remote_code: bool = False,
) -> Adapter:
    """An adapter from a directory path (bioseq model, training run, or Hugging Face LM)."""
    if isinstance(spec, Adapter):
        return spec
    return CausalLMAdapter.from_path(
        spec, device=device, batch_size=batch_size, trust_remote_code=trust_remote_code
    )
