"""The transformer encoder of the NMM: per-time-step inputs -> every muscle's envelope in [0, 1].

Kumar et al. 2025 (arXiv 2503.05201) use a transformer-based physics-informed network; its sizes
are not reported (shared/METHODS.md section 1), so they are set in ``conf/model/``. The layout
is the standard encoder of Vaswani et al. 2017 ("Attention is all you need", NeurIPS):

    x (B, T, F) -> Linear(F, d) + positional encoding -> N x [self-attention, feed-forward]
                -> Linear(d, M) -> sigmoid -> envelopes (B, T, M) in [0, 1]

Pre-layer normalisation (``norm_first``; Xiong et al. 2020, ICML) trains without warm-up. The
sigmoid bounds every output to [0, 1], the range of an MVIC-normalised envelope.

Causal mode (``causal=True``, ``model.causal``): self-attention gets the causal mask of a
decoder (Vaswani et al. 2017, section 3.2.3), sample i attends to samples j <= i only, so the
output at i depends on the window's inputs up to i and on nothing later. Every other layer acts
on each sample alone, so with a window starting at sample 0 the output at i is the same as that
of the window ``[0, i]``: what a stream computes before it has a whole window.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["POSITIONAL_ENCODINGS", "NMMEncoder", "sinusoidal_encoding"]

#: Positional encodings :class:`NMMEncoder` knows.
POSITIONAL_ENCODINGS = ("sinusoidal", "learned", "none")


def sinusoidal_encoding(length: int, d_model: int) -> Tensor:
    """``(length, d_model)`` sine/cosine positional encoding (Vaswani et al. 2017, section 3.5).

    ``PE[t, 2i] = sin(t / 10000^(2i/d))``, ``PE[t, 2i+1] = cos(t / 10000^(2i/d))``.
    """
    position = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(1e4) / d_model))
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
    return pe.to(torch.get_default_dtype())


class NMMEncoder(nn.Module):
    """Transformer encoder mapping input features to bounded muscle envelopes.

    Args:
        n_inputs: F, features per time step (:class:`nmm.model.features.FeatureSpec`).
        n_outputs: M, muscles (all of them, measured and hidden).
        d_model: width of the tokens.
        n_heads: attention heads (divides ``d_model``).
        n_layers: encoder layers.
        dim_feedforward: hidden width of the feed-forward blocks.
        dropout: dropout in attention and feed-forward (0 keeps torch's fast CPU kernel;
            shared/STACK.md).
        positional_encoding: ``"sinusoidal"``, ``"learned"`` or ``"none"``.
        max_len: longest sequence (samples) a learned encoding covers; sinusoidal ones grow.
        output_bias: initial bias of the output layer (logit): -2 starts the envelopes near
            sigmoid(-2) = 0.12, a resting level, rather than 0.5.
        causal: mask self-attention so that sample i sees samples <= i only (module doc).
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 3,
        dim_feedforward: int = 128,
        dropout: float = 0.0,
        positional_encoding: str = "sinusoidal",
        max_len: int = 2000,
        output_bias: float = -2.0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        if n_inputs < 1 or n_outputs < 1:
            raise ValueError(f"n_inputs and n_outputs must be >= 1, got {n_inputs}, {n_outputs}")
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        if positional_encoding not in POSITIONAL_ENCODINGS:
            raise ValueError(
                f"unknown positional_encoding {positional_encoding!r}; known: "
                + ", ".join(POSITIONAL_ENCODINGS)
            )
        self.n_inputs, self.n_outputs, self.d_model = n_inputs, n_outputs, d_model
        self.positional_encoding = positional_encoding
        self.causal = bool(causal)
        self.max_len = int(max_len)
        self.input = nn.Linear(n_inputs, d_model)
        if positional_encoding == "learned":
            self.position = nn.Parameter(torch.zeros(self.max_len, d_model))
            nn.init.normal_(self.position, std=0.02)
        else:
            self.register_buffer(
                "position", sinusoidal_encoding(self.max_len, d_model), persistent=False
            )
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_heads,
            dim_feedforward,
            dropout,
            batch_first=True,
            norm_first=True,
        )
        # nested tensors are not used (and warn) with norm_first; STACK.md
        self.encoder = nn.TransformerEncoder(
            layer, n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.output = nn.Linear(d_model, n_outputs)
        nn.init.constant_(self.output.bias, float(output_bias))

    def _positions(self, length: int, ref: Tensor) -> Tensor:
        if self.positional_encoding == "none":
            return torch.zeros((), dtype=ref.dtype, device=ref.device)
        if length > self.position.shape[0]:
            if self.positional_encoding == "learned":
                raise ValueError(
                    f"sequence of {length} samples is longer than the learned positional "
                    f"encoding ({self.position.shape[0]}); use shorter windows or raise max_len"
                )
            return sinusoidal_encoding(length, self.d_model).to(ref)
        return self.position[:length].to(ref.dtype)

    def logits(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """Pre-sigmoid outputs ``(B, T, M)``.

        Args:
            x: ``(B, T, F)`` features.
            padding_mask: ``(B, T)`` True where a sample is padding (ignored by attention).
        """
        if x.dim() != 3 or x.shape[-1] != self.n_inputs:
            raise ValueError(
                f"expected features of shape (B, T, {self.n_inputs}), got {tuple(x.shape)}"
            )
        h = self.input(x) + self._positions(x.shape[1], x)
        if padding_mask is not None and not bool(padding_mask.any()):
            padding_mask = None  # lets torch keep its fast path
        if not self.causal:
            return self.output(self.encoder(h, src_key_padding_mask=padding_mask))
        # -inf above the diagonal: sample i attends to samples j <= i (module doc)
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], x.device, h.dtype)
        h = self.encoder(h, mask=mask, src_key_padding_mask=padding_mask, is_causal=True)
        return self.output(h)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """Envelopes ``(B, T, M)`` in [0, 1] (sigmoid of :meth:`logits`)."""
        return torch.sigmoid(self.logits(x, padding_mask))
