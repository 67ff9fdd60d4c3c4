"""Model configurations: Hugging Face ``PretrainedConfig`` subclasses with size presets.

>>> from bioseq.models.config import HyenaConfig, MambaConfig
>>> HyenaConfig.from_preset("tiny", vocab_size=12).d_model
128
>>> MambaConfig.from_preset("small", n_layer=2).n_layer
2

Presets (parameter counts for the 10-token DNA character vocabulary, padded to 16):

| preset | d_model | n_layer | Hyena | Mamba | Transformer | Caduceus |
|---|---|---|---|---|---|---|
| tiny  | 128 | 2 | 0.52 M | 0.24 M | 0.40 M | 0.27 M |
| small | 256 | 4 | 3.45 M | 1.76 M | 3.16 M | 1.93 M |
| base  | 512 | 8 | 25.9 M | 13.6 M | 25.2 M | 14.5 M |

(Hyena's count includes its positional features, 5 x ``max_seq_len``; the table uses 8,192.
Caduceus, RC-equivariant or not, has the same count: RCPS shares every parameter.)
"""

from __future__ import annotations

import math

from transformers import PretrainedConfig

from bioseq.errors import InputError

SIZES = {
    "tiny": {"d_model": 128, "n_layer": 2},
    "small": {"d_model": 256, "n_layer": 4},
    "base": {"d_model": 512, "n_layer": 8},
}


class BioseqConfig(PretrainedConfig):
    """Fields every bioseq language model shares."""

    def __init__(
        self,
        vocab_size: int = 16,
        d_model: int = 128,
        n_layer: int = 2,
        pad_vocab_size_multiple: int = 8,
        norm_epsilon: float = 1e-5,
        residual_in_fp32: bool = True,
        classifier_pooling: str = "mean",
        classifier_dropout: float = 0.0,
        **kwargs,
    ) -> None:
        """``classifier_pooling`` / ``classifier_dropout``: the sequence-classification head's
        (:mod:`bioseq.models.heads`)."""
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.n_layer = n_layer
        self.pad_vocab_size_multiple = pad_vocab_size_multiple
        self.norm_epsilon = norm_epsilon
        self.residual_in_fp32 = residual_in_fp32
        self.classifier_pooling = classifier_pooling
        self.classifier_dropout = classifier_dropout
        super().__init__(**kwargs)

    @property
    def padded_vocab_size(self) -> int:
        m = self.pad_vocab_size_multiple
        return math.ceil(self.vocab_size / m) * m

    @property
    def hidden_size(self) -> int:  # the name transformers' utilities look for
        return self.d_model

    @property
    def num_hidden_layers(self) -> int:
        return self.n_layer

    @classmethod
    def from_preset(cls, size: str, **overrides) -> BioseqConfig:
        """A config of size ``tiny``, ``small`` or ``base``; keyword arguments override it."""
        if size not in SIZES:
            raise InputError(f"unknown model size {size!r} (expected one of {', '.join(SIZES)})")
        return cls(**{**SIZES[size], **overrides})


class HyenaConfig(BioseqConfig):
    """HyenaDNA: implicit long filters, order-2 gating, pre-norm blocks with an MLP.

    Names follow the HyenaDNA checkpoints (``emb_dim``, ``filter_order``, ``max_seq_len``...).
    ``max_seq_len`` bounds the input length, as the positional features are learned per position.
    """

    model_type = "bioseq-hyena"

    def __init__(
        self,
        d_inner: int | None = None,
        max_seq_len: int = 8192,
        emb_dim: int = 5,
        filter_order: int = 64,
        short_filter_order: int = 3,
        num_inner_mlps: int = 2,
        activation_freq: float = 10.0,
        train_freq: bool = True,
        modulation_shift: float = 0.05,
        fast_decay_pct: float = 0.3,
        slow_decay_pct: float = 1.5,
        embed_dropout: float = 0.1,
        hyena_dropout: float = 0.0,
        resid_dropout: float = 0.0,
        tie_word_embeddings: bool = False,
        **kwargs,
    ) -> None:
        self.max_seq_len = max_seq_len
        self.emb_dim = emb_dim
        self.filter_order = filter_order
        self.short_filter_order = short_filter_order
        self.num_inner_mlps = num_inner_mlps
        self.activation_freq = activation_freq
        self.train_freq = train_freq
        self.modulation_shift = modulation_shift
        self.fast_decay_pct = fast_decay_pct
        self.slow_decay_pct = slow_decay_pct
        self.embed_dropout = embed_dropout
        self.hyena_dropout = hyena_dropout
        self.resid_dropout = resid_dropout
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.d_inner = d_inner or 4 * self.d_model


