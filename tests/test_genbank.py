"""GenBank reading, CDS translation and the per-base coding annotation, on real genomes."""

from __future__ import annotations

import gzip
import random
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from Bio import SeqIO

from bioseq.errors import InputError
from bioseq.io.coding import CDS
from bioseq.io.genbank import GenBankGenome, GenBankRecord, read_genbank
from tests.conftest import SHARED_DATA, write_file

DATA = SHARED_DATA / "genomes"
LAMBDA = DATA / "lambda_NC_001416.gbk"
if not LAMBDA.exists():  # the identical copy bundled with the package
    LAMBDA = Path(str(files("bioseq.data") / "lambda_NC_001416.gbk"))
ECOLI = DATA / "ecoli_k12_mg1655.gbff.gz"
needs_ecoli = pytest.mark.skipif(not ECOLI.exists(), reason="shared E. coli GenBank not available")

# Lambda's sequence has two 'n' bases (20661 and 47317, 1-based); the three CDS over them
# translate to 'X' there while the submitted /translation names the residue.
LAMBDA_N_CODONS = {"lambdap27": (337, "K"), "lambdap90": (35, "F"), "lambdap78": (86, "I")}
# The only E. coli CDS whose translation is not reproduced: the 17 pseudogenes, which carry no
# /translation at all. Selenocysteine (fdhF, fdnG, fdoG via /transl_except) and ribosomal
# slippage (prfB, dnaX, copA via overlapping joined parts) are reproduced exactly.
ECOLI_PSEUDO_WITHOUT_TRANSLATION = {
    "b0240", "b4587", "b4579", "b4580", "b0542", "b0553", "b4570", "b4492", "b4582",
    "b4571", "b4498", "b2190", "b3046", "b4569", "b3443", "b3504", "b4623",
}  # fmt: skip


@pytest.fixture(scope="module")
def lambda_record() -> GenBankRecord:
    (record,) = read_genbank(LAMBDA)
    return record


@pytest.fixture(scope="module")
def ecoli_record() -> GenBankRecord:
    (record,) = read_genbank(ECOLI)
    return record


# --------------------------------------------------------------------------------------------
# brute-force references
# --------------------------------------------------------------------------------------------


def occurrences(cds: CDS, pos: int) -> list[int]:
    """Indices k (transcription order) at which ``cds`` reads genome position ``pos``."""
    return [int(k) for k in np.flatnonzero(cds.genome_position_map() == pos)]


def reference_codon_position(cds_list: list[CDS], pos: int) -> int:
    for cds in cds_list:
        hits = occurrences(cds, pos)
        if hits:
            return (hits[0] - (cds.codon_start - 1)) % 3 + 1
    return 0


def substitute(genome: str, pos: int, base: str) -> str:
    return genome[:pos] + base + genome[pos + 1 :]


def reference_synonymous(cds_list: list[CDS], genome: str, pos: int) -> set[str]:
    """Substitute, re-translate every covering CDS and compare (plus the documented rules)."""
    covering = [cds for cds in cds_list if occurrences(cds, pos)]
    if not covering:
        return set()
    alternatives = {b for b in "ACGT" if b != genome[pos]}
    for cds in covering:
        original = cds.translate(genome)
        offset, n_codons = cds.codon_start - 1, cds.codon_count()
        exceptions = {index for index, _ in cds.exception_codons()}
        for k in occurrences(cds, pos):
            codon = (k - offset) // 3
            incomplete = k < offset or codon >= n_codons
            unknown = codon < len(original) and original[codon] == "X"
            if incomplete or unknown or codon in exceptions:
                return set()
        alternatives = {
            b for b in alternatives if cds.translate(substitute(genome, pos, b)) == original
        }
    return alternatives


# --------------------------------------------------------------------------------------------
# lambda
# --------------------------------------------------------------------------------------------


def test_lambda_parses(lambda_record: GenBankRecord) -> None:
    assert lambda_record.name == "NC_001416.1"
    assert len(lambda_record.sequence) == 48_502
    assert len(lambda_record.cds) == 73
    assert set(lambda_record.sequence) == set("ACGTN")
    assert not lambda_record.circular
    strands = {cds.strand for cds in lambda_record.cds}
    assert strands == {1, -1}
    assert all(cds.transl_table == 11 and cds.codon_start == 1 for cds in lambda_record.cds)


