"""Plain-text training data for ``bioseq pretrain --text``: the linguistic control.

The same architectures trained on text instead of DNA, so a text model and a DNA model of one
size can be probed side by side. Each input file (UTF-8 text, plain or gzip-compressed; a folder
means its ``*.txt`` and ``*.txt.gz`` files) is read as bytes, and the last ``val_fraction`` of
every file is held out. One token is one byte (:class:`~bioseq.tokenizers.ByteTokenizer`), so
the "bits per base" of the metrics are bits per byte, and the Markov reference is an order-k
byte model (:class:`~bioseq.models.markov.ByteMarkovModel`).

Sample ``g`` of the run (the ``g % batch_size``-th of step ``g // batch_size``) is a window of
``context`` bytes at an offset drawn by a generator seeded with ``(seed, g)``, uniformly over
every window of the train split, so a step's batch depends on nothing else (see
:mod:`bioseq.train.data`). Validation tiles each held-out part with consecutive windows, the
last one shorter and padded, so every held-out byte but the first of each window is scored.

>>> from bioseq.train.config import TrainConfig
>>> from bioseq.train.data import build_data
>>> data = build_data(TrainConfig(text=True, context=128).resolved())  # the bundled text
>>> [batch] = data.batch(step=0, context=128, batch_size=2)
>>> batch.input_ids.shape, data.unit, data.tokenizer.alphabet
(torch.Size([2, 128]), 'byte', 'text')
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bioseq.data import default_text_corpus
from bioseq.errors import InputError
from bioseq.io.compression import ungzip
from bioseq.io.inputs import expand_inputs
from bioseq.io.splits import ValidationSplit
from bioseq.models.markov import ByteMarkovModel
from bioseq.tokenizers import ByteTokenizer, load_tokenizer
from bioseq.train.config import TrainConfig
from bioseq.train.data.base import Batch, TrainData, evenly_spaced

_CHECK_CHUNK = 1 << 24  # bytes decoded at a time when checking that a file is UTF-8


def expand_text_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given, and the ``*.txt`` / ``*.txt.gz`` files inside folders."""
    return expand_inputs(inputs, suffixes={".txt"}, kind="text")


def read_text(path: str | Path) -> np.ndarray:
    """The bytes of a UTF-8 text file (gzip recognised by its magic number) as a uint8 array;
    a leading byte-order mark is dropped."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err})") from None
    data = ungzip(data, path).removeprefix(codecs.BOM_UTF8)
    if not data:
        raise InputError(f"{path}: empty file, expected UTF-8 text")
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(data), _CHECK_CHUNK):
        end = start + _CHECK_CHUNK
        try:
            decoder.decode(data[start:end], final=end >= len(data))
        except UnicodeDecodeError as err:
            at = start + err.start
            raise InputError(f"{path}: not UTF-8 text (byte {at:,} is {data[at]:#04x})") from None
    return np.frombuffer(data, dtype=np.uint8)


def text_tokenizer(spec: str) -> ByteTokenizer:
    """The byte tokenizer of a text run: ``char``/``byte`` or a saved ByteTokenizer directory."""
    if spec in ("char", "byte", "bytes", "text"):
        return ByteTokenizer()
    if Path(spec).is_dir():
        tokenizer = load_tokenizer(spec)
        if getattr(tokenizer, "alphabet", None) == "text":
            return tokenizer
    raise InputError(
        f"tokenizer {spec!r} does not read text: --text trains on bytes "
        "(--tokenizer char or byte, or a saved ByteTokenizer directory)"
    )


class TextData(TrainData):
    """Random train windows and tiled validation windows of text files (see module doc)."""

    unit = "byte"

    def __init__(self, paths: Sequence[Path], config: TrainConfig, tokenizer) -> None:
        super().__init__(config, tokenizer, "text")
        self.names = [str(p) for p in paths]
        self.train_parts: list[np.ndarray] = []
        self.val_parts: list[np.ndarray] = []
        split = ValidationSplit(config.val_fraction)
        for path in paths:
            data = read_text(path)
            cut = split.tail_start(len(data))
            self.train_parts.append(data[:cut])
            if len(data) - cut >= 2:  # a window needs a byte to predict
                self.val_parts.append(data[cut:])
        self._starts: dict[int, np.ndarray] = {}
        self._train_starts(config.context)  # fails early when the train split is too small
        names = ", ".join(self.names)
        if config.val_fraction and not self.val_parts:
            raise InputError(
                f"{names}: the validation split (the last {config.val_fraction:.0%} "
                "of each file) is empty; raise --val-fraction"
            )
        self.val_windows = [
            (i, start)
            for i, part in enumerate(self.val_parts)
            for start in range(0, len(part) - 1, config.context)
        ]
        size = sum(len(p) for p in self.train_parts)
        val_size = sum(len(p) for p in self.val_parts)
        self.description = (
            f"{names}: {len(paths)} text file(s), train {size:,} bytes, "
            f"validation {val_size:,} bytes"
        )

    @property
    def has_val(self) -> bool:
        return bool(self.val_windows)

    def _train_starts(self, context: int) -> np.ndarray:
        """Cumulative count of the windows of ``context`` bytes in each train part."""
        if context not in self._starts:
            counts = np.array([max(0, len(p) - context + 1) for p in self.train_parts])
            if not counts.sum():
                longest = max(range(len(counts)), key=lambda i: len(self.train_parts[i]))
                raise InputError(
                    f"context {context} ({context:,} bytes) is longer than the train split of "
                    f"every text file (longest: {self.names[longest]}, "
                    f"{len(self.train_parts[longest]):,} bytes); lower --context"
                )
            self._starts[context] = np.cumsum(counts)
        return self._starts[context]

    def _items(self, step: int, context: int, batch_size: int, share: slice) -> list:
        cumulative = self._train_starts(context)
        out = []
        for g in range(step * batch_size + share.start, step * batch_size + share.stop):
            rng = np.random.default_rng([self.config.seed % 2**32, g])
            r = int(rng.integers(cumulative[-1]))
            part = int(np.searchsorted(cumulative, r, side="right"))
            start = r - (int(cumulative[part - 1]) if part else 0)
            out.append(self.train_parts[part][start : start + context])
        return out

    def _val_indices(self, n: int) -> np.ndarray:
        return evenly_spaced(len(self.val_windows), n)

    def _val_items(self, indices: np.ndarray) -> list:
        context = self.config.context
        windows = [self.val_windows[int(i)] for i in indices]
        return [self.val_parts[part][start : start + context] for part, start in windows]

    def _collate(self, items: list, context: int) -> Batch:
        return self._window_batch(items, context)

    def markov_model(self, order: int) -> ByteMarkovModel:
        return ByteMarkovModel(order)

    def markov_sequences(self):
        train = (self._orient(p) for p in self.train_parts)
        return train, (self._orient(p) for p in self.val_parts)


def build_text_data(config: TrainConfig) -> TextData:
    """The text data of a resolved ``text`` config: its inputs, or the bundled text corpus
    (:func:`~bioseq.data.default_text_corpus`: Alice, the World Factbook 1992 excerpt and a table
    of circulating decimals)."""
    paths = expand_text_inputs(config.inputs) if config.inputs else default_text_corpus()
    return TextData(paths, config, text_tokenizer(config.tokenizer))
