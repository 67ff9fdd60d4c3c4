"""Using a model beyond zero-shot: embeddings, supervised fine-tuning and generation.

Submodules: :mod:`~bioseq.tasks.adapt.embed` (embeddings), :mod:`~bioseq.tasks.adapt.finetune`
(classification / regression heads: full, LoRA, linear probe), :mod:`~bioseq.tasks.adapt.generate`
(sampling with the model's recurrent state or KV cache) and :mod:`~bioseq.tasks.adapt.benchdata`
(the supervised benchmark tables derived from the shared data).
"""
