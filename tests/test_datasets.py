"""Tests of bioseq.io.windows, bioseq.io.records and bioseq.io.intervals (in-memory genomes)."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import bioseq.io.windows as windows
from bioseq.errors import InputError
from bioseq.io.alphabet import PROTEIN, reverse_complement_array
from bioseq.io.intervals import Interval, read_bed, split_territory
from bioseq.io.records import LengthBucketSampler, SequenceRecords, pad_collate
from bioseq.io.source import InMemoryGenome
from bioseq.io.windows import GenomeWindows


class FakeTokenizer:
    """One token per base (A C G T N -> 4..8), bos 1, eos 2, pad 0."""

    pad_token_id = 0

    def __init__(self) -> None:
        self.lut = np.full(256, 3, dtype=np.int64)
        for i, c in enumerate(b"ACDEFGHIKLMNPQRSTVWY"):
            self.lut[c] = 4 + i

    def encode_array(self, codes: np.ndarray, add_special_tokens: bool = False) -> np.ndarray:
        ids = self.lut[codes]
        return np.concatenate([[1], ids, [2]]) if add_special_tokens else ids


def random_genome(lengths: dict[str, int], seed: int = 0) -> InMemoryGenome:
    rng = np.random.default_rng(seed)
    bases = np.frombuffer(b"ACGT", np.uint8)
    return InMemoryGenome({name: rng.choice(bases, n).tobytes() for name, n in lengths.items()})


def key(item: dict) -> tuple:
    return (item["contig"], item["start"], item["strand"], item["input_ids"].tolist())


def rows(loader: DataLoader) -> list[tuple]:
    """The items of a GenomeWindows DataLoader as ``key`` tuples."""
    return [
        row
        for b in loader
        for row in zip(
            b["contig"], b["start"].tolist(), b["strand"], b["input_ids"].tolist(), strict=True
        )
    ]


def covered(ds: GenomeWindows) -> set[tuple[str, int]]:
    return {
        (item["contig"], pos)
        for item in (ds[i] for i in range(len(ds)))
        for pos in range(item["start"], item["start"] + ds.window_length)
    }


@pytest.fixture(scope="module")
def genome() -> InMemoryGenome:
    return random_genome({f"chr{i}": 2000 + 500 * i for i in range(1, 7)})


def test_random_windows_are_deterministic_per_seed_and_epoch(genome):
    a = GenomeWindows(genome, 100, num_windows=50, seed=3, rc_augment=True)
    b = GenomeWindows(genome, 100, num_windows=50, seed=3, rc_augment=True)
    first = [key(a[i]) for i in range(50)]
    assert first == [key(b[i]) for i in reversed(range(50))][::-1]
    a.set_epoch(1)
    assert [key(a[i]) for i in range(50)] != first
    a.set_epoch(0)
    assert [key(a[i]) for i in range(50)] == first
    other_seed = GenomeWindows(genome, 100, num_windows=50, seed=4)
    assert [key(other_seed[i]) for i in range(50)] != first
    for item in first:
        assert item[1] + 100 <= genome.contigs[item[0]]
    assert len(GenomeWindows(genome, 100)) == sum(genome.contigs.values()) // 100


def test_items_identical_with_and_without_workers(genome):
    ds = GenomeWindows(
        genome, 64, num_windows=3000, seed=1, rc_augment=True, tokenizer=FakeTokenizer()
    )
    ds.set_epoch(2)

    def load(workers: int) -> list[tuple]:
        return rows(DataLoader(ds, batch_size=100, num_workers=workers, shuffle=False))

    assert load(0) == load(2)


class PidGenome(InMemoryGenome):
    """Refuses to be used from another process than the one that opened it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pid = os.getpid()

    def fetch_codes(self, *args, **kwargs) -> np.ndarray:
        assert os.getpid() == self.pid, "source handle shared across processes"
        return super().fetch_codes(*args, **kwargs)

    def __reduce__(self):
        raise TypeError("open sources must not be pickled")


def test_paths_are_opened_once_per_process(monkeypatch, tmp_path, genome):
    records = {c: genome.fetch(c) for c in genome.contigs}
    opened = []

    def fake_open(path):
        opened.append(path)
        return PidGenome(records, path=path)

    monkeypatch.setattr(windows, "open_genome", fake_open)
    path = tmp_path / "genome.fa"
    ds = GenomeWindows(str(path), 50, num_windows=400, seed=5)
    expected = [key(ds[i]) for i in range(len(ds))]
    assert len(opened) == 1
    clone = pickle.loads(pickle.dumps(ds))  # handles are dropped, reopened on use
    assert [key(clone[i]) for i in range(len(clone))] == expected
    loader = DataLoader(ds, batch_size=50, num_workers=2, multiprocessing_context="fork")
    assert rows(loader) == expected


