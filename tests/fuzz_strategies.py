"""Fuzzing bioseq's readers and CLI: hypothesis strategies and the properties they must keep.

Shared by ``tests/test_fuzz.py`` (the bounded run in CI) and ``benchmarks/fuzz.py`` (the long
run). Each target in :data:`TARGETS` pairs a strategy of :class:`Case` (files to write, valid
or broken, and what a valid one holds) with a check ``check(case, folder) -> outcome`` that
writes the files into an empty ``folder``, runs a reader or a ``bioseq`` command on them and
returns ``"ok"``, ``"error"`` (a one-line :class:`~bioseq.errors.InputError` / ``bioseq:
error:`` exit 2) or ``"usage"`` (click's own usage error, exit 2). Anything else fails the
property: another exception (a traceback; re-raised as it was, with a note naming the case), an
error message over several lines or not naming its file, another exit code, or a valid input
that does not read back as it was written.

Broken inputs are valid ones damaged by :func:`corrupt` (truncated at a random byte, flipped,
inserted or deleted bytes, NUL and non-UTF-8 bytes, duplicated/dropped/swapped lines, mixed line
endings, binary garbage, an empty file), compressed before or after the damage (so gzip and
BGZF streams get truncated and flipped too), plus format-specific breakage: wrong FASTA line
widths and duplicate names, missing VCF columns, unclosed quotes in tables and YAML, wrong types
and unknown keys in configs, odd command-line values.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import dataclasses
import functools
import gzip
import io
import json
import shutil
import string
import tempfile
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import strategies as st

from bioseq.errors import InputError

# -- cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    """Files to write (name -> bytes), how they were made, and what a valid case holds."""

    files: dict[str, bytes]
    how: str = "valid"  # "valid", or the damage done ("truncate@12", "flip", ...)
    expected: Any = None  # valid cases: the content the readers must give back
    args: dict[str, Any] = field(default_factory=dict)  # per-case parameters (regions...)

    @property
    def valid(self) -> bool:
        return self.how == "valid"

    @property
    def main(self) -> str:
        """The file the reader or command is given (the first; others lie beside it)."""
        return next(iter(self.files))

    def write(self, folder: Path) -> dict[str, Path]:
        paths = {}
        for name, data in self.files.items():
            path = folder / name
            path.write_bytes(data)
            paths[name] = path
        return paths


# -- damage -----------------------------------------------------------------------------------

NON_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xe2\x82", b"\x80", b"\xed\xa0\x80"]
CORRUPTIONS = (
    "truncate", "flip", "insert", "delete", "nul", "non_utf8", "dup_line", "drop_line",
    "swap_lines", "crlf_line", "garbage", "empty",
)  # fmt: skip


@st.composite
def corrupt(draw, data: bytes) -> tuple[bytes, str]:
    """``data`` damaged one way (drawn), and a short name of the damage."""
    kind = draw(st.sampled_from(CORRUPTIONS))
    n = len(data)
    if kind == "empty" or (n == 0 and kind != "garbage"):
        return b"", "empty"
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=300)), "garbage"
    at = draw(st.integers(0, n - 1))
    if kind == "truncate":
        return data[:at], f"truncate@{at}"
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, n - 1))
            out[i] ^= draw(st.integers(1, 255))
        return bytes(out), "flip"
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:], f"insert@{at}"
    if kind == "delete":
        size = draw(st.integers(1, max(1, min(16, n - at))))
        return data[:at] + data[at + size :], f"delete@{at}+{size}"
    if kind == "nul":
        return data[:at] + b"\x00" + data[at:], f"nul@{at}"
    if kind == "non_utf8":
        return data[:at] + draw(st.sampled_from(NON_UTF8)) + data[at:], f"non_utf8@{at}"
    lines = data.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "dup_line":
        lines.insert(i, lines[i])
    elif kind == "drop_line":
        del lines[i]
    elif kind == "swap_lines":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    else:  # crlf_line: one line gets the other line ending
        line = lines[i]
        if line.endswith(b"\r\n"):
            lines[i] = line[:-2] + b"\n"
        elif line.endswith(b"\n"):
            lines[i] = line[:-1] + b"\r\n"
        else:
            lines[i] = line + b"\r\n"
    return b"".join(lines), f"{kind}#{i + 1}"


class _Unclosable(io.BytesIO):
    def close(self) -> None:  # BgzfWriter.close() closes its handle; keep the bytes
        pass


def bgzip(data: bytes, block: int | None = None) -> bytes:
    """BGZF-compress ``data`` (Bio.bgzf), in blocks of ``block`` bytes when given (so small
    files still span several BGZF blocks)."""
    from Bio import bgzf

    buffer = _Unclosable()
    writer = bgzf.BgzfWriter(fileobj=buffer)
    step = block or 65536
    for i in range(0, len(data), step):
        writer.write(data[i : i + step])
        writer.flush()
    writer.close()
    return buffer.getvalue()


def compress(data: bytes, kind: str, block: int | None = None) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "bgzf":
        return bgzip(data, block)
    return data


@st.composite
def packed(draw, data: bytes, kinds=("plain", "gzip", "bgzf"), valid: bool | None = None):
    """``(bytes, how, compression)``: ``data`` compressed (one of ``kinds``), and either left
    valid or damaged before or after the compression."""
    kind = draw(st.sampled_from(kinds))
    block = draw(st.sampled_from([None, 7, 64, 1000])) if kind == "bgzf" else None
    if valid is None:
        valid = draw(st.integers(0, 9)) < 4  # 40% valid
    if valid:
        return compress(data, kind, block), "valid", kind
    if kind != "plain" and draw(st.booleans()):
        damaged, how = draw(corrupt(compress(data, kind, block)))
        return damaged, f"{kind}:{how}", kind
    damaged, how = draw(corrupt(data))
    return compress(damaged, kind, block), how, kind


def _suffix(kind: str) -> str:
    return "" if kind == "plain" else ".gz"


# -- FASTA ------------------------------------------------------------------------------------

NAME_CHARS = string.ascii_letters + string.digits + "_.|-"
NAMES = st.text(alphabet=NAME_CHARS, min_size=1, max_size=12)
WORDS = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8), max_size=3
).map(" ".join)
IUPAC = "RYSWKMBDHV"
DNA_CHARS = st.sampled_from("ACGTNacgtn") | st.sampled_from(IUPAC + IUPAC.lower())
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def dna_norm(seq: str) -> str:
    """What bioseq's DNA normalisation makes of ``seq`` (IUPAC codes become N)."""
    return "".join(c if c in "ACGTN" else "N" for c in seq.upper())


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


@st.composite
def fasta_text(draw, max_contigs: int = 4, max_len: int = 200, chars=DNA_CHARS):
    """A valid FASTA file (bytes) and ``[(name, description, sequence)]``."""
    names = draw(st.lists(NAMES, min_size=1, max_size=max_contigs, unique=True))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    out, records = [], []
    if draw(st.integers(0, 9)) == 0:
        out.append(f";a comment line{newline}")
    for name in names:
        seq = "".join(draw(st.lists(chars, min_size=1, max_size=max_len)))
        description = draw(WORDS)
        width = draw(st.integers(1, 80))
        out.append(f">{name}{' ' + description if description else ''}{newline}")
        out.extend(seq[i : i + width] + newline for i in range(0, len(seq), width))
        records.append((name, description, seq))
    text = "".join(out)
    if not draw(st.booleans()):
        text = text[: -len(newline)]  # no newline at the end of the file
    return text.encode(), records


