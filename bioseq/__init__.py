"""bioseq: a workbench for genomic and protein sequence foundation models.

Importing ``bioseq`` is light (no torch): it holds the version and the errors. The models and
tokenizers register with Hugging Face ``transformers`` when their packages are imported, so
``import bioseq.models`` (or ``bioseq.tokenizers``) before ``AutoModelForCausalLM.from_pretrained
(dir)`` or ``AutoTokenizer.from_pretrained(dir)`` loads bioseq directories.
"""

__version__ = "0.1.0"

from bioseq.errors import BioseqError, InputError  # noqa: E402

__all__ = ["BioseqError", "InputError", "__version__"]
