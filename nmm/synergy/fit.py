"""Synergy extrapolation (SynX), the "MSE" baseline: fitting it and reconstructing trials.

Faithful to SynX (Bianco et al. 2018, Front. Comput. Neurosci.; Ao et al. 2022, Front. Bioeng.
Biotechnol. 10:962959; NMSM Pipeline ``src/MuscleTendonPersonalization/SynergyExtrapolation``):

1. **Normalise** each measured channel by its maximum over all of the subject's trials
   (``getSynergyCommands.m``).
2. **Factorise** the normalised measured envelopes of each group of trials into k synergy
   commands (:func:`nmm.synergy.factorise.nmf` or ``pca``), one factorisation per synergy group
   and per residual group, as SynX does per categorisation. SynX's 21-point spline through the
   NMF commands is left out: it smooths gait cycles resampled to 101 frames, while these are
   whole trials of envelopes already low-passed at 6 Hz.
3. **Unmeasured** envelopes ê_u = Σ_k C_k w_{u,k} (+ b_u for PCA) and **measured** ones
   ê_m = EMG_m + Σ_k C^res_k r_{m,k} (:class:`~nmm.synergy.extrapolate.SynergyExtrapolation`);
   the physics multiplies ê by the personalised ``emg_gain`` (SynX's EMG scale factor).
4. **Jointly optimised** (L-BFGS, as SynX's quasi-Newton fmincon; Adam as an option; full
   batch): the synergy weights, the residual weights and the personalised muscle parameters of
   the same :class:`~nmm.model.physics.PersonalisedElbow` as the NMM (one row per subject, same
   bounds, initial values and priors), so that the muscle torque tracks the inverse-dynamics
   torque. Cost terms, each a mean square over its allowable error (SynX's
   ``calcDeviationCostTerm``; values and their sources in ``conf/mse/synx.yaml``):

   - ``moment``: τ_mus - τ_ID (N·m), after a burn-in at each window's start;
   - ``extrapolated_activation``: activation of the unmeasured muscles;
   - ``residual_activation``: activation with residuals minus activation of the EMG alone,
     measured muscles (``calcResidualMuscleActivationCost.m``);
   - ``activation_similarity``: the NMSM Pipeline's grouped activation similarity
     (``calcActivationSimilarityCost.m``), per subject within ``activation_groups``;
   - ``bounds``: how far the unclamped ê or u = gain·ê lies outside [0, 1] (SynX's linear
     inequalities and excitation penalty, here a penalty plus a clamp of the reported values,
     :func:`~nmm.synergy.extrapolate.bound_envelopes`);
   - ``parameters``: the NMM's prior, Σ_p ((p - p_0) / (σ_p (upper - lower)))² per subject,
     averaged over subjects (:mod:`nmm.model.loss`), with the NMM's σ_p.

   Subjects are fitted together in one batch: their weights and parameter rows are separate
   and every term is a mean over samples or subjects, so the cost is the mean of the
   per-subject costs (weighted by their samples) and each subject's optimum is its own.
   The activation ODE is a loop over time, so trials are cut into non-overlapping windows of
   ``window_s`` (the last one flush with the trial's end) batched together; each window carries
   its trial's commands and groups, so the weights stay per trial/task/subject.
5. **Reconstruction**: each whole trial through the physics once with the fitted weights and
   parameters (:class:`~nmm.model.reconstruct.Reconstruction`, scored by
   :func:`nmm.model.evaluate.cell_scores` like the NMM's). ``envelopes`` is ê, the pre-gain
   envelope on the NMM's scale; ``excitation`` is gain·ê. An unmeasured muscle's ê and its
   gain only act through their product; the NMM's prior on ``emg_gain`` (centred on 1) settles
   the split as it does in the NMM, so ê_u is on the scale of the MVIC-normalised envelopes.

Groups (``weight_scope``, ``residual_scope``): ``trial`` (each trial), ``task`` (a subject's
trials of one kind at one load: the protocol's movement tasks and its MVIC trials) or
``subject``. SynX's defaults are weights per trial and residuals per task; the config's are
per task for both (``conf/mse/synx.yaml`` says why).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from nmm.config import CONF_DIR
from nmm.model.features import PreparedTrial, samples, window_starts
from nmm.model.physics import PersonalisedElbow
from nmm.model.reconstruct import Reconstruction
from nmm.physics.elbow import ElbowModel
from nmm.synergy.extrapolate import SynergyExtrapolation, bound_envelopes
from nmm.synergy.factorise import Factorisation, FactorisationError, nmf, pca

__all__ = [
    "COST_TERMS",
    "SCOPES",
    "SynXResult",
    "SynXSettings",
    "fit_synx",
    "group_trials",
]

log = logging.getLogger(__name__)

#: Where synergy / residual weights are shared (SynX's categorisations).
SCOPES = ("trial", "task", "subject")
#: The cost terms, in the order they are logged.
COST_TERMS = (
    "moment",
    "extrapolated_activation",
    "residual_activation",
    "activation_similarity",
    "bounds",
    "parameters",
)


@dataclass(frozen=True)
class SynXSettings:
    """The options of ``conf/mse/synx.yaml`` (see there for values and sources), validated.

    Attributes:
        n_synergies: k.
        method: ``"nmf"`` or ``"pca"``.
        replicates, max_iter, tol: NMF random starts, iteration limit, convergence tolerance
            (``nmf.*``).
        weight_scope, residual_scope: one of :data:`SCOPES`.
        activation_groups: muscle groups whose activations are kept similar (empty: none).
        allowable: ``allowable_error``: ``{moment_nm, extrapolated_activation,
            residual_activation, activation_similarity, bounds}`` and ``parameters`` (a
            fraction of each bound range, or ``{name: fraction, default}``).
        optimizer: ``"lbfgs"`` or ``"adam"`` (see :func:`_optimise`).
        steps: L-BFGS iterations or Adam steps.
        lr, parameter_lr, final_lr_fraction: Adam's step sizes of the weights and of the
            parameters' logits, and the cosine decay's end as a fraction of each.
        window_s, burn_in_s: window length and the moment term's burn-in per window (s).
    """

    n_synergies: int
    method: str
    replicates: int
    max_iter: int
    tol: float
    weight_scope: str
    residual_scope: str
    activation_groups: Sequence[Sequence[str]]
    allowable: Mapping[str, Any]
    optimizer: str
    steps: int
    lr: float
    parameter_lr: float
    final_lr_fraction: float
    window_s: float
    burn_in_s: float

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any] | DictConfig | None) -> SynXSettings:
        """From an ``mse`` config node; keys it lacks take the values of
        ``conf/mse/synx.yaml`` (whose parameter prior falls back to 0.25 outside a config
        with a ``model``).

        Raises:
            ValueError: an unknown key, method or scope, or a value out of range.
        """
        defaults = OmegaConf.load(Path(CONF_DIR) / "mse" / "synx.yaml")
        if isinstance(settings, DictConfig):  # resolved where it sits (its ${model...})
            settings = OmegaConf.to_container(settings, resolve=True)  # type: ignore[assignment]
        given = OmegaConf.create(dict(settings or {}))
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ValueError(f"mse: unknown option(s) {unknown}; known: {sorted(defaults)}")
        for node in ("nmf", "allowable_error"):
            extra = sorted(set(given.get(node) or {}) - set(defaults[node]))
            if extra and not (node == "allowable_error" and extra == ["parameters"]):
                raise ValueError(f"mse.{node}: unknown option(s) {extra}")
        merged = OmegaConf.merge(defaults, given)
        raw: dict[str, Any] = OmegaConf.to_container(merged, resolve=True)  # type: ignore[assignment]
        nmf_opts = raw.pop("nmf")
        raw["allowable"] = raw.pop("allowable_error")
        out = cls(**raw, **nmf_opts)
        out.check()
        return out

    def check(self) -> None:
        """Raise ValueError for a value out of range (messages name the option)."""
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"mse.optimizer must be 'lbfgs' or 'adam', got {self.optimizer!r}")
        if self.method not in ("nmf", "pca"):
            raise ValueError(f"mse.method must be 'nmf' or 'pca', got {self.method!r}")
        for name in ("weight_scope", "residual_scope"):
            if getattr(self, name) not in SCOPES:
                raise ValueError(f"mse.{name} must be one of {SCOPES}, got {getattr(self, name)!r}")
        if int(self.n_synergies) < 1:
            raise ValueError(f"mse.n_synergies must be >= 1, got {self.n_synergies}")
        names = ("moment_nm", "extrapolated_activation", "residual_activation", "bounds")
        for name in (*names, "activation_similarity"):
            if not float(self.allowable.get(name, 0.0)) > 0:
                raise ValueError(f"mse.allowable_error.{name} must be > 0")
        if int(self.steps) < 0 or not self.window_s > 0 or self.burn_in_s < 0:
            raise ValueError("mse: steps must be >= 0, window_s > 0 and burn_in_s >= 0")


@dataclass
class SynXResult:
    """A fitted synergy extrapolation.

    Attributes:
        reconstructions: one per trial, in the order of the trials given.
        physics: the fitted :class:`PersonalisedElbow` (rows in ``subject_ids`` order).
        subject_ids: subjects in order of first appearance in the trials.
        model: the fitted :class:`~nmm.synergy.extrapolate.SynergyExtrapolation`.
        factorisations: ``{"synergy"|"residual": [Factorisation per group]}``.
        info: ``loss_history`` (total per step), ``terms_first``/``terms_last``, ``wall_s``,
            ``factorise_s``, ``steps``, ``windows``, ``vaf`` per subject, the settings.
    """

    reconstructions: list[Reconstruction]
    physics: PersonalisedElbow
    subject_ids: list[str]
    model: SynergyExtrapolation
    factorisations: dict[str, list[Factorisation]]
    info: dict[str, Any]


def group_trials(trials: Sequence[PreparedTrial], scope: str) -> tuple[list[int], list[tuple]]:
    """Group index of each trial under ``scope`` and the groups' keys, in order of appearance.

    ``trial``: each trial; ``task``: (subject, kind, load kg); ``subject``: the subject.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    keys: dict[tuple, int] = {}
    index = []
    for i, t in enumerate(trials):
        key: tuple = (
            (t.subject, i)
            if scope == "trial"
            else (t.subject, t.kind, float(t.load_kg))
            if scope == "task"
            else (t.subject,)
        )
        index.append(keys.setdefault(key, len(keys)))
    return index, list(keys)