class MambaConfig(BioseqConfig):
    """Mamba-1 with the field names of mamba-ssm's ``MambaConfig`` / ``ssm_cfg``."""

    model_type = "bioseq-mamba"

    def __init__(
        self,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        rms_norm: bool = True,
        tie_word_embeddings: bool = True,
        **kwargs,
    ) -> None:
        self.rms_norm = rms_norm
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.dt_min = dt_min
        self.dt_max = dt_max
        self.dt_init_floor = dt_init_floor
        self.conv_bias = conv_bias
        self.bias = bias
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.dt_rank = math.ceil(self.d_model / 16) if dt_rank == "auto" else int(dt_rank)

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model


def _complement_list(complement_map: list | dict | None) -> list[int] | None:
    """A complement map given as a list of ids or a dict id -> id (JSON keys are strings)."""
    if complement_map is None:
        return None
    try:
        if isinstance(complement_map, dict):
            pairs = {int(k): int(v) for k, v in complement_map.items()}
            if sorted(pairs) != list(range(len(pairs))):
                raise ValueError("its keys are not 0 .. n-1")
            return [pairs[i] for i in range(len(pairs))]
        return [int(v) for v in complement_map]
    except (TypeError, ValueError) as err:
        raise InputError(f"complement_map must map token ids to token ids ({err})") from None


class CaduceusConfig(BioseqConfig):
    """Caduceus: bidirectional Mamba-1 (BiMamba), optionally reverse-complement equivariant.

    Field names follow the released ``CaduceusConfig`` (``ssm_cfg`` flattened into
    ``d_state``, ``d_conv``, ``expand``, ``dt_rank``, ``conv_bias``, ``bias`` and the dt init
    fields, as in :class:`MambaConfig`). ``rcps`` makes the model RC-equivariant (hidden width
    ``2 * d_model``); it needs ``complement_map``, the complement id of every token id (a list,
    or a dict id -> id), padded with identity up to ``padded_vocab_size``. ``fused_add_norm``
    changes nothing but the order in which an RCPS block normalises the two halves, exactly as
    the original's fused path does (released checkpoints were trained with ``True``).
    ``column_embeddings`` (not in the original; 0 = none) adds a learned vector per position to
    the token embedding, for models of aligned sequences (``bioseq pretrain --aligned``), where
    position ``j`` is always alignment column ``j``: a state-space model otherwise has to count
    its way to a column.

    >>> c = CaduceusConfig.from_preset("tiny", vocab_size=12, rcps=True,
    ...                                complement_map=[0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11])
    >>> c.complement_map[7], len(c.padded_complement_map)
    (10, 16)
    """

    model_type = "bioseq-caduceus"

    def __init__(
        self,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str | None = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        rms_norm: bool = True,
        fused_add_norm: bool = True,
        bidirectional: bool = True,
        bidirectional_strategy: str = "add",
        bidirectional_weight_tie: bool = True,
        rcps: bool = False,
        complement_map: list[int] | dict | None = None,
        column_embeddings: int = 0,
        initializer_range: float = 0.02,
        tie_word_embeddings: bool = True,
        **kwargs,
    ) -> None:
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.dt_min = dt_min
        self.dt_max = dt_max
        self.dt_init_floor = dt_init_floor
        self.conv_bias = conv_bias
        self.bias = bias
        self.rms_norm = rms_norm
        self.fused_add_norm = bool(fused_add_norm)
        self.bidirectional = bool(bidirectional)
        self.bidirectional_strategy = bidirectional_strategy or "add"
        self.bidirectional_weight_tie = bool(bidirectional_weight_tie)
        self.rcps = bool(rcps)
        self.complement_map = _complement_list(complement_map)
        self.column_embeddings = int(column_embeddings or 0)
        self.initializer_range = initializer_range
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
        auto = dt_rank in (None, "auto")
        self.dt_rank = math.ceil(self.d_model / 16) if auto else int(dt_rank)
        self._check()

    def _check(self) -> None:
        if self.bidirectional_strategy not in ("add", "ew_multiply"):
            raise InputError(
                f"bidirectional_strategy must be 'add' or 'ew_multiply', not "
                f"{self.bidirectional_strategy!r}"
            )
        if not self.tie_word_embeddings:
            raise InputError(
                "Caduceus ties its LM head to the embedding (tie_word_embeddings must be true)"
            )
        if self.column_embeddings < 0 or (self.column_embeddings and self.rcps):
            raise InputError(
                f"column_embeddings {self.column_embeddings}: expected a number of "
                "alignment columns >= 0, and none with rcps (a column has no "
                "reverse complement)"
            )
        cmap = self.complement_map
        if cmap is None:
            if self.rcps:
                raise InputError("an RC-equivariant (rcps) Caduceus needs a complement_map")
            return
        n = self.padded_vocab_size
        if not self.vocab_size <= len(cmap) <= n:
            raise InputError(
                f"complement_map has {len(cmap)} entries; expected one per token "
                f"id ({self.vocab_size} to {n})"
            )
        full = self.padded_complement_map
        bad = [i for i, j in enumerate(full) if not 0 <= j < n or full[j] != i]
        if bad:
            raise InputError(
                f"complement_map is not an involution on ids 0..{n - 1} "
                f"(first bad id {bad[0]} -> {full[bad[0]]})"
            )

    @property
    def padded_complement_map(self) -> list[int] | None:
        """``complement_map`` extended with identity to ``padded_vocab_size`` entries."""
        if self.complement_map is None:
            return None
        cmap = list(self.complement_map)
        return cmap + list(range(len(cmap), self.padded_vocab_size))

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model


