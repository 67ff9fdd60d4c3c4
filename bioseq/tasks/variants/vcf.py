"""VCF/BCF in and out (pysam), scored by the scorer of the model's family
(:mod:`bioseq.tasks.variants.scorers`: causal LMs, MergeLM, other masked LMs).

:func:`read_vcf` keeps every data line as a :class:`VcfEntry`: a pysam record, or the line
number and the reason it could not be parsed (too few columns, a POS that is not a number...),
so one bad line never stops a run. Text VCFs (plain, gzip or bgzip) are checked line by line
first; BCF is read by pysam alone. An empty file, or a header without records, reads as no
entries; a gzip/BGZF file that breaks off is one InputError naming the last line read.

:func:`write_vcf` writes every input record with two INFO fields added (``BIOSEQ_LLR``, one
score per ALT; ``BIOSEQ_STATUS``, ``ok`` or the reason per ALT), described in the header, and
every malformed line as a placeholder record (``BIOSEQ_STATUS=malformed_line``; a
``##bioseq_skipped`` header line says why), as the TSV keeps a row for it;
``.vcf.gz`` output is bgzipped and tabix-indexed, ``.bcf`` is BCF. :func:`write_tsv` writes
``chrom pos ref alt score status``, one row per ALT. Outputs are written beside ``out`` and
renamed onto it only when complete (:func:`bioseq.io.outputs.atomic_output`).

>>> data = read_vcf("calls.vcf.gz")  # doctest: +SKIP
>>> scores = score_entries(scorer, data)  # doctest: +SKIP
>>> write_vcf(data, scores, "scored.vcf.gz")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pysam

from bioseq.errors import InputError
from bioseq.io.compression import GZIP_READ_ERRORS, corrupt_gzip, open_binary, open_text
from bioseq.io.inputs import open_genome
from bioseq.io.outputs import atomic_output, check_output
from bioseq.io.source import SequenceSource
from bioseq.tasks.variants.dna import DnaVariantScorer, Variant, VariantScore
from bioseq.tasks.variants.metrics import snv_summary
from bioseq.tasks.variants.scorers import STATUSES, dna_scorer

LLR_KEY, STATUS_KEY = "BIOSEQ_LLR", "BIOSEQ_STATUS"
TSV_COLUMNS = ("chrom", "pos", "ref", "alt", "score", "status")
_FILEFORMAT = "##fileformat=VCFv4.2"
_CONTIG = re.compile(r"^[0-9A-Za-z!#$%&+./:;?@^_|~-][0-9A-Za-z!#$%&*+./:;=?@^_|~-]*$")
_REF = re.compile(r"^[ACGTN]+$")
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)
_END_LINE = '##INFO=<ID=END,Number=1,Type=Integer,Description="End position of the variant">'


@dataclass
class VcfEntry:
    """One data line: its pysam record, or (``record is None``) why it could not be read."""

    line: int | None
    record: pysam.VariantRecord | None = None
    error: str = ""
    fields: list[str] = field(default_factory=list)  # raw columns of a malformed text line

    @property
    def chrom(self) -> str:
        return self.record.chrom if self.record is not None else _field(self.fields, 0)

    @property
    def pos(self) -> int | None:
        if self.record is not None:
            return self.record.pos
        text = _field(self.fields, 1)
        return int(text) if text.isdigit() else None

    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"{self.chrom}:{self.pos}"


def _field(fields: list[str], i: int) -> str:
    return fields[i] if len(fields) > i else "."


@dataclass
class VcfData:
    """A VCF's header (None for an empty file) and its data lines, in file order."""

    path: Path
    header: pysam.VariantHeader | None
    entries: list[VcfEntry]

    @property
    def malformed(self) -> list[VcfEntry]:
        return [e for e in self.entries if e.record is None]


# -- reading ----------------------------------------------------------------------------


