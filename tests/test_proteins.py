"""Protein FASTA and alignment (a2m, a3m, aligned FASTA) reading, on the real TEM-1 alignment."""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bioseq.errors import InputError
from bioseq.io.alphabet import PROTEIN
from bioseq.io.proteins import Alignment, parse_region, read_alignment, read_protein_fasta
from tests.conftest import SHARED_DATA, write_file

PROTEINS = SHARED_DATA / "proteins"
BLAT_A2M = PROTEINS / "BLAT_ECOLX_r24-286.a2m"
BLAT_DMS = PROTEINS / "BLAT_ECOLX_Ranganathan2015.csv"

pytestmark = pytest.mark.skipif(not BLAT_A2M.exists(), reason="shared protein data not available")

BLAT_WILDTYPE_START = "HPETLVKVKDAEDQLGARVGYIELDLNSGKILESFRPEERFPMMSTFKVLLCGAVLSRVDAGQEQ"


@pytest.fixture(scope="module")
def blat() -> Alignment:
    return read_alignment(BLAT_A2M)


def one_line_error(call: Callable[[], object], match: str) -> str:
    with pytest.raises(InputError, match=match) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------------------------
# the real BLAT_ECOLX alignment
# --------------------------------------------------------------------------------------------


def test_blat_alignment(blat: Alignment) -> None:
    assert len(blat) == 8_403
    assert blat.format == "a2m"
    assert blat.records[0].name == "BLAT_ECOLX/24-286"
    assert blat.region == (24, 286) and blat.offset == 24
    assert blat.wildtype.startswith(BLAT_WILDTYPE_START)
    assert blat.wildtype.endswith("IGASLIKHW")
    assert len(blat.wildtype) == 286 - 24 + 1 == 263
    assert blat.alphabet is PROTEIN


def test_blat_match_columns(blat: Alignment) -> None:
    # 253 upper-case match columns + 10 lower-case insertions (hpetl, e, r, khw) = 263
    assert blat.width == 253
    assert {len(record.match_columns) for record in blat} == {253}
    wildtype_aligned = blat.records[0].aligned
    assert sum(c.islower() for c in wildtype_aligned) == 10
    assert blat.focus_sequence == "".join(c for c in wildtype_aligned if c.isupper())
    assert blat.focus_columns.shape == (253,)
    assert blat.focus_columns[0] == 5  # V28: after the insertion 'hpetl' (residues 24-28)
    assert blat.residue_number(int(blat.focus_columns[0])) == 29
    wt = np.frombuffer(blat.wildtype.encode(), dtype=np.uint8)
    np.testing.assert_array_equal(wt[blat.focus_columns], blat.match_matrix()[0])
    assert blat.match_matrix().shape == (8_403, 253)


def test_blat_sequences_are_ungapped_upper_case(blat: Alignment) -> None:
    allowed = set(PROTEIN.letters)
    for record in blat:
        assert set(record.sequence) <= allowed
        assert set(record.match_columns) <= allowed | {"-"}
        stripped = re.sub(r"[-.]", "", record.aligned).upper().replace("Z", "X")
        assert record.sequence == stripped
    second = blat.records[1]
    assert second.name == "up|A0A077REW6|A0A077REW6_WHEAT/30-249"
    assert second.aligned.startswith(".....-KVKDAEDQL")
    assert second.sequence.startswith("KVKDAEDQLGARVGYIELDLNSGKILESFRPEE")
    assert second.match_columns.startswith("-KVKDAEDQLGARVGYIELDLNSGKILSFRPEE")


def test_blat_numbering_matches_deep_mutational_scan(blat: Alignment) -> None:
    lines = [line for line in BLAT_DMS.read_text().splitlines() if not line.startswith("#")]
    mutants = [row["mutant"] for row in csv.DictReader(lines, delimiter=";")]
    assert len(mutants) == 4_997
    for mutant in mutants:
        wt, number = mutant[0], int(mutant[1:-1])
        assert blat.wildtype[number - blat.offset] == wt, mutant


def test_header_range_mismatch(tmp_path: Path) -> None:
    text = BLAT_A2M.read_text().split("\n>")[0]  # the wild-type record only
    header, *lines = text.splitlines()
    sequence = "".join(lines)
    shortened = sequence[:100] + sequence[113:]  # drop 13 upper-case residues
    path = write_file(tmp_path, "file.a2m", f"{header}\n{shortened}\n")
    message = one_line_error(lambda: read_alignment(path), "wild type has 250 residues")
    assert message == (
        f"{path}: record 1 'BLAT_ECOLX/24-286': wild type has 250 residues "
        "but header range 24-286 implies 263"
    )


def test_gzipped_alignment(tmp_path: Path) -> None:
    text = BLAT_A2M.read_text()
    text = text[: text.index(">", 20_000)]  # the first records only
    path = write_file(tmp_path, "blat.a2m.gz", gzip.compress(text.encode()))
    alignment = read_alignment(path)
    assert alignment.format == "a2m" and alignment.offset == 24
    assert len(alignment) == text.count(">")


# --------------------------------------------------------------------------------------------
# small alignments
# --------------------------------------------------------------------------------------------

A2M = """>wt/10-17
MKv.LSTAC
>hom1 some description
MKvaL-TA-
>hom2
-R..LSTAC
"""

A3M = """#A3M# comment line
>wt/10-17
MKvLSTAC
>hom1
MKvaL-TA-
>hom2
-RLSTAC
"""

ALIGNED_FASTA = """>wt
MK-LSTAC
>hom1
MKAL.TA-
"""