@st.composite
def fasta_layout_damage(draw, records) -> tuple[bytes, str]:
    """FASTA-specific breakage: a wrong line width, a duplicate name, an empty record, a
    header with no name, an invalid character, a blank line inside a sequence."""
    kind = draw(
        st.sampled_from(
            ["width", "duplicate", "empty_record", "no_name", "bad_char", "blank_inside"]
        )
    )
    records = [list(r) for r in records]
    k = draw(st.integers(0, len(records) - 1))
    lines_of: dict[int, list[str]] = {}
    for i, (_name, _desc, seq) in enumerate(records):
        width = draw(st.integers(1, 20))
        lines_of[i] = [seq[j : j + width] for j in range(0, len(seq), width)]
    if kind == "width":
        seq = records[k][2] + "ACGT" * 5
        lines_of[k] = [seq[:3], seq[3:10], seq[10:]]
    elif kind == "duplicate":
        records.append(list(records[k]))
        lines_of[len(records) - 1] = lines_of[k]
    elif kind == "empty_record":
        lines_of[k] = []
    elif kind == "no_name":
        records[k][0] = ""
    elif kind == "bad_char":
        bad = draw(st.sampled_from(list("JOXZ*-. 0@é")))
        line = lines_of[k][0]
        lines_of[k][0] = line[: len(line) // 2] + bad + line[len(line) // 2 :]
    else:
        lines_of[k] = lines_of[k][:1] + [""] + lines_of[k][1:] + ["ACGT"]
    text = "".join(
        f">{name}{' ' + desc if desc else ''}\n" + "".join(line + "\n" for line in lines_of[i])
        for i, (name, desc, _seq) in enumerate(records)
    )
    return text.encode(), kind


def _fai(data: bytes) -> bytes:
    """The .fai index samtools would write for a plain FASTA file (when it is indexable)."""
    rows, offset, name, length, first = [], 0, None, 0, None
    for line in data.splitlines(keepends=True):
        if line.startswith(b">"):
            if name is not None:
                rows.append((name, length, *first))
            name, length, first = line[1:].split()[0].decode(errors="replace"), 0, None
        elif name is not None and line.strip():
            bases = len(line.rstrip(b"\r\n"))
            if first is None:
                first = (offset, bases, len(line))
            length += bases
        offset += len(line)
    if name is not None and first is not None:
        rows.append((name, length, *first))
    return "".join("\t".join(map(str, row)) + "\n" for row in rows).encode()


@st.composite
def fasta_cases(draw, max_contigs: int = 4, max_len: int = 200) -> Case:
    """A FASTA file ``genome.fa[.gz]``, valid (with random slices to fetch) or broken."""
    data, records = draw(fasta_text(max_contigs, max_len))
    roll = draw(st.integers(0, 9))
    if roll < 2:  # FASTA-specific breakage, then any compression
        data, how = draw(fasta_layout_damage(records))
        kind = draw(st.sampled_from(["plain", "gzip", "bgzf"]))
        return Case({f"genome.fa{_suffix(kind)}": compress(data, kind, 64)}, how)
    if roll == 2:  # a valid file beside an index that is not its own (written after it)
        kind = draw(st.sampled_from(["plain", "bgzf"]))
        other, _ = draw(fasta_text(max_contigs, max_len))
        index = draw(st.sampled_from(["other", "garbage", "empty", "short_rows"]))
        fai = {
            "other": _fai(other),
            "garbage": draw(st.binary(max_size=64)),
            "empty": b"",
            "short_rows": b"a\t5\n" + _fai(data),
        }[index]
        name = f"genome.fa{_suffix(kind)}"
        return Case({name: compress(data, kind, 64), f"{name}.fai": fai}, f"fai_{index}")
    blob, how, kind = draw(packed(data))
    case = Case({f"genome.fa{_suffix(kind)}": blob}, how)
    if case.valid:
        case.expected = records
        slices = []
        for _ in range(draw(st.integers(1, 5))):
            name, _, seq = draw(st.sampled_from(records))
            start = draw(st.integers(0, len(seq)))
            end = draw(st.integers(start, len(seq)))
            slices.append((name, start, end, draw(st.sampled_from("+-"))))
        case.args["slices"] = slices
    return case


# -- GenBank ----------------------------------------------------------------------------------


@st.composite
def genbank_records(draw, max_records: int = 2, max_cds: int = 4):
    """Biopython SeqRecords with CDS features, and ``[(id, sequence, circular, cds)]`` with
    ``cds = [(parts in transcription order, strand, locus_tag, codon_start)]``."""
    from Bio.Seq import Seq
    from Bio.SeqFeature import CompoundLocation, SeqFeature, SimpleLocation
    from Bio.SeqRecord import SeqRecord

    names = draw(
        st.lists(
            st.text(alphabet=string.ascii_uppercase + string.digits + "_", min_size=1, max_size=10),
            min_size=1,
            max_size=max_records,
            unique=True,
        )
    )
    records, expected = [], []
    for r, name in enumerate(names):
        seq = "".join(draw(st.lists(st.sampled_from("ACGTNacgt"), min_size=12, max_size=300)))
        features, cds = [], []
        for c in range(draw(st.integers(0, max_cds))):
            n_parts = draw(st.integers(1, 2))
            points = sorted(
                draw(
                    st.lists(
                        st.integers(0, len(seq)),
                        min_size=2 * n_parts,
                        max_size=2 * n_parts,
                        unique=True,
                    )
                )
            )
            parts = [(points[2 * i], points[2 * i + 1]) for i in range(n_parts)]
            strand = draw(st.sampled_from([1, -1]))
            ordered = parts if strand == 1 else parts[::-1]  # transcription order
            locations = [SimpleLocation(s, e, strand) for s, e in ordered]
            location = locations[0] if n_parts == 1 else CompoundLocation(locations)
            tag = f"T{r}_{c}"
            codon_start = draw(st.integers(1, 3))
            qualifiers = {
                "locus_tag": [tag],
                "codon_start": [str(codon_start)],
                "transl_table": ["11"],
            }
            features.append(SeqFeature(location, type="CDS", qualifiers=qualifiers))
            cds.append((ordered, strand, tag, codon_start))
        circular = draw(st.booleans())
        record = SeqRecord(
            Seq(seq),
            id=f"{name}.1",
            name=name,
            description=draw(WORDS) or "a record",
            annotations={"molecule_type": "DNA", "topology": "circular" if circular else "linear"},
            features=features,
        )
        records.append(record)
        expected.append((f"{name}.1", dna_norm(seq), circular, cds))
    return records, expected


def genbank_bytes(records) -> bytes:
    from Bio import SeqIO

    handle = io.StringIO()
    SeqIO.write(records, handle, "genbank")
    return handle.getvalue().encode()


GENBANK_DAMAGE = {
    # (pattern, replacements): the first match of one drawn occurrence is replaced
    "codon_start": (
        rb"/codon_start=\d",
        [b"/codon_start=0", b"/codon_start=4", b"/codon_start=x", b"/codon_start="],
    ),
    "transl_table": (
        rb"/transl_table=11",
        [b"/transl_table=99", b"/transl_table=7", b"/transl_table=abc", b"/transl_table=-1"],
    ),
    "transl_except": (
        rb"/transl_table=11",
        [
            b"/transl_except=(pos:5..7,aa:Sec)",
            b"/transl_except=(pos:complement(5..7),aa:Pyl)",
            b"/transl_except=(pos:999999..1000001,aa:TERM)",
            b"/transl_except=(pos:x,aa:Sec)",
            b"/transl_except=(pos:5..7,aa:Xyz)",
            b"/transl_except=garbage",
        ],
    ),
    "location": (
        rb"\d+\.\.\d+",
        [
            b"0..5",
            b"5..3",
            b"1..99999999",
            b"AB123.1:1..5",
            b"order(1..2,4..5)",
            b"join(",
            b"complement(1..2",
            b"<1..>5",
            b"1^2",
            b"5",
            b"one..two",
            b"1..2,3..4",
        ],
    ),
    "length": (rb"\d+ bp", [b"0 bp", b"999999 bp", b"x bp", b"-5 bp"]),
    "origin": (
        rb"\n {5,9}1 [a-z]",
        [b"\n        1 j", b"\n        1 5", b"\n        1 *", b"\n        x a"],
    ),
    "locus": (rb"LOCUS {7}", [b"LOCUS", b"LOCUS\t", b"LOCUs       "]),
}


@st.composite
def genbank_damage(draw, data: bytes) -> tuple[bytes, str]:
    """GenBank-specific breakage: impossible /codon_start, /transl_table, /transl_except,
    locations (backwards, past the end, remote, unclosed), LOCUS lengths, ORIGIN characters."""
    import re

    kind = draw(st.sampled_from(sorted(GENBANK_DAMAGE)))
    pattern, replacements = GENBANK_DAMAGE[kind]
    matches = list(re.finditer(pattern, data))
    if not matches:
        return draw(corrupt(data))
    match = draw(st.sampled_from(matches))
    new = draw(st.sampled_from(replacements))
    if kind == "transl_except":
        new = match.group(0) + b"\n                     " + new
    return data[: match.start()] + new + data[match.end() :], f"genbank_{kind}"


@st.composite
def genbank_cases(draw) -> Case:
    """A GenBank file ``genome.gbk[.gz]``, valid or broken."""
    records, expected = draw(genbank_records())
    data = genbank_bytes(records)
    if draw(st.integers(0, 9)) < 3:
        data, how = draw(genbank_damage(data))
        kind = draw(st.sampled_from(["plain", "gzip"]))
        return Case({f"genome.gbk{_suffix(kind)}": compress(data, kind)}, how)
    blob, how, kind = draw(packed(data, kinds=("plain", "gzip")))
    return Case({f"genome.gbk{_suffix(kind)}": blob}, how, expected if how == "valid" else None)


# -- VCF --------------------------------------------------------------------------------------

VCF_COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
ALLELES = st.text(alphabet="ACGT", min_size=1, max_size=4)


@st.composite
def vcf_text(draw, genome: dict[str, str] | None = None):
    """A valid VCF (bytes) and its records ``[(chrom, pos, id, ref, alts, dp)]``; with a
    ``genome`` the REF alleles are mostly its bases."""
    if genome is None:
        contigs = draw(
            st.lists(
                st.text(
                    alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=6
                ),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        genome = {c: "A" * draw(st.integers(10, 400)) for c in contigs}
        ref_from_genome = False
    else:
        ref_from_genome = True
    header = ["##fileformat=VCFv4.2"]
    header += [f"##contig=<ID={c},length={len(s)}>" for c, s in genome.items()]
    header.append('##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">')
    header.append(VCF_COLUMNS)
    lines, records = [], []
    for i in range(draw(st.integers(0, 8))):
        chrom = draw(st.sampled_from(sorted(genome)))
        seq = genome[chrom]
        pos = draw(st.integers(1, len(seq)))
        if ref_from_genome and draw(st.integers(0, 9)) < 8:
            ref = seq[pos - 1 : pos - 1 + draw(st.integers(1, 3))]
            ref = "".join(c if c in "ACGT" else "A" for c in ref)
        else:
            ref = draw(ALLELES)
        alts = tuple(
            draw(st.lists(ALLELES.filter(lambda a, r=ref: a != r), max_size=3, unique=True))
        )
        ident = draw(st.sampled_from([None, f"rs{i}"]))
        dp = draw(st.none() | st.integers(0, 10_000))
        qual = draw(st.sampled_from([".", "30", "99.5"]))
        info = "." if dp is None else f"DP={dp}"
        lines.append(
            f"{chrom}\t{pos}\t{ident or '.'}\t{ref}\t{','.join(alts) or '.'}\t{qual}\t"
            f"{draw(st.sampled_from(['PASS', '.']))}\t{info}"
        )
        records.append((chrom, pos, ident, ref, alts, dp))
    return ("\n".join(header + lines) + "\n").encode(), records


@st.composite
def vcf_damage(draw, data: bytes) -> tuple[bytes, str]:
    """VCF-specific breakage of one data line: a missing column, a POS that is not a number,
    an empty REF or ALT, spaces for tabs, an undefined INFO key."""
    lines = data.decode().splitlines()
    data_lines = [i for i, line in enumerate(lines) if not line.startswith("#")]
    if not data_lines:
        return draw(corrupt(data))
    i = draw(st.sampled_from(data_lines))
    fields = lines[i].split("\t")
    kind = draw(st.sampled_from(["missing", "pos", "ref", "alt", "spaces", "info", "column9"]))
    if kind == "missing":
        del fields[draw(st.integers(0, len(fields) - 1))]
    elif kind == "pos":
        fields[1] = draw(st.sampled_from(["abc", "-1", "0", "1.5", "", "99999999999"]))
    elif kind == "ref":
        fields[3] = draw(st.sampled_from(["", ".", "N", "X", "acgt"]))
    elif kind == "alt":
        fields[4] = draw(st.sampled_from(["", "<DEL>", "A,,C", "*", "ACGT[1:5[", "Z"]))
    elif kind == "info":
        fields[7] = draw(st.sampled_from(["XX=1", "DP=abc", "DP", ";;", "DP=1;DP=2"]))
    elif kind == "column9":
        fields.append("GT")
    lines[i] = (" " if kind == "spaces" else "\t").join(fields)
    return ("\n".join(lines) + "\n").encode(), f"vcf_{kind}#{i + 1}"


def to_bcf(text: bytes) -> bytes:
    """The BCF (htslib) of a valid VCF text."""
    import pysam

    with tempfile.TemporaryDirectory(prefix="bioseq-fuzz-bcf-") as folder:
        vcf, bcf = Path(folder) / "in.vcf", Path(folder) / "out.bcf"
        vcf.write_bytes(text)
        with (
            pysam.VariantFile(str(vcf)) as src,
            pysam.VariantFile(str(bcf), "wb", header=src.header) as dst,
        ):
            for record in src:
                dst.write(record)
        return bcf.read_bytes()


@st.composite
def vcf_cases(draw) -> Case:
    """A VCF file ``calls.vcf[.gz]`` or ``calls.bcf``, valid or broken."""
    data, records = draw(vcf_text())
    if draw(st.integers(0, 9)) == 0:  # BCF, valid or damaged
        bcf = to_bcf(data)
        if draw(st.booleans()):
            return Case({"calls.bcf": bcf}, "valid", records)
        damaged, how = draw(corrupt(bcf))
        return Case({"calls.bcf": damaged}, f"bcf:{how}")
    if draw(st.integers(0, 9)) < 2:
        data, how = draw(vcf_damage(data))
        kind = draw(st.sampled_from(["plain", "gzip", "bgzf"]))
        return Case({f"calls.vcf{_suffix(kind)}": compress(data, kind)}, how)
    blob, how, kind = draw(packed(data))
    return Case({f"calls.vcf{_suffix(kind)}": blob}, how, records if how == "valid" else None)


# -- mutation tables and alignments -----------------------------------------------------------

AMINO = "ACDEFGHIKLMNPQRSTVWY"


@st.composite
def mutants(draw, wildtype: str) -> tuple[str, tuple]:
    """A mutant's text and its substitutions ``((wt, position, mt), ...)`` (1-based)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["WT", "_wt", "wildtype"])), ()
    positions = draw(st.lists(st.integers(1, len(wildtype)), min_size=1, max_size=3, unique=True))
    subs = tuple((wildtype[p - 1], p, draw(st.sampled_from(AMINO))) for p in positions)
    return ":".join(f"{w}{p}{m}" for w, p, m in subs), subs


def apply_subs(wildtype: str, subs) -> str:
    seq = list(wildtype)
    for _, position, mt in subs:
        seq[position - 1] = mt
    return "".join(seq)


@st.composite
def table_text(draw, wildtype: str):
    """A valid DMS table (bytes) and ``(columns, [(mutant, subs, score)])``."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    with_sequence = draw(st.booleans())
    columns = ["mutant", "score"] + (["mutated_sequence"] if with_sequence else [])
    rows = []
    for _ in range(draw(st.integers(0, 10))):
        text, subs = draw(mutants(wildtype))
        score = draw(st.floats(-10, 10, allow_nan=False))
        rows.append((text, subs, score))
    out = io.StringIO()
    if draw(st.booleans()):
        out.write("# an EVmutation-style comment\n")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for text, subs, score in rows:
        writer.writerow(
            [text, repr(score)] + ([apply_subs(wildtype, subs)] if with_sequence else [])
        )
    return out.getvalue().encode(), (columns, rows)


@st.composite
def table_damage(draw, data: bytes) -> tuple[bytes, str]:
    """Table-specific breakage: an unclosed quote, a short or long row, a mutant that is not
    ``H24C``-like, a header only, a different delimiter on one line."""
    lines = data.decode().splitlines()
    kind = draw(st.sampled_from(["quote", "short", "long", "mutant", "header_only", "delim"]))
    body = [i for i, line in enumerate(lines) if not line.startswith("#")][1:]
    if kind == "header_only" or not body:
        return (
            "\n".join(
                line
                for line in lines
                if line.startswith("#")
                or line == lines[next(i for i, x in enumerate(lines) if not x.startswith("#"))]
            )
            + "\n"
        ).encode(), "header_only"
    i = draw(st.sampled_from(body))
    if kind == "quote":
        lines[i] = '"' + lines[i]
    elif kind == "short":
        lines[i] = lines[i].split(",")[0].split(";")[0].split("\t")[0]
    elif kind == "long":
        lines[i] += ",x;y\tz"
    elif kind == "mutant":
        bad = draw(
            st.sampled_from(
                [
                    "H24",
                    "24C",
                    "H24C:",
                    "H24C:H24A",
                    "HXC",
                    "H-1C",
                    "é5A",
                    "H99999999999999999999C",
                    "H0C",
                ]
            )
        )
        lines[i] = bad + lines[i][len(lines[i].split(",")[0].split(";")[0].split("\t")[0]) :]
    else:
        lines[i] = lines[i].replace(",", ";").replace("\t", ",")
    return ("\n".join(lines) + "\n").encode(), f"table_{kind}#{i + 1}"


@st.composite
def alignment_text(draw, wildtype: str) -> bytes:
    """An a2m alignment: the wild type (``>WT/1-L``) and homologs with substitutions, gaps and
    lower-case insertions."""
    lines = [f">WT/1-{len(wildtype)}", wildtype]
    for k in range(draw(st.integers(1, 6))):
        chars = []
        for c in wildtype:
            roll = draw(st.integers(0, 9))
            chars.append(c if roll < 6 else "-" if roll == 6 else draw(st.sampled_from(AMINO)))
            if roll == 9:
                chars.append(draw(st.sampled_from(AMINO)).lower())
        lines += [f">hom{k}", "".join(chars)]
    return ("\n".join(lines) + "\n").encode()


@st.composite
def table_cases(draw) -> Case:
    """A DMS table ``dms.csv`` of a random wild type (also given as ``wt.fa`` and
    ``family.a2m``), valid or broken; ``args["wildtype"]`` is the wild type."""
    wildtype = "".join(draw(st.lists(st.sampled_from(AMINO), min_size=3, max_size=40)))
    data, (columns, rows) = draw(table_text(wildtype))
    alignment = draw(alignment_text(wildtype))
    if draw(st.integers(0, 9)) < 3:
        data, how = draw(table_damage(data))
    else:
        data, how, _ = draw(packed(data, kinds=("plain",)))
    case = Case(
        {"dms.csv": data, "wt.fa": f">WT\n{wildtype}\n".encode(), "family.a2m": alignment}, how
    )
    if case.valid and draw(st.integers(0, 9)) == 0:  # now and then a broken alignment instead
        case.files["family.a2m"], case.how = draw(corrupt(alignment))
        case.how = "a2m:" + case.how
    case.args["wildtype"] = wildtype
    if case.valid:
        case.expected = (columns, rows)
    return case


# -- YAML configs -----------------------------------------------------------------------------

SAFE_TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + "_-./ ", min_size=1, max_size=12
).filter(lambda s: s.strip() == s)


@st.composite
def train_values(draw) -> dict[str, Any]:
    """Values of a random subset of TrainConfig fields that together pass ``validate``."""
    from bioseq.train.config import CHOICES

    v: dict[str, Any] = {}
    for key, allowed in CHOICES.items():
        if draw(st.booleans()):
            v[key] = draw(st.sampled_from(allowed))
    positive = st.integers(1, 10**6)
    for key in ("context", "log_every", "eval_every", "save_every", "max_bad_steps"):
        if draw(st.booleans()):
            v[key] = draw(positive)
    grad_accum = draw(st.integers(1, 8))
    if draw(st.booleans()):
        v["grad_accum"] = grad_accum
        v["batch_size"] = grad_accum * draw(st.integers(1, 64))
    which = draw(st.sampled_from(["steps", "tokens", None]))
    if which:
        v[which] = draw(positive)
    for key, low, high in (
        ("eval_windows", 1, 10**6),
        ("final_eval_windows", 0, 10**6),
        ("keep_checkpoints", 0, 100),
        ("seed", 0, 2**32 - 1),
        ("threads", 0, 64),
        ("context_warmup", 0, 10**6),
    ):
        if draw(st.booleans()):
            v[key] = draw(st.integers(low, high))
    finite = {"allow_nan": False, "allow_infinity": False}
    if draw(st.booleans()):
        v["lr"] = draw(st.floats(1e-8, 10, **finite))
    if draw(st.booleans()):
        v["min_lr_ratio"] = draw(st.floats(0, 1, **finite))
    if draw(st.booleans()):  # at most the steps the run will take
        steps = v.get("steps", 200)
        if "tokens" in v:
            steps = -(-v["tokens"] // (v.get("batch_size", 16) * v.get("context", 256)))
        v["warmup_steps"] = draw(st.none() | st.integers(0, steps))
    for key in ("weight_decay", "grad_clip"):
        if draw(st.booleans()):
            v[key] = draw(st.floats(0, 10, **finite))
    if draw(st.booleans()):
        v["betas"] = draw(st.lists(st.floats(0, 0.9999, **finite), min_size=2, max_size=2))
    if draw(st.booleans()):
        v["sequence_weights"] = draw(st.none() | st.floats(0.01, 1, **finite))
    if draw(st.booleans()):
        v["inputs"] = draw(st.lists(SAFE_TEXT, max_size=3))
    if draw(st.booleans()):
        v["out"] = draw(st.none() | SAFE_TEXT)
    if draw(st.booleans()):
        v["model_config"] = draw(
            st.dictionaries(
                st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8),
                st.integers(0, 100) | st.floats(0, 1, **finite) | SAFE_TEXT,
                max_size=3,
            )
        )
    text = draw(st.booleans()) and draw(st.integers(0, 3)) == 0
    if text:
        v["text"] = True
        v["alphabet"] = "auto"
        v["markov_order"] = draw(st.integers(0, 6))
    else:
        if draw(st.booleans()):
            v["rc_augment"] = draw(st.booleans())
        if draw(st.booleans()):
            v["markov_order"] = draw(st.integers(0, 4))
        if draw(st.booleans()):
            v["tokenizer"] = draw(st.sampled_from(["char", "kmer", "kmer:3", "byte", "merge"]))
            if v["tokenizer"] == "merge" and v.get("model") in ("striped-hyena", "caduceus"):
                v["tokenizer"] = "char"  # merge takes a hyena, mamba or transformer backbone
            if v["tokenizer"] == "merge" and draw(st.booleans()):
                v["merge_ratio"] = draw(st.floats(1, 16, **finite))
        split = draw(st.sampled_from(["fraction", "contigs", None]))
        if split == "fraction":
            v["val_fraction"] = draw(st.floats(0, 0.99, **finite))
        elif split == "contigs":
            v["val_contigs"] = draw(st.lists(SAFE_TEXT, min_size=1, max_size=3))
    if draw(st.booleans()):
        v["overwrite"] = draw(st.booleans())
    return v


BAD_VALUES = {
    "steps": ["ten", 1.5, True, [1], {"a": 1}, -3, 0, 10**30],
    "lr": ["fast", [0.1], True, -1.0, 0, ".nan", float("nan"), float("inf"), 10**400],
    "betas": [[0.9], ["a", "b"], [{"x": 1}, 2], 0.9, "0.9,0.95", [[1], [2]], [10**400, 0.9]],
    "seed": [-1, 2**80, 0.5],
    "d_model": [0, -4, 10**12, "wide"],
    "model": ["gpt", 3, None],
    "text": ["yes please", 1, [True]],
    "model_config": [[1, 2], "d_state=4", 5],
    "inputs": ["genome.fa", 3, {"a": "b"}],
    "batch_size": [7.5, "16", None],
    "val_fraction": [1.5, "half", -0.1],
    "stepz": [10],
}


@st.composite
def yaml_damage(draw, values: dict) -> tuple[bytes, str]:
    """Config-specific breakage: a wrong type, an unknown key, a list or scalar at the top, an
    unclosed quote or bracket, tab indentation, a duplicate key, an unhashable key."""
    import yaml

    kind = draw(
        st.sampled_from(
            [
                "value",
                "value",
                "top",
                "quote",
                "bracket",
                "tab",
                "dup",
                "unhashable",
                "anchor",
                "deep",
                "tagged",
            ]
        )
    )
    if kind == "value":
        key = draw(st.sampled_from(sorted(BAD_VALUES)))
        bad = dict(values)
        bad[key] = draw(st.sampled_from(BAD_VALUES[key]))
        return yaml.safe_dump(bad, sort_keys=False).encode(), f"yaml_value:{key}"
    if kind == "top":
        return draw(
            st.sampled_from(
                [b"- 1\n- 2\n", b"just text\n", b"42\n", b"---\n...\n", b"[steps, 3]\n"]
            )
        ), "yaml_top"
    text = yaml.safe_dump(values, sort_keys=False) if values else "steps: 3\n"
    if kind == "quote":
        return (text + 'out: "unclosed\n').encode(), "yaml_quote"
    if kind == "bracket":
        return (text + "betas: [0.9, 0.95\n").encode(), "yaml_bracket"
    if kind == "tab":
        return (text + "model_config:\n\td_state: 4\n").encode(), "yaml_tab"
    if kind == "dup":
        return (text + text.splitlines(keepends=True)[0]).encode(), "yaml_dup"
    if kind == "unhashable":
        return (text + "? [a, b]\n: 1\n").encode(), "yaml_unhashable"
    if kind == "deep":
        depth = draw(st.sampled_from([50, 5000]))
        return (
            text + "model_config: " + "{a: " * depth + "1" + "}" * depth + "\n"
        ).encode(), "yaml_deep"
    if kind == "tagged":
        tag = draw(
            st.sampled_from(
                ["!!python/object:os.system", "!!binary", "!custom", "!!timestamp", "!!set"]
            )
        )
        return (text + f"out: {tag} x\n").encode(), "yaml_tagged"
    return (text + "base: &b {steps: 3}\n<<: *b\n").encode(), "yaml_anchor"


@st.composite
def yaml_cases(draw) -> Case:
    """A training config ``run.yaml``, valid (keys with ``_`` or ``-``) or broken."""
    import yaml

    values = draw(train_values())
    dashed = {k.replace("_", "-") if draw(st.booleans()) else k: v for k, v in values.items()}
    text = yaml.safe_dump(dashed, sort_keys=draw(st.booleans())).encode()
    if draw(st.integers(0, 9)) < 3:
        data, how = draw(yaml_damage(values))
    else:
        data, how, _ = draw(packed(text, kinds=("plain",)))
    return Case({"run.yaml": data}, how, values if how == "valid" else None)


# -- properties: readers ----------------------------------------------------------------------


def _note(err: BaseException, case: Case, what: str) -> None:
    err.add_note(f"fuzz: {what} on a {case.how!r} case: files {sorted(case.files)}")


def expect(case: Case, path: Path, what: str, fn: Callable[[], Any]) -> str:
    """Run a reader: ``"ok"`` when it returns, ``"error"`` for a one-line InputError naming
    ``path``; an InputError on a valid case, or any other exception, fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except InputError as err:
        message = str(err)
        assert message.strip(), f"{what}: empty error message"
        assert "\n" not in message, f"{what}: error over several lines: {message!r}"
        assert str(path) in message or path.name in message, (
            f"{what}: error does not name the file {path.name}: {message!r}"
        )
        assert not case.valid, f"{what}: a valid input was rejected: {message}"
        return "error"
    except AssertionError:
        raise
    except Exception as err:
        _note(err, case, what)
        raise
    return "ok"


def check_fasta_reader(case: Case, folder: Path) -> str:
    """``Genome`` (index, contigs, slices, validate) and ``iter_fasta`` (with and without an
    alphabet) on a FASTA file; a valid one gives back its names, descriptions and bases."""
    from bioseq.io import Genome, iter_fasta

    path = case.write(folder)[case.main]

    def genome() -> None:
        with Genome(path) as g:
            if case.valid:
                assert g.contigs == {n: len(s) for n, _, s in case.expected}, g.contigs
                for name, start, end, strand in case.args["slices"]:
                    want = dna_norm(dict((n, s) for n, _, s in case.expected)[name][start:end])
                    want = want if strand == "+" else revcomp(want)
                    got = g.fetch(name, start, end, strand=strand)
                    assert got == want, (name, start, end, strand, got, want)
            else:
                g.validate()
                for name, length in list(g.contigs.items())[:3]:
                    g.fetch(name, 0, length)

    def stream(alphabet) -> Callable[[], None]:
        def run() -> None:
            records = list(iter_fasta(path, alphabet=alphabet))
            if case.valid:
                got = [(r.name, r.description, r.sequence) for r in records]
                norm = dna_norm if alphabet else (lambda s: s)
                assert got == [(n, d, norm(s)) for n, d, s in case.expected], got

        return run

    outcomes = [
        expect(case, path, "Genome", genome),
        expect(case, path, "iter_fasta(alphabet='dna')", stream("dna")),
        expect(case, path, "iter_fasta()", stream(None)),
    ]
    return "error" if "error" in outcomes else "ok"


def check_genbank_reader(case: Case, folder: Path) -> str:
    """``read_genbank``: a valid file gives back its records' names, bases and CDS."""
    from bioseq.io import read_genbank

    path = case.write(folder)[case.main]

    def run() -> None:
        records = read_genbank(path)
        if case.valid:
            got = [
                (
                    r.name,
                    r.sequence,
                    r.circular,
                    [(c.parts, c.strand, c.locus_tag, c.codon_start) for c in r.cds],
                )
                for r in records
            ]
            assert got == case.expected, (got, case.expected)
        for record in records:  # the annotation of whatever was read must build
            record.annotation.synonymous_mask  # noqa: B018

    return expect(case, path, "read_genbank", run)


def check_vcf_reader(case: Case, folder: Path) -> str:
    """``read_vcf``: a valid file gives back its records, with no malformed line."""
    from bioseq.tasks.variants.vcf import read_vcf

    path = case.write(folder)[case.main]

    def run() -> None:
        data = read_vcf(path)
        for entry in data.entries:
            assert entry.record is not None or entry.error, entry  # a reason for every skip
            entry.where()
        if case.valid:
            assert not data.malformed, [(e.line, e.error) for e in data.malformed]
            got = [
                (r.chrom, r.pos, r.id, r.ref, tuple(r.alts or ()), r.info.get("DP"))
                for r in (e.record for e in data.entries)
            ]
            assert got == case.expected, (got, case.expected)

    return expect(case, path, "read_vcf", run)


class _NullModel:
    def score_mutants(self, wildtype, offset, mutants, progress=None):
        return [(0.0, "ok") for _ in mutants]


def check_table_reader(case: Case, folder: Path) -> str:
    """``read_mutation_table`` + ``score_mutations`` (a model scoring 0): a valid table gives
    back its columns, mutants and scores, every row ``ok``."""
    from bioseq.tasks.variants.mutations import (
        parse_mutant,
        read_mutation_table,
        score_mutations,
    )

    paths = case.write(folder)
    path = paths["dms.csv"]
    wildtype = case.args["wildtype"]

    def run() -> None:
        table = read_mutation_table(path)
        if case.valid:
            columns, rows = case.expected
            assert table.columns == columns, table.columns
            assert len(table.rows) == len(rows), table.rows
            for row, (text, subs, score) in zip(table.rows, rows, strict=True):
                assert row["mutant"] == text, (row, text)
                assert [(s.wt, s.position, s.mt) for s in parse_mutant(row["mutant"])] == list(
                    subs
                ), (row, subs)
                assert float(row["score"]) == score, (row, score)
        column = "score" if "score" in table.columns else None
        scores = score_mutations(_NullModel(), wildtype, table, 1, "mutant", column)
        assert len(scores) == len(table.rows)
        if case.valid:  # every row scored, or counted once at its first row ("duplicate")
            seen = set()
            for score, (_, subs, _) in zip(scores, case.expected[1], strict=True):
                key = tuple(sorted(subs))
                allowed = {"ok", "duplicate"} if key in seen else {"ok"}
                seen.add(key)
                assert score.status in allowed, (score.mutant, score.status, score.detail)

    return expect(case, path, "read_mutation_table", run)


def check_alignment_reader(case: Case, folder: Path) -> str:
    """``read_alignment`` and the site-independent model on the case's ``family.a2m``."""
    from bioseq.models.site_independent import SiteIndependentModel

    path = case.write(folder)["family.a2m"]
    damaged = case.how.startswith("a2m:")
    case = dataclasses.replace(case, how=case.how if damaged else "valid")

    def run() -> None:
        model = SiteIndependentModel.from_a2m(path)
        if case.valid:
            assert model.alignment.wildtype == case.args["wildtype"]

    return expect(case, path, "read_alignment", run)


def check_yaml_reader(case: Case, folder: Path) -> str:
    """``load_yaml`` (+ ``resolved()``): a valid config loads back equal and resolves."""
    from bioseq.train.config import TrainConfig, load_yaml

    path = case.write(folder)[case.main]

    def run() -> None:
        config = load_yaml(path)
        if case.valid:
            assert config == dataclasses.replace(TrainConfig(), **case.expected), config
        try:
            config.resolved()
        except InputError as err:  # an impossible combination: one line (no file to name)
            assert "\n" not in str(err) and str(err), str(err)
            assert not case.valid, f"a valid config does not resolve: {err}"

    return expect(case, path, "load_yaml", run)


# -- properties: the CLI ----------------------------------------------------------------------


@functools.cache
def tiny_models() -> dict[str, Path]:
    """A tiny DNA and a tiny protein Transformer, saved once per process (``dna``,
    ``protein``), as `bioseq score-vcf` / `score-mutations` load them."""
    import torch

    import bioseq.models  # noqa: F401  (registers the Auto classes)
    from bioseq.models import TransformerConfig, TransformerLM
    from bioseq.tokenizers import CharTokenizer

    folder = Path(tempfile.mkdtemp(prefix="bioseq-fuzz-models-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    out = {}
    for name in ("dna", "protein"):
        tokenizer = CharTokenizer(name)
        torch.manual_seed(0)
        config = TransformerConfig.from_preset(
            "tiny", vocab_size=tokenizer.vocab_size, d_model=16, n_layer=1
        )
        with contextlib.redirect_stderr(io.StringIO()):  # "Writing model shards" bars
            TransformerLM(config).eval().save_pretrained(folder / name)
        tokenizer.save_pretrained(folder / name)
        out[name] = folder / name
    return out


def _validate_only(config, quiet: bool = False):
    """Stands in for the training loop under ``bioseq pretrain``: the config must resolve."""
    config.resolved()
    return Path(config.out or ".")


def cli(case: Case, args: list[Any], *, stdin: bytes | None = None) -> tuple[str, Any]:
    """Run ``bioseq ARGS``: ``("ok"|"error"|"usage", result)``; a traceback, another exit
    code or an error over several lines fails."""
    from click.testing import CliRunner

    from bioseq.cli.main import main

    args = [str(a) for a in args]
    with mock.patch("bioseq.train.pretrain", _validate_only), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(main, args, input=stdin)
    command = "bioseq " + " ".join(args)
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(*result.exc_info))
        exc.add_note(f"fuzz: `{command}` on a {case.how!r} case raised:\n{tb}")
        raise exc.with_traceback(result.exc_info[2])
    stderr = result.stderr
    assert "Traceback" not in stderr + result.stdout, f"`{command}` printed a traceback:\n{stderr}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if result.exit_code == 0:
        assert not any(line.startswith("bioseq: error") for line in lines), stderr
        return "ok", result
    assert result.exit_code == 2, f"`{command}` exited {result.exit_code}:\n{stderr}"
    if any(line.startswith(("Usage:", "Error:")) for line in lines):
        return "usage", result
    errors = [line for line in lines if not line.startswith("bioseq: warning:")]
    assert len(errors) == 1 and errors[0].startswith("bioseq: error: "), (
        f"`{command}` exited 2 without exactly one 'bioseq: error:' line:\n{stderr}"
    )
    assert errors[0][len("bioseq: error: ") :].strip(), f"`{command}`: empty error message"
    return "error", result


def _expect_ok(case: Case, outcome: str, result, command: str) -> None:
    assert outcome == "ok" or not case.valid, (
        f"`bioseq {command}` rejected a valid input:\n{result.stderr}"
    )


@st.composite
def info_cases(draw) -> Case:
    """A FASTA or GenBank case and the flags of ``bioseq info`` (``--json``, ``--invalid``)."""
    case = draw(st.one_of(fasta_cases(max_contigs=3, max_len=120), genbank_cases()))
    case.args["flags"] = draw(
        st.lists(st.sampled_from(["--json", "--invalid=N", "--alphabet=dna"]), unique=True)
    )
    case.args["stdin"] = draw(st.integers(0, 9)) == 0 and "genome.fa" in case.files
    return case


def _records_of(case: Case) -> list[tuple[str, int]]:
    """(name, length) of every record of a valid FASTA or GenBank case."""
    if case.expected and len(case.expected[0]) == 3:  # FASTA: (name, description, sequence)
        return [(name, len(seq)) for name, _, seq in case.expected]
    return [(ident, len(seq)) for ident, seq, _, _ in case.expected]


def check_info(case: Case, folder: Path) -> str:
    """``bioseq info``: a valid file lists every record with its length."""
    path = case.write(folder)[case.main]
    flags = case.args["flags"]
    if case.args.get("stdin"):
        outcome, result = cli(case, ["info", "-", *flags], stdin=path.read_bytes())
    else:
        outcome, result = cli(case, ["info", path, *flags])
    _expect_ok(case, outcome, result, "info")
    if outcome == "ok" and case.valid:
        if "--json" in flags:
            got = [(r["name"], r["length"]) for r in map(json.loads, result.stdout.splitlines())]
        else:
            rows = [line.split("\t") for line in result.stdout.splitlines()[1:]]
            got = [(row[1], int(row[3])) for row in rows]
        assert got == _records_of(case), (got, _records_of(case))
    return outcome


@st.composite
def fetch_cases(draw) -> Case:
    """A FASTA or GenBank case and REGIONS for ``bioseq fetch``: inside a contig (1-based,
    with or without a range and commas), past its end, backwards, unknown or malformed."""
    case = draw(st.one_of(fasta_cases(max_contigs=3, max_len=120), genbank_cases()))
    known = _records_of(case) if case.valid else [("chr1", 10)]
    regions, expected = [], []
    for _ in range(draw(st.integers(1, 3))):
        name, length = draw(st.sampled_from(known))
        kind = draw(
            st.sampled_from(["range", "range", "whole", "past", "backwards", "unknown", "garbage"])
        )
        if kind == "range":
            start = draw(st.integers(1, length))
            end = draw(st.integers(start, length))
            regions.append(
                f"{name}:{start:,}-{end:,}" if draw(st.booleans()) else f"{name}:{start}-{end}"
            )
            expected.append((name, start - 1, end))
        elif kind == "whole":
            regions.append(name)
            expected.append((name, 0, length))
        elif kind == "past":
            regions.append(f"{name}:1-{length + draw(st.integers(1, 10**12))}")
            expected.append(None)
        elif kind == "backwards":
            regions.append(f"{name}:{draw(st.integers(0, 5)) + 2}-1")
            expected.append(None)
        elif kind == "unknown":
            regions.append(name + "_nope")
            expected.append(None)
        else:
            regions.append(draw(st.text(max_size=12)))
            expected.append(None)
    case.args.update(
        regions=regions,
        wanted=expected,
        strand=draw(st.sampled_from("+-")),
        width=draw(
            st.integers(-2, 100)
            if draw(st.integers(0, 9)) == 0
            else st.sampled_from([60, 1, 7, 1000])
        ),
    )
    return case


def check_fetch(case: Case, folder: Path) -> str:
    """``bioseq fetch``: each region of a valid genome prints its bases, wrapped."""
    path = case.write(folder)[case.main]
    regions, strand, width = case.args["regions"], case.args["strand"], case.args["width"]
    dashes = ["--"] if any(r.startswith("-") for r in regions) else []  # a contig '-x'
    outcome, result = cli(
        case, ["fetch", "--strand", strand, "--width", width, path, *dashes, *regions]
    )
    wanted = case.args["wanted"]
    good = case.valid and None not in wanted and all(r.strip() for r in regions) and width >= 0
    if good:
        _expect_ok(case, outcome, result, "fetch")
    if outcome == "ok" and good:
        if len(case.expected[0]) == 3:
            seqs = {n: dna_norm(s) for n, _, s in case.expected}
        else:
            seqs = {ident: seq for ident, seq, _, _ in case.expected}
        want = []
        for region, (name, start, end) in zip(regions, wanted, strict=True):
            seq = seqs[name][start:end]
            seq = seq if strand == "+" else revcomp(seq)
            want.append(f">{region}{'(-)' if strand == '-' else ''}")
            step = width or len(seq)  # --width 0: one line
            want += [seq[i : i + step] for i in range(0, len(seq), step)]
        assert result.stdout.splitlines() == want, (result.stdout, want)
    return outcome


@st.composite
def score_vcf_cases(draw) -> Case:
    """A small reference (FASTA) with a VCF of variants on it for ``bioseq score-vcf``: the
    VCF valid or broken (now and then the reference broken instead), the options drawn."""
    fasta, records = draw(fasta_text(2, 150, st.sampled_from("ACGTacgt") | st.just("N")))
    genome = {name: dna_norm(seq) for name, _, seq in records}
    vcf, variants = draw(vcf_text(genome))
    roll = draw(st.integers(0, 9))
    if roll < 2:
        vcf, how = draw(vcf_damage(vcf))
        kind = "plain"
    else:
        vcf, how, kind = draw(packed(vcf))
    case = Case({"genome.fa": fasta, f"calls.vcf{_suffix(kind)}": vcf}, how)
    if roll == 9 and case.valid:
        case.files["genome.fa"], how = draw(corrupt(fasta))
        case.how = "fasta:" + how
    case.expected = variants if case.valid else None
    odd = draw(st.integers(0, 9)) == 0  # now and then an impossible option value
    case.args.update(
        out=draw(st.sampled_from(["out.tsv", "out.vcf", "out.vcf.gz", "out.bcf"])),
        window=draw(st.integers(-2, 8) if odd else st.sampled_from([16, 33, 64])),
        strand=draw(st.sampled_from(["forward", "both"])),
        reduce=draw(st.sampled_from(["mean", "sum"])),
        batch_size=draw(st.integers(-1, 0) if odd else st.sampled_from([1, 4, 8])),
        window_step=draw(st.integers(-1, 0) if odd else st.sampled_from([1, 5])),
    )
    return case


def check_score_vcf(case: Case, folder: Path) -> str:
    """``bioseq score-vcf`` with a tiny model: a valid VCF gives one score row per ALT."""
    paths = case.write(folder)
    vcf = next(p for name, p in paths.items() if name.startswith("calls"))
    a = case.args
    out = folder / a["out"]
    outcome, result = cli(
        case,
        [
            "score-vcf",
            "--model",
            tiny_models()["dna"],
            "--fasta",
            paths["genome.fa"],
            "--vcf",
            vcf,
            "--out",
            out,
            "--window",
            a["window"],
            "--strand",
            a["strand"],
            "--reduce",
            a["reduce"],
            "--batch-size",
            a["batch_size"],
            "--window-step",
            a["window_step"],
            "--no-progress",
            "--device",
            "cpu",
        ],
    )
    sane = a["window"] >= 9 and a["batch_size"] > 0 and a["window_step"] > 0
    if sane:
        _expect_ok(case, outcome, result, "score-vcf")
    if outcome == "ok" and case.valid:
        alleles = sum(max(len(alts), 1) for *_, alts, _ in case.expected)
        if out.suffix == ".tsv":
            rows = out.read_text().splitlines()[1:]
            assert len(rows) == alleles, (rows, case.expected)
        else:
            import pysam

            previous = pysam.set_verbosity(0)  # no "could not retrieve index" for .bcf
            try:
                with pysam.VariantFile(str(out)) as handle:
                    got = [(r.chrom, r.pos, r.ref, tuple(r.alts or ())) for r in handle]
            finally:
                pysam.set_verbosity(previous)
            want = [(c, p, ref, alts) for c, p, _, ref, alts, _ in case.expected]
            assert got == want, (got, want)
    return outcome


@st.composite
def score_mutations_cases(draw) -> Case:
    """A table case with the model (site-independent from the case's alignment, or a tiny
    causal protein model with the wild type as a sequence or FASTA) and the columns named."""
    case = draw(table_cases())
    case.args.update(
        model=draw(st.sampled_from(["site-independent", "site-independent", "causal"])),
        wildtype_as=draw(st.sampled_from(["sequence", "fasta", "alignment", "none"])),
        score_col=draw(st.sampled_from(["score", None, "missing"])),
        mutant_col=draw(st.sampled_from(["mutant", "mutant", "nope"])),
        offset=draw(st.none() | st.integers(-3, 3)),
        threshold=draw(st.none() | st.floats(-1, 1, allow_nan=False)),
    )
    return case


def check_score_mutations(case: Case, folder: Path) -> str:
    """``bioseq score-mutations``: a valid table with a valid model writes one row per row."""
    paths = case.write(folder)
    a = case.args
    out = folder / "scores.csv"
    args: list[Any] = [
        "score-mutations",
        "--mutations",
        paths["dms.csv"],
        "--out",
        out,
        "--no-progress",
        "--mutant-col",
        a["mutant_col"],
    ]
    if a["model"] == "site-independent":
        args += ["--model", "site-independent", "--alignment", paths["family.a2m"]]
    else:
        args += ["--model", tiny_models()["protein"], "--device", "cpu"]
    wildtype = {
        "sequence": a["wildtype"],
        "fasta": paths["wt.fa"],
        "alignment": paths["family.a2m"],
        "none": None,
    }[a["wildtype_as"]]
    if wildtype is not None:
        args += ["--wildtype", wildtype]
    if a["score_col"] is not None:
        args += ["--score-col", a["score_col"]]
    if a["offset"] is not None:
        args += ["--offset", a["offset"]]
    if a["threshold"] is not None:
        args += ["--threshold", a["threshold"]]
    outcome, result = cli(case, args)
    needs_wildtype = a["model"] == "causal" and wildtype is None
    lone_threshold = a["threshold"] is not None and a["score_col"] is None  # nothing to cut
    good = (
        case.valid
        and a["mutant_col"] == "mutant"
        and a["score_col"] != "missing"
        and not needs_wildtype
        and not lone_threshold
    )
    if good:
        _expect_ok(case, outcome, result, "score-mutations")
    if outcome == "ok" and good and a["offset"] in (None, 1):
        with open(out, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == len(case.expected[1]), rows
        statuses = {row["status"] for row in rows}
        assert statuses <= {"ok", "not_in_alignment", "unsupported_residue", "duplicate"}, rows
    return outcome


@st.composite
def snv_cases(draw) -> Case:
    """A GenBank case and how ``bioseq make-snv-vcf`` chooses CDS (``--cds``, ``--all-cds``,
    ``--region``, ``--limit``; sometimes none or several)."""
    case = draw(genbank_cases())
    tags = [c[2] for _, _, _, cds in case.expected or [] for c in cds] or ["T0_0"]
    names = [r[0] for r in case.expected or []] or ["X.1"]
    choice: list[Any] = []
    if draw(st.booleans()):
        case.args.update(choice=["--all-cds"], out=draw(st.sampled_from(["s.vcf", "s.vcf.gz"])))
        return case
    for mode in draw(
        st.lists(st.sampled_from(["cds", "all", "region"]), min_size=0, max_size=2, unique=True)
    ):
        if mode == "cds":
            for tag in draw(st.lists(st.sampled_from([*tags, "nope"]), min_size=1, max_size=2)):
                choice += ["--cds", tag]
        elif mode == "all":
            choice.append("--all-cds")
        else:
            name = draw(st.sampled_from(names))
            start = draw(st.integers(0, 300))
            end = draw(st.integers(0, 400))
            choice += [
                "--region",
                draw(st.sampled_from([f"{name}:{start}-{end}", name, f"{name}:x-y"])),
            ]
    if draw(st.booleans()):
        choice += ["--limit", draw(st.integers(-1, 3))]
    case.args.update(choice=choice, out=draw(st.sampled_from(["snvs.vcf", "snvs.vcf.gz"])))
    return case


def _complete_codon_bases(ident: str, seq: str, cds) -> set[tuple[str, int]]:
    """``(record, position)`` of the A/C/G/T bases of complete codons of ``cds``."""
    out = set()
    for parts, strand, _, codon_start in cds:
        order = [
            i for s, e in parts for i in (range(s, e) if strand > 0 else range(e - 1, s - 1, -1))
        ]
        offset = codon_start - 1
        codons = max(len(order) - offset, 0) // 3
        out.update((ident, i) for i in order[offset : offset + 3 * codons] if seq[i] in "ACGT")
    return out


def check_make_snv_vcf(case: Case, folder: Path) -> str:
    """``bioseq make-snv-vcf``: with ``--all-cds`` on a valid file, three SNVs per A/C/G/T base
    of a complete codon, and the VCF reads back with ``read_vcf``."""
    from bioseq.tasks.variants.vcf import read_vcf

    path = case.write(folder)[case.main]
    out = folder / case.args["out"]
    choice = case.args["choice"]
    outcome, result = cli(case, ["make-snv-vcf", "--genbank", path, *choice, "--out", out])
    if outcome == "ok":
        data = read_vcf(out)
        assert not data.malformed
        if case.valid and choice == ["--all-cds"]:
            want = set().union(
                *(_complete_codon_bases(ident, seq, cds) for ident, seq, _, cds in case.expected)
            )
            got = Counter((e.record.chrom, e.record.pos - 1) for e in data.entries)
            assert set(got) == want and set(got.values()) <= {3}, (sorted(got), sorted(want))
    return outcome


def check_pretrain_config(case: Case, folder: Path) -> str:
    """``bioseq pretrain --config run.yaml`` up to the start of training (the loop is replaced
    by ``TrainConfig.resolved()``): a valid config is accepted, a broken one is one line."""
    path = case.write(folder)[case.main]
    outcome, result = cli(case, ["pretrain", "--config", path, "--quiet"])
    _expect_ok(case, outcome, result, "pretrain --config")
    return outcome


# -- the targets ------------------------------------------------------------------------------

TARGETS: dict[str, tuple[Callable[[], st.SearchStrategy[Case]], Callable[[Case, Path], str]]] = {
    "fasta": (fasta_cases, check_fasta_reader),
    "genbank": (genbank_cases, check_genbank_reader),
    "vcf": (vcf_cases, check_vcf_reader),
    "mutation-table": (table_cases, check_table_reader),
    "alignment": (table_cases, check_alignment_reader),
    "yaml-config": (yaml_cases, check_yaml_reader),
    "cli-info": (info_cases, check_info),
    "cli-fetch": (fetch_cases, check_fetch),
    "cli-score-vcf": (score_vcf_cases, check_score_vcf),
    "cli-score-mutations": (score_mutations_cases, check_score_mutations),
    "cli-make-snv-vcf": (snv_cases, check_make_snv_vcf),
    "cli-pretrain-config": (yaml_cases, check_pretrain_config),
}


def run_case(check: Callable[[Case, Path], str], case: Case) -> str:
    """Run ``check`` on ``case`` in a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bioseq-fuzz-") as folder:
        return check(case, Path(folder))


# -- known bugs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bug:
    """A known bug in code this suite does not own: an exception of type ``kind`` raised with
    ``function`` of bioseq's file ``module`` on the stack."""

    kind: type[BaseException] | tuple[type[BaseException], ...]
    module: str
    function: str
    what: str

    def matches(self, err: BaseException) -> bool:
        frames = traceback.extract_tb(err.__traceback__)
        where = {(Path(f.filename).name, f.name) for f in frames if "/bioseq/" in f.filename}
        ours = isinstance(err, self.kind) and not isinstance(err, InputError)
        return ours and (self.module, self.function) in where


# Failures this suite found in files owned by others, left for them to fix. The generative
# tests count a failure matching one of these as the outcome "known" (so they keep guarding
# everything else) until it is fixed; then delete the Bug here and keep its smallest case as an
# explicit test (tests/test_fuzz.py: FOUND). None is open now.
KNOWN_BUGS: dict[str, list[Bug]] = {}


def known_bug(target: str, err: BaseException) -> Bug | None:
    return next((b for b in KNOWN_BUGS.get(target, []) if b.matches(err)), None)


def run_known(target: str, check: Callable[[Case, Path], str], case: Case) -> str:
    """:func:`run_case`, where a failure matching a known bug of ``target`` is the outcome
    ``"known"`` rather than a failure (any other failure is raised)."""
    try:
        return run_case(check, case)
    except Exception as err:
        if known_bug(target, err) is None:
            raise
    return "known"
