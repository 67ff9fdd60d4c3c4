"""Training and validation data for a run: genome windows or sequence records, batch by step.

The batch of optimizer step ``s`` is a pure function of ``(seed, s)``: it holds the global
samples ``s * batch_size ... (s + 1) * batch_size - 1``, and process ``rank`` of ``world_size``
takes a contiguous share of them, cut into ``grad_accum`` micro-batches. So a resumed run sees
exactly the data of an uninterrupted one, whatever the number of processes.

* DNA (FASTA, GenBank; one or many files) -> :class:`GenomeData`: random windows of
  ``context`` tokens from the train split (:class:`~bioseq.io.GenomeWindows`), and tiled windows
  of the validation split (by default the last tenth of every contig).
* Protein (FASTA, a2m/a3m with gaps removed) -> :class:`RecordData`: one record per sequence
  (:class:`~bioseq.io.SequenceRecords`, cropped to ``context`` tokens), batches of similar
  length (:class:`~bioseq.io.LengthBucketSampler`), a seeded tenth of the records held out.
  With ``aligned`` (a2m/a3m, masked models) a record is its match columns instead, ``-`` a
  token of its own (:data:`ALIGNED_PROTEIN`), one position per column and no BOS/EOS, so every
  record is ``alignment_width`` tokens long; records of gaps only are skipped.
* Plain text (``text: true``) -> :class:`~bioseq.train.text.TextData`: random windows of
  ``context`` bytes, the last tenth of every file held out.

With ``objective: mlm`` every batch is masked (:mod:`bioseq.train.masking`): training row ``j``
of step ``s`` from the key ``(seed, 0, s, j)``, validation item ``i`` from ``(seed, 1, i)``.

>>> from bioseq.train.config import TrainConfig
>>> from bioseq.train.data import build_data
>>> data = build_data(TrainConfig(context=128).resolved())  # the bundled E. coli genome
>>> [batch] = data.batch(step=0, context=128, batch_size=4)
>>> batch.input_ids.shape, batch.n_tokens
(torch.Size([4, 128]), 508)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bioseq.errors import InputError
from bioseq.io.alphabet import DNA, PROTEIN, reverse_complement_array
from bioseq.io.datasets import GenomeWindows, LengthBucketSampler, SequenceRecords, pad_collate
from bioseq.io.formats import detect_format, open_genome
from bioseq.io.inputs import choose_alphabet, expand_inputs
from bioseq.io.intervals import Interval, restrict_territory, split_territory
from bioseq.train.config import TrainConfig, check_masked_run
from bioseq.train.distributed import rank_slice
from bioseq.train.markov import MarkovModel
from bioseq.train.masking import TRAIN_SALT, VAL_SALT, Masking

MIN_WARMUP_CONTEXT = 64
IGNORE = -100
ALIGNED_PROTEIN = "ACDEFGHIKLMNPQRSTVWYX*BZJ-"  # the tokenizer letters of an aligned run
ALIGNED_STATES = "ACDEFGHIKLMNPQRSTVWY-"  # its targets and Markov letters: 20 amino acids + gap


@dataclass
class Batch:
    """Token ids ``(batch, length)``, labels (``-100`` at padding) and the labelled count; a
    masked batch also has its attention mask (1 = a token, 0 = padding) and clean ids."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    n_tokens: int  # positions whose next token is predicted (labels[:, 1:] != -100), or for
    # a masked batch the targets (labels != -100)
    n_bases: int = -1  # bases those predicted tokens hold (-1: one per token)
    attention_mask: torch.Tensor | None = None
    clean_ids: torch.Tensor | None = None  # masked batches: the ids before masking

    def __post_init__(self) -> None:
        if self.n_bases < 0:
            self.n_bases = self.n_tokens


def labelled_batch(ids: torch.Tensor, labels: torch.Tensor, token_lengths: torch.Tensor) -> Batch:
    """A :class:`Batch` counting predicted tokens and the bases they hold (k-mers, BPE)."""
    predicted = labels[:, 1:]
    mask = predicted != IGNORE
    lengths = token_lengths[predicted.clamp(min=0)]
    return Batch(ids, labels, int(mask.sum()), int(lengths[mask].sum()))


