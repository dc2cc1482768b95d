"""Which personalised parameters the data identify: the NMM's fitted values against the truth.

From a finished ``nmm-compare`` run (its ``nmm`` stage) and the synthetic cohort it ran on,
one cell per subject × muscle (per subject for the global parameters) holds the true value,
the fitted value and the initial value (the fit's start and prior centre). Per parameter:

- median |fitted - true| and median |initial - true|, in the parameter's own units (factors on
  the ``.osim`` value for the relative ones, 1 for ``emg_gain`` and ``shape_factor``, s for
  ``tau_act_s`` and ``electromechanical_delay_s``), and median |fitted - initial| (how far the
  data moved it);
- the fraction of cells where the fit ended closer to the truth than it started;
- the mean reduction in error ``|initial - true| - |fitted - true|`` with a subject-cluster
  bootstrap 95 % CI (:func:`nmm.bootstrap.cluster_bootstrap_ci`), and the share of the start's
  total error that the fit removed (None where the start is the truth);
- the ``verdict`` (:func:`verdict`): ``identified`` when that CI lies above 0 and the fit
  removed at least half of the start's error (:data:`MIN_SHARE_IDENTIFIED`, a convention),
  ``partly`` when the CI lies above 0 but the fit removed less (it moved toward the truth and
  stayed mostly at its prior), ``worse than the prior`` when the CI lies below 0 (the fit moved
  away from the truth; also where the prior centre is the truth and the fit left it), ``not
  identified`` when the CI holds 0 (it stayed at its prior, or moved either way from subject
  to subject); ``identified`` is true for the first only. With three subjects the cluster
  bootstrap has ten distinct resamples: a CI above 0 needs every subject's mean to improve.

Where each truth comes from:

- ``max_isometric_force``, ``optimal_fiber_length``, ``tendon_slack_length``: the cohort's
  factors (``ground_truth/cohort.json``), with the NMM stage's own recovery record
  (``metrics.json`` ``per_subject.parameter_recovery``: learned, true and the prior centre,
  which for strength may be the body-mass expectation);
- ``tau_act_s``: the cohort's ``activation_time_constant_s`` (``config.yaml``); the model's
  deactivation constant is a fixed ratio of it, as the truth's is;
- ``shape_factor``: 0. OpenSim's ``DeGrooteFregly2016Muscle`` takes the excitation's
  activation linearly and :func:`nmm.synth.emg.synthesize_emg` makes the EMG linear in the
  excitation, so the model's exponential shape (Lloyd & Besier 2003 eq. 4) is the identity;
- ``electromechanical_delay_s``: 0 s. The synthetic EMG is modulated by the excitation at the
  same instant (:func:`nmm.synth.emg.synthesize_emg`) and the offline envelope is zero-phase;
- ``emg_gain``: the synthetic EMG has no such parameter (its per-channel gains are in mV, and
  cancel in the normalised envelope). The equivalent true gain of a measured channel is the
  least-squares factor ``g* = Σ u ê / Σ ê²`` from its normalised recorded envelope ê (the
  predictions' ``envelopes`` files: the recordings for measured muscles) onto its true
  excitation low-passed like an envelope, u (:func:`nmm.model.evaluate.read_truth_excitation`
  at ``evaluate.reference_cutoff_hz``), over the subject's scored trials: the scale the model's
  ``excitation = gain × ê`` would need. Hidden muscles are not scored: their envelope is the
  network's output, free to trade its scale against their gain.

``shape_factor`` is scored on the measured muscles only, for the same reason (a hidden
muscle's free envelope can absorb its nonlinearity); their values are still listed per muscle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nmm.bootstrap import cluster_bootstrap_ci
from nmm.data.io.sto import read_sto
from nmm.data.io.textfile import load_yaml
from nmm.model.evaluate import read_truth_excitation
from nmm.synth.ground_truth import read_cohort_truth

PARAMETERS = (
    "max_isometric_force",
    "optimal_fiber_length",
    "tendon_slack_length",
    "emg_gain",
    "shape_factor",
    "tau_act_s",
    "electromechanical_delay_s",
)
UNITS = {
    "max_isometric_force": "factor on the .osim value",
    "optimal_fiber_length": "factor on the .osim value",
    "tendon_slack_length": "factor on the .osim value",
    "emg_gain": "1 (excitation per normalised envelope)",
    "shape_factor": "1 (A of the activation nonlinearity)",
    "tau_act_s": "s",
    "electromechanical_delay_s": "s",
}
# the synthetic truth's activation shape and delay (see the module doc)
TRUE_SHAPE_FACTOR = 0.0
TRUE_DELAY_S = 0.0
# the share of the start's error a fit must remove to call a parameter identified (a
# convention of this benchmark: less is "partly", the prior still holding most of it)
MIN_SHARE_IDENTIFIED = 0.5
GLOBAL = ""  # the muscle of a global parameter's cell
ENVELOPES_SUFFIX = "_envelopes.sto"


@dataclass(frozen=True)
class ParameterCell:
    """One subject's value of one parameter (of one muscle; ``GLOBAL`` for a global one), in
    the parameter's units: ``true``, ``fitted`` and ``initial`` (the prior centre)."""

    subject: str
    parameter: str
    muscle: str
    true: float
    fitted: float
    initial: float


