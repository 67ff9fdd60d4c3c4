"""The released Caduceus tokenizer's ids, and complement maps for any DNA tokenizer.

:func:`caduceus_tokenizer` is a :class:`~bioseq.tokenizers.char.CharTokenizer` with the
12-token layout of the released checkpoints (HyenaDNA's): ``[CLS]`` 0, ``[SEP]`` 1, ``[BOS]``
2, ``[MASK]`` 3, ``[PAD]`` 4, ``[RESERVED]`` 5, ``[UNK]`` 6, ``A`` 7, ``C`` 8, ``G`` 9, ``T``
10, ``N`` 11 (lower case is upper-cased; IUPAC codes become ``N``).

Special tokens differ from the release: its tokenizer appends only ``[SEP]`` (no ``[CLS]``)
and pads on the left, while bioseq's ``add_special_tokens=True`` gives ``[CLS] seq [SEP]`` and
pads on the right (a Caduceus model given the ``attention_mask`` ignores padding either way).
To feed exactly what the release feeds, encode without special tokens and append
``sep_token_id``.

:func:`complement_map` gives, for any bioseq DNA tokenizer, the id of each id's complement
(A<->T, C<->G, everything else itself): the ``complement_map`` of an RC-equivariant
:class:`~bioseq.models.config.CaduceusConfig`.

>>> tok = caduceus_tokenizer()
>>> tok.encode("ACGTN", add_special_tokens=False), tok.pad_token_id, tok.mask_token_id
([7, 8, 9, 10, 11], 4, 3)
>>> complement_map(tok)
[0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11]
"""

from __future__ import annotations

from bioseq.errors import InputError
from bioseq.tokenizers.char import CharTokenizer

CADUCEUS_VOCAB = [
    "[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]", "A", "C", "G", "T", "N",
]  # fmt: skip

COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}


def caduceus_tokenizer(**kwargs) -> CharTokenizer:
    """A DNA character tokenizer with the released Caduceus ids (keyword arguments go to
    :meth:`CharTokenizer.from_vocab`, e.g. ``unknown="unk"``)."""
    return CharTokenizer.from_vocab(CADUCEUS_VOCAB, alphabet="dna", **kwargs)


def complement_map(tokenizer) -> list[int]:
    """``out[i]`` = id of the complement of token ``i``: A<->T, C<->G (also lower-case
    tokens, if any), every other token itself. One entry per id of ``len(tokenizer)``."""
    vocab = tokenizer.get_vocab()
    n = len(tokenizer)
    if sorted(vocab.values()) != list(range(n)):
        raise InputError(f"tokenizer ids are not 0..{n - 1}: cannot build a complement map")
    out = list(range(n))
    for token, i in vocab.items():
        partner = COMPLEMENT.get(token.upper())
        if partner is None:
            continue
        partner = partner if token.isupper() else partner.lower()
        if partner not in vocab:
            raise InputError(f"tokenizer has {token!r} but not its complement {partner!r}")
        out[i] = vocab[partner]
    return out
