"""Sequence embeddings from any model bioseq loads: :func:`embed` (arrays) and
:func:`embed_files` (the API of ``bioseq embed``: files in, a folder of arrays out).

What is read: ``model(ids, attention_mask, output_hidden_states=True).hidden_states[layer]``
(``n_layer + 1`` tensors for bioseq models: the embeddings first, the final normalised output
last; ``layer=-1`` is the last). An RC-equivariant Caduceus (``config.rcps``) has two strands of
channels; they are averaged into ``d_model`` RC-invariant features
(:func:`bioseq.models.heads.strand_average`).

How sequences are fed, as the model was trained to read them: bioseq tokenizers give bare
tokens (genome windows, masked-model records), after a beginning token for causal protein
models and Evo 2 (:func:`bioseq.tasks.adapt.framing.start_ids`); Hugging Face tokenizers add
their own special tokens (ESM: ``<cls> ... <eos>``). A model trained right to left reads the
sequence reversed; per-letter arrays come back in reading order.

Pooling (``pool``), over the letters of the sequence only (special tokens left out):

* ``mean``: the mean over letters (a token of k letters, a k-mer, counts k times);
* ``last``: the last letter's token, what a causal model has read everything by;
* ``cls``: the first token, a special one (ESM's ``<cls>``; bioseq's ``[CLS]``, put in front
  for this). Refused for causal models (their first token has read nothing) and tokenizers
  with no such token;
* ``none``: one vector per letter, ``(len(sequence), d)``.

Long sequences are read in windows of ``window`` letters every ``stride`` letters (the last
window ends at the sequence's end and may be shorter): ``mean`` averages the windows' means
weighted by their letters, ``last`` is the last window's last token, ``cls`` the first
window's first token, and per-letter arrays average the windows that cover each letter. The
default window is the model's training context (``config.training_context``, Hyena's
``max_seq_len``, ESM's position embeddings) less the special tokens added; none when unknown.

``rc_average`` (DNA): the reverse complement is embedded too and the two averaged (per-letter
arrays flipped back to forward coordinates first). An RCPS Caduceus needs none: its features
are already the same on both strands.

Sequences are batched by length (then put back in their order); padding never changes a
value: causal models are padded on the right, where no real position reads it, and every model
that takes an ``attention_mask`` gets one.

>>> import numpy as np
>>> from bioseq.models import MambaConfig, MambaLM
>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("dna")
>>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=len(tok), d_model=16)).eval()
>>> embed(model, tok, ["ACGTACGT", "GATTACA"]).shape
(2, 16)
>>> [a.shape for a in embed(model, tok, ["ACGTACGT", "GATTACA"], pool="none")]
[(8, 16), (7, 16)]
>>> embed(model, tok, ["ACGT" * 50], window=64, stride=32, rc_average=True).dtype
dtype('float32')
"""

from __future__ import annotations

import csv
import inspect
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from bioseq.errors import InputError
from bioseq.io.alphabet import reverse_complement
from bioseq.io.outputs import atomic_directory, check_output_dir
from bioseq.io.tables import read_named_sequences
from bioseq.models.context import model_context, position_limit
from bioseq.models.heads import strand_average
from bioseq.models.hub import load_model, model_direction, scorer_kind
from bioseq.models.memory import check_forward_memory
from bioseq.tasks.adapt.framing import start_ids
from bioseq.tokenizers.base import SequenceTokenizer

__all__ = [
    "POOLS", "EmbedResult", "Embeddings", "embed", "embed_files",
    "embed_sequences",
]  # fmt: skip

POOLS = ("mean", "last", "cls", "none")
NUCLEOTIDE_ALPHABETS = ("dna", "rna", "evo2")
_NUCLEOTIDE_LETTERS = frozenset("ACGTUNRYSWKMBDHV")  # IUPAC, for models that name no alphabet


@dataclass
class Embeddings:
    """What :func:`embed` computed, with how: ``arrays`` is ``(n, d)`` float32 for pooled modes,
    a list of ``(L_i, d)`` for ``pool="none"``; ``windows`` per sequence (forward strand);
    ``n_states`` hidden states the model returns (``layer`` indexes them)."""

    arrays: np.ndarray | list[np.ndarray]
    windows: list[int]
    n_states: int
    layer: int
    window: int | None
    dim: int


@dataclass
class _Window:
    """One window of one strand of one sequence, tokenised: ``ids`` as the model reads them,
    the content (letter) tokens at ``start:start + len(lengths)``, ``lengths`` letters each."""

    seq: int
    strand: int
    first: int  # the window's first letter within the (reading-order) strand
    ids: np.ndarray
    start: int
    lengths: np.ndarray