def test_lambda_translations(lambda_record: GenBankRecord) -> None:
    genome = lambda_record.sequence
    mismatched = {}
    for cds in lambda_record.cds:
        ours = cds.translate(genome)
        if ours != cds.translation:
            diffs = [
                i for i, (a, b) in enumerate(zip(ours, cds.translation, strict=True)) if a != b
            ]
            assert len(diffs) == 1 and ours[diffs[0]] == "X"
            mismatched[cds.locus_tag] = (diffs[0], cds.translation[diffs[0]])
    assert mismatched == LAMBDA_N_CODONS


def test_lambda_coding_sequence_matches_biopython(lambda_record: GenBankRecord) -> None:
    features = [f for f in SeqIO.read(LAMBDA, "genbank").features if f.type == "CDS"]
    genome = lambda_record.sequence
    for cds, feature in zip(lambda_record.cds, features, strict=True):
        assert cds.coding_sequence(genome) == str(feature.extract(genome)).upper()
        assert cds.coding_sequence(genome) == cds.coding_codes(genome).tobytes().decode()


def test_lambda_codon_positions_whole_genome(lambda_record: GenBankRecord) -> None:
    expected = np.zeros(len(lambda_record.sequence), dtype=np.int8)
    coverage = np.zeros(len(lambda_record.sequence), dtype=np.int16)
    for cds in reversed(lambda_record.cds):  # first CDS in file order wins
        for k, pos in enumerate(cds.genome_position_map()):
            expected[pos] = k % 3 + 1
            coverage[pos] += 1
    annotation = lambda_record.annotation
    np.testing.assert_array_equal(annotation.codon_positions, expected)
    np.testing.assert_array_equal(annotation.coverage, coverage)
    assert int((annotation.coverage > 1).sum()) > 0  # lambda has overlapping genes


def sample_positions(record: GenBankRecord, n: int, seed: int) -> list[int]:
    """Random positions: n from plus-strand CDS, n from minus-strand CDS, n anywhere."""
    rng = random.Random(seed)
    plus = [c for c in record.cds if c.strand > 0]
    minus = [c for c in record.cds if c.strand < 0]
    picks = []
    for group in (plus, minus):
        for _ in range(n):
            cds = rng.choice(group)
            picks.append(int(rng.choice(cds.genome_position_map())))
    picks += [rng.randrange(len(record.sequence)) for _ in range(n)]
    return picks


def test_lambda_codon_position_random(lambda_record: GenBankRecord) -> None:
    annotation = lambda_record.annotation
    for pos in sample_positions(lambda_record, 150, seed=1):
        covering = [c for c in lambda_record.cds if occurrences(c, pos)]
        assert annotation.cds_at(pos) == covering
        assert annotation.is_coding(pos) == bool(covering)
        assert annotation.codon_position(pos) == reference_codon_position(covering, pos)


def test_lambda_synonymous_random(lambda_record: GenBankRecord) -> None:
    annotation = lambda_record.annotation
    genome = lambda_record.sequence
    seen_minus = seen_plus = 0
    for pos in sample_positions(lambda_record, 120, seed=2):
        expected = reference_synonymous(lambda_record.cds, genome, pos)
        assert annotation.synonymous_alternatives(pos) == expected, pos
        strands = {c.strand for c in annotation.cds_at(pos)}
        seen_plus += expected != set() and 1 in strands
        seen_minus += expected != set() and -1 in strands
    assert seen_plus > 20 and seen_minus > 20


def test_lambda_synonymous_mask_by_codon_position(lambda_record: GenBankRecord) -> None:
    annotation = lambda_record.annotation
    mask = annotation.synonymous_mask
    single = annotation.coverage == 1
    rate = [mask[single & (annotation.codon_positions == p)].any(axis=1).mean() for p in (1, 2, 3)]
    assert rate[2] > 0.6 > rate[0] > 0.02 > rate[1] > 0.0
    stop_codons = set()  # only stops (TAA <-> TGA) have a synonymous second position
    for cds in lambda_record.cds:
        stop_codons.update(cds.genome_position_map()[-3:].tolist())
    second = np.flatnonzero((annotation.codon_positions == 2) & mask.any(axis=1))
    assert set(second.tolist()) <= stop_codons
    assert not mask[annotation.coverage == 0].any()
    ref = np.frombuffer(lambda_record.sequence.encode(), dtype=np.uint8)
    for i, base in enumerate("ACGT"):
        assert not mask[ref == ord(base), i].any()  # the reference base is never listed