def _check_trials(
    trials: Sequence[PreparedTrial], muscles: Sequence[str], n_synergies: int
) -> np.ndarray:
    """The measured mask shared by every trial, or a clear error."""
    if not trials:
        raise ValueError("fit_synx: no trials given")
    mask = np.asarray(trials[0].measured, dtype=bool)
    for t in trials:
        where = f"trial {t.subject}/{t.trial_id}"
        if t.envelopes.shape[1:] != (len(muscles),):
            raise ValueError(
                f"{where}: envelopes have {t.envelopes.shape[1]} columns, the physics has "
                f"{len(muscles)} muscles {list(muscles)}"
            )
        if not np.array_equal(np.asarray(t.measured, dtype=bool), mask):
            raise ValueError(
                f"{where}: measured muscles differ from those of the first trial "
                f"({[m for m, k in zip(muscles, mask, strict=True) if k]}); SynX needs one set"
            )
        for name in ("envelopes", "angle", "velocity", "torque"):
            arr = np.asarray(getattr(t, name))
            if not np.isfinite(arr).all():
                raise ValueError(f"{where}: {name} has non-finite values (NaN or inf)")
    if not mask.any():
        raise ValueError(
            f"fit_synx: no measured channel among {list(muscles)}; synergies are extracted "
            "from measured EMG"
        )
    if n_synergies > int(mask.sum()):
        raise FactorisationError(
            f"fit_synx: {n_synergies} synergies asked for {int(mask.sum())} measured channels "
            f"{[m for m, k in zip(muscles, mask, strict=True) if k]}; choose k <= {int(mask.sum())}"
        )
    return mask