def test_bundled_genomes_by_path_with_workers():
    from bioseq.data import example_genome

    ecoli = GenomeWindows(example_genome("ecoli"), 500, num_windows=300, rc_augment=True)
    expected = [key(ecoli[i]) for i in range(len(ecoli))]
    assert rows(DataLoader(ecoli, batch_size=50, num_workers=2)) == expected
    phage = GenomeWindows(example_genome("lambda"), 1000, mode="tiled")
    assert len(phage) == 48 and phage[0]["contig"] == "NC_001416.1"


def test_shard_partitions_indices(genome):
    ds = GenomeWindows(genome, 100, num_windows=101)
    shards = [ds.shard(rank, 3) for rank in range(3)]
    assert sorted(i for s in shards for i in s.indices) == list(range(101))
    assert key(shards[1][0]) == key(ds[1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split_by": "contig", "val_fraction": 0.2, "test_fraction": 0.2},
        {"split_by": "contig", "val_contigs": ["chr2"], "test_contigs": ["chr5"]},
        {"split_by": "interval", "val_fraction": 0.2, "test_fraction": 0.1, "block_size": 700},
        {"split_by": "interval", "val_fraction": 0.2, "test_fraction": 0.1, "block_size": None},
    ],
)
def test_splits_are_disjoint(genome, kwargs):
    cover = {}
    for split in ("train", "val", "test"):
        tiled = GenomeWindows(genome, 50, mode="tiled", stride=10, split=split, **kwargs)
        cover[split] = covered(tiled)
        random = GenomeWindows(genome, 50, num_windows=300, split=split, **kwargs)
        assert covered(random) <= cover[split]
    assert not cover["train"] & cover["val"]
    assert not cover["train"] & cover["test"]
    assert not cover["val"] & cover["test"]
    total = sum(genome.contigs.values())
    assert len(cover["train"]) > 0.5 * total
    assert len(cover["val"]) > 0.1 * total and len(cover["test"]) > 0.05 * total
    if kwargs.get("val_contigs"):
        assert {c for c, _ in cover["val"]} == {"chr2"}


def test_single_contig_interval_split():
    ecoli = random_genome({"NC_000913.3": 20_000})
    val = GenomeWindows(
        ecoli,
        100,
        mode="tiled",
        split="val",
        split_by="interval",
        val_fraction=0.1,
        block_size=None,
    )
    assert {val[i]["start"] for i in range(len(val))} == set(range(18_000, 20_000, 100))
    with pytest.raises(InputError, match="split_by='interval'"):
        GenomeWindows(ecoli, 100, split="val", val_fraction=0.1)
    blocks = GenomeWindows(
        ecoli,
        100,
        split="val",
        split_by="interval",
        val_fraction=0.1,
        block_size=1000,
        split_seed=7,
        mode="tiled",
    )
    held = split_territory(
        [Interval("NC_000913.3", 0, 20_000)], "val", "interval", 0.1, block_size=1000, seed=7
    )
    assert sum(e - s for _, s, e in held) == 2000  # 10% of 20 blocks, held out whole
    for i in range(len(blocks)):
        start = blocks[i]["start"]
        assert any(s <= start and start + 100 <= e for _, s, e in held)


def test_split_arguments_need_a_split(genome):
    with pytest.raises(InputError, match="without split"):
        GenomeWindows(genome, 100, val_fraction=0.1)


def test_split_territory_rejects_bad_arguments():
    territory = [Interval("a", 0, 1000), Interval("b", 0, 1000)]
    with pytest.raises(InputError, match="empty"):
        split_territory(territory, "val")
    with pytest.raises(InputError, match="not in the genome"):
        split_territory(territory, "val", val_contigs=["c"])
    with pytest.raises(InputError, match="below 1"):
        split_territory(territory, "train", val_fraction=0.6, test_fraction=0.4)