def verdict(ci95: Sequence[float], share_removed: float | None) -> str:
    """``identified``: the CI of the mean error reduction lies above 0 and the fit removed at
    least :data:`MIN_SHARE_IDENTIFIED` of the start's error; ``partly``: the CI lies above 0
    but the fit removed less (it moved toward the truth, and stayed mostly at its prior);
    ``worse than the prior``: the CI lies below 0; else ``not identified`` (the CI holds 0,
    or is NaN: fewer than two subjects)."""
    lo, hi = ci95
    if lo > 0:
        return "identified" if (share_removed or 0.0) >= MIN_SHARE_IDENTIFIED else "partly"
    if hi < 0:
        return "worse than the prior"
    return "not identified"


def _medians(cells: Sequence[ParameterCell]) -> dict[str, float]:
    fit = [abs(c.fitted - c.true) for c in cells]
    start = [abs(c.initial - c.true) for c in cells]
    return {
        "median_abs_error_fitted": float(np.median(fit)),
        "median_abs_error_initial": float(np.median(start)),
        "closer_than_initial": float(np.mean([f < s for f, s in zip(fit, start, strict=True)])),
    }


def summarise_parameter(cells: Sequence[ParameterCell], n_boot: int) -> dict[str, Any]:
    """One parameter's record (see the module doc) from its cells; per muscle too."""
    start = np.array([abs(c.initial - c.true) for c in cells])
    reduction = start - np.array([abs(c.fitted - c.true) for c in cells])
    lo, hi = cluster_bootstrap_ci(reduction, np.array([c.subject for c in cells]), n_boot=n_boot)
    out: dict[str, Any] = {
        "n_cells": len(cells),
        "n_subjects": len({c.subject for c in cells}),
        **_medians(cells),
        "median_abs_change": float(np.median([abs(c.fitted - c.initial) for c in cells])),
        "mean_error_reduction": float(reduction.mean()),
        "mean_error_reduction_ci95": [lo, hi],
        # of the start's total error, the part the fit removed (None: the start was the truth)
        "share_of_error_removed": float(reduction.sum() / start.sum()) if start.sum() > 0 else None,
    }
    out["verdict"] = verdict((lo, hi), out["share_of_error_removed"])
    out["identified"] = out["verdict"] == "identified"
    muscles = list(dict.fromkeys(c.muscle for c in cells if c.muscle != GLOBAL))
    if muscles:
        out["per_muscle"] = {m: _medians([c for c in cells if c.muscle == m]) for m in muscles}
    return out


def _by_role(
    cells: Sequence[ParameterCell], roles: Mapping[str, Sequence[str]], n_boot: int
) -> dict[str, Any]:
    """:func:`summarise_parameter` of each role's muscles (``{role: muscles}``), without the
    per-muscle breakdown; empty unless at least two roles have cells."""
    parts = {r: [c for c in cells if c.muscle in set(ms)] for r, ms in roles.items()}
    parts = {r: cs for r, cs in parts.items() if cs}
    if len(parts) < 2:
        return {}
    return {
        r: {k: v for k, v in summarise_parameter(cs, n_boot).items() if k != "per_muscle"}
        for r, cs in parts.items()
    }