def test_lambda_near_n_has_no_alternatives(lambda_record: GenBankRecord) -> None:
    annotation = lambda_record.annotation
    for pos in (20660, 47316):
        assert lambda_record.sequence[pos] == "N"
        assert annotation.is_coding(pos)
        assert annotation.synonymous_alternatives(pos) == set()


def test_genbank_genome_source() -> None:
    genome = GenBankGenome(LAMBDA)
    assert genome.contigs == {"NC_001416.1": 48_502}
    assert genome.fetch("NC_001416.1", 0, 12) == "GGGCGGCGACCT"
    assert genome.fetch("NC_001416.1", 0, 4, strand="-") == "GCCC"
    assert genome.annotation("NC_001416.1") is genome.records[0].annotation
    assert not genome.fetch_mask("NC_001416.1", 0, 100).any()
    with pytest.raises(InputError, match="no record named 'chr1'"):
        genome.annotation("chr1")
    with pytest.raises(InputError, match="position 48502 is outside"):
        genome.annotation("NC_001416.1").codon_position(48_502)


# --------------------------------------------------------------------------------------------
# E. coli
# --------------------------------------------------------------------------------------------


@needs_ecoli
def test_ecoli_parses(ecoli_record: GenBankRecord) -> None:
    assert ecoli_record.name == "NC_000913.3"
    assert len(ecoli_record.sequence) == 4_641_652
    assert len(ecoli_record.cds) == 4_315
    assert ecoli_record.circular


@needs_ecoli
def test_ecoli_every_translation(ecoli_record: GenBankRecord) -> None:
    genome = ecoli_record.sequence
    failed = {c.locus_tag for c in ecoli_record.cds if c.translate(genome) != c.translation}
    assert failed == ECOLI_PSEUDO_WITHOUT_TRANSLATION
    pseudo = {c.locus_tag for c in ecoli_record.cds if c.pseudo}
    assert pseudo == ECOLI_PSEUDO_WITHOUT_TRANSLATION
    assert all(c.translation is None for c in ecoli_record.cds if c.pseudo)


@needs_ecoli
def test_ecoli_recoded_genes(ecoli_record: GenBankRecord) -> None:
    by_gene = {c.gene: c for c in ecoli_record.cds}
    genome = ecoli_record.sequence
    for gene in ("fdhF", "fdnG", "fdoG"):  # selenocysteine at a TGA codon
        cds = by_gene[gene]
        ((index, amino),) = cds.exception_codons()
        assert amino == "U" and cds.translate(genome)[index] == "U"
        assert cds.coding_sequence(genome)[3 * index : 3 * index + 3] == "TGA"
        sec_codon = cds.genome_position_map()[3 * index : 3 * index + 3]
        for pos in sec_codon:
            assert ecoli_record.annotation.synonymous_alternatives(int(pos)) == set()
    for gene, shift in (("prfB", +1), ("dnaX", -1), ("copA", -1)):  # ribosomal slippage
        cds = by_gene[gene]
        positions = cds.genome_position_map()
        assert len(cds.parts) == 2
        # +1 frameshift: one base skipped between the parts; -1: one base read twice
        span = positions.max() - positions.min() + 1
        assert span - len(np.unique(positions)) == max(shift, 0)
        assert len(positions) - len(np.unique(positions)) == max(-shift, 0)
        assert cds.translate(genome) == cds.translation


@needs_ecoli
def test_ecoli_synonymous_random(ecoli_record: GenBankRecord) -> None:
    annotation = ecoli_record.annotation
    genome = ecoli_record.sequence
    by_gene = {c.gene: c for c in ecoli_record.cds}
    slippage = [by_gene[g].parts[0][1] - 1 for g in ("dnaX",)] + [by_gene["copA"].parts[1][1] - 1]
    for pos in sample_positions(ecoli_record, 25, seed=3) + slippage:
        covering = annotation.cds_at(pos)
        assert annotation.synonymous_alternatives(pos) == reference_synonymous(
            covering, genome, pos
        ), pos
        assert annotation.codon_position(pos) == reference_codon_position(covering, pos)


# --------------------------------------------------------------------------------------------
# a synthetic circular genome: origin-spanning joins, overlaps, exceptions, partial CDS
# --------------------------------------------------------------------------------------------

