"""Fuzzing the readers and the CLI (bounded, derandomized: the CI version).

The strategies and properties are in ``tests/fuzz_strategies.py``: every reader returns or
raises a one-line InputError naming the file, every ``bioseq`` command exits 0 or exits 2 with
one ``bioseq: error:`` line (or click's usage message), never a traceback, and valid inputs read
back as they were written. ``benchmarks/fuzz.py`` runs the same properties on many more cases.
"""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from tests import fuzz_strategies as fz
from tests.fuzz_strategies import Case


def ci(examples: int):
    """Bounded, reproducible hypothesis settings for CI. No shrinking (it can take minutes):
    a failing case is printed as found; ``benchmarks/fuzz.py`` keeps the smallest of each."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        print_blob=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]  # hypothesis runs


# -- cases the fuzzer found (kept as explicit examples) -----------------------------------------

# A FASTA file starting with a ';' comment line: iter_fasta and Genome read it, `bioseq info`
# and `bioseq fetch` said "expected a FASTA header '>'..." (detect_format; fixed).
COMMENT_FASTA = Case(
    {"genome.fa": b";a comment\n>a\nACGT\n"},
    expected=[("a", "", "ACGT")],
    args={
        "slices": [("a", 1, 3, "-")],
        "flags": [],
        "stdin": False,
        "regions": ["a:2-3"],
        "wanted": [("a", 1, 3)],
        "strand": "+",
        "width": 60,
    },
)
# A gzip FASTA whose first deflate byte is damaged: zlib.error from head_lines (fixed).
_GZ = bytearray(gzip.compress(b">a\n" + b"ACGTTGCAAC" * 30 + b"\n", mtime=0))
_GZ[10] ^= 1
BAD_DEFLATE = Case({"genome.fa.gz": bytes(_GZ)}, "flip@10", args={"flags": [], "stdin": False})
# A GenBank feature whose first qualifier line lacks its '/': Biopython's scanner raises a bare
# AssertionError, which read_genbank let through (fixed: any parser failure is one line).
BAD_QUALIFIER = Case(
    {
        "genome.gbk": (
            b"LOCUS       R                          9 bp    DNA              UNK 01-JAN-1980\n"
            b"DEFINITION  x.\nACCESSION   R\nVERSION     R.1\n"
            b"FEATURES             Location/Qualifiers\n"
            b"     CDS             1..9\n                     -locus_tag=t\nORIGIN\n"
            b"        1 atgaaatag\n//\n"
        )
    },
    "no_slash",
    args={
        "flags": [],
        "stdin": False,
        "regions": ["R.1"],
        "wanted": [None],
        "strand": "+",
        "width": 60,
    },
)
# Mutation tables that are not UTF-8, or hold an unclosed quote (csv then joins lines, and
# score_mutations' zip(rows, lines, strict=True) raised ValueError; fixed in mutations.py).
_TABLE_ARGS = {
    "wildtype": "MHK",
    "model": "site-independent",
    "wildtype_as": "sequence",
    "score_col": "score",
    "mutant_col": "mutant",
    "offset": None,
    "threshold": None,
}
_A2M = b">WT/1-3\nMHK\n>h\nMHR\n"
NOT_UTF8_TABLE = Case(
    {"dms.csv": b"mutant,score\nH2C,0.5\xff\n", "wt.fa": b">WT\nMHK\n", "family.a2m": _A2M},
    "non_utf8",
    args=_TABLE_ARGS,
)
UNCLOSED_QUOTE_TABLE = Case(
    {"dms.csv": b'mutant,score\n"H2C,0.5\nK3A,1\n', "wt.fa": b">WT\nMHK\n", "family.a2m": _A2M},
    "quote",
    args=_TABLE_ARGS,
)


# An empty YAML config (AttributeError: node is None) and a bad !!timestamp (PyYAML's
# constructor raises AttributeError): tracebacks in load_yaml, fixed in train/config.py.
EMPTY_YAML = Case({"run.yaml": b""}, "empty")
BAD_TIMESTAMP_YAML = Case({"run.yaml": b"out: !!timestamp x\n"}, "yaml_tagged")


# -- readers ----------------------------------------------------------------------------------


@ci(150)
@given(case=fz.fasta_cases())
def test_fasta_reader(case):
    fz.run_known("fasta", fz.check_fasta_reader, case)


@ci(120)
@example(case=BAD_QUALIFIER)
@given(case=fz.genbank_cases())
def test_genbank_reader(case):
    fz.run_known("genbank", fz.check_genbank_reader, case)


@ci(150)
@given(case=fz.vcf_cases())
def test_vcf_reader(case):
    fz.run_known("vcf", fz.check_vcf_reader, case)


@ci(150)
@example(case=NOT_UTF8_TABLE)
@example(case=UNCLOSED_QUOTE_TABLE)
@given(case=fz.table_cases())
def test_mutation_table_reader(case):
    fz.run_known("mutation-table", fz.check_table_reader, case)


@ci(80)
@given(case=fz.table_cases())
def test_alignment_reader(case):
    fz.run_known("alignment", fz.check_alignment_reader, case)


@ci(150)
@example(case=EMPTY_YAML)
@example(case=BAD_TIMESTAMP_YAML)
@given(case=fz.yaml_cases())
def test_yaml_config(case):
    fz.run_known("yaml-config", fz.check_yaml_reader, case)


# -- the CLI ----------------------------------------------------------------------------------


@ci(100)
@example(case=COMMENT_FASTA)
@example(case=BAD_DEFLATE)
@example(case=BAD_QUALIFIER)
@given(case=fz.info_cases())
def test_cli_info(case):
    fz.run_known("cli-info", fz.check_info, case)


@ci(100)
@example(case=COMMENT_FASTA)
@example(case=BAD_QUALIFIER)
@given(case=fz.fetch_cases())
def test_cli_fetch(case):
    fz.run_known("cli-fetch", fz.check_fetch, case)


@ci(60)
@given(case=fz.score_vcf_cases())
def test_cli_score_vcf(case):
    fz.run_known("cli-score-vcf", fz.check_score_vcf, case)


@ci(60)
@example(case=NOT_UTF8_TABLE)
@example(case=UNCLOSED_QUOTE_TABLE)
@given(case=fz.score_mutations_cases())
def test_cli_score_mutations(case):
    fz.run_known("cli-score-mutations", fz.check_score_mutations, case)


@ci(80)
@given(case=fz.snv_cases())
def test_cli_make_snv_vcf(case):
    fz.run_known("cli-make-snv-vcf", fz.check_make_snv_vcf, case)


@ci(100)
@example(case=EMPTY_YAML)
@example(case=BAD_TIMESTAMP_YAML)
@given(case=fz.yaml_cases())
def test_cli_pretrain_config(case):
    fz.run_known("cli-pretrain-config", fz.check_pretrain_config, case)


# -- cases the fuzzer found in scoring and training code (fixed; kept as regressions) ---------

_VCF_TEXT = (
    b"##fileformat=VCFv4.2\n##contig=<ID=1,length=10>\n"
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t2\t.\tA\tC\t.\t.\t.\n"
)


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


def _score_vcf_case(vcf: bytes) -> Case:
    return Case(
        {"genome.fa": b">1\nACGTACGTAC\n", "calls.bcf": vcf},
        "bcf:flip",
        args={
            "out": "out.tsv",
            "window": 16,
            "strand": "forward",
            "reduce": "mean",
            "batch_size": 1,
            "window_step": 1,
        },
    )


_BCF = fz.to_bcf(_VCF_TEXT)
FOUND = [
    # a damaged BCF: pysam's ValueError ('invalid file') escaped read_vcf (its gzip FLG byte)
    pytest.param(fz.check_vcf_reader, Case({"calls.bcf": _flip(_BCF, 3)}, "bcf:flip@3"),
                 id="vcf-bcf-gzip-flags"),
    # ... and NotImplementedError ('seek not implemented') when its BGZF 'BC' field is damaged
    pytest.param(fz.check_vcf_reader, Case({"calls.bcf": _flip(_BCF, 12)}, "bcf:flip@12"),
                 id="vcf-bcf-extra-field"),
    pytest.param(fz.check_score_vcf, _score_vcf_case(_flip(_BCF, 3)),
                 id="score-vcf-bcf-gzip-flags"),
    # YAML lists of the right type but wrong items, and numbers too large for a float: float()
    # raised ValueError / TypeError / OverflowError in TrainConfig's type check
    pytest.param(fz.check_yaml_reader, Case({"run.yaml": b"betas: [a, b]\n"}, "v"),
                 id="yaml-betas-strings"),
    pytest.param(fz.check_yaml_reader, Case({"run.yaml": b"betas: [{x: 1}, 2]\n"}, "v"),
                 id="yaml-betas-dict"),
    pytest.param(fz.check_pretrain_config,
                 Case({"run.yaml": b"lr: 1" + b"0" * 400 + b"\n"}, "v"),
                 id="pretrain-config-huge-lr"),
]  # fmt: skip


@pytest.mark.parametrize(("check", "case"), FOUND)
def test_found_cases(check, case):
    """Each case the fuzzer once failed on, now a result or a one-line error (the check
    raises otherwise)."""
    fz.run_case(check, case)
