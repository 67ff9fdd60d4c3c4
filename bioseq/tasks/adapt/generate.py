"""Sampling sequences from a causal LM: :func:`generate_sequences`, the API of ``bioseq generate``.

Each prompt is read once; after it every new token is one step of the model's own memory:
the recurrent state of ``MambaLM`` and ``StripedHyenaLM``
(:class:`~bioseq.models.lm.RecurrentState`), the key/value cache of ``TransformerLM`` and of
Hugging Face causal LMs. ``HyenaLM`` keeps no cache (its long convolution has no recurrent
form here), so it re-reads the sequence for every token, at most its ``max_seq_len`` last
tokens (a sliding window).

Sampling:

- only the letters of the model's alphabet are drawn (A/C/G/T for DNA, A/C/G/U for RNA, the 20
  amino acids for proteins; not N, X, ``*`` or special tokens), unless ``letters`` says
  otherwise; a token of several bases (k-mer, BPE) is allowed when all its letters are;
- a sequence runs to ``length`` tokens, unless ``stop_at_end``: the end token is then allowed
  and ends the sequence that draws it;
- ``temperature`` (0: greedy), ``top_k`` and ``top_p`` act as in Hugging Face's ``generate()``
  (its logits warpers);
- sample ``k`` draws from its own random stream, seeded ``seed + k`` (``k`` counts every sample
  of every prompt), so it does not depend on ``batch_size`` and one sample is redrawn alone
  with ``seed=seed + k, n=1``. (``generate()`` draws from torch's one global generator, whose
  draws depend on the batch; it also has no sliding window for Hyena.)

With no prompt, generation starts from the beginning token if the model was trained with one
(protein records, Evo 2's documents); a DNA genome or text model reads windows that start
anywhere, so it needs a prompt. A model trained right to left (``direction: reverse``) is given
the prompt reversed and its samples are turned back, so they read left to right and end where
the prompt starts.

>>> from bioseq.tasks.adapt.generate import Prompt, generate_sequences
>>> result = generate_sequences("runs/demo", [Prompt("p", "ATGACC")], n=4,
...                             length=2000, seed=1)  # doctest: +SKIP
>>> result.samples[0].header, len(result.samples[0].sequence)  # doctest: +SKIP
('p_0 prompt=p sample=0 seed=1 length=2000', 2000)
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers.generation.logits_process import (
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from bioseq.errors import InputError
from bioseq.io.fasta import iter_fasta
from bioseq.io.outputs import atomic_output, check_output
from bioseq.models.context import position_limit
from bioseq.models.hub import LoadedModel, load_model
from bioseq.tasks.adapt.framing import start_ids

__all__ = [
    "GenerationResult", "Prompt", "Sample", "default_letters", "generate_sequences",
    "letter_ids", "prompts_from", "read_prompts", "sample_tokens", "write_fasta",
]  # fmt: skip

LETTERS = {
    "dna": "ACGT", "rna": "ACGU", "protein": "ACDEFGHIKLMNPQRSTVWY", "evo2": "ACGT",
}  # fmt: skip
CANNOT = "cannot generate: it is not a causal LM"  # load_model's refusal of masked models


@dataclass(frozen=True)
class Prompt:
    """A named prompt, in reading order (left to right); ``""``: start from nothing."""

    name: str
    sequence: str = ""


@dataclass(frozen=True)
class Sample:
    """One generated sequence (the continuation, without the prompt) and where it came from."""

    prompt: str
    index: int
    seed: int
    sequence: str
    stopped: bool = False  # ended by the end token (stop_at_end)

    @property
    def header(self) -> str:
        end = " end" if self.stopped else ""
        return (
            f"{self.prompt}_{self.index} prompt={self.prompt} sample={self.index} "
            f"seed={self.seed} length={len(self.sequence)}{end}"
        )


@dataclass
class GenerationResult:
    """The samples, the tokens generated and the seconds it took (loading excluded)."""

    samples: list[Sample]
    n_tokens: int
    seconds: float
    cached: bool  # the model carried a state or cache (False: re-read every token)

    @property
    def tokens_per_s(self) -> float:
        return self.n_tokens / self.seconds if self.seconds > 0 else 0.0


# -- what may be drawn, and where generation starts -----------------------------------------


def default_letters(model, tokenizer) -> str | None:
    """The letters sampled by default: those of the model's alphabet (config ``alphabet``, else
    the tokenizer's), or None (every non-special token) for text and unknown alphabets."""
    alphabet = getattr(model.config, "alphabet", None) or getattr(tokenizer, "alphabet", None)
    return LETTERS.get(str(alphabet).lower()) if alphabet else None


