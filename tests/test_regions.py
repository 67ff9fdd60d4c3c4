"""``bioseq.io.regions``: samtools-style regions parsed, checked and fetched (``bioseq fetch``)."""

from __future__ import annotations

import pytest

from bioseq.data import example_genome
from bioseq.errors import InputError
from bioseq.io import read_genbank, reverse_complement
from bioseq.io.regions import check_region, fetch_regions, parse_region

LAMBDA = example_genome("lambda")


def test_regions_are_one_based_and_inclusive():
    sequence = read_genbank(LAMBDA)[0].sequence
    got = list(fetch_regions(LAMBDA, ["NC_001416.1:1,001-1,010", "NC_001416.1:5-5"]))
    assert got == [
        ("NC_001416.1:1,001-1,010", sequence[1000:1010]),
        ("NC_001416.1:5-5", sequence[4]),
    ]
    [(name, minus)] = fetch_regions(LAMBDA, ["NC_001416.1:11-20"], strand="-")
    assert name == "NC_001416.1:11-20(-)" and minus == reverse_complement(sequence[10:20])
    [(_, whole)] = fetch_regions(LAMBDA, ["NC_001416.1"])
    assert whole == sequence


@pytest.mark.parametrize(
    "region, message",
    [
        ("chr9:1-10", "no contig named 'chr9'"),
        ("NC_001416.1:48000-48600", "extends past the end of NC_001416.1 (length 48,502)"),
        ("NC_001416.1:20-10", "END >= START"),
        ("NC_001416.1:0-10", "START must be >= 1"),
    ],
)
def test_every_region_is_checked_before_any_is_read(region, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fetch_regions(LAMBDA, ["NC_001416.1:1-10", region])  # raises before iterating


def test_parse_and_check():
    assert parse_region("c:1-3") == ("c", 0, 3)
    assert check_region({"c": 10}, "c") == ("c", 0, None)
