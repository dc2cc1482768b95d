"""Evaluation of the NMM against the ground truth of the synthetic cohort.

Per hidden muscle, subject and load (the movement trials of a subject at a load pooled, all
conditions), between the reconstruction and the *reference envelope*: the true
excitation (``ground_truth/``, :mod:`nmm.synth.ground_truth`) low-passed like an envelope
(``evaluate.reference_cutoff_hz``, 6 Hz; the summary's ``vs_excitation`` repeats the scores
against the raw excitation, ``scored_envelopes`` scores ê in place of u):

- RMSE (excitation units, 0-1), Pearson r and R² = 1 - SS_res / SS_tot of the hidden muscle's
  reconstructed excitation u = gain × ê, the quantity the truth holds (``evaluate.hidden_signal``
  ``excitation``; ``envelopes`` scores ê itself, which sits on the MVIC-normalised envelopes'
  scale, below the excitation by the subject's gain);
- the **copy-synergist baseline**: BRA from the mean of the biceps heads' measured envelopes,
  TRImed from TRIlat's (``evaluate.baseline``), scored the same way;
- torque: RMSE (N·m) and R² of the muscle torque against the trial's inverse-dynamics torque
  (OpenSim ID in the synthetic cohort);
- parameter recovery: |learned - true| of the relative muscle parameters (factors on the
  ``.osim`` values) per parameter and muscle, where the truth lists them, next to
  |initial - true| (the fit's start and prior centre): a parameter the data constrain ends
  closer to the truth than it started.

Protocols (``evaluate.protocols``):

- ``per_subject``: network and every subject's parameters fitted together on all subjects'
  measured channels, kinematics and torque (the hidden channels are never seen), each subject
  scored with its own parameters and, with ``specialise.enabled``, its own network adapted
  from the joint one on its own data (:func:`nmm.model.adapt.specialise`);
- ``loso``: leave one subject out: the network and the others' parameters are fitted without
  it, then it is personalised with the network frozen from its measured channels, kinematics
  and torque only (:func:`nmm.model.personalise.personalise`), optionally followed by
  ``evaluate.personalise.adapt``: adaptation (budget ``budget.adapt``) of a copy of the network
  on the same data (:func:`nmm.model.adapt.adapt`; its hidden channels are never seen either), and
  scored (:func:`loso_fold`). The app runs the folds in ``evaluate.workers`` spawned processes
  during the per-subject fit (:mod:`nmm.jobs.protocols`).

The settings of both are :class:`EvaluationSettings` (the ``evaluate`` node).

Summaries (``metrics.json`` under the protocol's key): ``hidden_pearson_r_mean``,
``hidden_rmse_mean``, ``hidden_r2_mean``, ``baseline_copy_synergist_rmse_mean``,
``rmse_ratio_to_baseline`` with ``rmse_ratio_to_baseline_ci95`` (subject-cluster bootstrap;
with five subjects a wide interval), ``torque_r2`` (mean over subject × load cells),
``torque_r2_pooled``, ``torque_rmse_nm``, ``per_muscle`` and ``cells`` breakdowns,
``parameter_recovery`` and ``targets_met``.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy import signal as sps

from nmm.bootstrap import cluster_bootstrap_ci
from nmm.metrics import pearson_r, r2_score, rmse
from nmm.model.adapt import personalise_and_adapt
from nmm.model.budget import TrainingBudget
from nmm.model.features import PreparedTrial
from nmm.model.physics import PersonalisedElbow
from nmm.model.reconstruct import Reconstruction, reconstruct
from nmm.model.settings import PersonaliseSettings
from nmm.model.train import TrainingSetup, bundle, fit, set_threads
from nmm.synth.ground_truth import read_cohort_truth, read_trial_truth

__all__ = [
    "HEADLINE_KEYS",
    "EvaluationSettings",
    "SubjectModel",
    "brief",
    "cell_scores",
    "evaluate_model",
    "loso_fold",
    "merge_folds",
    "read_truth_excitation",
    "summarise_cells",
]

log = logging.getLogger(__name__)

DEFAULT_BASELINE = {"BRA": ["BIClong", "BICshort"], "TRImed": ["TRIlat"]}
# the scalar keys of a protocol summary (summarise_cells) that runs and benchmarks report
HEADLINE_KEYS = (
    "hidden_pearson_r_mean",
    "hidden_rmse_mean",
    "hidden_r2_mean",
    "baseline_copy_synergist_rmse_mean",
    "baseline_copy_synergist_pearson_r_mean",
    "rmse_ratio_to_baseline",
    "rmse_ratio_to_baseline_ci95",
    "torque_r2",
    "torque_r2_pooled",
    "torque_rmse_nm",
)
DEFAULT_TARGETS = {"rmse_ratio_to_baseline": 0.6, "pearson_r": 0.9, "torque_r2": 0.95}
#: Personalisation steps of a held-out subject when ``evaluate.personalise`` names none.
LOSO_PERSONALISE_STEPS = 150


def read_truth_excitation(
    truth_dir: str | os.PathLike[str],
    trial: PreparedTrial,
    muscles: Sequence[str],
    cutoff_hz: float | None = None,
    order: int = 4,
) -> np.ndarray | None:
    """``(T, M)`` true excitations on the trial's grid, or None if the truth has no such trial.

    With ``cutoff_hz``, the *reference envelope*: the excitation low-passed as the envelope
    chain low-passes the rectified EMG (zero-phase Butterworth, ``order`` per pass; 6 Hz in
    ``conf/preprocess/msk.yaml``), i.e. the normalised envelope the muscle would show without
    EMG noise. The solver's excitations carry mesh-rate chatter (MocoInverse) that no envelope
    can follow; the reference removes it for the model and the baseline alike.
    """

    try:
        truth = read_trial_truth(truth_dir, trial.subject, trial.trial_id, trial.session)
    except (OSError, ValueError) as exc:
        log.debug("no ground truth for %s: %s", trial.key, exc)
        return None
    exc_sig = truth["excitation"]
    cols = []
    for m in muscles:
        if m not in exc_sig.channels:
            return None
        cols.append(np.interp(trial.time, exc_sig.time, exc_sig[m]))
    out = np.column_stack(cols)
    if cutoff_hz:
        sos = sps.butter(order, cutoff_hz, fs=trial.rate, output="sos")
        if out.shape[0] > 3 * (2 * len(sos) + 1):
            out = np.clip(sps.sosfiltfilt(sos, out, axis=0), 0.0, None)
    return out


def copy_synergist_baseline(
    trial: PreparedTrial, muscles: Sequence[str], spec: Mapping[str, Sequence[str]], muscle: str
) -> np.ndarray | None:
    """``(T,)`` the copy-synergist baseline of ``muscle`` in ``trial``: the mean recorded
    envelope of its sources in ``spec`` (muscle -> synergists); None when it has none or one of
    them is not recorded."""
    sources = spec.get(muscle)
    if not sources:
        return None
    idx = [list(muscles).index(s) for s in sources if s in muscles]
    if not idx or not all(trial.measured[i] for i in idx):
        return None
    # the recordings a stream has for a causal model (its causal envelopes), else the envelopes
    return trial.recorded_envelopes[:, idx].mean(axis=1)


#: The keys of the summaries that repeat the scores another way (``vs_excitation``,
#: ``scored_envelopes``).
_VARIANT_KEYS = (
    "hidden_pearson_r_mean",
    "hidden_rmse_mean",
    "hidden_r2_mean",
    "baseline_copy_synergist_rmse_mean",
    "rmse_ratio_to_baseline",
)
#: What of a hidden muscle is scored (``evaluate.hidden_signal``; module doc).
HIDDEN_SIGNALS = ("excitation", "envelopes")


def cell_scores(
    recs: Sequence[Reconstruction],
    truths: Sequence[np.ndarray | None],
    hidden: Sequence[str],
    baseline: Mapping[str, Sequence[str]] = DEFAULT_BASELINE,
    signal: str = "excitation",
) -> list[dict[str, Any]]:
    """Scores per (subject, load, hidden muscle): the cell's movement trials pooled.

    ``signal``: the reconstruction's ``excitation`` (gain × ê) or ``envelopes`` (ê) of the
    hidden muscles is scored (:data:`HIDDEN_SIGNALS`).

    Returns rows with ``subject``, ``load_kg``, ``muscle``, ``rmse``, ``pearson_r``, ``r2``,
    ``baseline_rmse``, ``baseline_pearson_r``, ``torque_rmse_nm``, ``torque_r2``, ``n_samples``.
    """
    if signal not in HIDDEN_SIGNALS:
        raise ValueError(f"unknown hidden signal {signal!r}; known: {list(HIDDEN_SIGNALS)}")
    cells: dict[tuple[str, float], list[int]] = {}
    for k, rec in enumerate(recs):
        cells.setdefault((rec.trial.subject, rec.trial.load_kg), []).append(k)
    rows = []
    for (subject, load), ks in sorted(cells.items()):
        tq_pred = np.concatenate([recs[k].torque for k in ks])
        tq_true = np.concatenate([recs[k].trial.torque for k in ks])
        torque = {"torque_rmse_nm": rmse(tq_pred, tq_true), "torque_r2": r2_score(tq_pred, tq_true)}
        with_truth = [k for k in ks if truths[k] is not None]
        if not hidden or not with_truth:
            rows.append({"subject": subject, "load_kg": load, "muscle": None, **torque})
            continue
        for m in hidden:
            j = list(recs[with_truth[0]].muscles).index(m)
            pred = np.concatenate([getattr(recs[k], signal)[:, j] for k in with_truth])
            true = np.concatenate([truths[k][:, j] for k in with_truth])  # type: ignore[index]
            base = [
                copy_synergist_baseline(recs[k].trial, recs[k].muscles, baseline, m)
                for k in with_truth
            ]
            row = {
                "subject": subject,
                "load_kg": load,
                "muscle": m,
                "rmse": rmse(pred, true),
                "pearson_r": pearson_r(pred, true),
                "r2": r2_score(pred, true),
                "n_samples": int(true.size),
                **torque,
            }
            if all(b is not None for b in base):
                b = np.concatenate(base)  # type: ignore[arg-type]
                row["baseline_rmse"] = rmse(b, true)
                row["baseline_pearson_r"] = pearson_r(b, true)
            rows.append(row)
    return rows


def _mean(values: Sequence[float]) -> float:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


def ratio_ci(rows: Sequence[Mapping[str, Any]], confidence: float = 0.95) -> list[float]:
    """Subject-cluster bootstrap CI (:func:`nmm.bootstrap.cluster_bootstrap_ci`, 2000 draws,
    seed 0) of mean RMSE / mean baseline RMSE over the cells ``rows`` that have both."""
    use = [
        r
        for r in rows
        if r.get("baseline_rmse") is not None
        and np.isfinite(r["baseline_rmse"])
        and np.isfinite(r["rmse"])
    ]
    if not use:
        return [float("nan"), float("nan")]
    low, high = cluster_bootstrap_ci(
        np.array([r["rmse"] for r in use]),
        np.array([r["subject"] for r in use]),
        denominator=np.array([r["baseline_rmse"] for r in use]),
        confidence=confidence,
    )
    return [low, high]


def summarise_cells(
    rows: Sequence[dict[str, Any]],
    recs: Sequence[Reconstruction],
    targets: Mapping[str, float],
) -> dict[str, Any]:
    """The protocol summary of :func:`cell_scores` rows (keys in the module doc); torque R² is
    the mean over (subject, load) cells and, pooled over ``recs``, ``torque_r2_pooled``."""
    hidden_rows = [r for r in rows if r.get("muscle")]
    torque_cells = {(r["subject"], r["load_kg"]): r for r in rows}.values()
    tq_pred = np.concatenate([r.torque for r in recs]) if recs else np.zeros(0)
    tq_true = np.concatenate([r.trial.torque for r in recs]) if recs else np.zeros(0)
    out: dict[str, Any] = {
        "hidden_pearson_r_mean": _mean([r["pearson_r"] for r in hidden_rows]),
        "hidden_rmse_mean": _mean([r["rmse"] for r in hidden_rows]),
        "hidden_r2_mean": _mean([r["r2"] for r in hidden_rows]),
        "baseline_copy_synergist_rmse_mean": _mean([r.get("baseline_rmse") for r in hidden_rows]),
        "baseline_copy_synergist_pearson_r_mean": _mean(
            [r.get("baseline_pearson_r") for r in hidden_rows]
        ),
        "torque_r2": _mean([r["torque_r2"] for r in torque_cells]),
        "torque_r2_pooled": r2_score(tq_pred, tq_true) if tq_true.size else float("nan"),
        "torque_rmse_nm": rmse(tq_pred, tq_true) if tq_true.size else float("nan"),
    }
    base = out["baseline_copy_synergist_rmse_mean"]
    out["rmse_ratio_to_baseline"] = (
        out["hidden_rmse_mean"] / base if base and np.isfinite(base) else float("nan")
    )
    out["rmse_ratio_to_baseline_ci95"] = ratio_ci(hidden_rows)
    per_muscle: dict[str, Any] = {}
    for m in sorted({r["muscle"] for r in hidden_rows}):
        rs = [r for r in hidden_rows if r["muscle"] == m]
        pm = {
            "rmse_mean": _mean([r["rmse"] for r in rs]),
            "pearson_r_mean": _mean([r["pearson_r"] for r in rs]),
            "r2_mean": _mean([r["r2"] for r in rs]),
            "baseline_rmse_mean": _mean([r.get("baseline_rmse") for r in rs]),
            "baseline_pearson_r_mean": _mean([r.get("baseline_pearson_r") for r in rs]),
        }
        pm["rmse_ratio_to_baseline"] = (
            pm["rmse_mean"] / pm["baseline_rmse_mean"]
            if np.isfinite(pm["baseline_rmse_mean"]) and pm["baseline_rmse_mean"] > 0
            else float("nan")
        )
        pm["rmse_ratio_to_baseline_ci95"] = ratio_ci(rs)
        pm["targets_met"] = {
            "rmse_ratio_to_baseline": bool(
                pm["rmse_ratio_to_baseline"] <= targets["rmse_ratio_to_baseline"]
            ),
            "pearson_r": bool(pm["pearson_r_mean"] >= targets["pearson_r"]),
        }
        per_muscle[m] = pm
    out["per_muscle"] = per_muscle
    out["targets"] = dict(targets)
    out["targets_met"] = {
        "rmse_ratio_to_baseline": all(
            v["targets_met"]["rmse_ratio_to_baseline"] for v in per_muscle.values()
        )
        if per_muscle
        else False,
        "pearson_r": all(v["targets_met"]["pearson_r"] for v in per_muscle.values())
        if per_muscle
        else False,
        "torque_r2": bool(out["torque_r2"] >= targets["torque_r2"]),
    }
    out["cells"] = list(rows)
    return out


def parameter_recovery(
    physics: PersonalisedElbow, subject_ids: Sequence[str], truth_summary: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """|learned - true| of the relative muscle parameters (factors), per parameter and muscle,
    and |initial - true| of the prior centres, the fit's start (the configured initial values, or
    the strength expected from body mass; :func:`_recovery_summary`).

    ``truth_summary``: the ground truth's ``cohort.json`` (``subjects[].factors``).
    """
    if not truth_summary:
        return None
    truth = {s["subject_id"]: s.get("factors", {}) for s in truth_summary.get("subjects", [])}
    table = physics.parameters_table
    rel = [s.name for s in table.specs if s.relative]
    column = {c: j for j, c in enumerate(table.columns)}
    rows = []
    for i, sid in enumerate(subject_ids):
        if sid not in truth:
            continue
        values = table.subject(i).values
        for name in rel:
            for k, m in enumerate(table.muscle_names):
                true = truth[sid].get(m, {}).get(name)
                if true is None:
                    continue
                got = float(np.atleast_1d(values[name])[k])
                rows.append(
                    {
                        "subject": sid,
                        "parameter": name,
                        "muscle": m,
                        "true": true,
                        "learned": got,
                        # the prior centre: the initial value, or the body-mass strength
                        "initial": float(table.centre[i, column[(name, m)]]),
                    }
                )
    return _recovery_summary(rows) if rows else None


def _recovery_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean |learned - true| and |initial - true| per parameter and per (parameter, muscle),
    and the fraction of (subject, muscle) values that ended closer to the truth than their
    initial value."""
    out: dict[str, Any] = {
        "abs_error_mean": {},
        "abs_error_initial_mean": {},
        "closer_than_initial": {},
    }
    per_muscle: dict[str, dict[str, dict[str, float]]] = {}
    for n in sorted({r["parameter"] for r in rows}):
        rs = [r for r in rows if r["parameter"] == n]
        err = [abs(r["learned"] - r["true"]) for r in rs]
        err0 = [abs(r["initial"] - r["true"]) for r in rs]
        out["abs_error_mean"][n] = _mean(err)
        out["abs_error_initial_mean"][n] = _mean(err0)
        closer = [e < e0 for e, e0 in zip(err, err0, strict=True)]
        out["closer_than_initial"][n] = float(np.mean(closer))
        per_muscle[n] = {}
        for m in dict.fromkeys(r["muscle"] for r in rs):
            ms = [r for r in rs if r["muscle"] == m]
            per_muscle[n][m] = {
                "abs_error": _mean([abs(r["learned"] - r["true"]) for r in ms]),
                "abs_error_initial": _mean([abs(r["initial"] - r["true"]) for r in ms]),
            }
    out["per_muscle"] = per_muscle
    out["values"] = list(rows)
    return out