def make_tokenizer(spec: str, alphabet: str):
    """The tokenizer named by ``spec`` (``char``, ``kmer[:K]``, a directory) for ``alphabet``;
    ``merge`` (learned merging, a MergeLM) reads single bases."""
    from bioseq.tokenizers import CharTokenizer, load_tokenizer

    if spec in ("char", f"char:{alphabet}"):
        return CharTokenizer(alphabet)
    if spec == "merge":
        if alphabet != "dna":
            raise InputError(f"tokenizer 'merge' needs DNA input, but the inputs are {alphabet}")
        return CharTokenizer(alphabet)
    if spec.startswith("kmer") and alphabet != "dna":
        raise InputError(f"tokenizer {spec!r} needs DNA input, but the inputs are {alphabet}")
    tokenizer = load_tokenizer(spec)
    own = getattr(tokenizer, "alphabet", alphabet)
    if own != alphabet and not (own == "rna" and alphabet == "dna"):
        raise InputError(f"tokenizer {spec!r} is for {own}, but the inputs are {alphabet}")
    return tokenizer


def aligned_tokenizer():
    """The tokenizer of an ``aligned`` run: the protein letters and the gap ``-``.

    >>> aligned_tokenizer().encode_array("AC-W").tolist()
    [5, 6, 30, 23]
    """
    from bioseq.tokenizers import CharTokenizer

    return CharTokenizer(ALIGNED_PROTEIN)


def context_at(step: int, config: TrainConfig) -> int:
    """Tokens per sequence at ``step``: staged warm-up doubling from 64 up to ``context``.

    >>> from bioseq.train.config import TrainConfig
    >>> c = TrainConfig(context=512, context_warmup=300)
    >>> [context_at(s, c) for s in (0, 99, 100, 200, 299, 300)]
    [64, 64, 128, 256, 256, 512]
    """
    if not config.context_warmup or config.context <= MIN_WARMUP_CONTEXT:
        return config.context
    stages = math.ceil(math.log2(config.context / MIN_WARMUP_CONTEXT))
    if step >= config.context_warmup:
        return config.context
    stage = step * stages // config.context_warmup
    return min(config.context, MIN_WARMUP_CONTEXT << stage)