def _head(path: Path) -> bytes:
    """The first 64 bytes of the file's content (decompressed)."""
    try:
        with open_binary(path) as handle:
            return handle.read(64)
    except GZIP_READ_ERRORS as err:
        raise corrupt_gzip(path, err) from None


def read_vcf(path: str | os.PathLike) -> VcfData:
    """Read a VCF (plain, gzip, bgzip) or BCF file; malformed lines become error entries."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    head = _head(path)
    if not head.strip():
        return VcfData(path, None, [])
    previous = pysam.set_verbosity(0)  # htslib's own warnings: we report problems ourselves
    try:
        if head.startswith(b"BCF"):
            return _read_bcf(path)
        if not head.startswith(b"#"):
            raise InputError(f"{path}:1: not a VCF file (expected '##fileformat=VCF...')")
        return _read_text(path)
    finally:
        pysam.set_verbosity(previous)


def _read_bcf(path: Path) -> VcfData:
    """BCF through pysam; a truncated or corrupt file (BGZF) is one InputError."""
    created: list[VcfEntry] = []
    try:
        with pysam.VariantFile(str(path)) as handle:
            header, created = _read_pysam(handle, None, stop_on_os_error=True)
    except (OSError, ValueError, NotImplementedError) as err:  # htslib's ways of saying "damaged"
        raise corrupt_gzip(path, err) from None
    return VcfData(path, header, created)


def _read_text(path: Path) -> VcfData:
    """Check each text line, hand the good ones to pysam through a temporary file."""
    header, good, entries = [], [], []
    for number, line in _numbered_lines(path):
        if not line.strip():
            continue
        if line.startswith("#") and not entries:
            if "\0" in line:
                raise InputError(
                    f"{path}:{number}: binary content (a NUL byte) in the header; "
                    "expected a VCF file"
                )
            header.append(line)
            continue
        problem = _check_line(line, header)
        entry = VcfEntry(number, error=problem or "", fields=line.split("\t")[:5])
        entries.append(entry)
        if not problem:
            good.append((entry, line))
    if not any(line.startswith("#CHROM") for line in header):
        if not header and not entries:
            return VcfData(path, None, [])
        raise InputError(f"{path}: no '#CHROM' header line, so this is not a VCF file")
    if not header[0].startswith("##fileformat"):
        header.insert(0, _FILEFORMAT)
    with tempfile.TemporaryDirectory(prefix="bioseq-vcf-") as tmp:
        checked = Path(tmp) / "checked.vcf"
        checked.write_text("\n".join(header + [line for _, line in good]) + "\n")
        try:
            handle = pysam.VariantFile(str(checked))
        except (OSError, ValueError):
            raise InputError(
                f"{path}: htslib cannot read the VCF header (lines 1-{len(header)}); expected "
                "'##' meta lines and '#CHROM...'"
            ) from None
        with handle:
            vcf_header, _ = _read_pysam(handle, [entry for entry, _ in good])
    return VcfData(path, vcf_header, entries)


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line without its end)``; a gzip/BGZF stream that breaks off is one
    InputError naming the last line read."""
    number = 0
    try:
        with open_text(path, encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle, start=1):  # noqa: B007  (read after the loop)
                yield number, raw.rstrip("\r\n")
    except GZIP_READ_ERRORS as err:
        raise corrupt_gzip(path, err, after_line=number) from None


def _check_line(line: str, header: list[str]) -> str | None:
    """Why a data line is malformed, or None."""
    if line.startswith("#"):
        return "a header line among the records"
    if "\0" in line:
        return "binary content (a NUL byte)"
    fields = line.split("\t")
    if len(fields) < 8:
        return f"expected at least 8 tab-separated columns, found {len(fields)}"
    if not fields[1].isdigit():
        return f"POS {fields[1]!r} is not a number"
    if not fields[3] or fields[3] == ".":
        return "REF is empty"
    if not fields[4]:
        return "ALT is empty"
    return None