class SubjectModel(NamedTuple):
    """A network with the parameter rows of the subjects it reconstructs.

    bundle: the :class:`nmm.model.train.NMMBundle`; physics: the personalised elbow whose rows
    are ``subject_ids`` in order.
    """

    bundle: Any
    physics: PersonalisedElbow
    subject_ids: Sequence[str]


def evaluate_model(
    models: Sequence[SubjectModel],
    trials: Sequence[PreparedTrial],
    truth_dir: str | os.PathLike[str] | None,
    *,
    hidden: Sequence[str],
    baseline: Mapping[str, Sequence[str]] = DEFAULT_BASELINE,
    targets: Mapping[str, float] = DEFAULT_TARGETS,
    kinds: Sequence[str] | None = ("movement",),
    reference_cutoff_hz: float | None = 6.0,
    hidden_signal: str = "excitation",
) -> tuple[dict[str, Any], list[Reconstruction], list[np.ndarray | None]]:
    """Reconstruct the ``trials`` of each model's subjects with that model and score them all.

    Hidden muscles are scored against the reference envelope (``reference_cutoff_hz``, see
    :func:`read_truth_excitation`; None: the raw excitation); ``vs_excitation`` repeats the
    hidden-muscle summary against the raw excitation, and ``scored_envelopes`` scoring the
    hidden envelopes ê instead of the excitation (``hidden_signal``).
    """
    use: list[PreparedTrial] = []
    recs: list[Reconstruction] = []
    for model in models:
        rows = {s: i for i, s in enumerate(model.subject_ids)}
        mine = [t for t in trials if t.subject in rows and (kinds is None or t.kind in set(kinds))]
        b = model.bundle
        recs += [
            reconstruct(
                b.module.net,
                model.physics,
                rows[t.subject],
                t,
                b.spec,
                b.window,
                b.stride,
                use_measured=b.use_measured,
                causal_hop=b.causal_hop,
            )
            for t in mine
        ]
        use += mine
    muscles = models[0].bundle.muscles if models else ()
    truths = [
        read_truth_excitation(truth_dir, t, muscles, reference_cutoff_hz) if truth_dir else None
        for t in use
    ]
    cells = cell_scores(recs, truths, hidden, baseline, hidden_signal)
    summary = summarise_cells(cells, recs, targets)
    summary["reference"] = (
        f"true excitation low-passed at {reference_cutoff_hz:g} Hz (reference envelope)"
        if reference_cutoff_hz
        else "true excitation"
    )

    def brief(refs: Sequence[np.ndarray | None], signal: str) -> dict[str, Any]:
        vs = summarise_cells(cell_scores(recs, refs, hidden, baseline, signal), recs, targets)
        return {k: vs[k] for k in _VARIANT_KEYS} | {"per_muscle": vs["per_muscle"]}

    if reference_cutoff_hz and truth_dir:
        raw = [read_truth_excitation(truth_dir, t, muscles) for t in use]
        summary["vs_excitation"] = brief(raw, hidden_signal)
    if hidden_signal != "envelopes" and any(t is not None for t in truths):
        summary["scored_envelopes"] = brief(truths, "envelopes")
    truth_summary = None
    if truth_dir and (Path(truth_dir) / "cohort.json").is_file():
        truth_summary = read_cohort_truth(truth_dir)
    summary["parameter_recovery"] = _pooled_recovery(
        [parameter_recovery(m.physics, m.subject_ids, truth_summary) for m in models]
    )
    return summary, recs, truths