class TrainData:
    """What the loop needs from the data; see :class:`GenomeData` and :class:`RecordData`."""

    alphabet: str
    tokenizer: object
    description: str
    unit = "base"  # what one symbol of the bits-per-symbol metrics is

    def __init__(self, config: TrainConfig, tokenizer, alphabet: str) -> None:
        self.config, self.tokenizer, self.alphabet = config, tokenizer, alphabet
        self.pad_id = int(tokenizer.pad_token_id)
        self.bases_per_token = float(getattr(tokenizer, "bases_per_token", 1))
        lengths = getattr(tokenizer, "token_lengths", None)
        self.token_lengths = None if lengths is None else torch.tensor(np.array(lengths))
        self._val_cache: dict[tuple[int, int, int], tuple[np.ndarray, list]] = {}
        self.masking: Masking | None = None
        if getattr(config, "objective", None) == "mlm":
            self.masking = Masking.for_tokenizer(tokenizer, self.markov_letters,
                                                 config.mask_fraction)  # fmt: skip

    def batch(
        self, step: int, context: int, batch_size: int, rank: int = 0, world_size: int = 1,
        grad_accum: int = 1,
    ) -> list[Batch]:  # fmt: skip
        """This process's micro-batches of optimizer step ``step``."""
        per_rank = batch_size // world_size
        share = rank_slice(batch_size, rank, world_size)
        items = self._items(step, context, batch_size, share)
        micro = per_rank // grad_accum
        out = []
        for i in range(0, per_rank, micro):
            batch = self._collate(items[i : i + micro], context)
            if self.masking is not None:  # keyed by the row's place in the global batch
                first = step * batch_size + share.start + i
                keys = [(self.config.seed, TRAIN_SALT, step, first + j) for j in range(micro)]
                batch = self.mask(batch, keys)
            out.append(batch)
        return out

    def eval_batches(self, n: int, batch_size: int, rank: int = 0, world_size: int = 1):
        """Batches of a fixed, evenly spread subset of ``n`` validation items (0 = all)."""
        key = (n, rank, world_size)
        if key not in self._val_cache:  # the same items at every evaluation
            indices = self._val_indices(n)[rank::world_size]
            self._val_cache[key] = (indices, self._val_items(indices))
        indices, items = self._val_cache[key]
        for i in range(0, len(items), batch_size):
            batch = self._collate(items[i : i + batch_size], self.config.context)
            if self.masking is not None:  # the same targets at every evaluation
                seed = self.config.seed
                keys = [(seed, VAL_SALT, int(index)) for index in indices[i : i + batch_size]]
                batch = self.mask(batch, keys)
            yield batch

    def mask(self, batch: Batch, keys: list[tuple[int, ...]]) -> Batch:
        """``batch`` masked for the mlm objective, row ``r`` from the RNG key ``keys[r]``."""
        clean = batch.input_ids
        inputs, labels = self.masking.apply(clean, keys)
        n = int((labels != IGNORE).sum())
        attention = (batch.labels != IGNORE).long()  # the causal labels: -100 at padding only
        return Batch(inputs, labels, n, n, attention, clean)

    @property
    def has_val(self) -> bool:
        raise NotImplementedError

    def max_tokens(self, context: int) -> int:
        """The longest sequence, in tokens, of a batch at ``context`` (for the memory check)."""
        return context

    @property
    def markov_letters(self) -> str:
        """The symbols the Markov reference counts (``N``, ``X`` and the like are skipped)."""
        alphabet = DNA if self.alphabet == "dna" else PROTEIN
        return alphabet.letters.replace(alphabet.unknown, "")

    def markov_model(self, order: int):
        """An unfitted Markov reference model of this data's symbols."""
        return MarkovModel(order, self.markov_letters)

    def markov_sequences(self) -> tuple[Iterator[np.ndarray], Iterator[np.ndarray]]:
        """(train, val) uint8 code arrays, oriented as the model reads them."""
        raise NotImplementedError

    def _items(self, step: int, context: int, batch_size: int, share: slice) -> list:
        """Items ``share`` of the ``batch_size`` items of step ``step``."""
        raise NotImplementedError

    def _val_indices(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def _val_items(self, indices: np.ndarray) -> list:
        raise NotImplementedError

    def _collate(self, items: list, context: int) -> Batch:
        raise NotImplementedError

    def _orient(self, codes: np.ndarray) -> np.ndarray:
        return codes[::-1].copy() if self.config.direction == "reverse" else codes

    def _window_batch(self, items: list, context: int) -> Batch:
        """Windows of codes, each tokenized and cropped to ``context``, right-padded."""
        ids = torch.full((len(items), context), self.pad_id, dtype=torch.long)
        for row, codes in enumerate(items):
            tokens = self.tokenizer.encode_array(self._orient(codes))[:context]
            ids[row, : len(tokens)] = torch.from_numpy(tokens)
        labels = ids.masked_fill(ids == self.pad_id, IGNORE)
        return self._batch(ids, labels)

    def _batch(self, ids: torch.Tensor, labels: torch.Tensor) -> Batch:
        if self.token_lengths is None:
            return Batch(ids, labels, int((labels[:, 1:] != IGNORE).sum()))
        return labelled_batch(ids, labels, self.token_lengths)

    def window_bases(self, context: int) -> int:
        """Bases per window that give ``context`` tokens: exact for fixed-length tokens, and for
        variable-length ones (BPE) a margin over the mean so most windows fill the context."""
        if getattr(self.tokenizer, "variable_length", False):
            return math.ceil(context * self.bases_per_token * 1.25) + 16
        return context * round(self.bases_per_token)


def _evenly_spaced(total: int, n: int) -> np.ndarray:
    if n <= 0 or n >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, n).round().astype(np.int64))


