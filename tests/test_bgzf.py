"""BGZF random access: every block boundary of every bundled file, files written with 65,536-
byte blocks (Biopython's writer) as well as htslib's 65,280, and damaged blocks."""

import gzip
import itertools
import random
import shutil
from pathlib import Path

import pytest
from Bio import bgzf
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.data import default_genome, example_genome
from bioseq.errors import InputError
from bioseq.io import Genome, read_genbank
from bioseq.io.bgzf import read_gzi, write_gzi

DATA_DIR = default_genome().parent


def bundled_bgzf_files() -> list[Path]:
    return sorted(p for p in DATA_DIR.iterdir() if p.read_bytes()[:4] == b"\x1f\x8b\x08\x04")


def reference(path: Path) -> tuple[bytes, dict[str, tuple[int, str]]]:
    """The uncompressed file and, per contig, the offset of its first base and its bases,
    parsed by hand (not through the code under test)."""
    text = gzip.decompress(path.read_bytes())
    contigs, offset = {}, 0
    for chunk in text.split(b">")[1:]:
        header, _, body = chunk.partition(b"\n")
        start = offset + 1 + len(header) + 1
        contigs[header.split()[0].decode()] = (start, body.replace(b"\n", b"").decode().upper())
        offset += 1 + len(chunk)
    return text, contigs


def block_starts(path: Path) -> list[int]:
    """Uncompressed offsets at which BGZF blocks start, from Biopython's block scanner."""
    with open(path, "rb") as handle:
        return [start for _, _, start, _ in bgzf.BgzfBlocks(handle)]


def check_every_boundary(path: Path) -> int:
    """Fetch around every block boundary and compare with the reference; returns reads made."""
    text, contigs = reference(path)
    reads = 0
    with Genome(path) as genome:
        for name, (first, bases) in contigs.items():
            width = text.index(b"\n", first) - first  # bases per line
            for boundary in block_starts(path):
                local = boundary - first
                if not 0 <= local < len(bases) + len(bases) // width:
                    continue
                pos = local - local // (width + 1)  # base index at (or just after) the boundary
                for start, end in (
                    (pos, pos + 1),
                    (pos - 1, pos + 1),
                    (pos - 3, pos + 90),
                    (pos, pos + 70_000),
                    (pos - 1, pos),
                ):
                    start, end = max(start, 0), min(end, len(bases))
                    if start < end:
                        assert genome.fetch(name, start, end) == bases[start:end], (name, start)
                        reads += 1
    return reads


@pytest.mark.parametrize("path", bundled_bgzf_files(), ids=lambda p: p.name)
def test_reads_at_every_block_boundary_of_bundled_files(path):
    assert check_every_boundary(path) > 100


def test_bundled_genome_uses_standard_block_sizes():
    blocks = read_gzi(f"{default_genome()}.gzi")
    sizes = {b[1] - a[1] for a, b in itertools.pairwise(blocks)}
    assert sizes == {65_280}  # htslib's bgzip


@pytest.fixture(scope="module")
def biopython_bgzf(tmp_path_factory) -> Path:
    """The first 400 kb of the bundled E. coli genome, as written by Biopython's BGZF writer
    (65,536 bytes a block), and lambda as a second contig."""
    text = gzip.decompress(default_genome().read_bytes())
    head = text[: 400_000 + 400_000 // 80]
    [record] = read_genbank(example_genome("lambda"))
    lines = [record.sequence[i : i + 60] for i in range(0, len(record.sequence), 60)]
    path = tmp_path_factory.mktemp("bgzf") / "ecoli_head.fa.gz"
    with bgzf.BgzfWriter(str(path)) as out:
        out.write(head.rstrip(b"\n") + b"\n")
        out.write(f">{record.name}\n" + "\n".join(lines) + "\n")
    return path


def test_files_with_65536_byte_blocks_read_at_every_boundary(biopython_bgzf):
    starts = block_starts(biopython_bgzf)
    assert starts[1] == 65_536
    assert check_every_boundary(biopython_bgzf) > 10


def test_fetch_cli_at_a_65536_byte_block_start(biopython_bgzf):
    _, contigs = reference(biopython_bgzf)
    name, (first, bases) = next(iter(contigs.items()))
    pos = (65_536 - first) - (65_536 - first) // 81  # the first base of the second block
    region = f"{name}:{pos + 1}-{pos + 4}"
    result = CliRunner().invoke(main, ["fetch", str(biopython_bgzf), region])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == bases[pos : pos + 4]


def test_write_gzi_agrees_with_biopython_and_random_reads(biopython_bgzf, tmp_path):
    with open(biopython_bgzf, "rb") as handle:
        expected = [(c, u) for c, _, u, n in bgzf.BgzfBlocks(handle) if n]
    assert write_gzi(biopython_bgzf, tmp_path / "x.gzi") == expected
    assert read_gzi(tmp_path / "x.gzi") == expected
    _, contigs = reference(biopython_bgzf)
    name, (_, bases) = next(iter(contigs.items()))
    rng = random.Random(0)
    with Genome(biopython_bgzf) as genome:
        for _ in range(300):
            start = rng.randrange(len(bases))
            end = min(len(bases), start + rng.randrange(1, 150_000))
            assert genome.fetch(name, start, end) == bases[start:end]
            assert genome.fetch(name, start, end, strand="-") == genome.fetch(name, start, end)[
                ::-1
            ].translate(str.maketrans("ACGTN", "TGCAN"))


def test_a_damaged_block_is_one_line_naming_the_file(biopython_bgzf, tmp_path):
    path = tmp_path / "damaged.fa.gz"
    shutil.copy(biopython_bgzf, path)
    with Genome(path) as genome:  # index first, then damage the second block's deflate data
        name = next(iter(genome.contigs))
    blocks = read_gzi(f"{path}.gzi")
    data = bytearray(path.read_bytes())
    for i in range(blocks[1][0] + 40, blocks[1][0] + 400):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    Path(f"{path}.fai").touch()
    Path(f"{path}.gzi").touch()
    with Genome(path) as genome:
        assert len(genome.fetch(name, 0, 100)) == 100  # the first block is intact
        with pytest.raises(InputError) as err:
            genome.fetch(name, 0, 70_000)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "corrupt" in message