def _read_pysam(
    handle: pysam.VariantFile, entries: list[VcfEntry] | None, stop_on_os_error: bool = False
):
    """Attach pysam's records to ``entries`` in order (``None``: one new entry per record).

    Returns the header (with contigs htslib met in the records) and the new entries. With
    ``stop_on_os_error`` (BCF) an OSError (a truncated file) is raised, naming the record."""
    if "END" not in handle.header.info:
        handle.header.add_line(_END_LINE)  # htslib sets END on symbolic alleles when writing
    created = []
    iterator = iter(handle)
    index = 0
    while True:
        try:
            record = next(iterator)
            error = ""
        except StopIteration:
            break
        except OSError as err:
            if stop_on_os_error:
                raise OSError(f"{err}; after record {index:,}") from None
            record, error = None, f"could not be parsed by htslib ({err})"
        except ValueError as err:
            record, error = None, f"could not be parsed by htslib ({err})"
        if entries is None:
            created.append(VcfEntry(None, record, error))
        elif index < len(entries):
            entries[index].record, entries[index].error = record, error
        else:
            break
        index += 1
    for entry in (entries or [])[index:]:
        entry.error = entry.error or "could not be parsed by htslib"
    return handle.header.copy(), created


# -- scoring ----------------------------------------------------------------------------


def entry_variants(entry: VcfEntry) -> list[Variant]:
    """One :class:`Variant` per ALT of a parsed record (none for a record without ALT)."""
    record = entry.record
    return [Variant(record.chrom, record.pos, record.ref, alt) for alt in record.alts or ()]


def score_entries(
    scorer: DnaVariantScorer, data: VcfData, progress: bool = False
) -> list[list[VariantScore]]:
    """Scores per entry (one per ALT; one ``no_alt``/``malformed_line`` entry otherwise)."""
    variants, owners = [], []
    for i, entry in enumerate(data.entries):
        if entry.record is not None:
            for variant in entry_variants(entry):
                variants.append(variant)
                owners.append(i)
    flat = scorer.score(variants, progress=progress)
    out: list[list[VariantScore]] = [[] for _ in data.entries]
    for i, score in zip(owners, flat, strict=True):
        out[i].append(score)
    for entry, scores in zip(data.entries, out, strict=True):
        if entry.record is None:
            fields = entry.fields
            scores.append(
                VariantScore(
                    entry.chrom,
                    entry.pos or 0,
                    _field(fields, 3),
                    _field(fields, 4),
                    status="malformed_line",
                    detail=entry.error,
                )
            )
        elif not scores:
            scores.append(
                VariantScore(
                    entry.record.chrom,
                    entry.record.pos,
                    entry.record.ref,
                    ".",
                    status="no_alt",
                    detail="no ALT allele",
                )
            )
    return out


# -- writing ----------------------------------------------------------------------------


def _mode(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".bcf"):
        return "wb"
    return "wz" if name.endswith((".gz", ".bgz")) else "w"


def output_header(data: VcfData, meta: dict[str, str] | None = None) -> pysam.VariantHeader:
    """The input header plus the BIOSEQ INFO definitions and ``##bioseq_*`` lines (one
    ``##bioseq_skipped`` line per malformed input line, saying why)."""
    header = data.header.copy() if data.header is not None else pysam.VariantHeader()
    reasons = ", ".join(f"{k} ({v})" for k, v in STATUSES.items())
    if LLR_KEY not in header.info:
        header.info.add(
            LLR_KEY,
            "A",
            "Float",
            "bioseq zero-shot score per ALT: log-likelihood "
            "of the ALT window minus that of the REF window (nats; masked models: "
            "log p(ALT) - log p(REF) at the masked changed bases)",
        )
    if STATUS_KEY not in header.info:
        header.info.add(STATUS_KEY, ".", "String", f"bioseq scoring status per ALT: {reasons}")
    for key, value in (meta or {}).items():
        header.add_line(f"##bioseq_{key}={value}")
    for entry in data.malformed:
        header.add_line(f"##bioseq_skipped={entry.where()}: {entry.error}")
    for chrom, _, _ in _placeholder_sites(data.entries).values():
        if chrom not in header.contigs:
            header.contigs.add(chrom)
    return header


