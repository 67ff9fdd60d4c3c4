"""benchmarks/evo2_score_vcf_gpu.py runs end to end on CPU with --smoke."""

import importlib.util
import tempfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "evo2_score_vcf_gpu.py"


def test_smoke_converts_loads_bf16_and_scores_every_variant(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its work folder, removed after
    spec = importlib.util.spec_from_file_location("evo2_score_vcf_gpu", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "scores.tsv"
    report = mod.main(["--smoke", "--device", "cpu", "--batch-size", "4", "--out", str(out)])
    assert report["dtype"] == "torch.bfloat16" and report["window"] == 64
    assert report["alleles"] == report["scored"] == 40 and report["variants_per_s"] > 0
    lines = out.read_text().splitlines()
    assert len(lines) == 41 and all(line.endswith("\tok") for line in lines[1:])
