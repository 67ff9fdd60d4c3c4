"""Zero-shot variant effect scoring: DNA variants from VCF, protein substitutions from DMS tables.

DNA (Evo 2 style; :mod:`~bioseq.tasks.variants.dna`, :mod:`~bioseq.tasks.variants.vcf`)::

    from bioseq.tasks.variants import load_model, score_vcf
    loaded = load_model("runs/ecoli-mamba")
    result = score_vcf(loaded.model, loaded.tokenizer, "genome.fa.gz", "calls.vcf.gz",
                       out="scored.vcf.gz", window=8192, strand="both")
    [(s.chrom, s.pos, s.alt, s.score, s.status) for s in result.alleles]

Masked models load the same way and are scored by masked (or wild-type) marginals: MergeLM
(``bioseq pretrain --model merge``; :mod:`~bioseq.tasks.variants.masked`) and any other masked
LM (Caduceus, Nucleotide Transformer, ESM-2: :mod:`~bioseq.tasks.variants.masked_dna` for DNA,
:mod:`~bioseq.tasks.variants.masked_protein` for proteins). :mod:`~bioseq.tasks.variants.scorers`
is the one table of which family scores how (:func:`dna_scorer`, :func:`mutation_scorer`).

Proteins (:mod:`~bioseq.tasks.variants.mutations`,
:class:`~bioseq.models.site_independent.SiteIndependentModel`)::

    from bioseq.tasks.variants import (SiteIndependentModel, mutation_metrics,
                                       read_mutation_table, read_wildtype, score_mutations)
    wildtype, offset = read_wildtype("BLAT_ECOLX_r24-286.a2m")
    model = SiteIndependentModel.from_a2m("BLAT_ECOLX_r24-286.a2m")
    table = read_mutation_table("BLAT_ECOLX_Ranganathan2015.csv")
    rows = score_mutations(model, wildtype, table, offset, score_col="2500")
    mutation_metrics(rows)["spearman"]

Whole command runs (:mod:`~bioseq.tasks.variants.run`: load, score, write every output, report):
:func:`score_vcf_run`, :func:`score_mutations_run` and :func:`make_snv_vcf_run` do what
``bioseq score-vcf``, ``score-mutations`` and ``make-snv-vcf`` do.

The engine under both (:class:`PairScorer`) scores each reference once and recomputes only the
suffix of each alternative; :func:`naive_pair_scores` is the slow reference it is tested against.
"""

from __future__ import annotations

from bioseq.lazy import lazy_exports

# name -> the module that defines it (in this package, unless a full bioseq. path), imported on
# first use: make-text-variants and compare-variants, which only read and write tables, load no
# torch
_EXPORTS = {
    "sequence_weights": "bioseq.io.weights",
    "LoadedModel": "bioseq.models.hub", "load_model": "bioseq.models.hub",
    "SiteIndependentModel": "bioseq.models.site_independent",
    "ContigMatcher": "contigs",
    "DnaVariantScorer": "dna", "Variant": "dna", "VariantScore": "dna",
    "window_bounds": "dna",
    "PairScore": "likelihood", "PairScorer": "likelihood",
    "naive_pair_scores": "likelihood",
    "MaskedMarginalScorer": "masked", "MaskedPairScorer": "masked",
    "MaskedLMPairScorer": "masked_dna", "MaskedLMVariantScorer": "masked_dna",
    "MaskedLMReader": "masked_lm",
    "MaskedMutationScorer": "masked_protein",
    "auroc": "metrics", "mutation_metrics": "metrics", "snv_summary": "metrics",
    "spearman": "metrics",
    "CausalMutationScorer": "mutations", "MutationScore": "mutations",
    "Substitution": "mutations", "apply_mutant": "mutations", "check_mutant": "mutations",
    "parse_mutant": "mutations", "read_mutation_table": "mutations",
    "read_wildtype": "mutations", "score_mutations": "mutations",
    "write_mutation_scores": "mutations",
    "Report": "report", "better_offset": "run", "make_snv_vcf_run": "run",
    "mutation_model": "run", "score_mutations_run": "run", "score_vcf_run": "run",
    "FAMILIES": "scorers", "STATUSES": "scorers", "dna_scorer": "scorers",
    "mutation_scorer": "scorers", "score_variants": "scorers", "scorer_kind": "scorers",
    "CodingSnv": "snv", "SnvVcf": "snv", "coding_snvs": "snv", "make_snv_vcf": "snv",
    "select_cds": "snv",
    "VcfData": "vcf", "VcfResult": "vcf", "read_vcf": "vcf", "score_entries": "vcf",
    "score_vcf": "vcf", "write_tsv": "vcf", "write_vcf": "vcf",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