def test_small_a2m(tmp_path: Path) -> None:
    alignment = read_alignment(write_file(tmp_path, "x.a2m", A2M))
    assert alignment.format == "a2m"
    assert alignment.wildtype == "MKVLSTAC" and alignment.offset == 10
    assert [r.match_columns for r in alignment] == ["MKLSTAC", "MKL-TA-", "-RLSTAC"]
    assert [r.aligned for r in alignment] == ["MKv.LSTAC", "MKvaL-TA-", "-R..LSTAC"]
    assert alignment.records[1].description == "some description"
    assert alignment.records[1].sequence == "MKVALTA"
    assert alignment.focus_columns.tolist() == [0, 1, 3, 4, 5, 6, 7]


def test_small_a3m_matches_a2m(tmp_path: Path) -> None:
    a3m = read_alignment(write_file(tmp_path, "x.a3m", A3M))
    assert a3m.format == "a3m"
    auto = read_alignment(write_file(tmp_path, "x.txt", A3M))
    assert auto.format == "a3m"
    assert [r.match_columns for r in a3m] == [r.match_columns for r in auto]
    assert [r.sequence for r in a3m] == ["MKVLSTAC", "MKVALTA", "RLSTAC"]
    assert a3m.focus_columns.tolist() == [0, 1, 3, 4, 5, 6, 7]


def test_aligned_fasta(tmp_path: Path) -> None:
    alignment = read_alignment(write_file(tmp_path, "x.afa", ALIGNED_FASTA))
    assert alignment.format == "fasta"
    as_text = write_file(tmp_path, "x.txt", ALIGNED_FASTA)
    assert read_alignment(as_text, format="fasta").format == "fasta"
    assert [r.match_columns for r in alignment] == ["MK-LSTAC", "MKAL-TA-"]
    assert alignment.wildtype == "MKLSTAC" and alignment.offset == 1 and alignment.region is None
    assert alignment.focus_columns.tolist() == [0, 1, -1, 2, 3, 4, 5, 6]


def test_inconsistent_match_columns(tmp_path: Path) -> None:
    path = write_file(tmp_path, "bad.a2m", A2M.replace("-R..LSTAC", "-R..LSTA"))
    message = one_line_error(lambda: read_alignment(path), "has 6 match columns")
    assert message.startswith(f"{path}:5: record 3 'hom2'")


def test_invalid_character_names_line(tmp_path: Path) -> None:
    path = write_file(tmp_path, "bad.a2m", A2M.replace("MKvaL-TA-", "MKva\nL-T!-"))
    message = one_line_error(lambda: read_alignment(path), "invalid character '!'")
    assert message.startswith(f"{path}:5: record 'hom1'")


def test_alignment_errors(tmp_path: Path) -> None:
    one_line_error(lambda: read_alignment(tmp_path / "absent.a2m"), "no such file")
    one_line_error(lambda: read_alignment(write_file(tmp_path, "e.a2m", "")), "empty file")
    path = write_file(tmp_path, "nohead.a2m", "MKVLSTAC\n>wt\nMK\n")
    assert one_line_error(lambda: read_alignment(path), "expected a FASTA header").startswith(
        f"{path}:1:"
    )
    gaps = write_file(tmp_path, "g.a2m", ">wt\n---\n")
    one_line_error(lambda: read_alignment(gaps), "no residues")
    one_line_error(lambda: read_alignment(path, format="sto"), "unknown alignment format")  # type: ignore[arg-type]


def test_parse_region() -> None:
    assert parse_region("BLAT_ECOLX/24-286") == (24, 286)
    assert parse_region("up|X|Y/1-9") == (1, 9)
    assert parse_region("BLAT_ECOLX") is None


# --------------------------------------------------------------------------------------------
# protein FASTA
# --------------------------------------------------------------------------------------------


def test_read_protein_fasta(tmp_path: Path) -> None:
    path = write_file(tmp_path, "p.fa", ">p1 first protein\nMKV\nuoBz*\n\n>p2\nacd\n")
    records = read_protein_fasta(path)
    assert [(r.name, r.description, r.sequence, r.line) for r in records] == [
        ("p1", "first protein", "MKVCKXX*", 1),
        ("p2", "", "ACD", 5),
    ]
    assert read_protein_fasta(path, ambiguous="keep")[0].sequence == "MKVCKBZ*"
    gz = write_file(tmp_path, "p.fa.gz", gzip.compress(path.read_bytes()))
    assert [r.sequence for r in read_protein_fasta(gz)] == [r.sequence for r in records]


def test_protein_fasta_errors(tmp_path: Path) -> None:
    path = write_file(tmp_path, "gap.fa", ">p1\nMKV\nMK-V\n")
    message = one_line_error(lambda: read_protein_fasta(path), "invalid character '-'")
    assert message.startswith(f"{path}:3: record 'p1'")
    path = write_file(tmp_path, "amb.fa", ">p1\nMKB\n")
    assert one_line_error(
        lambda: read_protein_fasta(path, ambiguous="error"), "invalid character 'B'"
    ).startswith(f"{path}:2:")
    empty = write_file(tmp_path, "e.fa", ">p1\n>p2\nMK\n")
    one_line_error(lambda: read_protein_fasta(empty), "no seq")
    nameless = write_file(tmp_path, "n.fa", ">\nMK\n")
    one_line_error(lambda: read_protein_fasta(nameless), "has no name")
    truncated = gzip.compress(b">p1\n" + b"MKV\n" * 5000)
    path = write_file(tmp_path, "cut.fa.gz", truncated[: len(truncated) // 2])
    one_line_error(lambda: read_protein_fasta(path), "truncated or corrupt gzip")
