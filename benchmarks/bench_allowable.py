"""Benchmark: do the NMM loss's truth-derived allowable errors hold on every cohort variant?

Several allowable errors of ``conf/model/pinn.yaml`` (``model.loss_allowable_error``) are not
scores but properties read off one cohort's ground truth (issue 17, item 4: a default must be
judged on data that did not choose it). For every cached cohort of the family
(docs/cohort_family.md) this reads the truth (``ground_truth/``) and the dataset as the NMM
reads them (:func:`nmm.jobs.nmm_setup.prepared_trials`: the model's 100 Hz grid, the truth
interpolated linearly onto it as :func:`nmm.model.evaluate.read_truth_excitation` does), and
computes each statistic the way its loss term (:mod:`nmm.model.loss`) defines it:

- ``torque`` (``torque_nm`` σ_abs, ``torque_relative`` ρ): the torch elbow of each subject
  (:func:`nmm.jobs.nmm_setup.build_elbows`: posture and generic model as the NMM is told)
  driven by the TRUE activations with the subject's TRUE muscle factors (``cohort.json``),
  τ_mus = Σ r_i F_T,i, against the dataset's inverse-dynamics moment τ_ID. Statistic: the
  torque term on the truth, the mean over training windows (``model.window_s``/``stride_s``,
  each window's first ``model.burn_in_s`` left out) of ((τ_mus - τ_ID) / σ_w)², σ_w = σ_abs +
  ρ·RMS_window(τ_ID); it holds when ≤ 1. Beside it, per trial kind and load: the RMS error
  (N·m), RMS τ_ID and their ratio (the comment's 0.19 N·m at 0 kg and 4.3 % at 2-4 kg); the
  same error with the elbow driven by the TRUE excitations through the configured activation
  dynamics (:func:`excitation_driven_activation`); and OpenSim's own muscle moment
  (``muscle_moment.sto``) against τ_ID (the truth's residual).
- ``smoothness`` (σ per sample²): the second difference x_{t+1} - 2x_t + x_{t-1} of each
  muscle's truth; holds when its RMS ≤ σ (the term on the truth ≤ 1).
- ``synergy`` (σ, a log ratio): d = log((u_h + f) / (s_h + f)), u_h the hidden muscle's true
  excitation, s_h its synergists' (``model.synergists``) mean true excitation, f =
  ``loss.synergy_log_floor``; outside MVIC holds against ``synergy``, inside them
  (:func:`nmm.model.datamodule.mvic_hold`) against ``synergy_mvic``; holds when RMS(d) ≤ σ.
- ``synergy_shape`` (σ per sample): |d_{t+1} - d_t|; holds when its 95th percentile ≤ σ (how
  the value was read off the default cohort, 0.019-0.020).
- ``mvic`` (σ, excitation): in the hold of MVIC trials, the agonists' (muscles whose moment has
  the sign of τ_ID, :func:`nmm.model.physics.mvic_agonists`) true excitation u against
  ``loss.mvic_excitation``; holds when RMS(u - u_max) ≤ σ. Not computable without MVIC trials.

Each excitation statistic is computed on two signals: ``excitation``, the truth as stored
(MocoInverse's solution at 50 Hz, linearly interpolated), and ``reference``, the reference
envelope the evaluation scores against (the excitation low-passed at
``evaluate.reference_cutoff_hz``, zero-phase; the envelope a muscle would show without noise).
The verdict (``holds``) is on :data:`VERDICT_SIGNAL` of each item (the reference for the
smoothness and shape terms, which act on the envelopes' time course; the excitation for the
others); both are recorded. This checks the defaults; it changes none.

Usage: python benchmarks/bench_allowable.py [--quick] [--variants NAME ...] [--synth OVERRIDE
...] [--cohort DIR ...] [--out PATH] [overrides...] (extra arguments are Hydra overrides of
``conf/train.yaml``). The cohorts are those of ``bench_generalise`` (cached by
:func:`nmm.jobs.cohorts.ensure_variant_cohort` with the same ``--synth`` overrides; generated
if absent); ``--cohort`` takes any folder with ``dataset/`` and ``ground_truth/`` instead.
``--quick`` (for ``make bench``): the ``few_trials`` variant only, in the small version
``bench_generalise --quick`` caches (its ``QUICK_SYNTH``), to ``results/allowable_quick.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: The signal each item's verdict is on (module doc). The smoothness and shape terms act on the
#: time course of the network's envelopes ê, and the NMM is scored against the reference
#: envelope (``evaluate.reference_cutoff_hz``): a prior on that time course must admit the
#: reference's. The level terms compare excitations: the truth as stored.
VERDICT_SIGNAL = {
    "smoothness": "reference",
    "synergy": "excitation",
    "synergy_mvic": "excitation",
    "synergy_shape": "reference",
    "mvic": "excitation",
}
SIGNALS = ("excitation", "reference")
QUICK_VARIANTS = ["few_trials"]
SHAPE_QUANTILE = 0.95
FACTOR_KEYS = ("max_isometric_force", "optimal_fiber_length", "tendon_slack_length")


def second_difference(x: np.ndarray) -> np.ndarray:
    """``(T - 2, ...)`` x_{t+1} - 2x_t + x_{t-1} along axis 0 (units of x per sample²)."""
    x = np.asarray(x, dtype=float)
    return x[2:] - 2.0 * x[1:-1] + x[:-2]


def synergy_log_ratio(
    excitation: np.ndarray, hidden: int, synergists: Sequence[int], floor: float | None
) -> np.ndarray:
    """``(T,)`` d = log((u_h + f) / (s_h + f)) of :mod:`nmm.model.loss`'s synergy term.

    Args:
        excitation: ``(T, M)`` excitations u (0-1).
        hidden: column of the hidden muscle h; synergists: its synergists' columns (s_h their
            mean, clamped at 0 as in the loss).
        floor: f, ``loss.synergy_log_floor`` (excitation units); None: the absolute deviation
            u_h - s_h, as the loss takes it then.
    """
    ref = np.asarray(excitation)[:, list(synergists)].mean(axis=1)
    if floor is None:
        return excitation[:, hidden] - ref
    return np.log(excitation[:, hidden] + floor) - np.log(np.clip(ref, 0.0, None) + floor)


def rms(x: np.ndarray) -> float:
    """Root mean square of every value of ``x`` (NaN when empty)."""
    x = np.asarray(x, dtype=float).ravel()
    return float(np.sqrt(np.mean(x**2))) if x.size else float("nan")


def windowed_torque_term(
    error: np.ndarray,
    tau_id: np.ndarray,
    window: int,
    stride: int,
    sigma_abs: float,
    relative: float,
    burn_in: int = 0,
) -> tuple[float, int]:
    """Σ over a trial's training windows of ((τ_mus - τ_ID) / σ_w)², and their sample count.

    σ_w = σ_abs + ρ·RMS(τ_ID over the whole window), and each window's first ``burn_in``
    samples are left out of the sum, as in the loss's torque term (:mod:`nmm.model.loss`).

    Args:
        error: ``(T,)`` τ_mus - τ_ID (N·m); tau_id: ``(T,)`` τ_ID (N·m).
        window, stride, burn_in: samples (:func:`nmm.model.features.window_starts`).
        sigma_abs: σ_abs (N·m); relative: ρ (fraction of the window's RMS moment).
    """
    from nmm.model.features import window_starts

    total, count = 0.0, 0
    for s in window_starts(len(error), window, stride):
        e, t = error[s : s + window], tau_id[s : s + window]
        sigma = sigma_abs + relative * rms(t)
        total += float(np.sum((e[burn_in:] / sigma) ** 2))
        count += e[burn_in:].size
    return total, count


def true_muscle_parameters(nominal: Any, factors: Mapping[str, Mapping[str, float]], names: Any):
    """The subject's true :class:`~nmm.physics.muscle.MuscleParameters`: the elbow's nominal
    F0 (N), l_opt and l_Ts (m), each ``(M,)``, times the subject's true factors
    (``cohort.json`` ``subjects[].factors[muscle][parameter]``)."""
    import torch

    return dataclasses.replace(
        nominal,
        **{
            k: getattr(nominal, k) * torch.tensor([float(factors[m][k]) for m in names])
            for k in FACTOR_KEYS
        },
    )


def driven_torque(elbow: Any, trial: Any, activation: np.ndarray, params: Any):
    """τ_mus ``(T,)`` and r_i F_T,i ``(T, M)`` (N·m) of the torch elbow (``elbow``: an
    :class:`~nmm.physics.elbow.ElbowModel`) driven by ``activation`` ``(T, M)`` (0-1) over the
    trial's θ (rad) and θ̇ (rad/s), with muscle parameters ``params``."""
    import torch

    with torch.no_grad():
        out = elbow.muscle_torque(
            torch.tensor(trial.angle, dtype=torch.float64),
            torch.tensor(trial.velocity, dtype=torch.float64),
            torch.tensor(activation, dtype=torch.float64),
            params,
        )
    return out.torque.numpy(), out.muscle_torques.numpy()


def excitation_driven_activation(
    excitation: np.ndarray, rate_hz: float, setup: Mapping[str, Any]
) -> np.ndarray:
    """``(T, M)`` activation of the true excitations ``(T, M)`` (0-1, at ``rate_hz``) through
    the configured activation dynamics (``physics.activation``: OpenSim's
    DeGrooteFregly2016Muscle time constants, the truth's own; De Groote et al. 2016), integrated
    as the NMM integrates it (``model.activation``), starting at the first excitation; no
    delay, linear shape (:func:`nmm.physics.activation.integrate_activation`)."""
    import torch

    from nmm.physics.activation import integrate_activation

    a = setup["activation"]
    u = torch.tensor(excitation, dtype=torch.float64)
    with torch.no_grad():
        out = integrate_activation(
            u,
            1.0 / rate_hz,
            a["tau_act"],
            a["tau_deact"],
            a["smoothing"],
            initial_activation=u[0],
            method=a["method"],
            substeps=a["substeps"],
        )
    return out.numpy()


def _on_grid(signal: Any, time: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """``(T, len(names))`` channels of a truth :class:`~nmm.data.schema.Signal` interpolated
    linearly onto ``time`` (s)."""
    return np.column_stack([np.interp(time, signal.time, signal[n]) for n in names])


def trial_samples(
    trial: Any, truth_dir: Path, elbow: Any, params: Any, setup: Mapping[str, Any]
) -> dict[str, Any] | None:
    """What one trial contributes to each statistic (module doc); None without its truth.

    Args:
        trial: a :class:`~nmm.model.features.PreparedTrial` (the model's grid).
        truth_dir: the cohort's ``ground_truth/``.
        elbow, params: the subject's torch elbow and true muscle parameters.
        setup: :func:`loss_setup` of the config.

    Returns:
        ``group`` (kind and load), ``torque`` (τ_mus - τ_ID, τ_ID and OpenSim's muscle moment
        - τ_ID, ``(T,)`` N·m each; the windowed term's sum and count), ``hold`` ``(T,)`` bool,
        ``agonists`` ``(T, M)`` bool, and per signal ``(T, M)`` excitations.
    """
    from nmm.model.datamodule import mvic_hold
    from nmm.model.evaluate import read_truth_excitation
    from nmm.synth.ground_truth import read_trial_truth

    muscles = setup["muscles"]
    signals = {
        "excitation": read_truth_excitation(truth_dir, trial, muscles),
        "reference": read_truth_excitation(truth_dir, trial, muscles, setup["cutoff_hz"]),
    }
    if signals["excitation"] is None:
        return None
    truth = read_trial_truth(truth_dir, trial.subject, trial.trial_id, trial.session)
    tau, per_muscle = driven_torque(
        elbow, trial, _on_grid(truth["activation"], trial.time, muscles), params
    )
    osim = _on_grid(truth["muscle_moment"], trial.time, truth["muscle_moment"].channels[:1])[:, 0]
    tau_id = np.asarray(trial.torque, dtype=float)
    z2, n = windowed_torque_term(
        tau - tau_id,
        tau_id,
        setup["window"],
        setup["stride"],
        setup["torque_nm"],
        setup["rho"],
        setup["burn_in"],
    )
    activation = excitation_driven_activation(signals["excitation"], trial.rate, setup)
    from_excitation, _ = driven_torque(elbow, trial, activation, params)
    hold = mvic_hold(trial)
    return {
        "group": f"{trial.kind} {trial.load_kg:g} kg",
        "torque": {
            "error": tau - tau_id,
            "id": tau_id,
            "osim_error": osim - tau_id,
            "excitation_error": from_excitation - tau_id,
        },
        "torque_term": (z2, n),
        "hold": hold,
        "agonists": (per_muscle * tau_id[:, None] > 0) & hold[:, None],
        "signals": signals,
    }


def loss_setup(cfg: Any) -> dict[str, Any]:
    """What the statistics need of a composed ``conf/train.yaml``: muscles, hidden muscles'
    synergist columns, the allowable errors and loss settings, the window and stride
    (samples at ``preprocess.resample_hz``) and the reference cutoff (Hz)."""
    from nmm.jobs.nmm_setup import plain
    from nmm.model.features import samples

    model, rate = plain(cfg.model), float(cfg.preprocess.resample_hz)
    muscles = list(cfg.physics.muscles)
    allowable = model["loss_allowable_error"]
    return {
        "muscles": muscles,
        "synergists": {
            h: [muscles.index(s) for s in syn] for h, syn in model["synergists"].items()
        },
        "allowable": {k: v for k, v in allowable.items() if not isinstance(v, Mapping)},
        "torque_nm": float(allowable["torque_nm"]),
        "rho": float(allowable.get("torque_relative", 0.0)),
        "floor": model["loss"].get("synergy_log_floor"),
        "mvic_excitation": float(model["loss"]["mvic_excitation"]),
        "burn_in": samples(float(model["burn_in_s"]), rate) if model.get("burn_in_s") else 0,
        "activation": {
            "tau_act": float(cfg.physics.activation.tau_act_s),
            "tau_deact": float(cfg.physics.activation.tau_deact_s),
            "smoothing": float(cfg.physics.activation.smoothing),
            "method": str(model["activation"]["method"]),
            "substeps": model["activation"]["substeps"],
        },
        "window": samples(float(model["window_s"]), rate),
        "stride": samples(float(model["stride_s"]), rate),
        "cutoff_hz": (cfg.get("evaluate") or {}).get("reference_cutoff_hz", 6.0),
        "rate_hz": rate,
    }


def torque_summary(trials: Sequence[Mapping[str, Any]], setup: Mapping[str, Any]) -> dict:
    """The torque item: per group (trial kind and load) the RMS of τ_mus - τ_ID, of τ_ID and
    of OpenSim's muscle moment - τ_ID (N·m), their ratio, and the windowed term on the truth
    (module doc); overall the term and whether it is ≤ 1."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for t in trials:
        groups.setdefault(t["group"], []).append(t)

    def pooled(ts: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        err = np.concatenate([t["torque"]["error"] for t in ts])
        tau_id = np.concatenate([t["torque"]["id"] for t in ts])
        z2 = sum(t["torque_term"][0] for t in ts) / max(1, sum(t["torque_term"][1] for t in ts))
        return {
            "rms_error_nm": rms(err),
            "rms_id_nm": rms(tau_id),
            "relative_error": rms(err) / rms(tau_id),
            "opensim_rms_error_nm": rms(np.concatenate([t["torque"]["osim_error"] for t in ts])),
            "from_excitation_rms_error_nm": rms(
                np.concatenate([t["torque"]["excitation_error"] for t in ts])
            ),
            "term_on_truth": float(z2),
            "holds": bool(z2 <= 1.0),
            "n_trials": len(ts),
        }

    overall = pooled(trials)
    return {
        "allowable": {"torque_nm": setup["torque_nm"], "torque_relative": setup["rho"]},
        "statistic": "mean over training windows of ((tau_mus - tau_ID) / sigma_w)^2, "
        "sigma_w = torque_nm + torque_relative * RMS_window(tau_ID); tau_mus of the torch elbow "
        "driven by the true activations with the true muscle factors",
        "by_group": {g: pooled(ts) for g, ts in sorted(groups.items())},
        "term_on_truth": overall["term_on_truth"],
        "overall": overall,
        "holds": overall["term_on_truth"] <= 1.0,
    }


def _verdict(stat: float, allowable: float) -> dict[str, Any]:
    return {"statistic": stat, "ratio": stat / allowable, "holds": bool(stat <= allowable)}


def _per_muscle(
    values: Mapping[str, np.ndarray], allowable: float, stat: str
) -> dict[str, dict[str, Any]]:
    """Per muscle: the mean, the RMS, the 95th percentile of |x| and the number of samples of
    ``values`` (muscle -> pooled samples), and the verdict of ``stat`` (``rms`` or ``p95``)
    against ``allowable``; a muscle without samples is left out."""
    out = {}
    for m, x in values.items():
        if x.size == 0:
            continue
        row = {
            "mean": float(np.mean(x)),
            "rms": rms(x),
            "p95": float(np.quantile(np.abs(x), SHAPE_QUANTILE)),
            "n_samples": int(x.size),
        }
        out[m] = row | _verdict(row[stat], allowable)
    return out


#: Each excitation item: (its allowable error's key, the statistic its verdict is on, what
#: the statistic is of).
ITEMS = {
    "smoothness": ("smoothness", "rms", "x_{t+1} - 2x_t + x_{t-1} of every muscle, per sample²"),
    "synergy": ("synergy", "rms", "log((u_h + f) / (s_h + f)) outside MVIC holds"),
    "synergy_mvic": ("synergy_mvic", "rms", "log((u_h + f) / (s_h + f)) in MVIC holds"),
    "synergy_shape": ("synergy_shape", "p95", "|d_{t+1} - d_t| of that log ratio, per sample"),
    "mvic": ("mvic", "rms", "u - mvic_excitation of the agonists in MVIC holds"),
}


def excitation_samples(
    trials: Sequence[Mapping[str, Any]], setup: Mapping[str, Any], signal: str
) -> dict[str, dict[str, np.ndarray]]:
    """Per item of :data:`ITEMS`, per muscle, the pooled samples of ``signal`` (module doc)
    over ``trials`` (:func:`trial_samples`)."""
    muscles, syn = setup["muscles"], setup["synergists"]
    out: dict[str, dict[str, list[np.ndarray]]] = {k: {} for k in ITEMS}

    def add(item: str, muscle: str, x: np.ndarray) -> None:
        out[item].setdefault(muscle, []).append(np.asarray(x, dtype=float))

    for t in trials:
        u, hold = t["signals"][signal], t["hold"]
        d2 = second_difference(u)
        for j, m in enumerate(muscles):
            add("smoothness", m, d2[:, j])
            add("mvic", m, (u[:, j] - setup["mvic_excitation"])[t["agonists"][:, j]])
        for h, cols in syn.items():
            d = synergy_log_ratio(u, muscles.index(h), cols, setup["floor"])
            add("synergy", h, d[~hold])
            add("synergy_mvic", h, d[hold])
            add("synergy_shape", h, np.diff(d))
    return {k: {m: np.concatenate(v) for m, v in per.items()} for k, per in out.items()}


def item_summary(
    item: str, by_signal: Mapping[str, Mapping[str, np.ndarray]], setup: Mapping[str, Any]
) -> dict[str, Any]:
    """One excitation item on every signal; its verdict on :data:`VERDICT_SIGNAL`. Without
    samples (no MVIC trials) it says it could not be computed."""
    key, stat, what = ITEMS[item]
    allowable = float(setup["allowable"].get(key, setup["allowable"].get("synergy", np.nan)))
    signals = {s: _per_muscle(v, allowable, stat) for s, v in by_signal.items()}
    verdict = signals[VERDICT_SIGNAL[item]]
    out: dict[str, Any] = {
        "allowable_key": key,
        "allowable": allowable,
        "statistic": f"{stat} of {what}",
        "verdict_signal": VERDICT_SIGNAL[item],
        "by_signal": signals,
    }
    if not verdict:
        return out | {"computable": False, "reason": "no samples: the cohort has no MVIC trials"}
    return out | {
        "computable": True,
        "holds": {m: r["holds"] for m, r in verdict.items()},
        "worst_ratio": max(r["ratio"] for r in verdict.values()),
    }


def compose_train(root: Path, overrides: Sequence[str]) -> Any:
    """``conf/train.yaml`` reading the cohort at ``root``, told what its variant's model must
    know (posture, generic model, mains frequency), plus ``overrides``."""
    from hydra import compose, initialize_config_dir

    from nmm.config import CONF_DIR
    from nmm.synth.model_inputs import variant_physics_overrides, variant_preprocess_overrides

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(
            config_name="train",
            overrides=[
                f"data.root={root}",
                *variant_physics_overrides(root),
                *variant_preprocess_overrides(root),
                *overrides,
            ],
        )


def run_variant(name: str, root: Path, overrides: Sequence[str]) -> dict[str, Any]:
    """Every statistic of one cohort (module doc), each beside its allowable error."""
    from nmm.jobs.nmm_setup import build_elbows, load_cohort, prepared_trials
    from nmm.synth.ground_truth import read_cohort_truth

    t0 = time.perf_counter()
    cfg = compose_train(root, overrides)
    setup = loss_setup(cfg)
    cohort, truth_dir = load_cohort(cfg)
    if truth_dir is None:
        raise FileNotFoundError(f"{root}: no ground_truth/ beside the dataset")
    truth = read_cohort_truth(truth_dir)
    factors = {s["subject_id"]: s["factors"] for s in truth["subjects"]}
    elbows = build_elbows(cfg, cohort)
    trials = []
    for t in prepared_trials(cfg, cohort, elbows, every_kind=True):
        elbow = elbows[t.subject]
        params = true_muscle_parameters(
            elbow.muscle_parameters, factors[t.subject], elbow.muscle_names
        )
        sample = trial_samples(t, truth_dir, elbow, params, setup)
        if sample is not None:
            trials.append(sample)
    if not trials:
        raise ValueError(f"{root}: no trial of the dataset has its ground truth")
    by_signal = {s: excitation_samples(trials, setup, s) for s in SIGNALS}
    items = {k: item_summary(k, {s: v[k] for s, v in by_signal.items()}, setup) for k in ITEMS}
    return {
        "variant": name,
        "cohort": str(root),
        "n_subjects": len(cohort.subjects),
        "n_trials": len(trials),
        "rate_hz": setup["rate_hz"],
        "reference_cutoff_hz": setup["cutoff_hz"],
        "torque": torque_summary(trials, setup),
        **items,
        "true_voluntary_activation": {
            s["subject_id"]: s.get("voluntary_activation") for s in truth["subjects"]
        },
        "wall_s": time.perf_counter() - t0,
    }


def verdicts(variant: Mapping[str, Any]) -> dict[str, Any]:
    """``{item: {muscle or group: {ratio, holds}} or "not computable"}`` of one variant's
    result: ratio is the statistic over its allowable error (for the torque, whose groups are
    trial kinds and loads and ``all``, √ of the term on the truth: the RMS error in allowable
    errors)."""
    torque = {**variant["torque"]["by_group"], "all": variant["torque"]["overall"]}
    out: dict[str, Any] = {
        "torque": {
            g: {"ratio": float(np.sqrt(r["term_on_truth"])), "holds": r["holds"]}
            for g, r in torque.items()
        }
    }
    for k in ITEMS:
        rows = variant[k]["by_signal"][variant[k]["verdict_signal"]]
        out[k] = {m: {"ratio": r["ratio"], "holds": r["holds"]} for m, r in rows.items()} or (
            "not computable"
        )
    return out


def cohort_roots(
    parser: argparse.ArgumentParser, args: argparse.Namespace, synth: Sequence[str]
) -> dict[str, Path]:
    """``{name: folder}``: the ``--cohort`` folders (named by their folder), else the cached
    cohort of each requested variant with the nmm-synth overrides ``synth`` (generated only
    when its cache folder is absent)."""
    from benchmarks.bench_generalise import checked_variants
    from nmm.jobs.cohorts import ensure_variant_cohort, variant_root

    if args.cohort:
        return {Path(c).name: Path(c).resolve() for c in args.cohort}
    names = checked_variants(
        parser, QUICK_VARIANTS if args.quick and not args.variants else args.variants
    )
    roots = {}
    for name in names:
        cached = variant_root(name, synth)
        roots[name] = (
            cached
            if (cached / "dataset" / "manifest.yaml").is_file()
            else ensure_variant_cohort(name, overrides=synth)
        )
    return roots


def _print_variant(r: Mapping[str, Any]) -> None:
    t = r["torque"]
    print(f"== {r['variant']} ({r['n_trials']} trials, {r['wall_s']:.0f} s)", flush=True)
    print(f"   torque term on truth {t['term_on_truth']:.2f} (holds: {t['holds']})")
    for g, row in t["by_group"].items():
        print(
            f"     {g}: RMS error {row['rms_error_nm']:.3f} N·m of {row['rms_id_nm']:.2f} "
            f"({100 * row['relative_error']:.1f} %), from excitations "
            f"{row['from_excitation_rms_error_nm']:.3f}, "
            f"OpenSim {row['opensim_rms_error_nm']:.3f}; term {row['term_on_truth']:.2f}"
        )
    for k in ITEMS:
        item = r[k]
        rows = item["by_signal"][item["verdict_signal"]]
        cells = ", ".join(f"{m} {v['statistic']:.4g} ({v['ratio']:.2f}x)" for m, v in rows.items())
        print(f"   {k} <= {item['allowable']:g}: {cells or 'not computable'}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help=f"only {QUICK_VARIANTS}")
    parser.add_argument("--variants", nargs="+", default=None, help="default: every variant")
    parser.add_argument("--synth", nargs="*", default=None, help="nmm-synth overrides (cache)")
    parser.add_argument("--cohort", nargs="+", default=None, help="cohort folders instead")
    parser.add_argument("--out", default=None, help="default: results/allowable(_quick).json")
    argv_ = sys.argv[1:] if argv is None else list(argv)
    args, overrides = parser.parse_known_args(argv_)
    logging.basicConfig(level=logging.WARNING)

    from benchmarks.bench_generalise import QUICK_SYNTH
    from benchmarks.machine import describe_machine, write_result

    name = f"allowable{'_quick' if args.quick else ''}"
    out = Path(args.out) if args.out else REPO_ROOT / "benchmarks" / "results" / f"{name}.json"
    t0 = time.perf_counter()
    synth = [*(QUICK_SYNTH if args.quick else []), *(args.synth or [])]
    variants = {}
    for variant, root in cohort_roots(parser, args, synth).items():
        variants[variant] = run_variant(variant, root, overrides)
        _print_variant(variants[variant])
    result = {
        "benchmark": name,
        "what": "the NMM loss's truth-derived allowable errors against the same statistics of "
        "each cohort variant's ground truth (module doc of benchmarks/bench_allowable.py)",
        "command": "python benchmarks/bench_allowable.py " + shlex.join(argv_),
        "quick": args.quick,
        "synth_overrides": synth,
        "overrides": overrides,
        "verdicts": {v: verdicts(r) for v, r in variants.items()},
        "variants": variants,
        "wall_s": time.perf_counter() - t0,
        "machine": describe_machine("torch", "opensim", "numpy"),
    }
    write_result(result, out)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