class GenomeData(TrainData):
    """Random train windows and tiled validation windows of one or more genomes."""

    def __init__(self, paths: Sequence[Path], config: TrainConfig, tokenizer) -> None:
        super().__init__(config, tokenizer, "dna")
        self.sources = [open_genome(p) for p in paths]
        lengths: dict[str, int] = {}
        for source in self.sources:
            for contig, n in source.contigs.items():
                lengths[contig] = max(n, lengths.get(contig, 0))
        names = ", ".join(str(p) for p in paths)
        window = self.window_bases(config.context)
        longest = max(lengths, key=lengths.get)
        if lengths[longest] < window:
            raise InputError(
                f"{names}: context {config.context} ({window:,} bp) is longer than every contig "
                f"(longest: {longest}, {lengths[longest]:,} bp); lower --context"
            )
        for contig in config.val_contigs:
            if contig not in lengths:
                known = ", ".join(list(lengths)[:5]) + (", ..." if len(lengths) > 5 else "")
                raise InputError(f"{names}: no contig named {contig!r} (val_contigs; has {known})")
        territory = restrict_territory(lengths, min_length=window, source_name=names)
        self.train_intervals: list[Interval] = territory
        self.val_intervals: list[Interval] = []
        held_out = config.val_contigs or config.val_fraction
        if held_out:
            split = dict(
                split_by="contig" if config.val_contigs else "interval",
                val_fraction=config.val_fraction or 0.0,
                val_contigs=config.val_contigs or None,
                block_size=None,
            )
            self.train_intervals = split_territory(territory, "train", **split)
            self.val_intervals = split_territory(territory, "val", **split)
        self._train: dict[int, GenomeWindows] = {}
        self.val: GenomeWindows | None = None
        if held_out:
            try:
                self.val = self._windows(self.val_intervals, window, mode="tiled")
            except InputError:
                what = (
                    "val_contigs" if config.val_contigs else f"the last {config.val_fraction:.0%}"
                )
                raise InputError(
                    f"{names}: the validation split ({what} of each contig) holds no window of "
                    f"{window:,} bp; lower --context or raise --val-fraction"
                ) from None
        self.train_windows(config.context)  # fails early when the train split is too small
        size = sum(e - s for _, s, e in self.train_intervals)
        val_size = sum(e - s for _, s, e in self.val_intervals)
        self.description = (
            f"{names}: {len(lengths)} contig(s), train {size:,} bp, validation {val_size:,} bp"
        )

    @property
    def has_val(self) -> bool:
        return self.val is not None

    def _windows(self, intervals, window: int, mode: str = "random") -> GenomeWindows:
        with warnings.catch_warnings():  # short intervals are skipped, as expected
            warnings.simplefilter("ignore")
            return GenomeWindows(
                self.sources, window, mode=mode, bed=list(intervals),
                rc_augment=self.config.rc_augment and mode == "random", seed=self.config.seed,
            )  # fmt: skip

    def train_windows(self, context: int) -> GenomeWindows:
        if context not in self._train:
            window = self.window_bases(context)
            self._train[context] = self._windows(self.train_intervals, window)
        return self._train[context]

    def _items(self, step: int, context: int, batch_size: int, share: slice) -> list:
        windows, out = self.train_windows(context), []
        for g in range(step * batch_size + share.start, step * batch_size + share.stop):
            epoch, index = divmod(g, len(windows))
            if windows.epoch != epoch:
                windows.set_epoch(epoch)
            out.append(windows[index]["input_ids"].numpy())
        return out

    def _val_indices(self, n: int) -> np.ndarray:
        return _evenly_spaced(len(self.val), n)

    def _val_items(self, indices: np.ndarray) -> list:
        return [self.val[int(i)]["input_ids"].numpy() for i in indices]

    def _collate(self, items: list, context: int) -> Batch:
        return self._window_batch(items, context)

    def _codes(self, intervals: list[Interval], rc: bool) -> Iterator[np.ndarray]:
        for source in self.sources:
            for contig, start, end in intervals:
                if contig in source.contigs and start < source.contigs[contig]:
                    codes = source.fetch_codes(contig, start, min(end, source.contigs[contig]))
                    yield self._orient(codes)
                    if rc:
                        yield self._orient(reverse_complement_array(codes))

    def markov_sequences(self):
        rc = self.config.rc_augment
        return self._codes(self.train_intervals, rc), self._codes(self.val_intervals, False)


