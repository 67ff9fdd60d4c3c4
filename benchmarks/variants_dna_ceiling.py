"""How far can a model of the E. coli genome alone get on issue 5's DNA target?

A DNA LM's log-likelihood of a coding region is that of the protein it encodes plus that of
the codons chosen for the protein. This script scores every SNV of held-out E. coli CDS (in
the region `benchmarks/variants_dna.sh` scores; the first `--genes` whose protein fits the
protein LM's training context) under models that know the genetic code exactly, so they differ
only in what they know of proteins and of codon choice:

    codon usage              log u(c'|a') - log u(c|a), within-amino-acid codon frequencies
    aa composition + usage   log f(a') - log f(a) from the training proteome, plus codon usage
    protein LM               log p(mutant) - log p(wild type) under a protein LM trained on the
                             training proteome (synonymous SNVs: 0)
    protein LM + usage       the sum: a DNA LM that had learned translation, codon usage and
                             as much of the proteome as the protein LM scores like this

and prints the synonymous-vs-nonsynonymous AUROC and the codon-position means (the two DNA
targets of issue 5). Stop-gained SNVs rank below everything (as a DNA LM would put them) and
are left out of the means.

`frame --model DNA_LM` asks the complementary question of a DNA LM pretrained on the genome: on
the same held-out CDS, read in their own orientation, does it know the reading frame (lower
next-base entropy at the third position, given the first two) and how does its single-site
log-likelihood ratio log p(alt | prefix) - log p(ref | prefix) split by codon position? Usage:

    python benchmarks/variants_dna_ceiling.py proteome runs/ceiling/train_proteins.fa
    bioseq pretrain runs/ceiling/train_proteins.fa --alphabet protein --model transformer \\
        --size small --context 320 --batch-size 16 --steps 1000 --lr 2e-3 --val-fraction 0 \\
        --val-contigs b0001,b0002,b0003,b0004,b0005,b0006,b0007,b0008 --out runs/ceiling/fwd
    python benchmarks/variants_dna_ceiling.py score --forward runs/ceiling/fwd [--reverse R]
    python benchmarks/variants_dna_ceiling.py frame --model runs/ecoli-hyena
"""

from __future__ import annotations

import argparse
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from bioseq.io import read_genbank
from bioseq.io.coding import CDS, codon_lookup
from bioseq.io.genbank import GenBankRecord
from bioseq.models.hub import load_model
from bioseq.tasks.variants.likelihood import encode
from bioseq.tasks.variants.metrics import auroc
from bioseq.tasks.variants.mutations import CausalMutationScorer
from bioseq.tasks.variants.snv import coding_snvs, select_cds

HELD_OUT = ("NC_000913.3", 4178100, 4641652)  # as in variants_dna.sh
TRAIN_END = 4177487  # bioseq pretrain --val-fraction 0.1 trains on NC_000913.3[:TRAIN_END]
COMPLEMENT = str.maketrans("ACGT", "TGCA")
GENBANK = (
    Path(os.environ.get("BIOSEQ_SHARED_DATA", "../shared/data"))
    / "genomes/ecoli_k12_mg1655.gbff.gz"
)


def training_cds(record: GenBankRecord) -> list[CDS]:
    """Complete single-part CDS lying wholly in the trained part of the genome."""
    return [
        c
        for c in record.cds
        if not c.pseudo
        and len(c.parts) == 1
        and c.complete_start
        and c.parts[0][1] <= TRAIN_END
        and len(c) % 3 == 0
    ]


def write_proteome(record: GenBankRecord, out: Path) -> int:
    """The training CDS, translated, as FASTA; returns the number of residues."""
    out.parent.mkdir(parents=True, exist_ok=True)
    residues = 0
    with open(out, "w") as handle:
        for cds in training_cds(record):
            protein = cds.translate(record.sequence)
            if "*" not in protein:
                handle.write(f">{cds.name}\n{protein}\n")
                residues += len(protein)
    return residues