SYNTHETIC_CDS = [
    # origin-spanning, GTG start: GTG AAA | CCC GGG TAA -> MKPG
    ("join(55..60,1..9)", 'gene="a"\ncodon_start=1'),
    # minus strand join, transcribed 30..35 first... revcomp of CTAAAA+CCACAT: ATG TGG TTT TAG
    ("complement(join(20..25,30..35))", 'gene="b"'),
    # minus strand, overlapping "a" on the other strand
    ("complement(3..11)", 'gene="c"'),
    # selenocysteine: ATG TGA TAA -> MU
    ("40..48", 'gene="d"\ntransl_except=(pos:43..45,aa:Sec)'),
    # 5'-partial, codon_start=3: skip AC, TTG -> L (not M: not an initiation codon)
    ("<50..54", 'gene="e"\ncodon_start=3'),
    # minus strand crossing the origin
    ("complement(join(58..60,1..6))", 'gene="f"'),
]


def synthetic_sequence() -> str:
    seq = list("T" * 60)
    for start, text in ((54, "GTGAAA"), (0, "CCCGGGTAA"), (19, "CTAAAA"), (29, "CCACAT")):
        seq[start : start + len(text)] = text
    seq[39:48] = "ATGTGATAA"
    seq[49:54] = "ACTTG"
    seq[9:11] = "GC"
    return "".join(seq)


def genbank_text(
    name: str, seq: str, features: list[tuple[str, str]], topology: str = "circular"
) -> str:
    lines = [
        f"LOCUS       {name:<16}{len(seq):>12} bp    DNA     {topology:<8} BCT 01-JAN-2000",
        "DEFINITION  synthetic test record.",
        f"ACCESSION   {name}",
        f"VERSION     {name}.1",
        "FEATURES             Location/Qualifiers",
    ]
    for location, qualifiers in features:
        lines.append(f"     CDS             {location}")
        lines += [f"                     /{q}" for q in qualifiers.split("\n")]
        lines.append("                     /transl_table=11")
    lines.append("ORIGIN")
    for i in range(0, len(seq), 60):
        blocks = " ".join(seq[j : j + 10].lower() for j in range(i, min(i + 60, len(seq)), 10))
        lines.append(f"{i + 1:>9} {blocks}")
    lines.append("//")
    return "\n".join(lines) + "\n"


@pytest.fixture()
def synthetic_path(tmp_path: Path) -> Path:
    path = tmp_path / "synthetic.gbk"
    path.write_text(genbank_text("SYN", synthetic_sequence(), SYNTHETIC_CDS))
    return path


@pytest.fixture()
def synthetic(synthetic_path: Path) -> GenBankRecord:
    (record,) = read_genbank(synthetic_path)
    return record


def test_synthetic_locations(synthetic: GenBankRecord) -> None:
    a, b, c, d, e, f = synthetic.cds
    assert (a.parts, a.strand) == ([(54, 60), (0, 9)], 1)
    assert (b.parts, b.strand) == ([(29, 35), (19, 25)], -1)
    assert (f.parts, f.strand) == ([(0, 6), (57, 60)], -1)
    assert a.genome_position_map().tolist() == [54, 55, 56, 57, 58, 59, *range(9)]
    assert f.genome_position_map().tolist() == [5, 4, 3, 2, 1, 0, 59, 58, 57]
    assert e.partial_5prime and e.codon_start == 3
    assert d.transl_except == [(42, "U")]


def test_synthetic_matches_biopython_extract(
    synthetic_path: Path, synthetic: GenBankRecord
) -> None:
    features = [f for f in SeqIO.read(synthetic_path, "genbank").features if f.type == "CDS"]
    for cds, feature in zip(synthetic.cds, features, strict=True):
        assert cds.coding_sequence(synthetic.sequence) == str(feature.extract(synthetic.sequence))


def test_synthetic_translations(synthetic: GenBankRecord) -> None:
    genome = synthetic.sequence
    a, b, c, d, e, f = synthetic.cds
    assert a.coding_sequence(genome) == "GTGAAACCCGGGTAA"
    assert a.translate(genome) == "MKPG"
    assert b.coding_sequence(genome) == "ATGTGGTTTTAG"
    assert b.translate(genome) == "MWF"
    assert d.translate(genome) == "MU"
    assert e.translate(genome) == "L"
    assert c.coding_sequence(genome) == "GCTTACCCG"
    assert f.coding_sequence(genome) == "CCCGGGTTT"
    assert f.translate(genome) == "PGF"


