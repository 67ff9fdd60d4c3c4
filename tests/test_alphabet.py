import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bioseq.errors import InputError
from bioseq.io.alphabet import (
    DNA,
    PROTEIN,
    RNA,
    InvalidCharacterError,
    as_codes,
    complement,
    get_alphabet,
    guess_alphabet,
    reverse_complement,
    reverse_complement_array,
)

IUPAC = "ACGTURYSWKMBDHVN"
iupac_text = st.text(alphabet=IUPAC + IUPAC.lower(), max_size=300)

# Written out by hand from the IUPAC table, independent of the module's own mapping.
PAIRS = dict(zip("ACGTURYSWKMBDHVN", "TGCAAYRSWMKVHDBN", strict=True))


def reference_normalize(seq: str, alphabet, ambiguous: str, invalid: str) -> str:
    out = []
    for c in seq:
        c = c.upper() if c.isascii() else c  # only ASCII letters have a case here
        c = alphabet.aliases.get(c, c)
        if c in alphabet.letters or (c in alphabet.ambiguous and ambiguous == "keep"):
            out.append(c)
        elif c in alphabet.ambiguous and ambiguous == "unknown":
            out.append(alphabet.unknown)
        elif c in alphabet.ambiguous or invalid == "error":
            raise ValueError(c)
        else:
            out.append(alphabet.unknown)
    return "".join(out)


@given(iupac_text)
def test_reverse_complement_is_an_involution(seq):
    assert reverse_complement(reverse_complement(seq.replace("U", "T").replace("u", "t"))) == (
        seq.replace("U", "T").replace("u", "t")
    )


@given(iupac_text)
def test_complement_matches_iupac_table_and_keeps_case(seq):
    expected = "".join(PAIRS[c] if c.isupper() else PAIRS[c.upper()].lower() for c in seq)
    assert complement(seq) == expected
    assert reverse_complement(seq) == expected[::-1]


@given(iupac_text)
def test_array_reverse_complement_matches_string_version(seq):
    out = reverse_complement_array(as_codes(seq)).tobytes().decode()
    assert out == reverse_complement(seq)


@pytest.mark.parametrize("alphabet", [DNA, RNA, PROTEIN])
@pytest.mark.parametrize("ambiguous", ["unknown", "keep", "error"])
@pytest.mark.parametrize("invalid", ["error", "unknown"])
@given(raw=st.binary(max_size=64).map(lambda b: b.decode("latin-1")))
def test_normalize_matches_reference_on_random_bytes(alphabet, ambiguous, invalid, raw):
    try:
        expected = reference_normalize(raw, alphabet, ambiguous, invalid)
    except ValueError:
        with pytest.raises(InvalidCharacterError):
            alphabet.normalize(raw, ambiguous, invalid)
        return
    assert alphabet.normalize(raw, ambiguous, invalid) == expected


def test_soft_mask_track_and_u_to_t():
    seq, mask = DNA.normalize("acgUNnRy", return_mask=True)
    assert seq == "ACGTNNNN"
    assert mask.tolist() == [True, True, True, False, False, True, False, True]
    assert RNA.normalize("ACGT") == "ACGU"


def test_invalid_character_names_character_and_position():
    with pytest.raises(InvalidCharacterError) as err:
        DNA.normalize("ACGTJ")
    assert err.value.char == "J" and err.value.index == 4
    assert "'J'" in str(err.value) and "position 4" in str(err.value)
    assert DNA.normalize("ACGTJ", invalid="unknown") == "ACGTN"
    with pytest.raises(InvalidCharacterError):
        DNA.normalize("ACR", ambiguous="error")


def test_protein_policies():
    assert PROTEIN.normalize("mkU*Ob") == "MKC*KX"
    assert PROTEIN.normalize("BZJ", ambiguous="keep") == "BZJ"
    with pytest.raises(InvalidCharacterError):
        PROTEIN.normalize("MK1")


def test_guess_alphabet_and_lookup():
    assert guess_alphabet("acgtnnACGT" * 10) is DNA
    assert guess_alphabet("MSIQHFRVALIPFFAAFCLPVFA") is PROTEIN
    assert get_alphabet("Protein") is PROTEIN
    with pytest.raises(InputError, match="unknown alphabet"):
        get_alphabet("klingon")


def test_normalize_array_is_vectorised_over_a_genome_sized_input():
    codes = np.random.default_rng(0).choice(np.frombuffer(b"ACGTacgt", np.uint8), 1_000_000)
    out = DNA.normalize_array(codes)
    assert out.dtype == np.uint8 and set(np.unique(out).tolist()) == set(b"ACGT")