def _placeholder_sites(entries: Sequence[VcfEntry]) -> dict[int, tuple[str, int, str]]:
    """``(CHROM, POS, REF)`` to write for each malformed entry (by index), so it stays in the
    output in file order. Fields that cannot be read are taken from the previous record (a
    CHROM that is not a contig name, a POS that is not a number: REF is then N), so the file
    stays sorted; REF that is not bases becomes N. Lines before any readable CHROM are left
    out (their ``##bioseq_skipped`` header line remains)."""
    sites: dict[int, tuple[str, int, str]] = {}
    chrom, pos = None, 1
    for i, entry in enumerate(entries):
        if entry.record is not None:
            chrom, pos = entry.record.chrom, entry.record.pos
            continue
        name = _field(entry.fields, 0)
        if _CONTIG.match(name):
            pos = pos if name == chrom else 1
            chrom = name
        if chrom is None:
            continue
        ref = _field(entry.fields, 3).upper() if entry.pos else "N"
        pos = entry.pos or pos
        sites[i] = (chrom, pos, ref if _REF.match(ref) else "N")
    return sites


def output_records(
    data: VcfData, scores: Sequence[Sequence[VariantScore]], handle: pysam.VariantFile
) -> Iterator[pysam.VariantRecord]:
    """Every input line as a record for ``handle`` (opened with :func:`output_header`) with the
    BIOSEQ fields: a parsed record with its scores, a malformed line as a placeholder
    (``BIOSEQ_STATUS=malformed_line``, ALT ``.``)."""
    header = handle.header
    sites = _placeholder_sites(data.entries)
    for i, (entry, entry_scores) in enumerate(zip(data.entries, scores, strict=True)):
        if entry.record is None:
            if i in sites:
                chrom, pos, ref = sites[i]
                yield handle.new_record(
                    contig=chrom,
                    start=pos - 1,
                    alleles=(ref, "."),
                    info={STATUS_KEY: ("malformed_line",)},
                )
            continue
        record = entry.record.copy()
        record.translate(header)
        if record.alts:
            record.info[LLR_KEY] = tuple(s.score for s in entry_scores)
        record.info[STATUS_KEY] = tuple(s.status for s in entry_scores)
        yield record


def write_vcf(
    data: VcfData,
    scores: Sequence[Sequence[VariantScore]],
    out: str | os.PathLike,
    meta: dict[str, str] | None = None,
) -> str | None:
    """Write every input line with the BIOSEQ fields (see :func:`output_records`); index
    ``.gz`` output with tabix. The file (and its index) replace ``out`` only once complete.

    Returns a warning when a ``.gz`` file could not be indexed (records not sorted), else None.
    """
    out = Path(out)
    header = output_header(data, meta)
    with atomic_output(out, companions=(".tbi",)) as tmp:
        with pysam.VariantFile(str(tmp), _mode(out), header=header) as handle:
            for record in output_records(data, scores, handle):
                handle.write(record)
        return _tabix(tmp, out) if _mode(out) == "wz" else None


def _tabix(path: Path, out: Path) -> str | None:
    """Index ``path`` (the temporary file of ``out``); a warning if it cannot be indexed."""
    try:
        pysam.tabix_index(str(path), preset="vcf", force=True)
    except (OSError, ValueError) as err:
        if isinstance(err, OSError) and err.errno in DISK_ERRORS:
            raise  # disk full or not writable: the whole output fails
        with contextlib.suppress(OSError):
            Path(f"{path}.tbi").unlink()
        why = str(err).replace(f" for {path}", "")  # the temporary name means nothing to a user
        return f"{out}: not indexed ({why}); sort it (bcftools sort) to index it"
    return None


