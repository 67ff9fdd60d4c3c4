"""Layers: one ``nn.Module`` per idea, composed into full networks in ``bioseq.models``."""