class RecordData(TrainData):
    """Protein (or other) records: length-bucketed train batches, a held-out set of records."""

    def __init__(self, paths: Sequence[Path], config: TrainConfig, tokenizer, alphabet: str):
        super().__init__(config, tokenizer, alphabet)
        theta, self.aligned = config.sequence_weights, config.aligned
        self.alignment_width: int | None = None  # aligned: match columns per record
        pairs, weights = [], []
        for path in paths:
            found, found_weights, width = _read_records(path, alphabet, theta, self.aligned)
            pairs += [(name, self._orient(codes)) for name, codes in found]
            weights.append(found_weights)
            if self.aligned and self.alignment_width not in (None, width):
                raise InputError(f"{path}: {width} match columns, but {paths[0]} has "
                                 f"{self.alignment_width}; --aligned takes one alignment "
                                 "width")  # fmt: skip
            self.alignment_width = width if self.aligned else None
        weights = np.concatenate(weights)
        names = ", ".join(str(p) for p in paths)
        if self.aligned and self.alignment_width > config.context:
            raise InputError(f"{names}: {self.alignment_width} match columns is more than "
                             f"--context {config.context}; raise --context (--aligned reads "
                             "whole rows)")  # fmt: skip
        held = np.zeros(len(pairs), dtype=bool)
        if config.val_contigs:
            wanted = set(config.val_contigs)
            held = np.array([name in wanted for name, _ in pairs])
            missing = wanted - {name for name, _ in pairs}
            if missing:
                raise InputError(f"{names}: no record named {sorted(missing)[0]!r} (val_contigs)")
        elif config.val_fraction:
            if len(pairs) < 2:
                raise InputError(f"{names}: a validation split needs at least 2 records")
            n_val = max(1, round(config.val_fraction * len(pairs)))
            held[np.random.default_rng(0).permutation(len(pairs))[:n_val]] = True
        self.train_pairs = [p for p, h in zip(pairs, held, strict=True) if not h]
        self.val_pairs = [p for p, h in zip(pairs, held, strict=True) if h]
        # sampling probabilities of the train records (None: uniform epochs)
        self.train_p = None if theta is None else weights[~held] / weights[~held].sum()
        if not self.train_pairs:
            raise InputError(f"{names}: no records left for training after the validation split")
        self._train: dict[int, tuple[SequenceRecords, LengthBucketSampler]] = {}
        self._epoch_batches: dict[tuple[int, int], list[list[int]]] = {}
        self.val = self._records(self.val_pairs, config.context, "left") if self.val_pairs else None
        self.train_records(config.context)
        self.description = (
            f"{names}: {len(pairs):,} {alphabet} records, train {len(self.train_pairs):,}, "
            f"validation {len(self.val_pairs):,}"
        )
        if theta is not None:
            self.description += (
                f"; sampled by sequence weight (theta {theta}, effective records "
                f"{weights[~held].sum():,.1f})"
            )

    @property
    def has_val(self) -> bool:
        return self.val is not None

    @property
    def markov_letters(self) -> str:
        """Aligned runs: the 20 amino acids and the gap (EVmutation's 21 states)."""
        return ALIGNED_STATES if self.config.aligned else super().markov_letters

    def max_tokens(self, context: int) -> int:
        longest = self.train_records(context)[0].lengths.max()
        if self.val is not None:
            longest = max(longest, self.val.lengths.max())
        return int(min(context, longest))

    def _records(self, pairs, context: int, crop: str) -> SequenceRecords:
        return SequenceRecords(
            pairs, tokenizer=self.tokenizer, max_length=context, crop=crop, seed=self.config.seed,
            # masked models read bare records (aligned: bare columns), as they are scored
            add_special_tokens=self.config.objective != "mlm",
        )  # fmt: skip

    def train_records(self, context: int) -> tuple[SequenceRecords, LengthBucketSampler]:
        if context not in self._train:
            records = self._records(self.train_pairs, context, "random")
            bs = self.config.batch_size
            if len(records) < bs:
                raise InputError(f"{len(records)} training records is fewer than --batch-size {bs}")
            sampler = LengthBucketSampler(records, bs, seed=self.config.seed, drop_last=True)
            self._train[context] = (records, sampler)
        return self._train[context]

    def _items(self, step: int, context: int, batch_size: int, share: slice) -> list:
        if self.train_p is not None:
            return self._weighted_items(step, context, batch_size, share)
        records, sampler = self.train_records(context)  # batches of config.batch_size
        epoch, index = divmod(step, len(sampler))
        key = (context, epoch)
        if key not in self._epoch_batches:
            sampler.set_epoch(epoch)
            self._epoch_batches = {key: list(sampler)}  # keep one epoch's order
        records.set_epoch(epoch)
        return [records[i]["input_ids"] for i in self._epoch_batches[key][index][share]]

    def _weighted_items(self, step: int, context: int, batch_size: int, share: slice) -> list:
        """Records drawn with replacement by sequence weight; a pure function of (seed, step)."""
        records, _ = self.train_records(context)
        rng = np.random.default_rng([self.config.seed, step])
        chosen = rng.choice(len(records), size=batch_size, p=self.train_p)
        records.set_epoch(step)  # a fresh random crop of long records at every step
        chosen = chosen[share]
        chosen = chosen[np.argsort(records.lengths[chosen], kind="stable")]  # less padding
        return [records[int(i)]["input_ids"] for i in chosen]

    def _val_indices(self, n: int) -> np.ndarray:
        order = _evenly_spaced(len(self.val), n)
        return order[np.argsort(self.val.lengths[order], kind="stable")]  # less padding

    def _val_items(self, indices: np.ndarray) -> list:
        return [self.val[int(i)]["input_ids"] for i in indices]

    def _collate(self, items: list, context: int) -> Batch:
        batch = pad_collate([{"input_ids": ids} for ids in items], self.pad_id)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        labels = ids.masked_fill(mask == 0, IGNORE)
        return self._batch(ids, labels)

    def markov_sequences(self):
        return (c for _, c in self.train_pairs), (c for _, c in self.val_pairs)