def usage_tables(record: GenBankRecord) -> tuple[dict[str, float], dict[str, float], dict]:
    """log u(codon | its amino acid), log f(amino acid) and the codon table, from training CDS."""
    codons = Counter()
    for cds in training_cds(record):
        coding = cds.coding_sequence(record.sequence)
        codons.update(coding[i : i + 3] for i in range(0, len(coding) - 3, 3))  # no stop
    amino = codon_lookup(11).amino  # codon 16*b1 + 4*b2 + b3, bases in ACGT order
    table = {
        a + b + c: chr(amino[16 * i + 4 * j + k])
        for i, a in enumerate("ACGT")
        for j, b in enumerate("ACGT")
        for k, c in enumerate("ACGT")
    }
    per_amino = Counter()
    for codon, amino_acid in table.items():
        per_amino[amino_acid] += codons[codon] + 1  # add-one over every codon
    total = sum(v for a, v in per_amino.items() if a != "*")
    log_u = {c: math.log((codons[c] + 1) / per_amino[table[c]]) for c in table if table[c] != "*"}
    log_f = {a: math.log(n / total) for a, n in per_amino.items() if a != "*"}
    return log_u, log_f, table


def held_out_mutations(record: GenBankRecord, genes: int, max_residues: int):
    """SNVs of the first ``genes`` held-out CDS whose protein fits ``max_residues``: for each
    CDS, its protein and rows ``(codon index, ref codon, alt codon, codon position, syn)``."""
    _, start, end = HELD_OUT
    ((_, chosen),) = select_cds([record], region=(record.name, start, end))
    out = []
    for cds in chosen:
        protein = cds.translate(record.sequence)
        if cds.pseudo or not cds.complete_start or len(protein) > max_residues or "*" in protein:
            continue
        coding = cds.coding_sequence(record.sequence)
        index = {int(p): i for i, p in enumerate(cds.genome_position_map())}
        rows = []
        for snv in coding_snvs(record, [cds]):
            i = index[snv.pos - 1]
            if i >= 3 * len(protein) or i < 3:  # the stop codon; the start codon
                continue
            alt = snv.alt if cds.strand > 0 else snv.alt.translate(COMPLEMENT)
            k = i // 3 * 3
            ref_codon = coding[k : k + 3]
            alt_codon = ref_codon[: i - k] + alt + ref_codon[i - k + 1 :]
            rows.append((k // 3, ref_codon, alt_codon, snv.codon_position, snv.synonymous))
        out.append((cds.name, protein, rows))
        if len(out) == genes:
            break
    return out


def protein_scorer(forward: str | None, reverse: str | None) -> tuple[CausalMutationScorer, int]:
    pairs, limit = [], 10**9
    for path in (forward, reverse):
        if path is None:
            pairs.append(None)
            continue
        loaded = load_model(path, device="cpu")
        pairs.append((loaded.model, loaded.tokenizer))
        limit = min(limit, _max_len(loaded.model.config) - 2)  # BOS and EOS
    return CausalMutationScorer(*pairs, batch_size=16), limit


def _max_len(config) -> int:
    for key in ("max_seq_len", "training_context", "max_position_embeddings", "n_positions"):
        if getattr(config, key, None):
            return int(getattr(config, key))
    return 10**9


def score(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    record = read_genbank(args.genbank)[0]
    log_u, log_f, table = usage_tables(record)
    scorer, max_residues = protein_scorer(args.forward, args.reverse)
    columns = {
        name: []
        for name in ("codon usage", "aa composition + usage", "protein LM", "protein LM + usage")
    }
    labels, positions, stops = [], [], []
    genes = held_out_mutations(record, args.genes, max_residues)
    for name, protein, rows in genes:
        mutants = sorted(
            {(k, table[alt]) for k, ref, alt, _, _ in rows if table[alt] not in ("*", table[ref])}
        )
        variants = [protein[:k] + a + protein[k + 1 :] for k, a in mutants]
        llr = dict(zip(mutants, scorer.score_sequences(protein, variants), strict=True))
        for k, ref, alt, position, synonymous in rows:
            a, b = table[ref], table[alt]
            stop = b == "*"
            usage = 0.0 if stop else log_u[alt] - log_u[ref]
            composition = 0.0 if stop else log_f[b] - log_f[a]
            protein_llr = 0.0 if stop or a == b else llr[(k, b)]
            for column, value in zip(
                columns.values(),
                (usage, composition + usage, protein_llr, protein_llr + usage),
                strict=True,
            ):
                column.append(value)
            labels.append(int(synonymous))
            positions.append(position)
            stops.append(stop)
        print(f"  {name}: {len(protein)} residues, {len(rows)} SNVs", flush=True)
    labels, positions, stops = map(np.asarray, (labels, positions, stops))
    print(
        f"\n{len(genes)} held-out CDS, {len(labels)} SNVs ({labels.sum()} synonymous, "
        f"{stops.sum()} stop-gained)\n"
    )
    print("| model | AUROC syn vs nonsyn | mean pos 1 | mean pos 2 | mean pos 3 |")
    print("|---|---|---|---|---|")
    for name, values in columns.items():
        values = np.asarray(values)
        ranked = np.where(stops, values.min() - 1.0, values)
        means = [values[(positions == p) & ~stops].mean() for p in (1, 2, 3)]
        print(
            f"| {name} | {auroc(ranked, labels):.3f} | "
            + " | ".join(f"{m:.3f}" for m in means)
            + " |"
        )


def frame(args: argparse.Namespace) -> None:
    """Next-base entropy and single-site LLR of a DNA LM by codon position on held-out CDS."""
    torch.set_num_threads(args.threads)
    record = read_genbank(args.genbank)[0]
    loaded = load_model(args.model, device="cpu")
    model, tokenizer = loaded.model, loaded.tokenizer
    flank = 256
    room = _max_len(model.config) - 1 - flank  # BOS, upstream flank, then the CDS
    base_ids = encode(tokenizer, "ACGT", add_bos=False)
    synonymous = record.annotation.synonymous_mask
    entropy, site, labels, positions = [], [], [], []
    _, start, end = HELD_OUT
    ((_, chosen),) = select_cds([record], region=(record.name, start, end), limit=args.genes)
    for cds in chosen:
        (s, e), strand = cds.parts[0], cds.strand
        upstream = (
            record.sequence[s - flank : s]
            if strand > 0
            else record.sequence[e : e + flank].translate(COMPLEMENT)[::-1]
        )
        coding = cds.coding_sequence(record.sequence)
        coding = coding[: min(len(coding), room) // 3 * 3]
        ids = torch.from_numpy(encode(tokenizer, upstream + coding))[None]
        with torch.no_grad():
            logits = model(ids).logits[0].float()
        # logits[j] predicts ids[j + 1]; the CDS starts at ids[1 + flank]
        logp = logits[flank : flank + len(coding)][:, base_ids].log_softmax(-1).numpy()
        index = cds.genome_position_map()
        for i, base in enumerate(coding):
            if base not in "ACGT":
                continue
            entropy.append((i % 3 + 1, -(np.exp(logp[i]) * logp[i]).sum()))
            for alt in (b for b in "ACGT" if b != base):
                genome_alt = alt if strand > 0 else alt.translate(COMPLEMENT)
                labels.append(int(synonymous[index[i], "ACGT".index(genome_alt)]))
                site.append(logp[i]["ACGT".index(alt)] - logp[i]["ACGT".index(base)])
                positions.append(i % 3 + 1)
    entropy, site = np.asarray(entropy), np.asarray(site)
    labels, positions = np.asarray(labels), np.asarray(positions)
    print(f"{len(chosen)} held-out CDS read in their own orientation, {len(site)} SNVs\n")
    print("| codon position | next-base entropy (nats) | mean single-site LLR |")
    print("|---|---|---|")
    for p in (1, 2, 3):
        h = entropy[entropy[:, 0] == p, 1].mean()
        print(f"| {p} | {h:.3f} | {site[positions == p].mean():.3f} |")
    print(f"\nsingle-site AUROC, synonymous vs nonsynonymous: {auroc(site, labels):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genbank", type=Path, default=GENBANK, help="E. coli K-12 GenBank")
    sub = parser.add_subparsers(dest="command", required=True)
    proteome = sub.add_parser("proteome", help="write the training proteome as FASTA")
    proteome.add_argument("out", type=Path)
    scoring = sub.add_parser("score", help="score held-out SNVs under the four models")
    scoring.add_argument("--forward", help="a left-to-right protein LM (run directory)")
    scoring.add_argument("--reverse", help="a right-to-left protein LM (run directory)")
    scoring.add_argument("--genes", type=int, default=12)
    scoring.add_argument("--threads", type=int, default=1)
    dna = sub.add_parser("frame", help="a DNA LM's view of the reading frame")
    dna.add_argument("--model", required=True, help="a DNA LM run directory")
    dna.add_argument("--genes", type=int, default=10)
    dna.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.command == "proteome":
        record = read_genbank(args.genbank)[0]
        print(f"{write_proteome(record, args.out):,} residues written to {args.out}")
    else:
        {"score": score, "frame": frame}[args.command](args)


if __name__ == "__main__":
    main()