def _format(value: float | None) -> str:
    return "NA" if value is None else f"{value:.6g}"


def tsv_rows(scores: Sequence[Sequence[VariantScore]]) -> Iterator[list[str]]:
    for entry_scores in scores:
        for s in entry_scores:
            yield [s.chrom, str(s.pos), s.ref, s.alt, _format(s.score), s.status]


def write_tsv(scores: Sequence[Sequence[VariantScore]], out: str | os.PathLike) -> None:
    """``chrom pos ref alt score status``: one row per ALT, in input order (score NA if none)."""
    with atomic_output(out) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write("\t".join(TSV_COLUMNS) + "\n")
        for row in tsv_rows(scores):
            handle.write("\t".join(row) + "\n")


# -- all together -----------------------------------------------------------------------


@dataclass
class VcfResult:
    """What :func:`score_vcf` did: the input, scores per entry, time, and any warnings."""

    data: VcfData
    scores: list[list[VariantScore]]
    seconds: float
    warning: str | None = None
    snv_metrics: dict | None = None
    scorer: DnaVariantScorer | None = None

    @property
    def alleles(self) -> list[VariantScore]:
        return [s for entry_scores in self.scores for s in entry_scores]


def score_vcf(
    model,
    tokenizer,
    genome: SequenceSource | str | os.PathLike,
    vcf: str | os.PathLike,
    out: str | os.PathLike | None = None,
    progress: bool = False,
    meta: dict[str, str] | None = None,
    **options,
) -> VcfResult:
    """Score every ALT of a VCF against ``genome`` (a source, FASTA or GenBank path) and write
    ``out`` when given (``.tsv``: a table; ``.vcf``, ``.vcf.gz``, ``.bcf``: the records with
    BIOSEQ fields). ``options`` go to the scorer of the model's family
    (:func:`~bioseq.tasks.variants.scorers.dna_scorer`: ``window``, ``strand``, ``marginal``...).

    When the records carry ``make-snv-vcf``'s annotation, ``snv_metrics`` holds the mean score
    per codon position and the synonymous-vs-nonsynonymous AUROC (:func:`snv_summary`).
    """
    if out is not None:
        check_output(out)  # before any scoring
    if not isinstance(genome, SequenceSource):
        genome = open_genome(genome)
    scorer = dna_scorer(model, tokenizer, genome, **options)
    data = read_vcf(vcf)
    start = time.perf_counter()
    scores = score_entries(scorer, data, progress=progress)
    result = VcfResult(data, scores, time.perf_counter() - start, scorer=scorer)
    result.snv_metrics = _snv_metrics(data, scores)
    if out is not None:
        result.warning = write_scores(result, out, meta)
    return result


def write_scores(
    result: VcfResult, out: str | os.PathLike, meta: dict[str, str] | None = None
) -> str | None:
    """Write ``out``: a ``.tsv`` table, else a VCF/BCF (:func:`write_vcf`, whose warning about
    a missing index is returned)."""
    if str(out).lower().endswith(".tsv"):
        write_tsv(result.scores, out)
        return None
    return write_vcf(result.data, result.scores, out, meta)


def _snv_metrics(data: VcfData, scores: list[list[VariantScore]]) -> dict | None:
    if data.header is None or not {"BIOSEQ_CODON_POS", "BIOSEQ_EFFECT"} <= set(data.header.info):
        return None
    values, positions, synonymous = [], [], []
    for entry, entry_scores in zip(data.entries, scores, strict=True):
        if entry.record is None or "BIOSEQ_CODON_POS" not in entry.record.info:
            continue
        for s in entry_scores:
            if s.score is not None:
                values.append(s.score)
                positions.append(entry.record.info["BIOSEQ_CODON_POS"])
                synonymous.append(entry.record.info.get("BIOSEQ_EFFECT") == "synonymous")
    return snv_summary(values, positions, synonymous) if values else None
