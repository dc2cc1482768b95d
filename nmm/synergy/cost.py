"""The cost of the SynX fit (step 4 of :mod:`nmm.synergy.fit`) on a batch of sequences.

Each term is a mean square over its allowable error (SynX's ``calcDeviationCostTerm``; values
and sources in ``conf/mse/synx.yaml``):

- ``moment``: τ_mus - τ_ID (N·m), after a burn-in at each window's start;
- ``extrapolated_activation``: activation of the unmeasured muscles;
- ``residual_activation``: activation with residuals minus activation of the EMG alone,
  measured muscles (``calcResidualMuscleActivationCost.m``);
- ``activation_similarity``: the NMSM Pipeline's grouped activation similarity
  (``calcActivationSimilarityCost.m``), per subject within ``activation_groups``;
- ``bounds``: how far the unclamped ê or u = gain·ê lies outside [0, 1]
  (:func:`~nmm.synergy.extrapolate.bound_envelopes`);
- ``parameters``: the NMM's prior, Σ_p ((p - p_0) / (σ_p (upper - lower)))² per subject,
  averaged over subjects (:mod:`nmm.model.loss`).

Shapes: B sequences, L samples, M muscles, K commands, P parameter columns, S subjects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nmm.model.features import PreparedTrial
from nmm.model.physics import PersonalisedElbow
from nmm.synergy.commands import GroupedCommands
from nmm.synergy.extrapolate import SynergyExtrapolation, bound_envelopes
from nmm.synergy.settings import SynXSettings

__all__ = [
    "COST_TERMS",
    "Batch",
    "activation_similarity",
    "cost_terms",
    "forward",
    "make_batch",
    "masked_mean",
    "prior_scales",
]

#: The cost terms, in the order they are logged.
COST_TERMS = (
    "moment",
    "extrapolated_activation",
    "residual_activation",
    "activation_similarity",
    "bounds",
    "parameters",
)


def prior_scales(columns: Sequence[tuple[str, str | None]], allowable: Any) -> Tensor:
    """``(P,)`` σ_p per parameter column: a float for all, or ``{name: σ, default: σ}``."""
    if isinstance(allowable, int | float):
        return torch.full((len(columns),), float(allowable))
    spec = {str(k): float(v) for k, v in dict(allowable).items()}
    default = spec.get("default", 0.25)
    return torch.tensor([spec.get(name, default) for name, _ in columns])


@dataclass
class Batch:
    """Sequences (windows, or whole padded trials) as tensors: B × L."""

    emg: Tensor  # (B, L, M)
    synergy_commands: Tensor  # (B, L, K)
    residual_commands: Tensor  # (B, L, K)
    synergy_group: Tensor  # (B,)
    residual_group: Tensor  # (B,)
    subject: Tensor  # (B,)
    angle: Tensor  # (B, L)
    velocity: Tensor  # (B, L)
    torque: Tensor  # (B, L)
    valid: Tensor  # (B, L) bool


def _pad(x: np.ndarray, n: int) -> np.ndarray:
    if x.shape[0] == n:
        return x
    pad = np.repeat(x[-1:], n - x.shape[0], axis=0)  # hold the last value (causal model)
    return np.concatenate([x, pad])


def make_batch(
    pieces: Sequence[tuple[int, int, int]],
    trials: Sequence[PreparedTrial],
    synergy: GroupedCommands,
    residual: GroupedCommands,
    rows: Mapping[str, int],
    dtype: torch.dtype,
) -> Batch:
    """Stack ``(trial, start, stop)`` pieces (sample indices), each padded to the longest by
    holding its last value; ``rows``: subject -> parameter row of the physics."""
    length = max(e - s for _, s, e in pieces)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("emg", "sc", "rc", "a", "v", "tq", "ok")}
    for i, s, e in pieces:
        t = trials[i]
        cols["emg"].append(_pad(t.envelopes[s:e], length))
        cols["sc"].append(_pad(synergy.commands[i][s:e], length))
        cols["rc"].append(_pad(residual.commands[i][s:e], length))
        cols["a"].append(_pad(t.angle[s:e], length))
        cols["v"].append(_pad(t.velocity[s:e], length))
        cols["tq"].append(_pad(t.torque[s:e], length))
        cols["ok"].append(np.arange(length) < e - s)

    def tensor(key: str) -> Tensor:
        return torch.as_tensor(np.stack(cols[key]), dtype=dtype)

    def index(values: Sequence[int]) -> Tensor:
        return torch.as_tensor(np.asarray(values, dtype=np.int64))

    return Batch(
        emg=tensor("emg"),
        synergy_commands=tensor("sc"),
        residual_commands=tensor("rc"),
        synergy_group=index([synergy.group[i] for i, _, _ in pieces]),
        residual_group=index([residual.group[i] for i, _, _ in pieces]),
        subject=index([rows[trials[i].subject] for i, _, _ in pieces]),
        angle=tensor("a"),
        velocity=tensor("v"),
        torque=tensor("tq"),
        valid=torch.as_tensor(np.stack(cols["ok"])),
    )


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` over the entries where ``mask`` (broadcast to ``x``'s shape) is 1."""
    mask = mask.to(x.dtype).expand_as(x)
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def forward(
    model: SynergyExtrapolation, physics: PersonalisedElbow, b: Batch
) -> tuple[Tensor, Tensor, Any, Any]:
    """(ê, violation, physics output, physics output without residuals) of a batch."""
    raw, raw_base = model(
        b.emg, b.synergy_commands, b.residual_commands, b.synergy_group, b.residual_group
    )
    gain = physics.parameters_table.activation_parameters(b.subject).emg_gain
    env, violation = bound_envelopes(raw, gain)
    base, _ = bound_envelopes(raw_base, gain)
    n = env.shape[0]
    out = physics(
        torch.cat([env, base]),
        torch.cat([b.subject, b.subject]),
        torch.cat([b.angle, b.angle]),
        torch.cat([b.velocity, b.velocity]),
    )
    with_res = type(out)(*(x[:n] for x in out))
    without = type(out)(*(x[n:] for x in out))
    return env, violation, with_res, without


