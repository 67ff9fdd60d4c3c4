"""bioseq: a workbench for genomic and protein sequence foundation models.

Importing the package registers its tokenizers (and, once they exist, its models) with
Hugging Face ``transformers`` so ``AutoTokenizer.from_pretrained(dir)`` finds them.
"""

__version__ = "0.1.0"

from bioseq.errors import BioseqError, InputError  # noqa: E402

__all__ = ["BioseqError", "InputError", "__version__"]


def _register_with_transformers() -> None:
    try:
        import bioseq.tokenizers  # noqa: F401  (registration happens on import)
    except ImportError:  # transformers missing: the rest of bioseq still works
        pass


_register_with_transformers()