def identification(
    cells: Iterable[ParameterCell],
    n_boot: int,
    scored_muscles: Mapping[str, Sequence[str]] | None = None,
    notes: Mapping[str, str] | None = None,
    roles: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """``{parameter: record}`` in :data:`PARAMETERS` order, each with its ``unit``.

    scored_muscles: per parameter, the muscles whose cells enter the verdict (the others are
    listed under ``unscored_per_muscle``); notes: per parameter, a sentence kept in its record
    (why it is scored as it is, or why it is absent: a parameter with no cell and a note gets
    ``verdict: not scored``); roles: ``{role: muscles}`` (e.g. measured, hidden): a parameter
    scored on muscles of several roles gets a record per role under ``by_role``.
    """
    cells, scored_muscles, notes = list(cells), scored_muscles or {}, notes or {}
    out: dict[str, Any] = {}
    for name in PARAMETERS:
        mine = [c for c in cells if c.parameter == name]
        keep = scored_muscles.get(name)
        scored = [c for c in mine if keep is None or c.muscle in keep]
        if scored:
            out[name] = {"unit": UNITS[name], **summarise_parameter(scored, n_boot)}
            split = _by_role(scored, roles or {}, n_boot)
            if split:
                out[name]["by_role"] = split
            rest = [c for c in mine if c not in scored]
            if rest:
                out[name]["unscored_per_muscle"] = {
                    m: _medians([c for c in rest if c.muscle == m])
                    for m in dict.fromkeys(c.muscle for c in rest)
                }
        elif name in notes:
            out[name] = {"unit": UNITS[name], "verdict": "not scored", "identified": False}
        if name in out and name in notes:
            out[name]["note"] = notes[name]
    return out


def relative_cells(nmm_metrics: Mapping[str, Any]) -> list[ParameterCell]:
    """The relative muscle parameters' cells from the NMM stage's ``metrics.json``
    (``per_subject.parameter_recovery.values``: learned, true, initial); none without it."""
    recovery = (nmm_metrics.get("per_subject") or {}).get("parameter_recovery") or {}
    return [
        ParameterCell(
            v["subject"], v["parameter"], v["muscle"], v["true"], v["learned"], v["initial"]
        )
        for v in recovery.get("values", [])
    ]


def activation_cells(
    fitted: Mapping[str, Any],
    initial: Mapping[str, float],
    true_tau_act_s: float,
    subjects: Sequence[str],
) -> list[ParameterCell]:
    """``shape_factor`` (per muscle), ``tau_act_s`` and ``electromechanical_delay_s`` cells of
    the ``subjects`` that ``fitted`` holds, for those of the three it personalises.

    fitted: the stage's ``parameters.json`` (``{subject: {parameter: value or {muscle:
    value}}}`` of the personalised parameters, beside ``bounds`` and ``relative``); initial:
    ``physics.personalised.initial`` of the stage's config.
    """
    truth = {
        "shape_factor": TRUE_SHAPE_FACTOR,
        "tau_act_s": true_tau_act_s,
        "electromechanical_delay_s": TRUE_DELAY_S,
    }
    cells = []
    for sid in subjects:
        for name, true in truth.items():
            value = (fitted.get(sid) or {}).get(name)
            per_muscle = value.items() if isinstance(value, Mapping) else [(GLOBAL, value)]
            cells += [
                ParameterCell(sid, name, m, true, float(v), float(initial[name]))
                for m, v in per_muscle
                if v is not None
            ]
    return cells


@dataclass(frozen=True)
class _TrialGrid:
    """The fields of a :class:`nmm.model.features.PreparedTrial` that
    :func:`read_truth_excitation` reads: ids, the time grid (s) and its rate (Hz)."""

    subject: str
    trial_id: str
    session: str
    time: np.ndarray
    rate: float

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.session}_{self.trial_id}"


