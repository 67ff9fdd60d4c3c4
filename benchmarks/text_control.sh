#!/usr/bin/env bash
# The default DNA model and the default text control, trained with the same budget (the README
# demo's: tiny Hyena, 200 steps of 16 x 256 tokens), probed side by side with `bioseq probe`:
# clean and deranged, genomic and linguistic forms, the default shot counts that fit the
# context (256 tokens: 1-8 shots). Prints the table of benchmarks/text_control.py.
#
#   bash benchmarks/text_control.sh [OUT]          # OUT defaults to runs/text-control
#   TEXT_STEPS=1000 bash benchmarks/text_control.sh runs/tc1000   # a longer text budget
#
# One thread each (OMP_NUM_THREADS=1, --threads 1) at nice 10, one step after the other.
set -euo pipefail
out=${1:-runs/text-control}
export OMP_NUM_THREADS=1
here=$(dirname "$0")

nice -n 10 bioseq pretrain --out "$out/dna" --threads 1 --overwrite --quiet
nice -n 10 bioseq pretrain --text ${TEXT_STEPS:+--steps "$TEXT_STEPS"} --out "$out/text" \
    --threads 1 --overwrite --quiet
nice -n 10 bioseq probe --model "$out/dna" --model "$out/text" --form both --deranged \
    --threads 1 --out "$out/probe"
python "$here/text_control.py" "$out/probe/results.csv"
