#!/usr/bin/env bash
# Issue 18, done-when 2: tiny Hyena, Mamba and Transformer, each trained with the demo's budget
# (`bioseq pretrain` defaults: 200 steps of 16 x 256 tokens) on E. coli and on the book, judged
# by one metric: AUROC of the harmless class (synonymous SNVs of held-out CDS; edits that make
# another word of the book's held-out tenth) against the harmful one (nonsynonymous; nonwords).
#
#   bash benchmarks/text_variants_side_by_side.sh            # RUNS=runs/side N_CDS=2 N=500
#
# Both pretraining runs hold out the last tenth (E. coli from 4,177,487; the book's last 14,848
# bytes); the SNVs come from CDS wholly inside 4,178,100-4,641,652, the text edits from the
# book's last tenth. One core each step (OMP_NUM_THREADS=1), one run at a time.
set -euo pipefail
DATA=${BIOSEQ_SHARED_DATA:-../shared/data}/genomes
RUNS=${RUNS:-runs/side}
GBFF=$DATA/ecoli_k12_mg1655.gbff.gz
N_CDS=${N_CDS:-2}
N=${N:-500}
# the book and the Factbook excerpt: the default text corpus when the table in RESULTS.md was
# made (the default now adds a table of circulating decimals)
TEXTS=$(python -c "from bioseq.data import default_text_corpus as d; print(*d()[:2])")
export OMP_NUM_THREADS=1
mkdir -p "$RUNS"

[ -f "$RUNS/heldout_snvs.vcf.gz" ] ||
    bioseq make-snv-vcf --genbank "$GBFF" --region NC_000913.3:4178100-4641652 \
        --limit "$N_CDS" --out "$RUNS/heldout_snvs.vcf.gz"
[ -f "$RUNS/text_variants.tsv" ] ||
    bioseq make-text-variants --n "$N" --out "$RUNS/text_variants.tsv"
args=()
for model in hyena mamba transformer; do
    [ -d "$RUNS/dna-$model/final" ] ||  # a finished run is kept: rerunning resumes the table
        bioseq pretrain --model "$model" --threads 1 --seed 0 --out "$RUNS/dna-$model" \
            --overwrite --quiet
    [ -d "$RUNS/text-$model/final" ] ||
        bioseq pretrain --text $TEXTS --model "$model" --threads 1 --seed 0 --out "$RUNS/text-$model" \
            --overwrite --quiet
    # the demo's context: Mamba reads any length, so score-vcf would otherwise take 8,192 bases
    bioseq score-vcf --model "$RUNS/dna-$model" --fasta "$GBFF" --vcf "$RUNS/heldout_snvs.vcf.gz" \
        --out "$RUNS/dna-$model.vcf.gz" --window 256 --no-progress
    bioseq score-text --model "$RUNS/text-$model" --variants "$RUNS/text_variants.tsv" \
        --out "$RUNS/text-$model.tsv" --no-progress
    args+=(--dna "$model=$RUNS/dna-$model.vcf.gz" --text "$model=$RUNS/text-$model.tsv")
done
bioseq compare-variants "${args[@]}" --out "$RUNS/compare.tsv"
