"""Convert a real Evo 2 release checkpoint and score a VCF against a FASTA with the Evo 2
protocol (8,192-base windows, bf16), printing variants/s (issue 14's GPU script).

Run where a GPU and the weights are:

    python benchmarks/evo2_score_vcf_gpu.py --checkpoint evo2_1b_base.pt \\
        --config evo2-1b-8k.yml --fasta GRCh38.fa.gz --vcf brca1.vcf.gz --out scores.tsv

``--smoke`` writes a tiny random checkpoint in the release layout, a FASTA and a VCF itself and
runs the same path on CPU (``--device cpu``) in seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def write_smoke_inputs(folder: Path) -> dict[str, Path]:
    """A tiny random Evo 2 release (tests/test_convert_evo2.py's writer), a 2 kb contig and a
    VCF of 40 SNVs on it."""
    spec = importlib.util.spec_from_file_location(
        "_evo2_release", ROOT / "tests" / "test_convert_evo2.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.write_release(folder / "release")
    rng = random.Random(0)
    seq = "".join(rng.choice("ACGT") for _ in range(2000))
    fasta = folder / "smoke.fa"
    fasta.write_text(">chr1\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr1,length=2000>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    for pos in sorted(rng.sample(range(100, 1900), 40)):
        ref = seq[pos - 1]
        alt = rng.choice([b for b in "ACGT" if b != ref])
        lines.append(f"chr1\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.")
    vcf = folder / "smoke.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    return {
        "checkpoint": folder / "release" / "evo2_tiny.pt",
        "config": folder / "release" / "evo2-tiny.yml",
        "fasta": fasta,
        "vcf": vcf,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="Evo 2 release .pt (or the first of its .pt.partN shards)")
    p.add_argument("--config", help="the evo2 YAML config, e.g. evo2-1b-8k.yml")
    p.add_argument("--fasta")
    p.add_argument("--vcf")
    p.add_argument("--out", help="scores (.tsv / .vcf.gz); default: a temporary file")
    p.add_argument(
        "--converted",
        help="folder for the converted model (default: temporary; "
        "reused when it already holds one)",
    )
    p.add_argument("--window", type=int, default=8192)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--strand", default="forward", choices=["forward", "both"])
    p.add_argument("--device", default="cuda")
    p.add_argument("--smoke", action="store_true", help="tiny random inputs, made here")
    args = p.parse_args(argv)

    import bioseq.models  # noqa: F401  (registers the models)
    from bioseq.models.convert import convert_checkpoint
    from bioseq.models.hub import load_model
    from bioseq.tasks.variants.vcf import score_vcf

    tmp = Path(tempfile.mkdtemp(prefix="evo2_bench_"))
    if args.smoke:
        for key, path in write_smoke_inputs(tmp).items():
            setattr(args, key, str(path))
        args.window = min(args.window, 64)  # the tiny config's max_seqlen
    missing = [k for k in ("checkpoint", "config", "fasta", "vcf") if not getattr(args, k)]
    if missing:
        p.error("missing " + ", ".join("--" + k for k in missing) + " (or use --smoke)")
    converted = Path(args.converted) if args.converted else tmp / "converted"
    t0 = time.perf_counter()
    if not (converted / "config.json").is_file():
        convert_checkpoint(args.checkpoint, converted, config=args.config)
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = load_model(converted, args.device, dtype=torch.bfloat16)
    t_load = time.perf_counter() - t0
    out = Path(args.out) if args.out else tmp / "scores.tsv"
    meta = {"model": str(args.checkpoint), "window": str(args.window), "strand": args.strand}
    result = score_vcf(
        loaded.model,
        loaded.tokenizer,
        args.fasta,
        args.vcf,
        out,
        meta=meta,
        window=args.window,
        strand=args.strand,
        reduce="mean",
        batch_size=args.batch_size,
        window_step=1,
    )
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    ok = sum(s.status == "ok" for s in result.alleles)
    report = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device,
        "dtype": str(next(loaded.model.parameters()).dtype),
        "window": args.window,
        "alleles": len(result.alleles),
        "scored": ok,
        "seconds": round(result.seconds, 3),
        "variants_per_s": round(ok / result.seconds, 2) if result.seconds > 0 else None,
        "convert_s": round(t_convert, 2),
        "load_s": round(t_load, 2),
        "snv_metrics": result.snv_metrics,
        "out": str(out),
    }
    print(
        f"scored {ok} of {len(result.alleles)} alleles in {result.seconds:.2f} s: "
        f"{report['variants_per_s']} variants/s ({report['device']}, {report['dtype']}, "
        f"window {args.window})"
    )
    print(json.dumps(report, default=str))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