def activation_similarity(
    act: Tensor, valid: Tensor, subject: Tensor, groups: Sequence[Sequence[int]], n_subjects: int
) -> Tensor:
    """Mean square of the grouped activation deviations (NMSM Pipeline
    ``calcActivationSimilarityCost.m``), not yet divided by the allowable error².

    Per subject and group: each muscle's mean activation (over its trials and time) minus the
    group's mean of those (magnitude), and each muscle's activation minus its own mean, minus
    the group's mean of that (shape); the term is the mean square of the magnitude deviations
    plus that of the shape deviations.
    """
    w = valid.unsqueeze(-1)
    sums = act.new_zeros(n_subjects, act.shape[-1]).index_add(0, subject, (act * w).sum(1))
    counts = act.new_zeros(n_subjects).index_add(0, subject, valid.sum(1))
    present = counts > 0
    mean = sums / counts.clamp_min(1.0).unsqueeze(-1)  # (S, M)
    magnitude, shape = [], []
    for g in groups:
        mg = mean[present][:, g]
        magnitude.append(mg - mg.mean(-1, keepdim=True))
        centred = act[..., g] - mean[subject][:, None, g]
        shape.append(centred - centred.mean(-1, keepdim=True))
    mag = torch.cat(magnitude, -1)
    return (mag**2).mean() + masked_mean(torch.cat(shape, -1) ** 2, w)


def cost_terms(
    model: SynergyExtrapolation,
    physics: PersonalisedElbow,
    b: Batch,
    s: SynXSettings,
    burn_in: int,
    scales: Tensor,
    groups: Sequence[Sequence[int]],
) -> dict[str, Tensor]:
    """Every term of :data:`COST_TERMS` and their sum ``total`` (each a scalar tensor).

    Args:
        burn_in: samples at each sequence's start the moment term skips.
        scales: ``(P,)`` σ_p of the parameter prior (:func:`prior_scales`).
        groups: muscle indices of each activation-similarity group (empty: no term).
    """
    _, violation, out, base = forward(model, physics, b)
    a = s.allowable
    valid = b.valid.to(out.torque.dtype)
    tmask = valid.clone()
    tmask[:, :burn_in] = 0.0
    terms = {"moment": masked_mean(((out.torque - b.torque) / float(a["moment_nm"])) ** 2, tmask)}
    vm = valid.unsqueeze(-1)
    act = out.activation
    if model.hidden:
        h = act[..., model.hidden] / float(a["extrapolated_activation"])
        terms["extrapolated_activation"] = masked_mean(h**2, vm)
    else:
        terms["extrapolated_activation"] = act.new_zeros(())
    m = model.measured
    diff = (act[..., m] - base.activation[..., m]) / float(a["residual_activation"])
    terms["residual_activation"] = masked_mean(diff**2, vm)
    terms["bounds"] = masked_mean((violation / float(a["bounds"])) ** 2, vm)
    terms["activation_similarity"] = (
        activation_similarity(act, valid, b.subject, groups, physics.n_subjects)
        / float(a["activation_similarity"]) ** 2
        if groups
        else act.new_zeros(())
    )
    dev = physics.prior_deviation()
    terms["parameters"] = ((dev / scales.to(dev)) ** 2).sum(-1).mean()
    terms["total"] = sum(terms[k] for k in COST_TERMS)
    return terms
