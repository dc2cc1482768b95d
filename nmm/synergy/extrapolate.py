"""Excitations from synergies, in torch: the SynX model of the unmeasured and measured muscles.

After Bianco et al. 2018 and Ao et al. 2022 (NMSM Pipeline ``calcMuscleExcitationsSynX.m``),
with C the synergy commands of a trial (from :mod:`nmm.synergy.factorise`, plus a column of
ones for PCA, whose weight is SynX's constant offset):

    ê_u(t) = Σ_k C_k(t) w_{u,k}                      unmeasured (hidden) muscle u
    ê_m(t) = EMG_m(t) + Σ_k C^res_k(t) r_{m,k}        measured muscle m (residual excitation)
    u_i(t) = g_i ê_i(t)                               excitation, g_i the personalised EMG gain

The weights ``w`` belong to a *synergy group* (a trial, a task or a subject: SynX's
``synergy_extrapolation_categorization``) and the residual weights ``r`` to a *residual group*
(``residual_categorization``); the physics (:class:`~nmm.model.physics.PersonalisedElbow`)
multiplies ê by the EMG gain, so SynX's EMG scale factor s_m is the personalised ``emg_gain``
and the residual r here is SynX's residual divided by it (the same family of excitations).

ê is kept in [0, 1] and u = g ê in [0, 1] (SynX keeps the unmeasured excitations in [0, 1] by
linear inequality constraints and the measured ones by a penalty): :func:`bound_envelopes`
clamps ê to ``[0, min(1, 1/g)]`` and returns the violation of the unclamped value, which the
fit penalises (:mod:`nmm.synergy.fit`), so the optimum lies inside the box and the clamp only
guards the reported values.

Shapes: B sequences, L samples, M muscles, K commands per trial (k synergies, +1 for PCA),
G groups.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["SynergyExtrapolation", "bound_envelopes"]


class SynergyExtrapolation(nn.Module):
    """Synergy weights of the hidden muscles and residual weights of the measured ones.

    Args:
        n_muscles: M, the physics' muscles.
        hidden: indices of the unmeasured muscles (their ê comes from the synergies).
        hidden_weights: ``(G_syn, K, H)`` initial weights w of the H hidden muscles per
            synergy group.
        n_residual_groups: G_res.

    Attributes:
        hidden_weights: ``nn.Parameter (G_syn, K, H)``.
        residual_weights: ``nn.Parameter (G_res, K, M_meas)``, starting at 0 (no residual).
    """

    def __init__(
        self,
        n_muscles: int,
        hidden: Sequence[int],
        hidden_weights: Tensor,
        n_residual_groups: int,
    ) -> None:
        super().__init__()
        self.n_muscles = int(n_muscles)
        self.hidden = [int(i) for i in hidden]
        self.measured = [i for i in range(self.n_muscles) if i not in set(self.hidden)]
        if hidden_weights.dim() != 3 or hidden_weights.shape[-1] != len(self.hidden):
            raise ValueError(
                f"hidden_weights must be (groups, commands, {len(self.hidden)} hidden muscles), "
                f"got {tuple(hidden_weights.shape)}"
            )
        n_commands = hidden_weights.shape[1]
        self.hidden_weights = nn.Parameter(hidden_weights.clone())
        self.residual_weights = nn.Parameter(
            hidden_weights.new_zeros(int(n_residual_groups), n_commands, len(self.measured))
        )

    def forward(
        self,
        emg: Tensor,
        synergy_commands: Tensor,
        residual_commands: Tensor,
        synergy_group: Tensor,
        residual_group: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Unclamped envelopes with and without the residual excitations.

        Args:
            emg: ``(B, L, M)`` measured envelopes (any value in hidden columns).
            synergy_commands: ``(B, L, K)`` C of each sequence's synergy group.
            residual_commands: ``(B, L, K)`` C^res of its residual group.
            synergy_group, residual_group: ``(B,)`` group of each sequence.

        Returns:
            ``(ê, ê_no_residual)``, each ``(B, L, M)``: the SynX envelopes, and the same with
            the residuals left out (measured columns = EMG), for SynX's residual cost.
        """
        w = self.hidden_weights[synergy_group]  # (B, K, H)
        r = self.residual_weights[residual_group]  # (B, K, Mm)
        hidden = torch.einsum("blk,bkh->blh", synergy_commands, w)
        residual = torch.einsum("blk,bkm->blm", residual_commands, r)
        base = emg.clone()
        base[..., self.hidden] = hidden
        out = base.clone()
        out[..., self.measured] = out[..., self.measured] + residual
        return out, base


def bound_envelopes(raw: Tensor, gain: Tensor) -> tuple[Tensor, Tensor]:
    """ê clamped to ``[0, min(1, 1/gain)]`` (so ê and u = gain·ê lie in [0, 1]) and the violation.

    Args:
        raw: ``(B, L, M)`` unclamped envelopes.
        gain: ``(B, M)`` EMG gain of each sequence's subject.

    Returns:
        ``(ê, violation)``, each ``(B, L, M)``; violation = how far ``raw`` lies outside the box.
    """
    upper = torch.clamp(1.0 / gain, max=1.0).unsqueeze(-2)
    clamped = torch.minimum(torch.clamp(raw, min=0.0), upper)
    violation = torch.relu(-raw) + torch.relu(raw - upper)
    return clamped, violation
