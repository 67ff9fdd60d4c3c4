#!/usr/bin/env bash
# Issue 15, protein "done when": one bidirectional family-model recipe (Caduceus, masked LM on the
# alignment's match columns, sequence-weighted) on every family in ../shared/data/proteins, scored
# by masked marginals, beside the site-independent baseline on the same homologs.
#
#   bash benchmarks/variants_protein_masked.sh               # all three families
#   FAMILIES="GAL4" bash benchmarks/variants_protein_masked.sh
#
# The recipe is the same for every family (nothing is tuned per assay). Each pretraining run is
# 1,250 steps of 16 aligned homologs (d_state 8); the masked marginal is averaged over 16 passes
# that also hide 40% of the other columns at random (--context-mask 0.4: the inputs look like the
# ones the model was trained on); `/usr/bin/time` records the CPU time of each run (RESULTS.md).
set -euo pipefail
DATA=${BIOSEQ_SHARED_DATA:-../shared/data}/proteins
RUNS=${RUNS:-runs}
THREADS=${THREADS:-1}
FAMILIES=${FAMILIES:-"BLAT GAL4 KKA2"}
mkdir -p "$RUNS"

declare -A A2M=([BLAT]=BLAT_ECOLX_r24-286 [GAL4]=GAL4_YEAST_r1-75 [KKA2]=KKA2_KLEPN_r1-264)
declare -A DMS=([BLAT]=BLAT_ECOLX_Ranganathan2015 [GAL4]=GAL4_YEAST_Shendure2015
                [KKA2]=KKA2_KLEPN_Mikkelsen2014)
declare -A COL=([BLAT]=2500 [GAL4]=SEL_C_40h [KKA2]=Kan18_avg)

for fam in $FAMILIES; do
    a2m=$DATA/${A2M[$fam]}.a2m
    dms=$DATA/${DMS[$fam]}.csv
    bioseq score-mutations --model site-independent --alignment "$a2m" --mutations "$dms" \
        --score-col "${COL[$fam]}" --out "$RUNS/${fam}_site_independent.csv" --no-progress
    /usr/bin/time -f "$fam pretrain: %U s user, %S s system, %e s wall" \
    bioseq pretrain "$a2m" --alphabet protein --model caduceus --aligned --sequence-weights 0.8 \
        --mask-fraction 0.4 --d-model 128 --n-layer 4 --model-config d_state=8 --context 512 \
        --batch-size 16 --steps 1250 --lr 2e-3 --eval-every 250 --save-every 250 \
        --threads "$THREADS" --seed 0 --out "$RUNS/$fam-caduceus" --overwrite --quiet
    bioseq score-mutations --model "$RUNS/$fam-caduceus" --wildtype "$a2m" --mutations "$dms" \
        --score-col "${COL[$fam]}" --context-mask 0.4 \
        --out "$RUNS/${fam}_caduceus_masked-marginal.csv" --no-progress
    for strategy in masked-marginal wildtype-marginal; do  # the plain marginals, for reference
        bioseq score-mutations --model "$RUNS/$fam-caduceus" --wildtype "$a2m" --mutations "$dms" \
            --score-col "${COL[$fam]}" --strategy "$strategy" \
            --out "$RUNS/${fam}_caduceus_plain_$strategy.csv" --no-progress
    done
done
for f in "$RUNS"/*_site_independent.metrics.json "$RUNS"/*_caduceus_*.metrics.json; do
    echo "$f"; cat "$f"; echo
done