def letter_ids(tokenizer, letters: str | None) -> list[int]:
    """Ids of the non-special tokens whose text is made of ``letters`` only (None: any).

    >>> from bioseq.tokenizers import CharTokenizer
    >>> letter_ids(CharTokenizer("dna"), "ACGT")  # not N (9) nor the specials (0-4)
    [5, 6, 7, 8]
    """
    special = set(tokenizer.all_special_ids)
    allowed = set(letters) if letters is not None else None
    ids = []
    for i in range(len(tokenizer)):
        if i in special:
            continue
        text = tokenizer.decode([i], skip_special_tokens=True)
        if text and (allowed is None or set(text) <= allowed):
            ids.append(i)
    if not ids:
        raise InputError(f"no token of the tokenizer is made of the letters {letters!r}")
    return ids


def read_prompts(path: str | Path) -> list[Prompt]:
    """The records of a FASTA file as prompts (empty records: start from nothing)."""
    prompts, seen = [], {}
    for record in iter_fasta(path):
        if record.name in seen:
            raise InputError(
                f"{path}: line {record.line}: record name {record.name!r} "
                f"repeats (line {seen[record.name]}); sample headers name the "
                "prompt"
            )
        seen[record.name] = record.line
        prompts.append(Prompt(record.name, record.sequence))
    return prompts


def prompts_from(text: str | None = None, fasta: str | Path | None = None) -> list[Prompt] | None:
    """The prompts of ``bioseq generate``: one sequence ``text`` (named ``prompt``), the records
    of a FASTA file, or None (no prompt) when neither is given."""
    if text is not None and fasta is not None:
        raise InputError("give --prompt or --prompt-fasta, not both")
    if text is not None:
        return [Prompt("prompt", text.strip())]
    return read_prompts(fasta) if fasta is not None else None


def _prompt_ids(
    prompt: Prompt, tokenizer, start: list[int], reverse: bool, where: str
) -> list[int]:
    text = prompt.sequence[::-1] if reverse else prompt.sequence
    try:
        ids = start + (tokenizer.encode(text, add_special_tokens=False) if text else [])
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    if not ids:
        raise InputError(
            f"{where}: the model was trained without a beginning token, so it "
            "needs a prompt to start from (--prompt SEQ or --prompt-fasta "
            "FILE)"
        )
    return ids


# -- the sampling loop ----------------------------------------------------------------------


def _cache_name(model) -> str:
    """``cache`` (bioseq, transformers >= 5.24) or ``past_key_values`` (older models)."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _cache_of(out) -> object | None:
    """The output's state or cache, read by the name its class declares (reading the old
    name where the new one exists only warns)."""
    fields = getattr(out, "__dataclass_fields__", {})
    name = "cache" if "cache" in fields or "past_key_values" not in fields else "past_key_values"
    return getattr(out, name, None)


def _warpers(temperature: float, top_k: int | None, top_p: float | None):
    warpers = LogitsProcessorList()
    if temperature not in (0, 1):
        warpers.append(TemperatureLogitsWarper(temperature))
    if top_k:
        warpers.append(TopKLogitsWarper(top_k))
    if top_p is not None and top_p < 1:
        warpers.append(TopPLogitsWarper(top_p))
    return warpers


def _float64_or_32(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def _draw(scores: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw of one token per row of ``scores`` with uniforms ``u`` in [0, 1);
    tokens of probability zero are never drawn."""
    probs = torch.softmax(scores.to(u.dtype), dim=-1)
    cdf = probs.cumsum(-1)
    picked = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
    last = (probs > 0).long().cumsum(-1).argmax(-1)  # the last drawable token (rounding)
    return torch.minimum(picked, last)