@dataclass
class _Sum:
    """A strand's running sums over its windows."""

    total: torch.Tensor | None = None  # mean: letter-weighted sum; none: (L, d) per-letter sum
    count: torch.Tensor | float = 0.0
    last: tuple[int, torch.Tensor] | None = None  # (window first letter, vector)
    first: tuple[int, torch.Tensor] | None = None
    left: int = 0  # windows not yet run


# -- tokens -----------------------------------------------------------------------------------


class _Reader:
    """Turns letters into the ids the model reads (see the module doc) and runs batches."""

    def __init__(self, model, tokenizer, pool: str) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.causal = scorer_kind(model) == "causal"
        self.reverse = model_direction(model.config) == "reverse"
        self.bare = isinstance(tokenizer, SequenceTokenizer)
        self.device = next(model.parameters()).device
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        params = inspect.signature(model.forward).parameters
        striped = getattr(model.config, "model_type", "") == "bioseq-striped-hyena"
        self.takes_mask = "attention_mask" in params and not striped  # StripedHyena refuses masks
        self.prefix: list[int] = []
        if self.bare:
            self.prefix = list(start_ids(model, tokenizer)) if self.causal else []
        self.before, self.after = self._specials()
        if pool == "cls":
            self._check_cls()
        self._checked = 0

    def _specials(self) -> tuple[int, int]:
        """Special tokens the tokenizer puts before and after a sequence's tokens."""
        if self.bare:
            return len(self.prefix), 0
        sentinel = -7  # stands for the content; tokenizers place ids, they do not read them
        full = list(self.tokenizer.build_inputs_with_special_tokens([sentinel]))
        if full.count(sentinel) != 1:
            raise InputError(
                f"{type(self.tokenizer).__name__}: cannot tell its special tokens "
                "from the sequence's own"
            )
        return full.index(sentinel), len(full) - full.index(sentinel) - 1

    def _check_cls(self) -> None:
        if self.causal:
            raise InputError(
                "--pool cls reads the first token, which a causal model computes "
                "before it reads the sequence; use --pool last or mean"
            )
        if self.bare and not self.prefix:
            cls = self.tokenizer.cls_token_id
            if cls is None:
                raise InputError(
                    f"{type(self.tokenizer).__name__} has no [CLS] token for "
                    "--pool cls; use --pool mean"
                )
            self.prefix, self.before = [int(cls)], 1
        elif not self.before:
            raise InputError(
                f"{type(self.tokenizer).__name__} puts no special token before the "
                "sequence for --pool cls to read; use --pool mean"
            )

    @property
    def n_special(self) -> int:
        """Special tokens added to every window."""
        return self.before + self.after

    def encode(self, text: str, where: str) -> tuple[np.ndarray, int, np.ndarray]:
        """(ids, where the content starts, letters per content token) of one window."""
        tok = self.tokenizer
        try:
            if self.bare:
                content = np.asarray(tok.encode_array(text), dtype=np.int64)
                lengths = np.asarray(tok.token_lengths)[content]
                ids = np.concatenate([np.asarray(self.prefix, dtype=np.int64), content])
                start = len(self.prefix)
            else:
                content = list(tok(text, add_special_tokens=False)["input_ids"])
                lengths = np.array([len(p) for p in tok.convert_ids_to_tokens(content)])
                full = list(tok.build_inputs_with_special_tokens(content))
                start = self.before
                if full[start : start + len(content)] != content:
                    raise InputError(
                        "the tokenizer's special tokens change the sequence's own tokens"
                    )
                ids = np.asarray(full, dtype=np.int64)
        except InputError as err:
            raise InputError(f"{where}: {err}" if where else str(err)) from None
        if int(lengths.sum()) != len(text) or (lengths <= 0).any():
            raise InputError(
                f"{where}: {type(tok).__name__} does not spell the sequence out "
                "letter by letter (unknown symbols?)"
            )
        return ids, start, lengths.astype(np.int64)

    @torch.no_grad()
    def run(self, batch: list[_Window], layer: int | None) -> tuple[torch.Tensor, int]:
        """Hidden states (batch, T, d) of ``layer`` (None: only count them) and how many the
        model returns."""
        width = max(len(w.ids) for w in batch)
        if len(batch) * width > self._checked:
            check_forward_memory(self.model, len(batch), width)
            self._checked = len(batch) * width
        ids = np.full((len(batch), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, w in enumerate(batch):
            ids[row, : len(w.ids)] = w.ids
            mask[row, : len(w.ids)] = 1
        extra = {}
        if self.takes_mask:
            extra["attention_mask"] = torch.from_numpy(mask).to(self.device)
        elif not mask.all() and not self.causal:
            raise InputError(
                f"{type(self.model).__name__} takes no attention mask, so "
                "sequences of different lengths cannot share a batch; use "
                "--batch-size 1"
            )
        out = self.model(torch.from_numpy(ids).to(self.device), output_hidden_states=True, **extra)
        states = out.hidden_states
        if layer is None:
            return torch.empty(0), len(states)
        hidden = strand_average(states[layer].float(), self.model.config)
        return hidden.cpu(), len(states)  # one copy per batch; sums are kept on the CPU


# -- windows ------------------------------------------------------------------------------------


def _spans(length: int, window: int | None, stride: int | None) -> list[tuple[int, int]]:
    """``[first, end)`` of each window: every ``stride`` letters until one reaches the end."""
    if window is None or length <= window:
        return [(0, length)]
    spans = [(0, window)]
    while spans[-1][1] < length:
        first = spans[-1][0] + stride
        spans.append((first, min(first + window, length)))
    return spans


def _check(pool: str, batch_size: int, window: int | None, stride: int | None) -> None:
    if pool not in POOLS:
        raise InputError(f"--pool {pool!r}: expected one of {', '.join(POOLS)}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    if window is not None and window < 0:
        raise InputError(f"--window must be 0 (no windows) or more, got {window}")
    if stride is not None:
        if stride < 1:
            raise InputError(f"--stride must be at least 1, got {stride}")
        if window == 0:
            raise InputError("--stride needs windows (--window W), not --window 0")
        if window is not None and stride > window:
            raise InputError(
                f"--stride {stride} is longer than --window {window}: letters "
                "between windows would be skipped"
            )


def _check_nucleotides(model, tokenizer, sequences: Sequence[str], names: Sequence[str]) -> None:
    """InputError unless the sequences have a reverse complement (a nucleotide model)."""
    alphabet = getattr(model.config, "alphabet", None) or getattr(tokenizer, "alphabet", None)
    alphabet = str(alphabet).lower() if alphabet else None
    if alphabet in NUCLEOTIDE_ALPHABETS:
        return
    if alphabet == "protein":
        raise InputError(
            "--rc-average needs DNA (a reverse complement), but the model reads proteins"
        )
    for name, sequence in zip(names, sequences, strict=True):
        odd = set(sequence.upper()) - _NUCLEOTIDE_LETTERS
        if odd:
            raise InputError(
                f"{name}: --rc-average needs DNA, but the sequence holds {sorted(odd)[0]!r}"
            )


# -- the whole job ------------------------------------------------------------------------------


def embed(
    model,
    tokenizer,
    sequences: Sequence[str],
    layer: int = -1,
    pool: str = "mean",
    rc_average: bool = False,
    batch_size: int = 8,
    window: int | None = None,
    stride: int | None = None,
    progress: bool = False,
    names: Sequence[str] | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Embeddings of ``sequences``: ``(n, d)`` float32 for ``pool`` ``mean``/``last``/``cls``,
    a list of ``(len(sequence), d)`` float32 arrays for ``pool="none"`` (see the module doc).

    ``layer`` indexes the model's hidden states (0: the embeddings, -1: the output).
    ``window=None`` takes the model's context (:func:`~bioseq.models.context.model_context`,
    less the special tokens the tokenizer adds), ``0`` reads each
    sequence whole; ``stride`` defaults to ``window``. ``names`` name sequences in errors.

    >>> embed(model, tok, ["ACGT", "GGCCA"], layer=0).shape  # doctest: +SKIP
    (2, 16)
    """
    return embed_sequences(
        model,
        tokenizer,
        sequences,
        layer,
        pool,
        rc_average,
        batch_size,
        window,
        stride,
        progress,
        names,
    ).arrays


def embed_sequences(
    model,
    tokenizer,
    sequences: Sequence[str],
    layer: int = -1,
    pool: str = "mean",
    rc_average: bool = False,
    batch_size: int = 8,
    window: int | None = None,
    stride: int | None = None,
    progress: bool = False,
    names: Sequence[str] | None = None,
) -> Embeddings:
    """:func:`embed`, returning the arrays with how they were made (:class:`Embeddings`)."""
    _check(pool, batch_size, window, stride)
    sequences = [str(s) for s in sequences]
    names = (
        list(names) if names is not None else [f"sequence {i + 1}" for i in range(len(sequences))]
    )
    for name, sequence in zip(names, sequences, strict=True):
        if not sequence:
            raise InputError(f"{name}: empty sequence, nothing to embed")
    if rc_average:
        _check_nucleotides(model, tokenizer, sequences, names)
    model.eval()
    reader = _Reader(model, tokenizer, pool)
    if window is None:
        context = model_context(model, tokenizer)
        window = max(context - reader.n_special, 1) if context else None
    window = window or None
    stride = stride or window
    limit = position_limit(model.config)

    n_states = 0
    if sequences:  # one letter, to count the hidden states before the real work
        n_states = reader.run([_window_of(reader, 0, 0, 0, sequences[0][:1], names[0])], None)[1]
    if sequences and not -n_states <= layer < n_states:
        raise InputError(
            f"--layer {layer} is out of range: the model returns {n_states} hidden "
            f"states (layers {-n_states}..{n_states - 1}; 0 = the embeddings)"
        )

    strands = 2 if rc_average else 1
    sums = {(i, s): _Sum() for i in range(len(sequences)) for s in range(strands)}
    windows = [len(_spans(len(s), window, stride)) for s in sequences]
    results: list[np.ndarray | None] = [None] * len(sequences)
    dim, ran, total = 0, 0, sum(windows) * strands
    bar = tqdm(total=len(sequences), unit="seq", disable=not progress, smoothing=0.1, desc="embed")
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    queue: list[_Window] = []

    def flush(count: int) -> None:
        nonlocal dim, ran
        batch, queue[:] = queue[:count], queue[count:]
        hidden, _ = reader.run(batch, layer)
        dim, ran = hidden.shape[-1], ran + len(batch)
        if total > len(sequences):  # a long sequence moves the bar only once it is done
            bar.set_postfix_str(f"{ran:,}/{total:,} windows", refresh=False)
            bar.update(0)  # redraws at most every mininterval
        for row, w in enumerate(batch):
            acc = sums[w.seq, w.strand]
            _accumulate(acc, w, hidden[row], pool, len(sequences[w.seq]))
            acc.left -= 1
        done = {w.seq for w in batch if all(sums[w.seq, s].left == 0 for s in range(strands))}
        for i in sorted(done):
            if results[i] is None:
                results[i] = _finish(
                    [sums.pop((i, s)) for s in range(strands)], pool, reader.reverse
                )
                bar.update(1)

    for i in order:
        for strand in range(strands):
            text = sequences[i] if strand == 0 else reverse_complement(sequences[i])
            text = text[::-1] if reader.reverse else text
            spans = _spans(len(text), window, stride)
            sums[i, strand].left = len(spans)
            for first, end in spans:
                w = _window_of(reader, i, strand, first, text[first:end], names[i])
                if limit is not None and len(w.ids) > limit:
                    raise InputError(
                        f"{names[i]}: a window of {end - first:,} letters makes "
                        f"{len(w.ids):,} tokens but the model reads at most "
                        f"{limit:,}; use a smaller --window"
                    )
                queue.append(w)
        while len(queue) >= batch_size:
            flush(batch_size)
    while queue:
        flush(batch_size)
    bar.close()
    if pool == "none":
        arrays: np.ndarray | list[np.ndarray] = results  # type: ignore[assignment]
    else:
        arrays = np.stack(results) if results else np.zeros((0, dim), dtype=np.float32)
    return Embeddings(arrays, windows, n_states, layer, window, dim)


def _window_of(
    reader: _Reader, seq: int, strand: int, first: int, text: str, where: str
) -> _Window:
    ids, start, lengths = reader.encode(text, where)
    return _Window(seq, strand, first, ids, start, lengths)


def _accumulate(acc: _Sum, w: _Window, hidden: torch.Tensor, pool: str, length: int) -> None:
    """Add one window's hidden states (T, d) to its strand's sums."""
    n = len(w.lengths)
    content = hidden[w.start : w.start + n]
    lengths = torch.from_numpy(w.lengths).to(hidden.device)
    if pool == "mean":
        part = (content * lengths[:, None].to(content.dtype)).sum(0)
        acc.total = part if acc.total is None else acc.total + part
        acc.count += float(lengths.sum())
    elif pool == "none":
        letters = content.repeat_interleave(lengths, dim=0)
        if acc.total is None:
            acc.total = torch.zeros(length, hidden.shape[-1], device=hidden.device)
            acc.count = torch.zeros(length, device=hidden.device)
        end = w.first + letters.shape[0]
        acc.total[w.first : end] += letters
        acc.count[w.first : end] += 1
    elif pool == "last":
        if acc.last is None or w.first > acc.last[0]:
            acc.last = (w.first, content[-1])
    elif acc.first is None or w.first < acc.first[0]:  # cls
        acc.first = (w.first, hidden[0])


def _finish(strands: list[_Sum], pool: str, reverse: bool) -> np.ndarray:
    """One sequence's array from its strands' sums (strand 1, the reverse complement, turned
    back to forward coordinates), both averaged."""
    parts = []
    for strand, acc in enumerate(strands):
        if pool == "mean":
            value = acc.total / acc.count
        elif pool == "none":
            value = acc.total / acc.count[:, None]
            if reverse:  # read right to left: back to the strand's own order
                value = value.flip(0)
            if strand == 1:  # the reverse complement: back to the forward strand's order
                value = value.flip(0)
        else:
            value = (acc.last if pool == "last" else acc.first)[1]
        parts.append(value)
    return (sum(parts) / len(parts)).cpu().numpy().astype(np.float32)


# -- files in, a folder out ----------------------------------------------------------------------


@dataclass
class EmbedResult:
    """What :func:`embed_files` wrote: ``n`` sequences of ``letters`` letters, ``dim``-wide."""

    out: Path
    n: int
    letters: int
    dim: int
    layer: int
    n_states: int
    pool: str
    window: int | None
    seconds: float
    files: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0


def embed_files(
    model_path: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    layer: int = -1,
    pool: str = "mean",
    rc_average: bool = False,
    batch_size: int = 8,
    window: int | None = None,
    stride: int | None = None,
    sequence_col: str = "sequence",
    device: str | None = None,
    trust_remote_code: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> EmbedResult:
    """Embed every record of ``inputs`` (FASTA, GenBank, a2m/a3m, CSV/TSV with
    ``sequence_col``) with the model at ``model_path`` into the folder ``out``:

    * ``embeddings.npy``: ``(n, d)`` float32, row ``i`` = record ``i`` (pooled modes), or
      ``embeddings.npz`` with one ``(length, d)`` array per record, keyed ``"0"``, ``"1"``...
      (``pool="none"``);
    * ``index.tsv``: ``row``, ``name``, ``length``, ``windows`` (records in input order, files
      one after another);
    * ``info.json``: the model, layer, pooling, window, stride, strands and width.

    ``out`` is written whole or not at all; an existing non-empty folder only with
    ``overwrite``.

    >>> result = embed_files("runs/demo", ["genes.fa"], "emb/demo")  # doctest: +SKIP
    >>> np.load("emb/demo/embeddings.npy").shape == (result.n, result.dim)  # doctest: +SKIP
    True
    """
    _check(pool, batch_size, window, stride)
    if not inputs:
        raise InputError("give at least one input file of sequences")
    check_output_dir(out, overwrite)
    names, sequences = [], []
    for path in inputs:
        table = read_named_sequences(path, sequence_col=sequence_col)
        if not len(table):
            raise InputError(f"{path}: no sequences")
        names += [str(n) for n in table.names]
        sequences += table.sequences
    loaded = load_model(model_path, device, trust_remote_code=trust_remote_code)
    began = time.perf_counter()
    result = embed_sequences(
        loaded.model,
        loaded.tokenizer,
        sequences,
        layer,
        pool,
        rc_average,
        batch_size,
        window,
        stride,
        progress,
        names,
    )
    seconds = time.perf_counter() - began
    layer_index = layer % result.n_states
    info = {
        "model": str(model_path),
        "layer": layer_index,
        "hidden_states": result.n_states,
        "pool": pool,
        "window": result.window,
        "stride": (stride or result.window),
        "rc_average": rc_average,
        "dim": result.dim,
        "n": len(sequences),
    }
    with atomic_directory(out, overwrite) as tmp:
        if pool == "none":
            np.savez(tmp / "embeddings.npz", **{str(i): a for i, a in enumerate(result.arrays)})
            files = ["embeddings.npz"]
        else:
            np.save(tmp / "embeddings.npy", result.arrays)
            files = ["embeddings.npy"]
        with open(tmp / "index.tsv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["row", "name", "length", "windows"])
            for i, (name, sequence) in enumerate(zip(names, sequences, strict=True)):
                writer.writerow([i, name, len(sequence), result.windows[i]])
        (tmp / "info.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return EmbedResult(
        Path(out),
        len(sequences),
        sum(map(len, sequences)),
        result.dim,
        layer_index,
        result.n_states,
        pool,
        result.window,
        seconds,
        [*files, "index.tsv", "info.json"],
    )