def test_synthetic_annotation_brute_force(synthetic: GenBankRecord) -> None:
    annotation = synthetic.annotation
    genome = synthetic.sequence
    for pos in range(len(genome)):
        covering = [c for c in synthetic.cds if occurrences(c, pos)]
        assert annotation.cds_at(pos) == covering
        assert annotation.codon_position(pos) == reference_codon_position(covering, pos)
        assert annotation.synonymous_alternatives(pos) == reference_synonymous(
            synthetic.cds, genome, pos
        ), pos
    assert annotation.codon_position(0) == 1  # 'a' (file order) wins over 'c' and 'f'
    assert annotation.synonymous_alternatives(54) == {"A", "C", "T"}  # GTG start: any NTG
    assert annotation.synonymous_alternatives(49) == set()  # incomplete codon of 'e'
    assert annotation.synonymous_alternatives(42) == set()  # the Sec codon


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

SMALL_SEQ = "ATGAAATAGAAAAAAAAAAAAAAAATGAAA"


def small_record(name: str = "TEST1", seq: str = SMALL_SEQ) -> str:
    return genbank_text(name, seq, [("1..9", 'gene="x"')], topology="linear")


def assert_input_error(path: Path, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        read_genbank(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_small_record_reads(tmp_path: Path) -> None:
    (record,) = read_genbank(write_file(tmp_path, "ok.gbk", small_record()))
    assert record.name == "TEST1.1" and record.sequence == SMALL_SEQ
    assert record.cds[0].translate(record.sequence) == "MK"


def test_gzipped_small_record(tmp_path: Path) -> None:
    path = write_file(tmp_path, "ok.gb", gzip.compress(small_record().encode()))
    assert read_genbank(path)[0].sequence == SMALL_SEQ


def test_missing_file(tmp_path: Path) -> None:
    assert_input_error(tmp_path / "absent.gbk", "no such file")


def test_empty_file(tmp_path: Path) -> None:
    assert_input_error(write_file(tmp_path, "empty.gbk", "\n\n"), "empty file")
    assert_input_error(write_file(tmp_path, "empty.gbk.gz", gzip.compress(b"")), "empty file")


def test_not_genbank(tmp_path: Path) -> None:
    assert_input_error(write_file(tmp_path, "seq.gbk", ">chr1\nACGT\n"), "not a GenBank file")


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(LAMBDA.read_bytes())
    path = write_file(tmp_path, "cut.gbk.gz", data[: len(data) // 2])
    assert_input_error(path, "truncated or corrupt gzip")


def test_truncated_genbank(tmp_path: Path) -> None:
    text = small_record()
    assert_input_error(write_file(tmp_path, "cut.gbk", text[: text.index("//") - 20]), "truncated")


def test_record_without_sequence(tmp_path: Path) -> None:
    head = small_record().split("ORIGIN")[0]
    assert_input_error(write_file(tmp_path, "e.gbk", head + "ORIGIN\n//\n"), "'TEST1.1' has no seq")
    contig = head + "CONTIG      join(ABC01000001.1:1..30)\n//\n"
    assert_input_error(write_file(tmp_path, "c.gbk", contig), "'TEST1.1' has no sequence")


def test_invalid_character(tmp_path: Path) -> None:
    bad = SMALL_SEQ[:5] + "J" + SMALL_SEQ[6:]
    path = write_file(tmp_path, "bad.gbk", small_record(seq=bad))
    assert_input_error(path, r"record 'TEST1.1', position 6: invalid character 'J'")
    with pytest.raises(InputError, match="position 6"):
        ambiguous = small_record(seq=SMALL_SEQ[:5] + "R" + bad[6:])
        read_genbank(write_file(tmp_path, "amb.gbk", ambiguous), ambiguous="error")


def test_duplicate_record_names(tmp_path: Path) -> None:
    path = write_file(tmp_path, "dup.gbk", small_record() + small_record())
    assert_input_error(path, "duplicate record name 'TEST1.1'")


def test_cds_outside_sequence(tmp_path: Path) -> None:
    text = small_record().replace("1..9", "3..40")
    assert_input_error(write_file(tmp_path, "out.gbk", text), "outside the 30 bp")
