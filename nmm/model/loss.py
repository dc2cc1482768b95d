"""The physics-informed loss of the NMM, each term divided by its allowable error.

Every term is a mean of squared errors *in units of an allowable error* set in ``conf/model/``
(``loss.allowable``), the convention of the NMSM Pipeline's cost terms (Ao et al. 2022, Front.
Bioeng. Biotechnol. 10:962959: "allowable error" per term), so a term of 1 means "errors of the
allowable size" and the weights (``loss.weights``, default 1) are relative importances:

- ``emg`` (data): measured muscles, ``((ê_m - e_m) / σ_emg)²`` over valid samples; σ_emg in
  envelope units (fraction of MVIC).
- ``torque`` (physics): ``((τ_mus - τ_ID) / σ_τ)²`` over valid samples after a burn-in (the
  activation state starts at the window's first excitation); σ_τ = σ_abs + ρ·RMS(τ_ID of the
  window) in N·m (``torque_nm``, ``torque_relative``): an absolute floor plus a fraction of the
  moment's size, so light and heavy loads weigh alike (ρ = 0: a plain absolute error).
- ``smoothness``: ``((ê_{t+1} - 2ê_t + ê_{t-1}) / σ_smooth)²``, all muscles: an envelope low-passed
  at a few Hz has a small second difference per sample; σ_smooth per sample².
- ``synergy`` (no co-activation beyond what the data demand): ``((ê_h - s_h) / σ_synergy)²``,
  s_h the mean *measured* envelope of the hidden muscle's synergists (``synergists``, e.g. BRA:
  the biceps heads, TRImed: TRIlong and TRIlat). Where the torque says nothing (co-contraction
  cancels in the net moment) a hidden muscle does what its synergists do; where the torque
  needs more or less of it, it departs by what the torque term pays for. The same idea as
  synergy extrapolation (Bianco et al. 2018; Ao et al. 2022): unmeasured excitations lie near
  the measured ones' synergies. With ``synergy_log_floor`` f the deviation is relative,
  ``log((ê_h + f) / (s_h + f))``, and σ_synergy a fraction: a muscle at rest may differ from its
  synergists by little, an active one by more. ``synergy_penalty`` ``"charbonnier"`` replaces
  the square z² of the normalised deviation z by ``2(√(1 + z²) - 1)`` (Charbonnier et al. 1997,
  IEEE Trans Image Process 6:298): the same within one allowable error, linear beyond it (a
  Laplace-like prior for a heavy-tailed ratio, so that the torque can move a hidden muscle far
  from its synergists where it must). With ``synergy_space`` ``"excitation"`` the comparison is
  between excitations u = gain × ê (the hidden muscle's and its synergists' mean, the latter
  held fixed): MVIC-normalised envelopes sit below the excitation (the normalising peak of a
  noisy envelope lies above its plateau, so a plateau reads ~0.8 of it), and the drive shared
  by synergists is an excitation, not an envelope.
  In the hold of MVIC trials the allowable error is ``synergy_mvic``: the antagonists
  co-contract together there (the agonists are held by the ``mvic`` term), and a hidden
  antagonist free to co-contract more would cancel the excess moment of a muscle modelled too
  strong, the very error the MVIC moment is there to reveal.
- ``synergy_shape`` (a hidden muscle's share of its synergists' drive changes slowly):
  ``((d_{t+1} - d_t) / σ_shape)²``, d the synergy term's log ratio
  ``log((u_h + f) / (s_h + f))``, over consecutive valid samples; σ_shape per sample. The share
  changes with the joint angle, as the muscles' moment arms do (Murray, Delp & Buchanan 1995,
  J Biomech 28:513), over a movement, not from sample to sample; so the hidden muscle keeps its
  synergists' time course (the shape prior of synergy extrapolation, whose extrapolated
  excitations are weighted sums of the measured ones' synergies, Bianco et al. 2018) and its
  level is what the torque and the synergy term set. Off unless ``allowable.synergy_shape``.
- ``mvic`` (maximal drive): ``((u_i - u_max) / σ_mvic)²`` over the hold of MVIC trials, for the
  agonists (the muscles whose moment has the sign of τ_ID there), u = gain × ê the excitation.
  In a maximal voluntary contraction every agonist is driven to nearly its maximum, voluntary
  activation of the elbow flexors being ~90-100 % (Allen et al. 1998, Muscle Nerve 21:318), so
  u_max ≈ 0.95. The torque alone cannot tell a muscle's excitation scale from its strength (only
  the product F0 × gain × ê enters the moment), nor, with a hidden muscle, how the moment is
  shared: this term sets the scale of every agonist's excitation, so that the MVIC moment
  calibrates their strengths, as EMG-driven models are calibrated on maximal trials (Lloyd &
  Besier 2003, J Biomech 36:765).
- ``effort``: ``(ê_h / σ_effort)²`` of the hidden muscles, which only the torque and the synergy
  prior support; SynX penalises extrapolated activations the same way (allowable 0.5 by default
  in the NMSM Pipeline's MTPReference).
- ``parameters`` (priors): ``Σ_p ((p - p_0) / (σ_p (upper - lower)))²`` summed over a subject's
  personalised parameters (a Gaussian prior on the whole set, not diluted by their number) and
  averaged over the subjects in the batch; σ_p a fraction of the parameter's bound range, per
  parameter name, p_0 the configured initial value.

Shapes: B sequences, T samples, M muscles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from nmm.model.physics import PhysicsOutput, mvic_agonists

__all__ = ["LOSS_TERMS", "SYNERGY_PENALTIES", "SYNERGY_SPACES", "PhysicsInformedLoss"]

#: The terms, in the order they are logged.
LOSS_TERMS = (
    "emg",
    "torque",
    "smoothness",
    "synergy",
    "synergy_shape",
    "mvic",
    "effort",
    "parameters",
)
#: Penalties of the normalised synergy deviation z (module doc).
SYNERGY_PENALTIES = ("quadratic", "charbonnier")
#: What the synergy prior compares (module doc).
SYNERGY_SPACES = ("envelope", "excitation")


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


class PhysicsInformedLoss(nn.Module):
    """Weighted sum of the normalised terms of the module doc.

    Args:
        allowable: ``{emg, torque_nm, smoothness, synergy, mvic, effort}`` allowable errors
            (units above), optionally ``torque_relative``, ``synergy_mvic`` (default
            ``synergy``) and ``synergy_shape`` (default: no such term), and
            ``parameters``: a float (fraction of the bound range) or ``{parameter name: fraction}``
            with an optional ``default``.
        weights: ``{term: weight}``; missing terms weigh 1, 0 switches a term off.
        hidden: indices of the hidden muscles (synergy and effort terms).
        synergists: ``{hidden index: [synergist indices]}`` (synergy term; none: no term).
        synergy_log_floor: f of the relative synergy deviation (None: absolute deviation).
        synergy_penalty: ``"quadratic"`` (z²) or ``"charbonnier"`` (2(√(1 + z²) - 1)) of the
            normalised synergy deviation z.
        burn_in: samples at the start of each window left out of the torque term.
        mvic_excitation: u_max, the agonists' excitation in the hold of an MVIC trial.
        synergy_space: ``"envelope"`` (ê) or ``"excitation"`` (gain × ê) in the synergy term.
    """

    def __init__(
        self,
        allowable: Mapping[str, object],
        weights: Mapping[str, float] | None = None,
        hidden: Sequence[int] = (),
        synergists: Mapping[int, Sequence[int]] | None = None,
        synergy_log_floor: float | None = None,
        burn_in: int = 0,
        synergy_penalty: str = "quadratic",
        mvic_excitation: float = 0.95,
        synergy_space: str = "envelope",
    ) -> None:
        super().__init__()
        missing = [k for k in ("emg", "torque_nm") if k not in allowable]
        if missing:
            raise ValueError(f"loss allowable errors missing: {missing}")
        self.sigma_emg = float(allowable["emg"])  # type: ignore[arg-type]
        self.sigma_torque = float(allowable["torque_nm"])  # type: ignore[arg-type]
        self.torque_relative = float(allowable.get("torque_relative", 0.0))  # type: ignore[arg-type]
        if self.torque_relative < 0:
            raise ValueError(f"torque_relative must be >= 0, got {self.torque_relative}")
        self.sigma_smooth = float(allowable.get("smoothness", 0.01))  # type: ignore[arg-type]
        self.sigma_effort = float(allowable.get("effort", 0.5))  # type: ignore[arg-type]
        self.sigma_synergy = float(allowable.get("synergy", 0.1))  # type: ignore[arg-type]
        shape = allowable.get("synergy_shape")
        self.sigma_shape = None if shape is None else float(shape)  # type: ignore[arg-type]
        self.sigma_mvic = float(allowable.get("mvic", 0.05))  # type: ignore[arg-type]
        synergy_mvic = allowable.get("synergy_mvic")
        self.sigma_synergy_mvic = float(
            self.sigma_synergy if synergy_mvic is None else synergy_mvic  # type: ignore[arg-type]
        )
        prior = allowable.get("parameters", 0.25)
        self.sigma_prior: dict[str, float] = (
            {"default": float(prior)}  # type: ignore[arg-type]
            if isinstance(prior, int | float)
            else {str(k): float(v) for k, v in prior.items()}  # type: ignore[union-attr]
        )
        for name, s in [
            ("emg", self.sigma_emg),
            ("torque_nm", self.sigma_torque),
            ("smoothness", self.sigma_smooth),
            ("effort", self.sigma_effort),
            ("synergy", self.sigma_synergy),
            ("mvic", self.sigma_mvic),
            ("synergy_mvic", self.sigma_synergy_mvic),
            ("synergy_shape", 1.0 if self.sigma_shape is None else self.sigma_shape),
            *self.sigma_prior.items(),
        ]:
            if not s > 0:
                raise ValueError(f"allowable error {name!r} must be > 0, got {s}")
        w = dict(weights or {})
        unknown = [k for k in w if k not in LOSS_TERMS]
        if unknown:
            raise ValueError(f"unknown loss terms {unknown}; known: {list(LOSS_TERMS)}")
        self.weights = {k: float(w.get(k, 1.0)) for k in LOSS_TERMS}
        self.hidden = [int(i) for i in hidden]
        self.synergists = {int(k): [int(i) for i in v] for k, v in (synergists or {}).items() if v}
        self.synergy_log_floor = None if synergy_log_floor is None else float(synergy_log_floor)
        if self.synergy_log_floor is not None and not self.synergy_log_floor > 0:
            raise ValueError(f"synergy_log_floor must be > 0, got {synergy_log_floor}")
        self.burn_in = int(burn_in)
        if synergy_penalty not in SYNERGY_PENALTIES:
            raise ValueError(
                f"unknown synergy_penalty {synergy_penalty!r}; known: {list(SYNERGY_PENALTIES)}"
            )
        self.synergy_penalty = synergy_penalty
        self.mvic_excitation = float(mvic_excitation)
        if not 0.0 < self.mvic_excitation <= 1.0:
            raise ValueError(f"mvic_excitation must be in (0, 1], got {mvic_excitation}")
        if synergy_space not in SYNERGY_SPACES:
            raise ValueError(
                f"unknown synergy_space {synergy_space!r}; known: {list(SYNERGY_SPACES)}"
            )
        self.synergy_space = synergy_space

    def of_batch(
        self,
        envelopes: Tensor,
        batch: Mapping[str, Tensor],
        physics: PhysicsOutput,
        prior_deviation: Tensor | None = None,
        prior_scales: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """:meth:`forward` on a batch of :class:`~nmm.model.datamodule.WindowDataset` items
        (their measured envelopes, masks, torque and MVIC holds) and the physics driven for it;
        the MVIC agonists are found from the muscles' moments
        (:func:`~nmm.model.physics.mvic_agonists`)."""
        hold = batch["mvic_hold"]
        return self(
            envelopes,
            batch["envelopes"],
            batch["measured"],
            batch["valid"],
            physics.torque,
            batch["torque"],
            prior_deviation,
            prior_scales,
            excitation=physics.excitation,
            mvic_agonists=mvic_agonists(physics.muscle_torques, batch["torque"], hold),
            mvic_hold=hold,
        )

    def prior_scales(self, columns: Sequence[tuple[str, str | None]]) -> Tensor:
        """``(P,)`` σ_p of each parameter column (name, muscle)."""
        default = self.sigma_prior.get("default", 0.25)
        return torch.tensor([self.sigma_prior.get(name, default) for name, _ in columns])

    def forward(
        self,
        envelopes: Tensor,
        target: Tensor,
        measured: Tensor,
        valid: Tensor,
        torque: Tensor,
        torque_target: Tensor,
        prior_deviation: Tensor | None = None,
        prior_scales: Tensor | None = None,
        excitation: Tensor | None = None,
        mvic_agonists: Tensor | None = None,
        mvic_hold: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """The terms and their weighted sum (``"total"``), each a scalar tensor.

        Args:
            envelopes: ``(B, T, M)`` predicted ê.
            target: ``(B, T, M)`` measured envelopes (any value where not measured).
            measured: ``(B, M)`` bool, muscles with a recorded envelope.
            valid: ``(B, T)`` bool, samples that are data (not padding).
            torque: ``(B, T)`` τ_mus (N·m); torque_target: ``(B, T)`` τ_ID (N·m).
            prior_deviation: ``(S, P)`` (p - p_0)/(upper - lower) of the subjects in the batch.
            prior_scales: ``(P,)`` σ_p (:meth:`prior_scales`).
            excitation: ``(B, T, M)`` u = gain × ê driving the physics (``mvic`` term).
            mvic_hold: ``(B, T)`` bool, the hold of MVIC trials (``synergy_mvic``).
            mvic_agonists: ``(B, T, M)`` bool, agonists in the hold of an MVIC trial (none: no
                ``mvic`` term).
        """
        valid_f = valid.to(envelopes.dtype)
        terms: dict[str, Tensor] = {}
        emg_mask = valid_f.unsqueeze(-1) * measured.to(envelopes.dtype).unsqueeze(1)
        terms["emg"] = _masked_mean(((envelopes - target) / self.sigma_emg) ** 2, emg_mask)
        torque_mask = valid_f.clone()
        torque_mask[:, : self.burn_in] = 0.0
        sigma_t = torch.full_like(torque[:, :1], self.sigma_torque)
        if self.torque_relative:
            ms = (torque_target.detach() ** 2 * valid_f).sum(1, keepdim=True)
            rms = (ms / valid_f.sum(1, keepdim=True).clamp_min(1.0)).sqrt()
            sigma_t = sigma_t + self.torque_relative * rms
        terms["torque"] = _masked_mean(((torque - torque_target) / sigma_t) ** 2, torque_mask)
        if envelopes.shape[1] >= 3:
            d2 = envelopes[:, 2:] - 2.0 * envelopes[:, 1:-1] + envelopes[:, :-2]
            m2 = (valid_f[:, 2:] * valid_f[:, 1:-1] * valid_f[:, :-2]).unsqueeze(-1)
            terms["smoothness"] = _masked_mean((d2 / self.sigma_smooth) ** 2, m2.expand_as(d2))
        else:
            terms["smoothness"] = envelopes.new_zeros(())
        terms["synergy"], terms["synergy_shape"] = self._synergy_terms(
            envelopes, target, measured, valid_f, excitation, mvic_hold
        )
        if excitation is not None and mvic_agonists is not None:
            mask = mvic_agonists.to(excitation.dtype) * valid_f.unsqueeze(-1)
            terms["mvic"] = _masked_mean(
                ((excitation - self.mvic_excitation) / self.sigma_mvic) ** 2, mask
            )
        else:
            terms["mvic"] = envelopes.new_zeros(())
        if self.hidden:
            h = envelopes[..., self.hidden]
            terms["effort"] = _masked_mean(
                (h / self.sigma_effort) ** 2, valid_f.unsqueeze(-1).expand_as(h)
            )
        else:
            terms["effort"] = envelopes.new_zeros(())
        if prior_deviation is not None:
            scales = (
                prior_scales.to(prior_deviation)
                if prior_scales is not None
                else torch.full_like(prior_deviation[0], self.sigma_prior.get("default", 0.25))
            )
            terms["parameters"] = ((prior_deviation / scales) ** 2).sum(-1).mean()
        else:
            terms["parameters"] = envelopes.new_zeros(())
        total = envelopes.new_zeros(())
        for k in LOSS_TERMS:
            if self.weights[k]:
                total = total + self.weights[k] * terms[k]
        terms["total"] = total
        return terms

    def _synergy_terms(
        self,
        envelopes: Tensor,
        target: Tensor,
        measured: Tensor,
        valid_f: Tensor,
        excitation: Tensor | None,
        mvic_hold: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """The ``synergy`` and ``synergy_shape`` terms (module doc); zeros without synergists.

        Shapes as in :meth:`forward`; ``valid_f`` is ``valid`` as the envelopes' dtype.
        """
        zero = envelopes.new_zeros(())
        if not self.synergists:
            return zero, zero
        if self.synergy_space == "excitation":
            if excitation is None:
                raise ValueError("synergy_space 'excitation' needs the excitation")
            own, others = excitation, excitation.detach()
        else:
            own, others = envelopes, target
        sigma_syn = torch.full_like(valid_f, self.sigma_synergy)
        if mvic_hold is not None:
            sigma_syn = torch.where(mvic_hold.to(torch.bool), self.sigma_synergy_mvic, sigma_syn)
        parts, shape_parts = [], []
        for h, syn in self.synergists.items():
            ok = measured[:, syn].all(dim=1).to(envelopes.dtype)  # (B,) synergists recorded
            ref = others[..., syn].mean(-1)
            mask = valid_f * ok.unsqueeze(-1)
            if self.synergy_log_floor is None:
                dev = own[..., h] - ref
            else:
                f = self.synergy_log_floor
                dev = torch.log(own[..., h] + f) - torch.log(ref.clamp_min(0.0) + f)
            if self.sigma_shape is not None and dev.shape[1] >= 2:
                rate = (dev[:, 1:] - dev[:, :-1]) / self.sigma_shape
                shape_parts.append((rate**2, mask[:, 1:] * mask[:, :-1]))
            z2 = (dev / sigma_syn) ** 2
            if self.synergy_penalty == "charbonnier":
                z2 = 2.0 * z2 / (torch.sqrt(1.0 + z2) + 1.0)  # = 2(√(1 + z²) - 1), exact near 0
            parts.append((z2, mask))
        return _stacked_mean(parts), _stacked_mean(shape_parts) if shape_parts else zero


def _stacked_mean(parts: list[tuple[Tensor, Tensor]]) -> Tensor:
    """:func:`_masked_mean` of (values, mask) pairs of the same shape, stacked on a new axis."""
    values = torch.stack([p for p, _ in parts], -1)
    return _masked_mean(values, torch.stack([m for _, m in parts], -1))