def equivalent_gains(
    envelopes_dir: Path, truth_dir: Path, measured: Sequence[str], cutoff_hz: float | None
) -> dict[str, dict[str, float]]:
    """``{subject: {muscle: g*}}``: the least-squares gain from each measured channel's
    normalised recorded envelope onto its true reference excitation over the subject's trials
    in ``envelopes_dir/<subject>/*_envelopes.sto`` (module doc). A trial without truth is
    skipped; a subject with none is absent."""
    gains: dict[str, dict[str, float]] = {}
    for subject_dir in sorted(p for p in envelopes_dir.iterdir() if p.is_dir()):
        num, den = np.zeros(len(measured)), np.zeros(len(measured))
        for path in sorted(subject_dir.glob(f"*{ENVELOPES_SUFFIX}")):
            table = read_sto(path)
            session, _, trial_id = path.name[: -len(ENVELOPES_SUFFIX)].partition("_")
            rate = 1.0 / float(np.median(np.diff(table.time)))
            grid = _TrialGrid(subject_dir.name, trial_id, session, np.asarray(table.time), rate)
            truth = read_truth_excitation(truth_dir, grid, measured, cutoff_hz)
            if truth is None:
                continue
            env = np.column_stack([table.column(m) for m in measured])
            num += np.sum(truth * env, axis=0)
            den += np.sum(env * env, axis=0)
        if np.all(den > 0):
            gains[subject_dir.name] = {
                m: float(n / d) for m, n, d in zip(measured, num, den, strict=True)
            }
    return gains


def gain_cells(
    fitted: Mapping[str, Any], initial: float, true_gains: Mapping[str, Mapping[str, float]]
) -> list[ParameterCell]:
    """``emg_gain`` cells of the measured muscles: fitted (``parameters.json``) against the
    equivalent true gains of :func:`equivalent_gains`."""
    return [
        ParameterCell(sid, "emg_gain", m, g, fitted[sid]["emg_gain"][m], initial)
        for sid, per_muscle in true_gains.items()
        if "emg_gain" in fitted.get(sid, {})
        for m, g in per_muscle.items()
    ]


GAIN_NOTE = (
    "measured muscles only, against the equivalent true gain (least-squares factor from the "
    "normalised recorded envelope onto the true excitation low-passed like an envelope); a "
    "hidden muscle's gain trades off with its free envelope, so it is not scored"
)
SHAPE_NOTE = (
    "measured muscles only (truth 0: OpenSim's muscle takes its activation linearly); a hidden "
    "muscle's free envelope can absorb its nonlinearity, so its values are listed unscored"
)
NO_PREDICTIONS_NOTE = "not scored: the run wrote no predictions/envelopes to read ê from"


def identified_parameters(stage_dir: Path, cohort_root: Path, n_boot: int) -> dict[str, Any]:
    """The ``identified_parameters`` record of a finished NMM stage (``stage_dir``: its
    ``metrics.json``, ``parameters.json``, ``config.yaml`` and ``predictions/envelopes``)
    against the cohort at ``cohort_root`` (its ``ground_truth/`` and ``config.yaml``)."""
    truth_dir = cohort_root / "ground_truth"
    cohort = read_cohort_truth(truth_dir)
    measured = list(cohort["measured"])
    config = load_yaml(stage_dir / "config.yaml", final_newline=True)
    initial = config["physics"]["personalised"]["initial"]
    synth = load_yaml(cohort_root / "config.yaml", final_newline=True)["synth"]
    fitted = json.loads((stage_dir / "parameters.json").read_text(encoding="utf-8"))
    metrics = json.loads((stage_dir / "metrics.json").read_text(encoding="utf-8"))
    tau = float(synth["muscle_parameters"]["activation_time_constant_s"])
    subjects = [s["subject_id"] for s in cohort["subjects"]]
    cells = relative_cells(metrics)
    cells += activation_cells(fitted, initial, tau, subjects)
    envelopes = stage_dir / "predictions" / "envelopes"
    gain_note = NO_PREDICTIONS_NOTE
    if envelopes.is_dir():
        cutoff = config["evaluate"].get("reference_cutoff_hz")
        gains = equivalent_gains(envelopes, truth_dir, measured, cutoff)
        cells += gain_cells(fitted, float(initial["emg_gain"]), gains)
        gain_note = GAIN_NOTE
    return identification(
        cells,
        n_boot,
        scored_muscles={"emg_gain": measured, "shape_factor": measured},
        notes={"emg_gain": gain_note, "shape_factor": SHAPE_NOTE},
        roles={"measured": measured, "hidden": list(cohort["hidden"])},
    )