def _pooled_recovery(parts: Sequence[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """One :func:`_recovery_summary` of the values of several (None: no truth)."""
    values = [v for r in parts if r for v in r["values"]]
    return _recovery_summary(values) if values else None


def merge_folds(folds: Sequence[dict[str, Any]], targets: Mapping[str, float]) -> dict[str, Any]:
    """One protocol summary of the LOSO folds of :func:`loso_fold`: their cells and
    reconstructions pooled, their parameter recovery pooled, each fold's own record under
    ``folds``."""
    cells = [c for f in folds for c in f["summary"]["cells"]]
    recs = [r for f in folds for r in f["recs"]]
    out = summarise_cells(cells, recs, targets)
    recovery = _pooled_recovery([f["summary"].get("parameter_recovery") for f in folds])
    if recovery is not None:
        out["parameter_recovery"] = recovery
    out["folds"] = [
        {k: v for k, v in f.items() if k not in ("summary", "recs", "truths")} for f in folds
    ]
    return out


@dataclass(frozen=True)
class EvaluationSettings:
    """How the NMM is scored (``evaluate`` of ``conf/train.yaml``; the module doc).

    Attributes:
        hidden: the hidden muscles scored (``physics.hidden``).
        baseline: hidden muscle -> the measured muscles whose mean is its copy-synergist
            baseline.
        targets: ``rmse_ratio_to_baseline``, ``pearson_r``, ``torque_r2`` to meet.
        kinds: trial kinds scored (None: all).
        reference_cutoff_hz: the reference envelope's low-pass (Hz; None: raw excitation).
        hidden_signal: ``excitation`` or ``envelopes`` (:data:`HIDDEN_SIGNALS`).
        personalise: a held-out subject's personalisation (LOSO).
        loso_subjects: LOSO holds out only these (None: every selected subject).
        workers: LOSO folds in this many worker processes (1: in turn).
        write_outputs: write each protocol's predictions.
        max_figures: figures written per protocol.
    """

    hidden: tuple[str, ...]
    baseline: Mapping[str, Sequence[str]] = field(default_factory=lambda: DEFAULT_BASELINE)
    targets: Mapping[str, float] = field(default_factory=lambda: DEFAULT_TARGETS)
    kinds: tuple[str, ...] | None = ("movement",)
    reference_cutoff_hz: float | None = 6.0
    hidden_signal: str = "excitation"
    personalise: PersonaliseSettings = field(
        default_factory=lambda: PersonaliseSettings(steps=LOSO_PERSONALISE_STEPS)
    )
    loso_subjects: tuple[str, ...] | None = None
    workers: int = 1
    write_outputs: bool = True
    max_figures: int = 6

    @classmethod
    def from_mapping(
        cls, node: Mapping[str, Any] | None, hidden: Sequence[str]
    ) -> EvaluationSettings:
        """From the ``evaluate`` node as a plain mapping (None: every default), with the
        module's defaults where it is silent; ``hidden``: ``physics.hidden``."""
        ev = node or {}
        cutoff = ev.get("reference_cutoff_hz", 6.0)
        only = ev.get("loso_subjects")
        return cls(
            hidden=tuple(hidden),
            baseline=ev.get("baseline") or DEFAULT_BASELINE,
            targets={**DEFAULT_TARGETS, **(ev.get("targets") or {})},
            kinds=tuple(ev["kinds"]) if ev.get("kinds") else None,
            reference_cutoff_hz=float(cutoff) if cutoff else None,
            hidden_signal=str(ev.get("hidden_signal", "excitation")),
            personalise=PersonaliseSettings.from_mapping(
                ev.get("personalise"), LOSO_PERSONALISE_STEPS
            ),
            loso_subjects=tuple(only) if only else None,
            workers=int(ev.get("workers", 1) or 1),
            write_outputs=bool(ev.get("write_outputs", True)),
            max_figures=int(ev.get("max_figures", 6)),
        )

    def score(
        self,
        models: Sequence[SubjectModel],
        trials: Sequence[PreparedTrial],
        truth_dir: str | os.PathLike[str] | None,
    ) -> tuple[dict[str, Any], list[Reconstruction], list[np.ndarray | None]]:
        """:func:`evaluate_model` with these settings."""
        return evaluate_model(
            models,
            trials,
            truth_dir,
            hidden=self.hidden,
            baseline=self.baseline,
            targets=self.targets,
            kinds=self.kinds,
            reference_cutoff_hz=self.reference_cutoff_hz,
            hidden_signal=self.hidden_signal,
        )


def loso_fold(
    setup: TrainingSetup,
    evaluation: EvaluationSettings,
    budgets: Mapping[str, TrainingBudget],
    trials: Sequence[PreparedTrial],
    elbow: Any,
    truth_dir: str | os.PathLike[str] | None,
    held_out: str,
    run_dir: str | os.PathLike[str],
    threads: int | None = None,
) -> dict[str, Any]:
    """One leave-one-subject-out fold: fit without ``held_out`` (``budgets["fit"]``),
    personalise it with the network frozen (measured channels, kinematics, torque), adapt the
    network to it when ``evaluation.personalise.adapt`` (``budgets["adapt"]``), score it. Runs
    in a worker process too (``threads``: its torch threads). The trainers' root is
    ``<run_dir>/loso/<held_out>`` (nothing is logged there)."""
    set_threads(threads)
    t0 = time.perf_counter()
    subjects = list(dict.fromkeys(t.subject for t in trials))
    others = [x for x in subjects if x != held_out]
    folder = Path(run_dir) / "loso" / held_out
    module, _, info = fit(
        setup,
        trials,
        elbow,
        folder,
        budgets["fit"],
        train_subjects=others,
        loggers=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    test = [t for t in trials if t.subject == held_out]
    b, physics, ids, pinfo = personalise_and_adapt(
        setup,
        bundle(setup.settings, module),
        test,
        evaluation.personalise,
        setup.seed,
        folder,
        budgets["adapt"],
    )
    summary, recs, truths = evaluation.score([SubjectModel(b, physics, ids)], test, truth_dir)
    log.info("LOSO %s: %s", held_out, brief(summary))
    return {
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "held_out": held_out,
        "fit": info,
        "personalise": pinfo,
        "summary": summary,
        "recs": recs,
        "truths": truths,
        "wall_s": time.perf_counter() - t0,
        "hidden_rmse_mean": summary["hidden_rmse_mean"],
        "hidden_pearson_r_mean": summary["hidden_pearson_r_mean"],
        "torque_r2": summary["torque_r2"],
    }


def brief(s: Mapping[str, Any]) -> str:
    """A protocol summary in one line (hidden r, RMSE vs the baseline, torque R²)."""
    return (
        f"hidden r {s['hidden_pearson_r_mean']:.3f}, RMSE {s['hidden_rmse_mean']:.4f} "
        f"(baseline {s['baseline_copy_synergist_rmse_mean']:.4f}, ratio "
        f"{s['rmse_ratio_to_baseline']:.2f} [{s['rmse_ratio_to_baseline_ci95'][0]:.2f}, "
        f"{s['rmse_ratio_to_baseline_ci95'][1]:.2f}]), torque R² {s['torque_r2']:.3f}"
    )