class TransformerConfig(BioseqConfig):
    """A pre-norm Transformer with rotary positions: the baseline and linguistic control."""

    model_type = "bioseq-transformer"

    def __init__(
        self,
        n_head: int | None = None,
        d_inner: int | None = None,
        rope_theta: float = 10000.0,
        dropout: float = 0.0,
        tie_word_embeddings: bool = True,
        **kwargs,
    ) -> None:
        self.rope_theta = rope_theta
        self.dropout = dropout
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.n_head = n_head or max(1, self.d_model // 64)
        self.d_inner = d_inner or 4 * self.d_model
        if self.d_model % self.n_head:
            raise InputError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if (self.d_model // self.n_head) % 2:  # rotary positions turn pairs of dimensions
            raise InputError(
                f"d_model {self.d_model} / n_head {self.n_head} = "
                f"{self.d_model // self.n_head} dimensions a head; a Transformer "
                f"head needs an even number"
            )

    @property
    def num_attention_heads(self) -> int:
        return self.n_head


BACKBONE_CONFIGS = {"hyena": HyenaConfig, "mamba": MambaConfig, "transformer": TransformerConfig}


class MergeConfig(BioseqConfig):
    """MergeDNA-style learned merging (:class:`~bioseq.models.merge_lm.MergeLM`).

    ``d_model`` is the width of every part; ``n_layer`` the depth of the latent encoder, a
    ``backbone`` (hyena, mamba or transformer) stack whose other fields go in
    ``backbone_kwargs`` (e.g. ``{"max_seq_len": 1024}``, ``{"d_state": 32}``). The local encoder
    has ``n_merge_layer`` merge layers that bring ``merge_ratio`` bases per token on average,
    no token holding more than ``window`` bases; a pair's merge score is the cosine similarity
    of its tokens less ``density_weight`` x their predicted information density. Pretraining
    masks about ``mask_ratio`` of the tokens; the loss is masked-token loss +
    ``reconstruction_weight`` x reconstruction loss (+ the density probes' regression loss).

    >>> MergeConfig.from_preset("tiny", backbone="mamba", merge_ratio=3.0).latent_config(2).d_model
    128
    """

    model_type = "bioseq-merge"

    def __init__(
        self,
        backbone: str = "hyena",
        backbone_kwargs: dict | None = None,
        merge_ratio: float = 2.0,
        window: int = 16,
        n_merge_layer: int = 4,
        merge_dim: int = 32,
        local_kernel: int = 9,
        local_d_inner: int | None = None,
        n_decoder_layer: int = 1,
        n_local_decoder_layer: int = 1,
        mask_ratio: float = 0.15,
        reconstruction_weight: float = 0.25,
        density_weight: float = 2.0,
        tie_word_embeddings: bool = False,
        **kwargs,
    ) -> None:
        if backbone not in BACKBONE_CONFIGS:
            known = ", ".join(BACKBONE_CONFIGS)
            raise InputError(f"unknown merge backbone {backbone!r} (expected one of {known})")
        if not 1 <= merge_ratio <= window:
            raise InputError(f"merge_ratio must be in [1, window={window}], not {merge_ratio}")
        if local_kernel % 2 == 0:
            raise InputError(f"local_kernel must be odd, not {local_kernel}")
        if not 0 <= mask_ratio < 1:
            raise InputError(f"mask_ratio must be in [0, 1), not {mask_ratio}")
        self.backbone = backbone
        self.backbone_kwargs = dict(backbone_kwargs or {})
        self.merge_ratio = float(merge_ratio)
        self.window = window
        self.n_merge_layer = n_merge_layer
        self.merge_dim = merge_dim
        self.local_kernel = local_kernel
        self.n_decoder_layer = n_decoder_layer
        self.n_local_decoder_layer = n_local_decoder_layer
        self.mask_ratio = mask_ratio
        self.reconstruction_weight = reconstruction_weight
        self.density_weight = density_weight
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.local_d_inner = local_d_inner or 2 * self.d_model

    def latent_config(self, n_layer: int) -> BioseqConfig:
        """The backbone's config for a stack of ``n_layer`` blocks over merged tokens."""
        return BACKBONE_CONFIGS[self.backbone](
            vocab_size=self.vocab_size,
            d_model=self.d_model,
            n_layer=n_layer,
            norm_epsilon=self.norm_epsilon,
            residual_in_fp32=self.residual_in_fp32,
            **self.backbone_kwargs,
        )


STRIPED_HYENA_SIZES = {  # widths of the other presets; depth for about one attention in six
    "tiny": {"d_model": 128, "n_layer": 7},
    "small": {"d_model": 256, "n_layer": 13},
    "base": {"d_model": 512, "n_layer": 19},
}
# Evo 2's repeating layer order (1B: attention at 3, 10, 17, 24 of 25 layers)
STRIPED_HYENA_PATTERN = ("hcs", "hcm", "hcl", "attn", "hcs", "hcm", "hcl")


class StripedHyenaConfig(BioseqConfig):
    """StripedHyena 2 (Evo 2): hcs / hcm / hcl Hyena blocks striped with attention.

    Field names follow the evo2 YAML configs; ``hidden_size``, ``num_layers`` and ``eps`` are
    accepted for ``d_model``, ``n_layer`` and ``norm_epsilon``. Layer kinds are lists of block
    indices; left out, they follow Evo 2's order (``STRIPED_HYENA_PATTERN``). The 1B is
    ``StripedHyenaConfig(vocab_size=512, hidden_size=1920, num_layers=25,
    num_attention_heads=15, inner_mlp_size=5120, ...)``.

    >>> config = StripedHyenaConfig.from_preset("tiny", vocab_size=512)
    >>> config.attn_layer_idxs, config.hcl_layer_idxs
    ([3], [2, 6])
    """

    model_type = "bioseq-striped-hyena"

    def __init__(
        self,
        num_attention_heads: int | None = None,
        inner_mlp_size: int | None = None,
        state_size: int = 16,
        short_filter_length: int = 3,
        hcs_filter_length: int = 7,
        hcm_filter_length: int = 128,
        hcs_filter_groups: int | None = None,
        hcm_filter_groups: int | None = None,
        hcl_filter_groups: int | None = None,
        hcs_layer_idxs: list[int] | None = None,
        hcm_layer_idxs: list[int] | None = None,
        hcl_layer_idxs: list[int] | None = None,
        attn_layer_idxs: list[int] | None = None,
        rotary_emb_base: float = 10000.0,
        evo2_style_activations: bool = True,
        max_seqlen: int = 8192,
        hcm_decay_preset: str | None = None,
        tie_word_embeddings: bool = True,
        norm_epsilon: float = 1e-6,
        **kwargs,
    ) -> None:
        for alias, name in (
            ("hidden_size", "d_model"),
            ("num_layers", "n_layer"),
            ("eps", "norm_epsilon"),
        ):
            if alias in kwargs:
                kwargs[name] = kwargs.pop(alias)
        norm_epsilon = kwargs.pop("norm_epsilon", norm_epsilon)
        super().__init__(
            tie_word_embeddings=tie_word_embeddings, norm_epsilon=norm_epsilon, **kwargs
        )
        d, n = self.d_model, self.n_layer
        self.num_attention_heads = num_attention_heads or max(1, d // 64)
        self.inner_mlp_size = inner_mlp_size or 64 * math.ceil(d * 8 / 3 / 64)  # 1B: 5120/1920
        self.state_size = state_size
        self.short_filter_length = short_filter_length
        self.hcs_filter_length = hcs_filter_length
        self.hcm_filter_length = hcm_filter_length
        self.hcs_filter_groups = hcs_filter_groups or max(1, d // 16)
        self.hcm_filter_groups = hcm_filter_groups or max(1, d // 16)
        self.hcl_filter_groups = hcl_filter_groups or d
        lists = (hcs_layer_idxs, hcm_layer_idxs, hcl_layer_idxs, attn_layer_idxs)
        if all(x is None for x in lists):
            kinds = [STRIPED_HYENA_PATTERN[i % len(STRIPED_HYENA_PATTERN)] for i in range(n)]
            lists = tuple(
                [i for i in range(n) if kinds[i] == k] for k in ("hcs", "hcm", "hcl", "attn")
            )
        self.hcs_layer_idxs, self.hcm_layer_idxs, self.hcl_layer_idxs, self.attn_layer_idxs = (
            [int(i) for i in x or []] for x in lists
        )
        self.rotary_emb_base = rotary_emb_base
        self.evo2_style_activations = evo2_style_activations
        self.max_seqlen = max_seqlen
        # hcm training with savanna's fixed decay window (strong / normal / weak) multiplied
        # into the taps in the forward; None (released Evo 2 weights): h is the effective taps
        self.hcm_decay_preset = hcm_decay_preset
        self._check()

    def _check(self) -> None:
        d = self.d_model
        listed = sorted(
            self.hcs_layer_idxs + self.hcm_layer_idxs + self.hcl_layer_idxs + self.attn_layer_idxs
        )
        if listed != list(range(self.n_layer)):
            raise InputError(
                f"the hcs/hcm/hcl/attn layer lists must name each of the "
                f"{self.n_layer} layers exactly once, not {listed}"
            )
        if d % self.num_attention_heads or (d // self.num_attention_heads) % 2:
            raise InputError(
                f"d_model {d} must split into {self.num_attention_heads} heads of an even size"
            )
        for name in ("hcs_filter_groups", "hcm_filter_groups"):
            if d % getattr(self, name):
                raise InputError(f"d_model {d} is not divisible by {name} {getattr(self, name)}")
        if self.hcm_decay_preset not in (None, "strong", "normal", "weak"):
            raise InputError(
                f"hcm_decay_preset must be strong, normal, weak or None, not "
                f"{self.hcm_decay_preset!r}"
            )
        if self.hcl_filter_groups != d:
            raise InputError(
                f"hcl_filter_groups must equal d_model ({d}): hcl filters are per channel"
            )

    def layer_kind(self, i: int) -> str:
        """``hcs``, ``hcm``, ``hcl`` or ``attn``: the kind of block ``i``."""
        for kind in ("hcs", "hcm", "hcl", "attn"):
            if i in getattr(self, f"{kind}_layer_idxs"):
                return kind
        raise InputError(f"layer {i} has no kind")

    @classmethod
    def from_preset(cls, size: str, **overrides) -> StripedHyenaConfig:
        """A config of size ``tiny``, ``small`` or ``base``; keyword arguments override it."""
        if size not in STRIPED_HYENA_SIZES:
            known = ", ".join(STRIPED_HYENA_SIZES)
            raise InputError(f"unknown model size {size!r} (expected one of {known})")
        return cls(**{**STRIPED_HYENA_SIZES[size], **overrides})
