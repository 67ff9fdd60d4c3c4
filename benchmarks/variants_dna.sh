#!/usr/bin/env bash
# Issue 5, DNA "done when": a model pretrained on E. coli with some genes held out scores every
# SNV of held-out CDS. Targets: mean score at codon positions 1 and 2 below position 3, and
# AUROC > 0.6 for synonymous (positive) against nonsynonymous SNVs.
#
#   bash benchmarks/variants_dna.sh
#
# `bioseq pretrain` holds out the last tenth of every contig by default (--val-fraction 0.1):
# for NC_000913.3 (4,641,652 bp) that is 4,177,487 onwards, so CDS wholly inside
# 4,178,100-4,641,652 (a window's half-width past the boundary) were never trained on.
# score-vcf sees make-snv-vcf's BIOSEQ_CODON_POS / BIOSEQ_EFFECT fields and prints the
# codon-position means and the AUROC, and writes them to heldout_scored.metrics.json.
set -euo pipefail
DATA=${BIOSEQ_SHARED_DATA:-../shared/data}/genomes
RUNS=${RUNS:-runs}
GBFF=$DATA/ecoli_k12_mg1655.gbff.gz
CONTEXT=${CONTEXT:-1024}
STEPS=${STEPS:-3000}
N_CDS=${N_CDS:-10}
MODEL=${MODEL:-mamba}
mkdir -p "$RUNS"

bioseq pretrain "$GBFF" --model "$MODEL" --size small --context "$CONTEXT" --batch-size 32 \
    --steps "$STEPS" --rc-augment --val-fraction 0.1 --seed 0 \
    --out "$RUNS/ecoli-$MODEL" --overwrite --quiet

bioseq make-snv-vcf --genbank "$GBFF" --region NC_000913.3:4178100-4641652 --limit "$N_CDS" \
    --out "$RUNS/heldout_snvs.vcf.gz"

bioseq score-vcf --model "$RUNS/ecoli-$MODEL" --fasta "$GBFF" --vcf "$RUNS/heldout_snvs.vcf.gz" \
    --out "$RUNS/heldout_scored.vcf.gz" --window "$CONTEXT" --strand both --no-progress
cat "$RUNS/heldout_scored.metrics.json"
