#!/usr/bin/env bash
# Issue 5, protein "done when": a BLAT_ECOLX family model pretrained with `bioseq pretrain` on
# the unaligned homologs, then zero-shot Spearman on the Stiffler 2015 DMS (column 2500), beside
# the site-independent baseline on the same homologs. Target: causal Spearman >= 0.55.
#
#   bash benchmarks/variants_protein.sh            # runs/ holds the runs and the score tables
#
# Each pretraining run takes about 25 CPU minutes on one core (2026-11-30: Spearman 0.651
# forward, 0.629 reverse, 0.692 both; see RESULTS.md); the two runs can share two cores (the last line of each score-mutations call is the
# metrics: spearman, n_scored, n_skipped).
set -euo pipefail
DATA=${BIOSEQ_SHARED_DATA:-../shared/data}/proteins
RUNS=${RUNS:-runs}
A2M=$DATA/BLAT_ECOLX_r24-286.a2m
DMS=$DATA/BLAT_ECOLX_Ranganathan2015.csv
STEPS=${STEPS:-1100}
MODEL=${MODEL:-transformer}
mkdir -p "$RUNS"

# 1. the baseline, weighted (theta 0.8) and unweighted
bioseq score-mutations --model site-independent --alignment "$A2M" --mutations "$DMS" \
    --score-col 2500 --out "$RUNS/blat_site_independent.csv" --no-progress
bioseq score-mutations --model site-independent --alignment "$A2M" --mutations "$DMS" \
    --score-col 2500 --unweighted --out "$RUNS/blat_site_independent_unweighted.csv" --no-progress

# 2. family models on the unaligned homologs (a2m gaps are removed by pretrain), both directions
for direction in forward reverse; do
    bioseq pretrain "$A2M" --alphabet protein --model "$MODEL" --size small --context 320 \
        --batch-size 16 --steps "$STEPS" --lr 2e-3 --sequence-weights 0.8 --threads 1 \
        --direction "$direction" --seed 0 \
        --out "$RUNS/blat-$MODEL-$direction" --overwrite --quiet
done

# 3. zero-shot scores: left-to-right, then Tranception's mirror (average of both directions)
bioseq score-mutations --model "$RUNS/blat-$MODEL-forward" --wildtype "$A2M" --mutations "$DMS" \
    --score-col 2500 --out "$RUNS/blat_causal.csv" --no-progress
bioseq score-mutations --model "$RUNS/blat-$MODEL-forward" --model "$RUNS/blat-$MODEL-reverse" \
    --strategy causal-both --wildtype "$A2M" --mutations "$DMS" --score-col 2500 \
    --out "$RUNS/blat_causal_both.csv" --no-progress

for f in "$RUNS"/blat_*.metrics.json; do echo "$f"; cat "$f"; done
