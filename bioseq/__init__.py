"""bioseq: a workbench for genomic and protein sequence foundation models.

Importing the package registers its tokenizers and models with Hugging Face ``transformers``,
so ``AutoTokenizer.from_pretrained(dir)`` and ``AutoModelForCausalLM.from_pretrained(dir)``
load bioseq directories.
"""

__version__ = "0.1.0"

import bioseq.models  # noqa: E402, F401  (registers with AutoConfig / AutoModelForCausalLM)
import bioseq.tokenizers  # noqa: E402, F401  (registers with AutoTokenizer)
from bioseq.errors import BioseqError, InputError  # noqa: E402

__all__ = ["BioseqError", "InputError", "__version__"]