@torch.no_grad()
def sample_tokens(
    model,
    prompt_ids: Sequence[int],
    seeds: Sequence[int],
    length: int,
    allowed: Sequence[int],
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    end_id: int | None = None,
    use_cache: bool = True,
    window: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Continue ``prompt_ids`` once per seed: ``(tokens (n, length), lengths (n,), cached)``.

    With ``use_cache`` the prompt is read once and each later step feeds only the new token
    with the model's state or cache; a model that returns none (Hyena), or ``use_cache=False``,
    re-reads the sequence every step (its last ``window`` tokens if given). ``end_id`` (drawable
    besides ``allowed``) ends a row: its length is the tokens before it, later ones are padding.
    ``on_step(k)`` hears each step's number of live rows. ``cached``: whether the model
    returned a state or cache (False: it re-read the sequence every step).

    >>> import torch
    >>> from bioseq.models import MambaConfig, MambaLM
    >>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=10, d_model=16)).eval()
    >>> tokens, lengths, cached = sample_tokens(model, [5, 6], seeds=[0, 1], length=8,
    ...                                         allowed=[5, 6, 7, 8])
    >>> tokens.shape, bool(((tokens >= 5) & (tokens <= 8)).all()), cached
    (torch.Size([2, 8]), True, True)
    """
    device = next(model.parameters()).device
    n = len(seeds)
    uniforms = np.stack([np.random.default_rng(s).random(length) for s in seeds])
    uniforms = torch.from_numpy(uniforms).to(device, _float64_or_32(device))
    prompt = torch.tensor(list(prompt_ids), dtype=torch.long, device=device).expand(n, -1)
    drawable = list(allowed) + ([end_id] if end_id is not None else [])
    drawable_t = torch.tensor(drawable, dtype=torch.long, device=device)
    warpers = _warpers(temperature, top_k, top_p)
    tokens = torch.zeros((n, length), dtype=torch.long, device=device)
    lengths = torch.full((n,), length, dtype=torch.long, device=device)
    live = torch.ones(n, dtype=torch.bool, device=device)
    cache, key, cached = None, _cache_name(model), False
    for t in range(length):
        if cache is None:  # the first step, or a model that keeps no cache: read it all
            ids = torch.cat([prompt, tokens[:, :t]], dim=1)
            out = model(input_ids=ids if window is None else ids[:, -window:], use_cache=use_cache)
        else:
            out = model(input_ids=tokens[:, t - 1 : t], use_cache=True, **{key: cache})
        cache = _cache_of(out) if use_cache else None
        cached = cached or cache is not None
        logits = out.logits[:, -1].float()
        scores = torch.full_like(logits, -torch.inf)
        scores[:, drawable_t] = logits[:, drawable_t]
        if temperature == 0:
            picked = scores.argmax(-1)
        else:
            picked = _draw(warpers(tokens[:, :t], scores), uniforms[:, t])
        tokens[:, t] = picked
        if on_step is not None:
            on_step(int(live.sum()))
        if end_id is not None:
            ended = live & (picked == end_id)
            lengths[ended] = t
            live &= ~ended
            if not live.any():
                break
    return tokens, lengths, cached


# -- the whole job --------------------------------------------------------------------------


def generate_sequences(
    model,
    prompts: Sequence[Prompt] | None = None,
    n: int = 1,
    length: int = 1000,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    stop_at_end: bool = False,
    letters: str | None = None,
    batch_size: int = 16,
    device: str | None = None,
    use_cache: bool = True,
    trust_remote_code: bool = False,
    progress: bool = False,
    out: str | Path | None = None,
) -> GenerationResult:
    """``n`` samples of ``length`` tokens after each prompt (None: one empty prompt, which
    starts from the beginning token: see :func:`start_ids`), ``batch_size`` at a time.

    ``model`` is a run or model directory (loaded with
    :func:`~bioseq.models.hub.load_model`; masked models are refused) or a
    :class:`~bioseq.models.hub.LoadedModel`. ``letters`` overrides the letters drawn
    (:func:`default_letters`). Sample ``k`` (counting across prompts) is seeded ``seed + k``.
    With ``out``, the samples are also written there as FASTA (:func:`write_fasta`; the path
    is checked before the model loads).
    """
    _check(n, length, temperature, top_k, top_p, batch_size)
    if out is not None:
        check_output(out)
    if not isinstance(model, LoadedModel):
        model = load_model(model, device, causal_only=CANNOT, trust_remote_code=trust_remote_code)
    net, tok = model.model, model.tokenizer
    given = prompts is not None
    prompts = list(prompts) if given else [Prompt("sample")]
    start = start_ids(net, tok)
    reverse = model.direction == "reverse"
    encoded = [
        _prompt_ids(p, tok, start, reverse, f"prompt {p.name!r}" if given else str(model.path))
        for p in prompts
    ]
    allowed = letter_ids(tok, letters if letters is not None else default_letters(net, tok))
    end_id = tok.eos_token_id if stop_at_end else None
    if stop_at_end and end_id is None:
        raise InputError(f"{model.path}: the tokenizer has no end token for --stop-at-end")
    window = position_limit(net.config)  # e.g. Hyena's learned positions
    samples, n_tokens, cached = [], 0, False
    bar = tqdm(
        total=len(prompts) * n * length,
        unit="tok",
        unit_scale=True,
        disable=not progress,
        smoothing=0.1,
        desc="generate",
    )
    began = time.perf_counter()
    for p, (prompt, ids) in enumerate(zip(prompts, encoded, strict=True)):
        for first in range(0, n, batch_size):
            count = min(batch_size, n - first)
            seeds = [seed + p * n + first + j for j in range(count)]
            tokens, lengths, used_cache = sample_tokens(
                net,
                ids,
                seeds,
                length,
                allowed,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                end_id=end_id,
                use_cache=use_cache,
                window=window,
                on_step=bar.update,
            )
            cached = cached or used_cache
            generated = 0
            for j, (row, size) in enumerate(zip(tokens.tolist(), lengths.tolist(), strict=True)):
                text = tok.decode(row[:size], skip_special_tokens=True)
                samples.append(
                    Sample(
                        prompt.name,
                        first + j,
                        seeds[j],
                        text[::-1] if reverse else text,
                        size < length,
                    )
                )
                generated += min(size + 1, length)  # a drawn end token counts
            n_tokens += generated
            bar.total -= count * length - generated  # rows that stopped early
            bar.refresh()
    bar.close()
    result = GenerationResult(samples, n_tokens, time.perf_counter() - began, cached)
    if out is not None:
        write_fasta(samples, out)
    return result


def _check(n: int, length: int, temperature: float, top_k, top_p, batch_size: int) -> None:
    for name, value in (("--n", n), ("--length", length), ("--batch-size", batch_size)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    if temperature < 0:
        raise InputError(f"--temperature must be 0 (greedy) or more, got {temperature}")
    if top_k is not None and top_k < 0:
        raise InputError(f"--top-k must be 0 (off) or more, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise InputError(f"--top-p must be in (0, 1], got {top_p}")


def write_fasta(samples: Sequence[Sample], path: str | Path, width: int = 80) -> None:
    """Write the samples to ``path`` (lines of ``width`` letters), only once complete."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for sample in samples:
            f.write(f">{sample.header}\n")
            for i in range(0, len(sample.sequence), width):
                f.write(sample.sequence[i : i + width] + "\n")