def _normalised(trials: Sequence[PreparedTrial], measured: np.ndarray) -> list[np.ndarray]:
    """Measured envelopes of each trial divided by the channel's max over the subject's trials."""
    peaks: dict[str, np.ndarray] = {}
    for t in trials:
        p = t.envelopes[:, measured].max(axis=0)
        peaks[t.subject] = np.maximum(peaks.get(t.subject, p), p)
    for sid, p in peaks.items():
        if not (p > 0).all():
            raise FactorisationError(
                f"subject {sid}: measured channel(s) {np.flatnonzero(p <= 0).tolist()} are zero "
                "in every trial; nothing to extract synergies from"
            )
    return [t.envelopes[:, measured] / peaks[t.subject] for t in trials]


def _factorise_groups(
    normalised: Sequence[np.ndarray],
    groups: Sequence[int],
    n_groups: int,
    s: SynXSettings,
    seed: int,
    keys: Sequence[tuple],
) -> tuple[list[np.ndarray], list[Factorisation]]:
    """Commands ``(T_i, K)`` per trial (K = k, +1 column of ones for PCA) and the factorisations."""
    commands: list[np.ndarray] = [np.empty(0)] * len(normalised)
    facts = []
    for g in range(n_groups):
        members = [i for i, gi in enumerate(groups) if gi == g]
        x = np.concatenate([normalised[i] for i in members])
        try:
            f = (
                nmf(
                    x,
                    s.n_synergies,
                    replicates=s.replicates,
                    max_iter=s.max_iter,
                    tol=s.tol,
                    seed=seed + g,
                )
                if s.method == "nmf"
                else pca(x, s.n_synergies)
            )
        except FactorisationError as exc:
            raise FactorisationError(f"group {keys[g]}: {exc}") from exc
        facts.append(f)
        start = 0
        for i in members:
            n = normalised[i].shape[0]
            c = f.commands[start : start + n]
            if s.method == "pca":
                c = np.column_stack([c, np.ones(n)])
            commands[i] = c
            start += n
    return commands, facts


