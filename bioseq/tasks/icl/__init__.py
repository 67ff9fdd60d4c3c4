"""In-context learning probes: the bitstring program-induction suite and recall probes.

Specification: Breslow et al., "Genomic Next-Token Predictors are In-Context Learners"
(arXiv 2511.12797). A hidden function of 8-bit strings (one of 100: 30 primitives and 70
two-step compositions) is shown through ``n`` demonstrations, in genomic form (three of A/C/G/T
for 0, 1 and the separator) or linguistic form (three digits); the model must continue the
query with its image. Modules:

* :mod:`~bioseq.tasks.icl.primitives`: the primitives, :class:`Program`, :func:`bitload`
* :mod:`~bioseq.tasks.icl.suite`: the functions table and the paper's reference accuracies
* :mod:`~bioseq.tasks.icl.prompts`: prompt forms, parsing, baselines, the deranged control
* :mod:`~bioseq.tasks.icl.adapters`: :class:`Adapter`, :class:`CausalLMAdapter`
* :mod:`~bioseq.tasks.icl.evaluate`: :func:`run_bitstring`, :func:`summarize`, output files
* :mod:`~bioseq.tasks.icl.stats`: cluster bootstrap, log2 fit, z-test
* :mod:`~bioseq.tasks.icl.recall`: repeat copy, MQAR, label ICL
* :mod:`~bioseq.tasks.icl.plots`: ``icl.png``, ``icl_bitload.png``, ``recall.png``
* :mod:`~bioseq.tasks.icl.run`: :func:`run_probes`, the probe matrix and its output folder

Typical use (``run_probes(["runs/dna-small"], "probes/dna")`` does what ``bioseq probe``
does: every form and condition, all output files)::

    from bioseq.tasks.icl import load_adapter, run_bitstring, summarize
    adapter = load_adapter("runs/dna-small")           # a bioseq or Hugging Face model dir
    rows = run_bitstring(adapter, form="genomic", trials=8, progress=True)
    print(summarize(rows)["runs"][0]["fit"])
"""

from bioseq.tasks.icl.adapters import Adapter, CausalLMAdapter, load_adapter
from bioseq.tasks.icl.evaluate import (
    format_table,
    read_results,
    run_bitstring,
    summarize,
    write_results,
    write_summary,
)
from bioseq.tasks.icl.plots import plot_bitload, plot_icl, plot_recall
from bioseq.tasks.icl.primitives import PRIMITIVES, Program, bitload
from bioseq.tasks.icl.prompts import FORMS, Symbols, Trial, make_trial, render_prompt
from bioseq.tasks.icl.recall import label_icl, mqar, repeat_copy, run_recall
from bioseq.tasks.icl.run import ProbeResults, run_probes
from bioseq.tasks.icl.stats import cluster_bootstrap, cluster_bootstrap_se, log2_fit, z_test
from bioseq.tasks.icl.suite import (
    DEFAULT_SHOTS,
    Function,
    load_functions,
    load_reference,
    select_functions,
)

__all__ = [
    "Adapter", "CausalLMAdapter", "load_adapter", "run_bitstring", "summarize", "format_table",
    "read_results", "write_results", "write_summary", "plot_icl", "plot_bitload", "plot_recall",
    "PRIMITIVES", "Program", "bitload", "FORMS", "Symbols", "Trial", "make_trial",
    "render_prompt", "label_icl", "mqar", "repeat_copy", "run_recall", "cluster_bootstrap",
    "cluster_bootstrap_se", "log2_fit", "z_test", "DEFAULT_SHOTS", "Function", "load_functions",
    "load_reference", "select_functions", "ProbeResults", "run_probes",
]  # fmt: skip