def test_windows_with_too_many_n_are_skipped():
    rng = np.random.default_rng(0)
    seq = bytearray(rng.choice(np.frombuffer(b"ACGT", np.uint8), 10_000).tobytes())
    seq[2000:6000] = b"N" * 4000
    seq[8000:8005] = b"N" * 5  # 5 % of a window: allowed
    g = InMemoryGenome({"chr": bytes(seq)})
    rand = GenomeWindows(g, 100, num_windows=500, max_n_fraction=0.1)
    for i in range(len(rand)):
        assert np.count_nonzero(rand[i]["input_ids"].numpy() == ord("N")) <= 10
    tiled = GenomeWindows(g, 100, mode="tiled", max_n_fraction=0.1)
    starts = [tiled[i]["start"] for i in range(len(tiled))]
    assert len(starts) == 60 and 2000 not in starts and 8000 in starts
    assert len(GenomeWindows(g, 100, mode="tiled", max_n_fraction=None)) == 100
    with pytest.raises(InputError, match="every tiled window"):
        GenomeWindows(InMemoryGenome({"n": "N" * 500}), 100, mode="tiled")


def test_rc_augment_gives_exact_reverse_complement(genome):
    ds = GenomeWindows(genome, 80, num_windows=200, rc_augment=True, seed=2)
    strands = []
    for i in range(len(ds)):
        item = ds[i]
        forward = genome.fetch_codes(item["contig"], item["start"], item["start"] + 80)
        expected = reverse_complement_array(forward) if item["strand"] == "-" else forward
        assert item["input_ids"].dtype == torch.uint8
        assert item["input_ids"].numpy().tobytes() == expected.tobytes()
        strands.append(item["strand"])
    assert 60 < strands.count("-") < 140
    assert {GenomeWindows(genome, 80, num_windows=50)[i]["strand"] for i in range(50)} == {"+"}


def test_bed_restriction(tmp_path, genome):
    bed = tmp_path / "regions.bed"
    bed.write_text(
        "track name=x\n# comment\nchr1\t100\t400\tpeak\n\n"
        "chr3\t1000\t1100\nchr3\t1050\t1300\nchr4\t0\t50\n"
    )
    assert read_bed(bed)[0] == Interval("chr1", 100, 400)
    with pytest.warns(UserWarning, match="shorter than"):
        ds = GenomeWindows(genome, 100, bed=bed, num_windows=300)
    for i in range(len(ds)):
        item = ds[i]
        inside = [
            (c, s, e)
            for c, s, e in [("chr1", 100, 400), ("chr3", 1000, 1300)]
            if c == item["contig"] and s <= item["start"] and item["start"] + 100 <= e
        ]
        assert inside
    tiled = GenomeWindows(
        genome, 100, bed=[("chr1", 100, 400), ("chr2", 0, 250)], mode="tiled", contigs=["chr2"]
    )
    assert [(tiled[i]["contig"], tiled[i]["start"]) for i in range(len(tiled))] == [
        ("chr2", 0),
        ("chr2", 100),
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("chr1\t0\t10\nchr1\t5\n", 2, "expected 'contig start end'"),
        ("chr1\tzero\t10\n", 1, "must be integers"),
        ("# header\nchr1\t20\t10\n", 2, "0 <= start <= end"),
    ],
)
def test_bed_parse_errors_name_file_and_line(tmp_path, text, line, message):
    bed = tmp_path / "bad.bed"
    bed.write_text(text)
    with pytest.raises(InputError, match=f"bad.bed:{line}: .*{message}"):
        read_bed(bed)


def test_bed_errors_against_the_genome(genome):
    with pytest.raises(InputError, match="contig 'chrZ' is not in"):
        GenomeWindows(genome, 100, bed=[("chrZ", 0, 500)])
    with pytest.raises(InputError, match="outside the contig"):
        GenomeWindows(genome, 100, bed=[("chr1", 0, 10**6)])


def test_short_contigs_warn_and_error():
    g = random_genome({"long": 1000, "tiny": 30})
    with pytest.warns(UserWarning, match=r"tiny \(30 bp\)"):
        ds = GenomeWindows(g, 200, mode="tiled")
    assert {ds[i]["contig"] for i in range(len(ds))} == {"long"}
    with pytest.raises(InputError, match=r"<memory>: no contig .* 5000 bp \(longest: long, 1000"):
        GenomeWindows(g, 5000)


PROTEINS = [("p1", "MKTAYIAKQR"), ("p2", "MS"), ("p3", "MKVLAAGIVGLLLAAHHHHHH"), ("p4", "MQDRV")]


