"""The long fuzz run: the properties of ``tests/test_fuzz.py`` on many more generated cases.

Every target of ``tests/fuzz_strategies.py`` (readers: FASTA, GenBank, VCF, mutation tables,
alignments, YAML configs; CLI: info, fetch, score-vcf, score-mutations, make-snv-vcf,
pretrain --config) runs ``--examples`` hypothesis cases. A failing case does not stop the run:
it is counted under its signature (exception type and the line that raised it, or the property
that failed), and the smallest case of each signature is printed at the end. Prints a table of
cases run and outcomes per target.

    python benchmarks/fuzz.py --examples 2000                 # every target
    python benchmarks/fuzz.py --examples 500 --target fasta --target cli-fetch --seed 1

Exit status 1 when any property failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis.errors import Flaky  # noqa: E402

from tests import fuzz_strategies as fz  # noqa: E402


def signature(err: BaseException) -> str:
    """Exception type and where bioseq raised it (the innermost frame in bioseq/), or the
    property's message (first line) for a failed assertion."""
    if isinstance(err, AssertionError):
        first = (str(err).splitlines() or ["?"])[0]
        return f"AssertionError: {first[:100]}"
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "/bioseq/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(err).__name__} at {where}"


def case_size(case: fz.Case) -> int:
    return sum(len(data) for data in case.files.values())


def run_target(name: str, examples: int, seed_value: int) -> tuple[Counter, dict, float]:
    """Outcome counts (``valid/ok``, ``broken/error``, ``FAIL``...) and the failures:
    signature -> (count, smallest case, traceback)."""
    strategy, check = fz.TARGETS[name]
    counts: Counter = Counter()
    failures: dict[str, list] = {}

    @seed(seed_value)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy())
    def run(case: fz.Case) -> None:
        kind = "valid" if case.valid else "broken"
        try:
            outcome = fz.run_case(check, case)
        except Exception as err:  # noqa: BLE001 - every failure is counted, none stops the run
            counts[f"{kind}/FAIL"] += 1
            sig = signature(err)
            if any(bug.matches(err) for bug in fz.KNOWN_BUGS.get(name, [])):
                sig = "known bug: " + sig
            tb = "".join(traceback.format_exception(err))
            entry = failures.setdefault(sig, [0, case, tb])
            entry[0] += 1
            if case_size(case) < case_size(entry[1]):
                entry[1], entry[2] = case, tb
            return
        counts[f"{kind}/{outcome}"] += 1

    start = time.perf_counter()
    try:
        run()
    except Flaky:
        counts["flaky"] += 1
    return counts, failures, time.perf_counter() - start


COLUMNS = ["valid/ok", "valid/error", "broken/ok", "broken/error", "broken/usage", "valid/usage",
           "valid/FAIL", "broken/FAIL"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="cases per target")
    parser.add_argument(
        "--target",
        action="append",
        choices=sorted(fz.TARGETS),
        help="run only these targets (repeatable; default: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--show", type=int, default=3000, help="characters of each failure's traceback to print"
    )
    options = parser.parse_args()

    import numba
    import torch

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    targets = options.target or list(fz.TARGETS)
    header = f"{'target':<22}{'cases':>7}" + "".join(f"{c:>14}" for c in COLUMNS) + f"{'s':>8}"
    rows, all_failures = [], {}
    total = Counter()
    for name in targets:
        counts, failures, seconds = run_target(name, options.examples, options.seed)
        n = sum(counts.values())
        total.update(counts)
        total["cases"] += n
        rows.append(
            f"{name:<22}{n:>7}"
            + "".join(f"{counts.get(c, 0):>14}" for c in COLUMNS)
            + f"{seconds:>8.0f}"
        )
        print(rows[-1], flush=True)
        for sig, (count, case, tb) in failures.items():
            all_failures[(name, sig)] = (count, case, tb)
    print()
    print(header)
    print("\n".join(rows))
    print(f"{'total':<22}{total['cases']:>7}" + "".join(f"{total.get(c, 0):>14}" for c in COLUMNS))
    if all_failures:
        print(f"\n{len(all_failures)} distinct failures:")
        for (name, sig), (count, case, tb) in all_failures.items():
            print(f"\n== {name}: {sig} ({count} cases); smallest:\n{case!r}")
            print(tb[-options.show :])
    return 1 if all_failures else 0


if __name__ == "__main__":
    sys.exit(main())
