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

from bioseq.io.weights import sequence_weights
from bioseq.models.hub import LoadedModel, load_model
from bioseq.models.site_independent import SiteIndependentModel
from bioseq.tasks.variants.contigs import ContigMatcher
from bioseq.tasks.variants.dna import (
    DnaVariantScorer,
    Variant,
    VariantScore,
    window_bounds,
)
from bioseq.tasks.variants.likelihood import PairScore, PairScorer, naive_pair_scores
from bioseq.tasks.variants.masked import MaskedMarginalScorer, MaskedPairScorer
from bioseq.tasks.variants.masked_dna import MaskedLMPairScorer, MaskedLMVariantScorer
from bioseq.tasks.variants.masked_lm import MaskedLMReader
from bioseq.tasks.variants.masked_protein import MaskedMutationScorer
from bioseq.tasks.variants.metrics import auroc, mutation_metrics, snv_summary, spearman
from bioseq.tasks.variants.mutations import (
    CausalMutationScorer,
    MutationScore,
    Substitution,
    apply_mutant,
    check_mutant,
    parse_mutant,
    read_mutation_table,
    read_wildtype,
    score_mutations,
    write_mutation_scores,
)
from bioseq.tasks.variants.run import (
    Report,
    better_offset,
    make_snv_vcf_run,
    mutation_model,
    score_mutations_run,
    score_vcf_run,
)
from bioseq.tasks.variants.scorers import (
    FAMILIES,
    STATUSES,
    dna_scorer,
    mutation_scorer,
    score_variants,
    scorer_kind,
)
from bioseq.tasks.variants.snv import CodingSnv, SnvVcf, coding_snvs, make_snv_vcf, select_cds
from bioseq.tasks.variants.vcf import (
    VcfData,
    VcfResult,
    read_vcf,
    score_entries,
    score_vcf,
    write_tsv,
    write_vcf,
)

__all__ = [
    "STATUSES", "ContigMatcher", "DnaVariantScorer", "Variant", "VariantScore",
    "score_variants", "window_bounds", "MaskedMarginalScorer", "MaskedPairScorer",
    "MaskedLMPairScorer", "MaskedLMVariantScorer", "MaskedLMReader",
    "MaskedMutationScorer", "FAMILIES", "dna_scorer", "mutation_scorer", "scorer_kind",
    "PairScore", "PairScorer", "naive_pair_scores",
    "LoadedModel", "load_model", "auroc", "mutation_metrics", "snv_summary", "spearman",
    "CausalMutationScorer", "MutationScore", "Substitution", "apply_mutant", "check_mutant",
    "parse_mutant", "read_mutation_table", "read_wildtype", "score_mutations",
    "write_mutation_scores", "SiteIndependentModel", "sequence_weights", "CodingSnv",
    "coding_snvs", "make_snv_vcf", "select_cds", "VcfData", "VcfResult", "read_vcf",
    "score_entries", "score_vcf", "write_tsv", "write_vcf", "SnvVcf", "Report",
    "better_offset", "make_snv_vcf_run", "mutation_model", "score_mutations_run",
    "score_vcf_run",
]  # fmt: skip