def _read_records(
    path: Path, alphabet: str, theta: float | None = None, aligned: bool = False
) -> tuple[list[tuple[str, np.ndarray]], np.ndarray, int | None]:
    """(name, codes) of every record, their sequence weights at ``theta`` (ones if None) and,
    for ``aligned``, the alignment's width: records are then match columns (gaps kept; rows
    of gaps only left out)."""
    from bioseq.io.proteins import read_alignment, read_protein_fasta

    chosen = PROTEIN if alphabet == "protein" else DNA
    kind = detect_format(path)
    if aligned and (kind != "alignment" or alphabet != "protein"):
        what = f"an alignment of {alphabet}" if kind == "alignment" else f"{kind} of {alphabet}"
        raise InputError(f"{path}: is {what}; --aligned needs an a2m/a3m protein alignment")
    if aligned:
        alignment = read_alignment(path, alphabet=chosen)
        weights = alignment.sequence_weights(theta) if theta is not None else None
        rows = [(r.name, r.match_columns) for r in alignment.records]
        kept = np.array([set(row) != {"-"} for _, row in rows], dtype=bool)
        if not kept.any():
            raise InputError(f"{path}: every record is gaps only in the match columns")
        pairs = [(name, np.frombuffer(row.encode("ascii"), dtype=np.uint8))
                 for (name, row), keep in zip(rows, kept, strict=True) if keep]  # fmt: skip
        weights = np.ones(len(pairs)) if weights is None else weights[kept]
        return pairs, weights, alignment.width
    if kind == "alignment":
        alignment = read_alignment(path, alphabet=chosen)
        records = alignment.records  # sequence: gaps removed
        weights = alignment.sequence_weights(theta) if theta is not None else None
    elif kind == "fasta":
        if theta is not None:
            raise InputError(
                f"{path}: sequence weights need an alignment (a2m/a3m), not unaligned FASTA"
            )
        records, weights = read_protein_fasta(path, alphabet=chosen), None
    else:
        raise InputError(f"{path}: is {kind} input, expected FASTA or an alignment of {alphabet}")
    pairs = [(r.name, np.frombuffer(r.sequence.encode("ascii"), dtype=np.uint8)) for r in records]
    return pairs, np.ones(len(pairs)) if weights is None else weights, None


def build_data(config: TrainConfig) -> TrainData:
    """The data of a resolved config: its inputs, or the bundled E. coli genome (or text)."""
    from bioseq.data import default_genome

    if config.text:
        from bioseq.train.text import build_text_data

        check_masked_run(config, "text")
        return build_text_data(config)
    paths = expand_inputs(config.inputs) if config.inputs else [default_genome()]
    alphabet = choose_alphabet(paths, config.alphabet)
    check_masked_run(config, alphabet)
    if config.aligned:  # the inputs are checked by RecordData
        return RecordData(paths, config, aligned_tokenizer(), alphabet)
    tokenizer = make_tokenizer(config.tokenizer, alphabet)
    records = alphabet != "dna" or any(detect_format(p) == "alignment" for p in paths)
    if records:
        return RecordData(paths, config, tokenizer, alphabet)
    return GenomeData(paths, config, tokenizer)
