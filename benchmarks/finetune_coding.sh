#!/usr/bin/env bash
# Issue 16, coding vs intergenic: the baselines (6-mer counts + logistic regression, a small CNN
# from scratch) and a bioseq-pretrained model fine-tuned, on the same tables, in one run.
#
#   bash benchmarks/finetune_coding.sh                   # RUNS=runs, the demo-sized pretraining
#   STEPS=1000 MODES="probe full" bash benchmarks/finetune_coding.sh
#
# The test tenth of the genome ([4,177,487, 4,641,652)) is what `bioseq pretrain` holds out as
# validation (--val-fraction 0.1), so the pretrained model never trained on it.
set -euo pipefail
RUNS=${RUNS:-runs}
STEPS=${STEPS:-1000}
MODES=${MODES:-"probe full"}
THREADS=${THREADS:-1}
export OMP_NUM_THREADS=$THREADS
mkdir -p "$RUNS"
python benchmarks/finetune_tables.py --out "$RUNS/tables" --skip-dms
python benchmarks/finetune_baselines.py --tables "$RUNS/tables" --threads "$THREADS" --quiet
model=$RUNS/ecoli-hyena-$STEPS
[ -d "$model/final" ] || bioseq pretrain --out "$model" --steps "$STEPS" --threads "$THREADS" --quiet
for mode in $MODES; do
    extra=""
    [ "$mode" = full ] && extra="--epochs 4 --batch-size 32 --lr 1e-3 --eval-every 60"
    bioseq finetune --model "$model" --train "$RUNS/tables/coding_train.tsv" \
        --val "$RUNS/tables/coding_val.tsv" --test "$RUNS/tables/coding_test.tsv" \
        --mode "$mode" $extra --threads "$THREADS" --out "$RUNS/coding-$mode" --overwrite \
        --no-progress
done