def test_records_cropping():
    left = SequenceRecords(PROTEINS, max_length=5, crop="left")
    assert left[0]["input_ids"].numpy().tobytes() == b"MKTAY"
    assert left[1]["input_ids"].numpy().tobytes() == b"MS"
    center = SequenceRecords(PROTEINS, max_length=4, crop="center")
    assert center[0]["input_ids"].numpy().tobytes() == b"AYIA" and center[0]["start"] == 3
    rand = SequenceRecords(PROTEINS, max_length=6, seed=1)
    crops = set()
    for epoch in range(20):
        rand.set_epoch(epoch)
        item = rand[2]
        s = item["start"]
        assert item["input_ids"].numpy().tobytes() == PROTEINS[2][1][s : s + 6].encode()
        crops.add(s)
    assert len(crops) > 3
    again = SequenceRecords(PROTEINS, max_length=6, seed=1)
    again.set_epoch(19)
    assert again[2]["start"] == item["start"]
    tok = SequenceRecords(PROTEINS, max_length=6, tokenizer=FakeTokenizer(), crop="left")
    assert tok[0]["input_ids"].tolist()[0] == 1 and tok[0]["input_ids"].tolist()[-1] == 2
    assert len(tok[0]["input_ids"]) == 6 and tok.lengths.tolist() == [6, 4, 6, 6]
    assert SequenceRecords(["ACGT", "GG"])[1]["name"] == "1"


def test_records_from_files(tmp_path):
    fasta = tmp_path / "proteins.fa"
    fasta.write_text(">p1 first\nMKTAY\nIAKQR\n>p2\nMSU\n")
    ds = SequenceRecords(fasta, crop="left", max_length=4)
    assert ds.names == ["p1", "p2"]
    assert [ds[i]["input_ids"].numpy().tobytes() for i in range(2)] == [b"MKTA", b"MSC"]
    a2m = tmp_path / "family.a2m"
    a2m.write_text(">wt/1-5\nMK-TaY\n>hom\nMQ-T.Y\n")
    assert [r["input_ids"].numpy().tobytes() for r in SequenceRecords(a2m)] == [b"MKTAY", b"MQTY"]
    with pytest.raises(InputError, match="record 'x'"):
        SequenceRecords([("x", "MK1")], alphabet=PROTEIN)


def test_records_collate_pads_and_masks():
    ds = SequenceRecords(PROTEINS, tokenizer=FakeTokenizer())
    batch = ds.collate([ds[1], ds[0], ds[3]])
    assert batch["input_ids"].shape == (3, 12) and batch["input_ids"].dtype == torch.int64
    assert batch["lengths"].tolist() == [4, 12, 7]
    assert batch["attention_mask"].sum(1).tolist() == [4, 12, 7]
    assert batch["input_ids"][0, 4:].tolist() == [0] * 8
    assert batch["attention_mask"][0].tolist() == [1] * 4 + [0] * 8
    assert batch["name"] == ["p2", "p1", "p4"] and batch["index"].tolist() == [1, 0, 3]
    raw = pad_collate([{"input_ids": torch.tensor([5, 6])}], pad_token_id=9)
    assert raw["input_ids"].tolist() == [[5, 6]]


def test_length_bucket_sampler():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 1000, 1000)
    sampler = LengthBucketSampler(lengths, 16, seed=3, bucket_size=256)
    epochs = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 63
        assert sorted(i for b in batches for i in b) == list(range(1000))
        spread = np.mean([np.ptp(lengths[b]) for b in batches])
        assert spread < 0.2 * np.mean(
            [np.ptp(lengths[rng.permutation(1000)[:16]]) for _ in range(50)]
        )
        epochs.append(batches)
    assert epochs[0] != epochs[1]
    sampler.set_epoch(0)
    assert list(sampler) == epochs[0]
    ranks = [list(LengthBucketSampler(lengths, 16, num_replicas=2, rank=r)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 31
    assert not {i for b in ranks[0] for i in b} & {i for b in ranks[1] for i in b}
    dropped = LengthBucketSampler(lengths, 16, drop_last=True)
    assert len(list(dropped)) == len(dropped) == 62


def test_records_with_bucket_sampler_in_dataloader():
    ds = SequenceRecords(PROTEINS * 10, tokenizer=FakeTokenizer())
    loader = DataLoader(ds, batch_sampler=LengthBucketSampler(ds, 4), collate_fn=ds.collate)
    seen = [i for batch in loader for i in batch["index"].tolist()]
    assert sorted(seen) == list(range(40))