def _initial_hidden_weights(facts: Sequence[Factorisation], n_hidden: int) -> np.ndarray:
    """``(G, K, H)``: each hidden muscle starts as the mean of the measured channels'
    reconstructions (mean synergy weight; for PCA plus the mean offset), a neutral start that
    favours no measured muscle."""
    out = []
    for f in facts:
        w = f.weights.mean(axis=1)
        if f.method == "pca":
            w = np.append(w, f.offset.mean())
        out.append(np.repeat(w[:, None], n_hidden, axis=1))
    return np.stack(out)


def _prior_scales(columns: Sequence[tuple[str, str | None]], allowable: Any) -> Tensor:
    """``(P,)`` σ_p per parameter column: a float for all, or ``{name: σ, default: σ}``."""
    if isinstance(allowable, int | float):
        return torch.full((len(columns),), float(allowable))
    spec = {str(k): float(v) for k, v in dict(allowable).items()}
    default = spec.get("default", 0.25)
    return torch.tensor([spec.get(name, default) for name, _ in columns])


@dataclass
class _Batch:
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


def _make_batch(
    pieces: Sequence[tuple[int, int, int]],
    trials: Sequence[PreparedTrial],
    syn_cmd: Sequence[np.ndarray],
    res_cmd: Sequence[np.ndarray],
    syn_group: Sequence[int],
    res_group: Sequence[int],
    rows: Mapping[str, int],
    dtype: torch.dtype,
) -> _Batch:
    """Stack ``(trial, start, stop)`` pieces, each padded to the longest."""
    length = max(e - s for _, s, e in pieces)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("emg", "sc", "rc", "a", "v", "tq", "ok")}
    for i, s, e in pieces:
        t = trials[i]
        cols["emg"].append(_pad(t.envelopes[s:e], length))
        cols["sc"].append(_pad(syn_cmd[i][s:e], length))
        cols["rc"].append(_pad(res_cmd[i][s:e], length))
        cols["a"].append(_pad(t.angle[s:e], length))
        cols["v"].append(_pad(t.velocity[s:e], length))
        cols["tq"].append(_pad(t.torque[s:e], length))
        cols["ok"].append(np.arange(length) < e - s)

    def tensor(key: str) -> Tensor:
        return torch.as_tensor(np.stack(cols[key]), dtype=dtype)

    def index(values: Sequence[int]) -> Tensor:
        return torch.as_tensor(np.asarray(values, dtype=np.int64))

    return _Batch(
        emg=tensor("emg"),
        synergy_commands=tensor("sc"),
        residual_commands=tensor("rc"),
        synergy_group=index([syn_group[i] for i, _, _ in pieces]),
        residual_group=index([res_group[i] for i, _, _ in pieces]),
        subject=index([rows[trials[i].subject] for i, _, _ in pieces]),
        angle=tensor("a"),
        velocity=tensor("v"),
        torque=tensor("tq"),
        valid=torch.as_tensor(np.stack(cols["ok"])),
    )


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    mask = mask.to(x.dtype).expand_as(x)
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def _forward(
    model: SynergyExtrapolation, physics: PersonalisedElbow, b: _Batch
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


def _activation_similarity(
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
    return (mag**2).mean() + _masked_mean(torch.cat(shape, -1) ** 2, w)


def _cost(
    model: SynergyExtrapolation,
    physics: PersonalisedElbow,
    b: _Batch,
    s: SynXSettings,
    burn_in: int,
    prior_scales: Tensor,
    groups: Sequence[Sequence[int]],
) -> dict[str, Tensor]:
    _, violation, out, base = _forward(model, physics, b)
    a = s.allowable
    valid = b.valid.to(out.torque.dtype)
    tmask = valid.clone()
    tmask[:, :burn_in] = 0.0
    terms = {"moment": _masked_mean(((out.torque - b.torque) / float(a["moment_nm"])) ** 2, tmask)}
    vm = valid.unsqueeze(-1)
    act = out.activation
    if model.hidden:
        h = act[..., model.hidden] / float(a["extrapolated_activation"])
        terms["extrapolated_activation"] = _masked_mean(h**2, vm)
    else:
        terms["extrapolated_activation"] = act.new_zeros(())
    m = model.measured
    diff = (act[..., m] - base.activation[..., m]) / float(a["residual_activation"])
    terms["residual_activation"] = _masked_mean(diff**2, vm)
    terms["bounds"] = _masked_mean((violation / float(a["bounds"])) ** 2, vm)
    terms["activation_similarity"] = (
        _activation_similarity(act, valid, b.subject, groups, physics.n_subjects)
        / float(a["activation_similarity"]) ** 2
        if groups
        else act.new_zeros(())
    )
    dev = physics.prior_deviation()
    terms["parameters"] = ((dev / prior_scales.to(dev)) ** 2).sum(-1).mean()
    terms["total"] = sum(terms[k] for k in COST_TERMS)
    return terms


@torch.no_grad()
def _reconstruct(
    model: SynergyExtrapolation,
    physics: PersonalisedElbow,
    trials: Sequence[PreparedTrial],
    make: Any,
) -> list[Reconstruction]:
    """Whole trials, padded to the longest and run as one batch (the model is causal)."""
    b = make([(i, 0, t.n_samples) for i, t in enumerate(trials)])
    env, _, out, _ = _forward(model, physics, b)
    muscles = tuple(physics.muscle_names)
    recs = []
    for i, t in enumerate(trials):
        n = t.n_samples

        def arr(x: Tensor, i: int = i, n: int = n) -> np.ndarray:
            return x[i, :n].double().cpu().numpy()

        recs.append(
            Reconstruction(
                trial=t,
                muscles=muscles,
                envelopes=arr(env),
                excitation=arr(out.excitation),
                activation=arr(out.activation),
                torque=arr(out.torque),
            )
        )
    return recs


def _subject_vaf(
    normalised: Sequence[np.ndarray],
    commands: Sequence[np.ndarray],
    groups: Sequence[int],
    facts: Sequence[Factorisation],
    trials: Sequence[PreparedTrial],
) -> dict[str, float]:
    """VAF of each subject's normalised measured envelopes by its groups' factorisations."""
    sse: dict[str, float] = {}
    sst: dict[str, float] = {}
    for i, t in enumerate(trials):
        f = facts[groups[i]]
        c = commands[i][:, : f.n_synergies]
        rec = f.offset + c @ f.weights
        sse[t.subject] = sse.get(t.subject, 0.0) + float(np.sum((normalised[i] - rec) ** 2))
        sst[t.subject] = sst.get(t.subject, 0.0) + float(np.sum(normalised[i] ** 2))
    return {sid: 1.0 - sse[sid] / sst[sid] for sid in sse}


def _optimise(
    weights: list[Tensor],
    parameters: list[Tensor],
    cost: Any,
    s: SynXSettings,
) -> tuple[list[float], dict[str, float]]:
    """Minimise ``cost()["total"]`` over the weights and the parameters' logits.

    ``lbfgs``: quasi-Newton (torch L-BFGS with a strong-Wolfe line search; SynX itself uses
    MATLAB's fmincon, also quasi-Newton), at most ``steps`` iterations. ``adam``: ``steps``
    Adam steps of ``lr`` (weights) and ``parameter_lr`` (logits), cosine-decayed to
    ``final_lr_fraction``. Returns the total cost of every evaluation and the first terms.
    """
    history: list[float] = []
    first: dict[str, float] = {}

    def evaluate() -> Tensor:
        terms = cost()
        if not first:
            first.update({k: float(v.detach()) for k, v in terms.items()})
        history.append(float(terms["total"].detach()))
        return terms["total"]

    steps = int(s.steps)
    if steps == 0:
        return history, first
    if s.optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            weights + parameters,
            lr=1.0,
            max_iter=steps,
            max_eval=int(steps * 1.25),
            history_size=20,
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
            line_search_fn="strong_wolfe",
        )

        def closure() -> Tensor:
            opt.zero_grad(set_to_none=True)
            total = evaluate()
            total.backward()
            return total

        opt.step(closure)
        return history, first
    groups = [(weights, float(s.lr)), (parameters, float(s.parameter_lr))]
    opt = torch.optim.Adam([{"params": p, "lr": lr} for p, lr in groups])
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        evaluate().backward()
        opt.step()
        frac = 0.5 * (1.0 + math.cos(math.pi * (step + 1) / steps))
        for g, (_, lr0) in zip(opt.param_groups, groups, strict=True):
            g["lr"] = lr0 * (s.final_lr_fraction + (1.0 - s.final_lr_fraction) * frac)
    return history, first


def fit_synx(
    settings: Mapping[str, Any] | DictConfig | SynXSettings | None,
    trials: Sequence[PreparedTrial],
    physics: PersonalisedElbow | ElbowModel,
    *,
    seed: int = 0,
) -> SynXResult:
    """Fit SynX to ``trials`` (see the module doc) and reconstruct every trial.

    Two forms:

    - ``fit_synx(cfg.mse, trials, physics)``: the ``mse`` options and a
      :class:`PersonalisedElbow` with one parameter row per subject, rows in order of the
      subjects' first appearance in ``trials``;
    - ``fit_synx(cfg, trials, elbow)``: the whole config (its ``mse``, ``physics``, ``model``
      and ``preprocess`` nodes) and the torch :class:`ElbowModel`; the personalised elbow is
      then built as the NMM builds it (:meth:`PersonalisedElbow.from_config`, with the
      subjects' body masses from the trials' ``metadata["body_mass_kg"]`` where
      :func:`~nmm.model.train.prepare_cohort` put them).

    Args:
        settings: the ``mse`` config node (``conf/mse/synx.yaml``), a mapping with some of its
            keys, :class:`SynXSettings`, or (second form) the whole config.
        trials: prepared trials (:func:`nmm.model.train.prepare_cohort`), all with the same
            measured muscles; the others are extrapolated.
        physics: the personalised elbow (first form) or the elbow (second form). A given
            personalised elbow is not changed: the fit works on a copy, returned in the result,
            starting from its current values.
        seed: seeds the NMF replicates.

    Returns:
        A :class:`SynXResult`.

    Raises:
        ValueError: bad settings, no trials, trials with non-finite values, trials measuring
            different muscles, a table with the wrong number of rows.
        FactorisationError: more synergies than measured channels, no measured channel, a
            channel that is zero for a whole subject.
    """
    t0 = time.perf_counter()
    ids = list(dict.fromkeys(t.subject for t in trials))
    if isinstance(physics, ElbowModel):
        if settings is None or "physics" not in settings or "mse" not in settings:
            raise ValueError(
                "fit_synx(cfg, trials, elbow): cfg must be the whole config with 'mse', "
                "'physics' and 'model' nodes (or pass cfg.mse and a PersonalisedElbow)"
            )
        masses = {t.subject: t.metadata.get("body_mass_kg") for t in trials}
        physics = PersonalisedElbow.from_config(
            settings, physics, len(ids), [masses[s] for s in ids]
        )
        settings = settings["mse"]
    s = settings if isinstance(settings, SynXSettings) else SynXSettings.from_mapping(settings)
    s.check()
    muscles = tuple(physics.muscle_names)
    measured = _check_trials(trials, muscles, int(s.n_synergies))
    if physics.n_subjects != len(ids):
        raise ValueError(
            f"fit_synx: the physics has {physics.n_subjects} parameter rows for {len(ids)} "
            f"subjects {ids}; build it with one row per subject (order of first appearance)"
        )
    rows = {sid: i for i, sid in enumerate(ids)}
    rates = {float(t.rate) for t in trials}
    if len(rates) != 1 or not math.isclose(1.0 / rates.pop(), physics.dt, rel_tol=1e-6):
        raise ValueError(
            f"fit_synx: trial rates {sorted({t.rate for t in trials})} Hz do not match the "
            f"physics' sample interval {physics.dt} s"
        )
    groups = []
    for g in s.activation_groups:
        unknown = [m for m in g if m not in muscles]
        if unknown:
            raise ValueError(
                f"mse.activation_groups: unknown muscle(s) {unknown}; the physics has "
                f"{list(muscles)}"
            )
        groups.append([muscles.index(m) for m in g])
    physics = copy.deepcopy(physics)
    hidden = [i for i, k in enumerate(measured) if not k]

    normalised = _normalised(trials, measured)
    syn_group, syn_keys = group_trials(trials, s.weight_scope)
    res_group, res_keys = group_trials(trials, s.residual_scope)
    syn_cmd, syn_facts = _factorise_groups(normalised, syn_group, len(syn_keys), s, seed, syn_keys)
    if s.residual_scope == s.weight_scope:
        res_cmd, res_facts = syn_cmd, syn_facts
    else:
        res_cmd, res_facts = _factorise_groups(
            normalised, res_group, len(res_keys), s, seed + len(syn_keys), res_keys
        )
    factorise_s = time.perf_counter() - t0

    table = physics.parameters_table
    dtype = table.raw.dtype
    model = SynergyExtrapolation(
        len(muscles),
        hidden,
        torch.as_tensor(_initial_hidden_weights(syn_facts, len(hidden)), dtype=dtype),
        len(res_keys),
    )

    def make(pieces: Sequence[tuple[int, int, int]]) -> _Batch:
        return _make_batch(pieces, trials, syn_cmd, res_cmd, syn_group, res_group, rows, dtype)

    window = samples(s.window_s, trials[0].rate)
    pieces = [
        (i, st, min(st + window, t.n_samples))
        for i, t in enumerate(trials)
        for st in window_starts(t.n_samples, window, window)
    ]
    batch = make(pieces)
    burn_in = samples(s.burn_in_s, trials[0].rate) if s.burn_in_s > 0 else 0
    scales = _prior_scales(table.columns, s.allowable.get("parameters", 0.25))
    t1 = time.perf_counter()
    history, terms_first = _optimise(
        list(model.parameters()),
        list(table.parameters()),
        lambda: _cost(model, physics, batch, s, burn_in, scales, groups),
        s,
    )
    with torch.no_grad():
        terms_last = {
            k: float(v) for k, v in _cost(model, physics, batch, s, burn_in, scales, groups).items()
        }
    optimise_s = time.perf_counter() - t1
    recs = _reconstruct(model, physics, trials, make)
    info = {
        "method": s.method,
        "n_synergies": int(s.n_synergies),
        "weight_scope": s.weight_scope,
        "residual_scope": s.residual_scope,
        "muscles": list(muscles),
        "hidden": [muscles[i] for i in hidden],
        "subjects": ids,
        "optimizer": s.optimizer,
        "steps": int(s.steps),
        "evaluations": len(history),
        "windows": len(pieces),
        "window_samples": window,
        "synergy_groups": len(syn_keys),
        "residual_groups": len(res_keys),
        "loss_history": history,
        "terms_first": terms_first,
        "terms_last": terms_last,
        "vaf": _subject_vaf(normalised, syn_cmd, syn_group, syn_facts, trials),
        "factorise_s": factorise_s,
        "optimise_s": optimise_s,
        "wall_s": time.perf_counter() - t0,
        "settings": {k: getattr(s, k) for k in s.__dataclass_fields__},
    }
    log.info(
        "SynX (%s, k=%d, weights per %s, residuals per %s): cost %.3g -> %.3g in %d steps, "
        "%d windows (%.1f s)",
        s.method,
        s.n_synergies,
        s.weight_scope,
        s.residual_scope,
        terms_first.get("total", float("nan")),
        terms_last["total"],
        s.steps,
        len(pieces),
        info["wall_s"],
    )
    return SynXResult(
        reconstructions=recs,
        physics=physics,
        subject_ids=ids,
        model=model,
        factorisations={"synergy": syn_facts, "residual": res_facts},
        info=info,
    )
