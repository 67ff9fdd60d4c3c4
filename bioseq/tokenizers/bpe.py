"""Learned merges (byte-pair encoding, DNABERT-2 style): :class:`BpeTokenizer`, :func:`train_bpe`.

Vocabulary: the five special tokens (ids 0-4, see :mod:`bioseq.tokenizers.base`), then every single
letter of the alphabet (``A C G T N`` for DNA; the :data:`~bioseq.io.alphabet.PROTEIN` letters and
``B Z J`` for protein), then the merged tokens in the order training learned them. Single letters
are always in the vocabulary, so nothing is ever out of vocabulary.

Encoding is a Hugging Face ``tokenizers.models.BPE`` model with no pre-tokenizer: the input is
normalised like :class:`~bioseq.tokenizers.char.CharTokenizer` (upper case, IUPAC codes -> ``N``
for DNA), cut into fixed chunks of ``chunk_length`` bases (``[0, L), [L, 2L), ...``), the chunks
are encoded as one batch and their ids concatenated. Tokens never cross a chunk boundary, so
encoding a long sequence equals encoding its chunks one by one, and ``decode(encode(s)) == s``
for every normalised ``s``. Training (:func:`train_bpe`) cuts its sequences the same way.

Tokens hold a variable number of bases: ``variable_length`` is true, ``token_lengths`` gives the
bases of each id and ``bases_per_token`` is the mean measured on the training data. A saved
directory holds ``tokenizer_config.json``, ``vocab.json`` and the Hugging Face ``tokenizer.json``
(the same ids; loadable alone with ``tokenizers.Tokenizer.from_file``).

Characters outside the alphabet raise :class:`~bioseq.io.alphabet.InvalidCharacterError` naming
the character and position, unless ``unknown="unk"`` (then each becomes one ``[UNK]``).

>>> from bioseq.tokenizers import train_bpe
>>> tok = train_bpe(["ACGTACGTACGTAAAC" * 50], vocab_size=16, progress=False)
>>> ids = tok.encode("acgtacgtR", add_special_tokens=False)
>>> tok.decode(ids), int(tok.token_lengths[ids].sum())
('ACGTACGTN', 9)
>>> tok.variable_length, tok.bases_per_token > 1
(True, True)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import AddedToken, Tokenizer, decoders, models, trainers

from bioseq.errors import InputError
from bioseq.io.alphabet import ALPHABETS, Alphabet, InvalidCharacterError, as_codes, guess_alphabet
from bioseq.io.inputs import choose_alphabet, expand_inputs, iter_sequences
from bioseq.tokenizers.base import (
    CLS,
    MASK,
    PAD,
    SEP,
    UNK,
    VOCAB_FILE,
    SeqInput,
    SequenceTokenizer,
    check_unknown_policy,
)

TOKENIZER_FILE = "tokenizer.json"
DEFAULT_CHUNK_LENGTH = 4096
SPECIALS = [PAD, UNK, CLS, SEP, MASK]
_UNKNOWN_BYTE = ord("?")  # stands for an invalid character with unknown="unk" ([UNK] in the model)

PathOrSequence = str | bytes | np.ndarray | os.PathLike


class BpeTokenizer(SequenceTokenizer):
    """Byte-pair-encoding tokenizer for DNA or protein, learned by :func:`train_bpe`."""

    vocab_files_names = {"vocab_file": VOCAB_FILE, "tokenizer_file": TOKENIZER_FILE}
    variable_length = True

    def __init__(
        self,
        tokenizer_file: str | None = None,
        alphabet: str = "dna",
        chunk_length: int = DEFAULT_CHUNK_LENGTH,
        unknown: str = "error",
        bases_per_token: float | None = None,
        *,
        tokenizer_object: Tokenizer | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("vocab") is not None:
            raise InputError("BpeTokenizer takes its vocabulary from tokenizer.json (no vocab)")
        self.alphabet, self._alphabet, letters = _resolve_alphabet(alphabet)
        self.chunk_length = _positive("chunk_length", chunk_length)
        self.unknown = check_unknown_policy(unknown)
        self._backend = _load_backend(tokenizer_file, tokenizer_object, letters)
        self._encode_batch = getattr(self._backend, "encode_batch_fast", self._backend.encode_batch)
        self._mean_bases = None if bases_per_token is None else float(bases_per_token)
        tokens = _model_tokens(self._backend)[len(SPECIALS) :]
        super().__init__(
            tokens,
            alphabet=self.alphabet,
            chunk_length=self.chunk_length,
            unknown=self.unknown,
            bases_per_token=self._mean_bases,
            **kwargs,
        )
        self._table = _normaliser(self._alphabet, self.unknown)

    @property
    def bases_per_token(self) -> float:  # type: ignore[override]
        """Mean bases per token on the training data (the mean token length if unmeasured)."""
        if self._mean_bases is not None:
            return self._mean_bases
        return float(np.mean([len(t) for t in self._id_to_token[len(SPECIALS) :]]))

    @property
    def hf_tokenizer(self) -> Tokenizer:
        """The Hugging Face ``tokenizers.Tokenizer`` doing the merges (same ids)."""
        return self._backend

    def save_vocabulary(
        self, save_directory: str, filename_prefix: str | None = None
    ) -> tuple[str, ...]:
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        path = os.path.join(save_directory, prefix + TOKENIZER_FILE)
        self._backend.save(path)
        return (*super().save_vocabulary(save_directory, filename_prefix), path)

    def normalize_array(self, codes: SeqInput) -> np.ndarray:
        """Upper-cased, alphabet-normalised ASCII codes (``?`` for invalid bytes with ``unk``)."""
        raw = self._as_codes(codes)
        out = np.take(self._table, raw)
        if self.unknown == "error" and out.size and out.min() == 0:
            i = int(np.flatnonzero(out == 0)[0])
            raise InvalidCharacterError(chr(int(raw[i])), i, self._alphabet)
        return out

    def encode_array(self, codes: SeqInput, add_special_tokens: bool = False) -> np.ndarray:
        """Vectorised normalisation, then one batch of ``chunk_length`` chunks through the BPE.

        Accepts a uint8 array of ASCII codes, bytes or str; returns int64 ids.
        """
        text = self.normalize_array(codes).tobytes().decode("ascii")
        step = self.chunk_length
        if len(text) <= step:
            ids = self._backend.encode(text, add_special_tokens=False).ids if text else []
            out = np.array(ids, dtype=np.int64)
        else:
            chunks = [text[i : i + step] for i in range(0, len(text), step)]
            encodings = self._encode_batch(chunks, add_special_tokens=False)
            out = np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int64)
        return self._with_specials(out, add_special_tokens)


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _resolve_alphabet(alphabet: str | Alphabet) -> tuple[str, Alphabet, str]:
    """(saved name, Alphabet, the single letters that are always tokens)."""
    name = alphabet.name.lower() if isinstance(alphabet, Alphabet) else str(alphabet).lower()
    if name not in ALPHABETS:
        raise InputError(
            f"BpeTokenizer alphabet must be one of {', '.join(ALPHABETS)}, got {alphabet!r}"
        )
    named = ALPHABETS[name]
    return name, named, named.letters + (named.ambiguous if name == "protein" else "")


def _normaliser(alphabet: Alphabet, unknown: str) -> np.ndarray:
    """Byte -> normalised byte, as CharTokenizer does; 0 (or ``?`` with ``unk``) if invalid."""
    ambiguous = "keep" if alphabet.name.lower() == "protein" else "unknown"
    table = alphabet.table(ambiguous=ambiguous, invalid="error").copy()
    if unknown == "unk":
        table[table == 0] = _UNKNOWN_BYTE
    table.flags.writeable = False
    return table


def _model_tokens(backend: Tokenizer) -> list[str]:
    vocab = backend.get_vocab(with_added_tokens=True)
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise InputError("tokenizer.json: token ids are not contiguous from 0")
    return tokens


def _load_backend(path: str | None, backend: Tokenizer | None, letters: str) -> Tokenizer:
    if backend is None:
        if path is None:
            raise InputError("BpeTokenizer needs a tokenizer.json (train one with train_bpe)")
        try:
            backend = Tokenizer.from_file(str(path))
        except Exception as err:  # the Rust side raises plain Exceptions
            raise InputError(f"{path}: not a Hugging Face tokenizer.json ({err})") from None
    where = path or "tokenizer"
    if not isinstance(backend.model, models.BPE):
        raise InputError(f"{where}: expected a BPE model, found {type(backend.model).__name__}")
    tokens = _model_tokens(backend)
    if tokens[: len(SPECIALS)] != SPECIALS:
        raise InputError(f"{where}: ids 0-4 must be {' '.join(SPECIALS)}, got {tokens[:5]}")
    missing = [c for c in letters if c not in tokens]
    if missing:
        raise InputError(f"{where}: vocabulary lacks the single letters {''.join(missing)}")
    return backend


def _finish_backend(trained: Tokenizer) -> Tokenizer:
    """The trained model with ``[UNK]`` for unknown characters, a joining decoder and specials."""
    model = json.loads(trained.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    backend = Tokenizer(models.BPE(model["vocab"], merges, unk_token=UNK, fuse_unk=False))
    backend.decoder = decoders.Fuse()
    backend.add_special_tokens([AddedToken(t, special=True) for t in SPECIALS])
    return backend


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def train_bpe(
    sequences_or_paths: Iterable[PathOrSequence],
    vocab_size: int = 4096,
    alphabet: str = "dna",
    max_token_length: int = 16,
    chunk_length: int = DEFAULT_CHUNK_LENGTH,
    min_frequency: int = 2,
    progress: bool = True,
) -> BpeTokenizer:
    """Learn a BPE vocabulary of ``vocab_size`` tokens (special tokens included).

    ``sequences_or_paths`` holds sequences (str, bytes or uint8 arrays) and/or paths of FASTA,
    GenBank, protein FASTA or a2m/a3m files or folders of them (``Path`` objects, or strings
    that name an existing file or contain a ``/`` or ``.``). ``alphabet`` is ``"dna"``,
    ``"protein"`` or ``"auto"`` (guessed from the files, else from the first sequence). Every
    sequence is normalised and cut into ``chunk_length`` chunks, the unit of both training and
    encoding; no token gets longer than ``max_token_length`` letters, and a merge must occur at
    least ``min_frequency`` times. All chunks are held in memory while training.
    """
    for name, value in (
        ("vocab_size", vocab_size),
        ("max_token_length", max_token_length),
        ("min_frequency", min_frequency),
    ):
        _positive(name, value)
    if max_token_length < 2:
        raise InputError(f"max_token_length must be at least 2, got {max_token_length}")
    sequences, paths = _split_inputs(sequences_or_paths)
    name = _choose_alphabet(paths, sequences, alphabet)
    _, alpha, letters = _resolve_alphabet(name)
    if vocab_size < len(SPECIALS) + len(letters):
        raise InputError(
            f"vocab_size {vocab_size} is smaller than the {len(SPECIALS)} special "
            f"tokens and {len(letters)} letters of {name}"
        )
    table = _normaliser(alpha, "error")
    step = _positive("chunk_length", chunk_length)
    chunks = [
        text[i : i + step]
        for codes in chain(sequences, _read_paths(paths, name, progress))
        for text in [_normalised_text(codes, table, alpha)]
        for i in range(0, len(text), step)
    ]
    if not chunks:
        raise InputError("train_bpe: no sequence to train on")
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size),
        min_frequency=int(min_frequency),
        max_token_length=_trainer_limit(int(max_token_length)),
        special_tokens=list(SPECIALS),
        initial_alphabet=list(letters),
        show_progress=progress,
    )
    trained = Tokenizer(models.BPE(unk_token=UNK))
    trained.train_from_iterator(chunks, trainer, length=len(chunks))
    backend = _finish_backend(trained)
    longest = max(len(t) for t in backend.get_vocab() if t not in SPECIALS)
    if longest > max_token_length:  # a guard on the trainer's semantics (see _trainer_limit)
        raise RuntimeError(f"BpeTrainer made a {longest}-letter token (max {max_token_length})")
    n_tokens = sum(len(e.ids) for e in backend.encode_batch(chunks, add_special_tokens=False))
    mean = sum(map(len, chunks)) / max(n_tokens, 1)
    return BpeTokenizer(
        alphabet=name, chunk_length=step, bases_per_token=round(mean, 4), tokenizer_object=backend
    )


@cache
def _trainer_inclusive() -> bool:
    """Whether ``BpeTrainer(max_token_length=m)`` allows tokens of ``m`` letters.

    tokenizers 0.23 only pairs symbols whose joint length is *below* the limit after the first
    merge (``word.rs``: ``len + new_len < max_length``), so its tokens stop at ``m - 1``; a tiny
    training run tells, so a fixed release is used as documented too.
    """
    probe = Tokenizer(models.BPE())
    trainer = trainers.BpeTrainer(
        vocab_size=50, min_frequency=1, max_token_length=3, show_progress=False
    )
    probe.train_from_iterator(["AAAAAAAAA"] * 4, trainer)
    return "AAA" in probe.get_vocab()


def _trainer_limit(max_token_length: int) -> int:
    return max_token_length if _trainer_inclusive() else max_token_length + 1


def _normalised_text(codes: SeqInput, table: np.ndarray, alphabet: Alphabet) -> str:
    raw = as_codes(codes)
    out = np.take(table, raw)
    if out.size and out.min() == 0:
        i = int(np.flatnonzero(out == 0)[0])
        raise InvalidCharacterError(chr(int(raw[i])), i, alphabet)
    return out.tobytes().decode("ascii")


def _is_path(item: PathOrSequence) -> bool:
    if isinstance(item, os.PathLike):
        return True
    if isinstance(item, str):
        return os.path.exists(item) or "/" in item or "." in item
    return False


def _split_inputs(items: Iterable[PathOrSequence]) -> tuple[list[SeqInput], list[Path]]:
    if isinstance(items, (str, bytes, np.ndarray, os.PathLike)):
        items = [items]
    sequences: list[SeqInput] = []
    given: list[Path] = []
    for item in items:
        if _is_path(item):
            given.append(Path(item))  # type: ignore[arg-type]
        elif isinstance(item, (str, bytes, np.ndarray)):
            sequences.append(item)
        else:
            raise InputError(f"train_bpe expects sequences or paths, got {type(item).__name__}")
    return sequences, expand_inputs(given) if given else []


def _choose_alphabet(paths: list[Path], sequences: Sequence[SeqInput], requested: str) -> str:
    requested = str(requested).lower()
    if requested not in ("auto", "dna", "protein"):
        raise InputError(f"alphabet must be 'auto', 'dna' or 'protein', got {requested!r}")
    if paths:
        return choose_alphabet(paths, requested)
    if requested == "auto":
        return guess_alphabet(sequences[0]).name.lower() if sequences else "dna"
    return requested


def _read_paths(paths: Sequence[Path], alphabet: str, progress: bool) -> Iterator[np.ndarray]:
    """Every record of every file as normalised codes, with a progress bar in bases."""
    for path in paths:
        yield from iter_sequences(path, alphabet, progress)


# --------------------------------------------------------------------------------------------
# Compression
# --------------------------------------------------------------------------------------------


def compression_report(
    tokenizer: SequenceTokenizer, paths: Sequence[str | os.PathLike], progress: bool = False
) -> list[dict[str, Any]]:
    """Bases, tokens and bases per token of each input file (folders expand to their files).

    Works for any bioseq sequence tokenizer (BPE, k-mer, single base); files are read in the
    tokenizer's alphabet (``dna`` or ``protein``), which must match their content.
    """
    files = expand_inputs(list(paths))
    own = getattr(tokenizer, "alphabet", "dna")
    alphabet = "dna" if own == "rna" else own
    if alphabet not in ("dna", "protein"):
        raise InputError(f"compression_report needs a DNA or protein tokenizer, not {own!r}")
    report = []
    for path in files:
        choose_alphabet([path], alphabet)  # a clear error when the file holds the other kind
        bases = tokens = 0
        for codes in iter_sequences(path, alphabet, progress):
            bases += codes.size
            tokens += tokenizer.encode_array(codes).size
        ratio = round(bases / tokens, 4) if tokens else 0.0
        report.append(
            {"file": str(path), "bases": bases, "tokens": tokens, "bases_per_token": ratio}
        )
    return report
