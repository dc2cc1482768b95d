"""Synergy extrapolation (SynX), the "MSE" baseline: fitting it and reconstructing trials.

Faithful to SynX (Bianco et al. 2018, Front. Comput. Neurosci.; Ao et al. 2022, Front. Bioeng.
Biotechnol. 10:962959; NMSM Pipeline ``src/MuscleTendonPersonalization/SynergyExtrapolation``):

1. **Normalise** each measured channel by its maximum over all of the subject's trials
   (``getSynergyCommands.m``).
2. **Factorise** the normalised measured envelopes of each group of trials into k synergy
   commands (:func:`nmm.synergy.factorise.nmf` or ``pca``), one factorisation per synergy group
   and per residual group, as SynX does per categorisation (:mod:`nmm.synergy.commands`).
   SynX's 21-point spline through the NMF commands is left out: it smooths gait cycles
   resampled to 101 frames, while these are whole trials of envelopes already low-passed at
   6 Hz.
3. **Unmeasured** envelopes ê_u = Σ_k C_k w_{u,k} (+ b_u for PCA) and **measured** ones
   ê_m = EMG_m + Σ_k C^res_k r_{m,k} (:class:`~nmm.synergy.extrapolate.SynergyExtrapolation`);
   the physics multiplies ê by the personalised ``emg_gain`` (SynX's EMG scale factor).
4. **Jointly optimised** (L-BFGS, as SynX's quasi-Newton fmincon; Adam as an option; full
   batch): the synergy weights, the residual weights and the personalised muscle parameters of
   the same :class:`~nmm.model.physics.PersonalisedElbow` as the NMM (one row per subject, same
   bounds, initial values and priors), so that the muscle torque tracks the inverse-dynamics
   torque. The cost terms (moment tracking, effort of the unmeasured muscles, residual
   activation, grouped activation similarity, bounds, the parameter prior) are SynX's, each a
   mean square over its allowable error (:mod:`nmm.synergy.cost`; values and sources in
   ``conf/mse/synx.yaml``).

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

The settings are a :class:`~nmm.synergy.settings.SynXSettings` and the physics a
:class:`~nmm.model.physics.PersonalisedElbow` with one row per subject; the app builds both
from its config (:mod:`nmm.compare.mse`).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nmm.model.features import PreparedTrial, samples, window_starts
from nmm.model.physics import PersonalisedElbow
from nmm.model.reconstruct import Reconstruction
from nmm.synergy.commands import (
    GroupedCommands,
    extract_commands,
    initial_hidden_weights,
    subject_vaf,
)
from nmm.synergy.cost import Batch, cost_terms, forward, make_batch, prior_scales
from nmm.synergy.extrapolate import SynergyExtrapolation
from nmm.synergy.factorise import Factorisation, FactorisationError
from nmm.synergy.settings import SynXSettings

__all__ = ["SynXResult", "fit_synx"]

log = logging.getLogger(__name__)


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


def _check_physics(
    physics: PersonalisedElbow, trials: Sequence[PreparedTrial], ids: Sequence[str]
) -> None:
    """ValueError unless the physics has one parameter row per subject and its sample
    interval (s) is that of every trial."""
    if physics.n_subjects != len(ids):
        raise ValueError(
            f"fit_synx: the physics has {physics.n_subjects} parameter rows for {len(ids)} "
            f"subjects {list(ids)}; build it with one row per subject (order of first appearance)"
        )
    rates = {float(t.rate) for t in trials}
    if len(rates) != 1 or not math.isclose(1.0 / rates.pop(), physics.dt, rel_tol=1e-6):
        raise ValueError(
            f"fit_synx: trial rates {sorted({t.rate for t in trials})} Hz do not match the "
            f"physics' sample interval {physics.dt} s"
        )


def _activation_groups(groups: Sequence[Sequence[str]], muscles: Sequence[str]) -> list[list[int]]:
    """Muscle indices of each ``activation_groups`` entry; ValueError naming an unknown one."""
    out = []
    for g in groups:
        unknown = [m for m in g if m not in muscles]
        if unknown:
            raise ValueError(
                f"mse.activation_groups: unknown muscle(s) {unknown}; the physics has "
                f"{list(muscles)}"
            )
        out.append([muscles.index(m) for m in g])
    return out


def _windows(trials: Sequence[PreparedTrial], window: int) -> list[tuple[int, int, int]]:
    """``(trial, start, stop)`` of non-overlapping windows of ``window`` samples, the last one
    of each trial flush with its end."""
    return [
        (i, st, min(st + window, t.n_samples))
        for i, t in enumerate(trials)
        for st in window_starts(t.n_samples, window, window)
    ]


@torch.no_grad()
def _reconstruct(
    model: SynergyExtrapolation,
    physics: PersonalisedElbow,
    trials: Sequence[PreparedTrial],
    make: Callable[[Sequence[tuple[int, int, int]]], Batch],
) -> list[Reconstruction]:
    """Whole trials, padded to the longest and run as one batch (the model is causal)."""
    b = make([(i, 0, t.n_samples) for i, t in enumerate(trials)])
    env, _, out, _ = forward(model, physics, b)
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


def _fit_weights(
    model: SynergyExtrapolation,
    physics: PersonalisedElbow,
    batch: Batch,
    s: SynXSettings,
    groups: Sequence[Sequence[int]],
    rate: float,
) -> tuple[list[float], dict[str, float], dict[str, float]]:
    """Optimise the weights and the parameters on the windows of ``batch`` (``rate`` Hz);
    returns the total cost of every evaluation and the terms before and after."""
    burn_in = samples(s.burn_in_s, rate) if s.burn_in_s > 0 else 0
    table = physics.parameters_table
    scales = prior_scales(table.columns, s.allowable["parameters"])
    history, terms_first = _optimise(
        list(model.parameters()),
        list(table.parameters()),
        lambda: cost_terms(model, physics, batch, s, burn_in, scales, groups),
        s,
    )
    with torch.no_grad():
        last = cost_terms(model, physics, batch, s, burn_in, scales, groups)
    return history, terms_first, {k: float(v) for k, v in last.items()}


def _info(
    s: SynXSettings,
    muscles: Sequence[str],
    hidden: Sequence[int],
    synergy: GroupedCommands,
    residual: GroupedCommands,
    fitted: dict[str, Any],
) -> dict[str, Any]:
    """The ``info`` of :class:`SynXResult`; ``fitted`` holds what the fit measured (subjects,
    history, terms, windows, VAF, timings)."""
    return {
        "method": s.method,
        "n_synergies": int(s.n_synergies),
        "weight_scope": s.weight_scope,
        "residual_scope": s.residual_scope,
        "muscles": list(muscles),
        "hidden": [muscles[i] for i in hidden],
        "subjects": fitted["subjects"],
        "optimizer": s.optimizer,
        "steps": int(s.steps),
        "evaluations": len(fitted["loss_history"]),
        "windows": fitted["windows"],
        "window_samples": fitted["window_samples"],
        "synergy_groups": len(synergy.keys),
        "residual_groups": len(residual.keys),
        "loss_history": fitted["loss_history"],
        "terms_first": fitted["terms_first"],
        "terms_last": fitted["terms_last"],
        "vaf": fitted["vaf"],
        "factorise_s": fitted["factorise_s"],
        "optimise_s": fitted["optimise_s"],
        "wall_s": fitted["wall_s"],
        "settings": {k: getattr(s, k) for k in s.__dataclass_fields__},
    }


def fit_synx(
    settings: SynXSettings,
    trials: Sequence[PreparedTrial],
    physics: PersonalisedElbow,
    *,
    seed: int = 0,
) -> SynXResult:
    """Fit SynX to ``trials`` (see the module doc) and reconstruct every trial.

    Args:
        settings: the options (``conf/mse/synx.yaml``).
        trials: prepared trials (:func:`nmm.model.train.prepare_cohort`), all with the same
            measured muscles; the others are extrapolated.
        physics: the personalised elbow, one parameter row per subject in order of the
            subjects' first appearance in ``trials``. It is not changed: the fit works on a
            copy, returned in the result, starting from its current values.
        seed: seeds the NMF replicates.

    Raises:
        ValueError: no trials, trials with non-finite values, trials measuring different
            muscles, a table with the wrong number of rows, an unknown muscle in a group.
        FactorisationError: more synergies than measured channels, no measured channel, a
            channel that is zero for a whole subject.
    """
    t0 = time.perf_counter()
    s = settings
    ids = list(dict.fromkeys(t.subject for t in trials))
    muscles = tuple(physics.muscle_names)
    measured = _check_trials(trials, muscles, int(s.n_synergies))
    _check_physics(physics, trials, ids)
    groups = _activation_groups(s.activation_groups, muscles)
    physics = copy.deepcopy(physics)
    hidden = [i for i, k in enumerate(measured) if not k]
    normalised, synergy, residual = extract_commands(trials, measured, s, seed)
    factorise_s = time.perf_counter() - t0

    dtype = physics.parameters_table.raw.dtype
    initial = initial_hidden_weights(synergy.factorisations, len(hidden))
    model = SynergyExtrapolation(
        len(muscles), hidden, torch.as_tensor(initial, dtype=dtype), len(residual.keys)
    )
    rows = {sid: i for i, sid in enumerate(ids)}

    def make(pieces: Sequence[tuple[int, int, int]]) -> Batch:
        return make_batch(pieces, trials, synergy, residual, rows, dtype)

    window = samples(s.window_s, trials[0].rate)
    pieces = _windows(trials, window)
    t1 = time.perf_counter()
    history, first, last = _fit_weights(model, physics, make(pieces), s, groups, trials[0].rate)
    optimise_s = time.perf_counter() - t1
    recs = _reconstruct(model, physics, trials, make)
    fitted = {
        "subjects": ids,
        "loss_history": history,
        "terms_first": first,
        "terms_last": last,
        "windows": len(pieces),
        "window_samples": window,
        "vaf": subject_vaf(normalised, synergy, trials),
        "factorise_s": factorise_s,
        "optimise_s": optimise_s,
        "wall_s": time.perf_counter() - t0,
    }
    info = _info(s, muscles, hidden, synergy, residual, fitted)
    log.info(
        "SynX (%s, k=%d, weights per %s, residuals per %s): cost %.3g -> %.3g in %d steps, "
        "%d windows (%.1f s)",
        s.method,
        s.n_synergies,
        s.weight_scope,
        s.residual_scope,
        first.get("total", float("nan")),
        last["total"],
        s.steps,
        len(pieces),
        info["wall_s"],
    )
    factorisations = {"synergy": synergy.factorisations, "residual": residual.factorisations}
    return SynXResult(recs, physics, ids, model, factorisations, info)
