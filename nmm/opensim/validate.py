"""The OpenSim torque validation run (``nmm-validate``): a personalised model's muscle torque,
recomputed by OpenSim alone, against OpenSim inverse dynamics and against the torch torque.

For each trial:

1. **Muscle torque in OpenSim.** The personalised ``.osim`` (``nmm-train``/``nmm-predict``
   write ``<predictions>/models/<subject>.osim`` with
   :func:`nmm.physics.parameters.export_personalised_osim`) is loaded as the muscle twin
   (:func:`nmm.opensim.elbow_twin.load_muscle_twin`, as the OpenSim twin of the muscle model
   ``physics.muscle_model`` names), the recorded kinematics (θ, θ̇)
   and the reconstructed activations (``<predictions>/envelopes/<subject>/<stem>_activation.sto``)
   are prescribed state by state, and ``τ_mus = Σ_i F_T,i r_i`` comes from OpenSim
   (:func:`~nmm.opensim.elbow_twin.opensim_muscle_torque`). Muscles are mapped by name; only
   the muscles of the activation file act.
2. **Inverse dynamics in OpenSim.** ``τ_ID`` from ``InverseDynamicsSolver`` with θ, θ̇, θ̈ and
   the trial's load (a point mass at the lever arm, on the perpendicular from the flexion axis
   through the forearm's centre of mass;
   :func:`~nmm.opensim.elbow_twin.build_inverse_dynamics_twin`). The body is the personalised
   model's by default; ``id_osim`` (which may contain ``{subject}``) names another, e.g. the
   synthetic cohort's simulated bodies ``ground_truth/<subject>/model.osim`` (tilted posture,
   the subject's forearm), whose inverse dynamics reproduce the cohort's recorded torque to
   < 0.2 % RMS (the truth model welds the load on the forearm's long axis, the twin on the
   perpendicular through the centre of mass). The model's own forces are off (muscles
   excluded) and no passive joint torque is added, as in the synthetic cohort's recorded torque
   and in arm26.
3. **Comparisons.** OpenSim muscle torque vs OpenSim ID (RMSE, R²: does the personalised model
   with these activations produce the motion's torque?); vs the torch muscle torque of the same
   model (``<stem>_torque.sto`` column ``<coordinate>_moment_muscles``; relative RMS difference
   ``‖τ_OpenSim − τ_torch‖ / ‖τ_torch‖``, the torch/OpenSim agreement of the personalised model);
   vs the recorded torque when there is one; and OpenSim ID vs the recorded torque (does the ID
   body carry the data's dynamics?).

Activations, not excitations: the personalised activation (electromechanical delay, shape
factor A, the smoothing of the dynamics) is not part of an ``.osim``, so integrating
excitations with OpenSim's own activation dynamics would validate a different model. An
excitation file without its activation file is refused with a :class:`ValidationInputError`
saying so.

Time grids: every series is put on the kinematics grid, within the overlap of all of them
(activations, torch and recorded torque linearly interpolated); no overlap is an error naming
the files.

Trials are gathered by :mod:`nmm.opensim.validation_inputs`. Entry points (all torch-free:
OpenSim, numpy, scipy, matplotlib; a subprocess test checks it):

- :func:`validate_predictions` ``(predictions_dir, cohort, out_dir, *, osim=None, ...) -> dict``:
  the trials of an ``nmm-train``/``nmm-predict`` predictions folder, kinematics and loads from the
  dataset (``cohort``, a :class:`~nmm.data.schema.Cohort`) or from ``kinematics`` files.
- :func:`validate_files` ``(osim, activations, kinematics, out_dir, *, load_kg, lever_arm_m,
  ...) -> dict``: a user's ``.osim``, a folder (or file) of ``*_activation.sto`` and an IK
  ``.mot`` (or a folder of them).
- :func:`nmm.jobs.validate.run_validate` (the app): what ``nmm-validate`` runs
  (``conf/validate.yaml``).

Both write into ``out_dir``: ``metrics.json`` (see :func:`summarise`), ``trials.csv``,
``torque/<subject>/<stem>_opensim_torque.sto`` and ``figures/<subject>_<stem>.png``, and return
the metrics.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nmm.atomic import atomic_write_json, atomic_write_text
from nmm.data.io.sto import StoTable, read_sto, write_sto
from nmm.data.schema import Cohort, Signal
from nmm.metrics import r2_score, rmse
from nmm.opensim.elbow_twin import (
    DEFAULT_COORDINATE,
    InverseDynamicsTwin,
    MuscleTwin,
    build_inverse_dynamics_twin,
    load_muscle_twin,
    opensim_inverse_dynamics,
    opensim_muscle_torque,
)
from nmm.opensim.geometry_sampling import DEFAULT_LOCKED, OsimModelError
from nmm.opensim.validation_inputs import (
    DEFAULT_KINEMATICS_COLUMNS,
    TrialSpec,
    ValidationInputError,
    file_trials,
    prediction_trials,
)
from nmm.physics.muscle_models import DEFAULT_MUSCLE_MODEL

__all__ = [
    "TrialResult",
    "ValidationInputError",
    "run_validation",
    "summarise",
    "validate_files",
    "validate_predictions",
    "validate_trial",
]

log = logging.getLogger(__name__)

#: The issue's acceptance: OpenSim and torch muscle torque agree within 1 % RMS.
DEFAULT_TORCH_TOLERANCE = 0.01
# Two time stamps closer than this are the same sample (s).
_TIME_EPS = 1e-9


# --------------------------------------------------------------------------------------
# One trial
# --------------------------------------------------------------------------------------


@dataclass
class TrialResult:
    """One validated trial on its grid (T samples).

    Attributes:
        spec: the inputs.
        time: ``(T,)`` s.
        muscles: ``(M,)`` the activation file's muscles.
        activation: ``(T, M)`` as prescribed.
        opensim_torque: ``(T,)`` OpenSim muscle torque (N·m).
        id_torque: ``(T,)`` OpenSim inverse dynamics (N·m).
        torch_torque: ``(T,)`` torch muscle torque, or None.
        recorded_torque: ``(T,)`` the trial's torque, or None; ``recorded_source`` says whose.
        metrics: see :func:`trial_metrics`.
    """

    spec: TrialSpec
    time: np.ndarray
    muscles: tuple[str, ...]
    activation: np.ndarray
    opensim_torque: np.ndarray
    id_torque: np.ndarray
    torch_torque: np.ndarray | None
    recorded_torque: np.ndarray | None
    recorded_source: str | None
    metrics: dict[str, Any]


def _relative_rms(x: np.ndarray, ref: np.ndarray) -> float:
    """‖x − ref‖_RMS / ‖ref‖_RMS (NaN when ref is all zero)."""
    scale = float(np.sqrt(np.mean(np.asarray(ref) ** 2)))
    return rmse(x, ref) / scale if scale > 0 else float("nan")


def _sto(path: Path) -> StoTable:
    try:
        return read_sto(path)
    except FileNotFoundError:
        raise ValidationInputError("file not found", path) from None


def _span(t: np.ndarray) -> tuple[float, float]:
    return float(t[0]), float(t[-1])


def _interp(grid: np.ndarray, t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``values`` ``(T_src,)`` or ``(T_src, C)`` onto ``grid``."""
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        return np.interp(grid, t, v)
    return np.column_stack([np.interp(grid, t, v[:, j]) for j in range(v.shape[1])])


def _torque_columns(table: StoTable, path: Path) -> tuple[str | None, str]:
    """(trial torque column or None, torch muscle torque column) of a ``_torque.sto``."""
    muscles = [c for c in table.columns if c.endswith("_moment_muscles")]
    if len(muscles) != 1:
        raise ValidationInputError(
            "expected one '<coordinate>_moment_muscles' column (the torch muscle torque), found "
            f"{muscles or 'none'} in {', '.join(table.columns)}",
            path,
        )
    trial = muscles[0][: -len("_muscles")]
    return (trial if trial in table.columns else None), muscles[0]


class _Twins:
    """Loaded OpenSim twins, reused across the trials of a run. A trial's subject's recorded
    posture (:attr:`TrialSpec.posture`) updates ``locked``, and ``id_locked`` when that is None
    (the ID twin held as the muscle twin)."""

    def __init__(
        self,
        coordinate: str,
        locked: Mapping[str, float],
        id_locked: Mapping[str, float] | None,
        muscle_model: str = DEFAULT_MUSCLE_MODEL,
    ):
        self.coordinate, self.locked = coordinate, dict(locked)
        self.id_locked = None if id_locked is None else dict(id_locked)
        self.muscle_model = muscle_model
        self._muscle: dict[tuple[Path, tuple[str, ...], str], MuscleTwin] = {}
        self._id: dict[tuple[Path, float, float, str], InverseDynamicsTwin] = {}

    def held(self, spec: TrialSpec) -> dict[str, float]:
        """The coordinates held in ``spec``'s muscle twin: ``locked`` and its subject's posture."""
        return {**self.locked, **(spec.posture or {})}

    def muscle(self, spec: TrialSpec, muscles: tuple[str, ...]) -> MuscleTwin:
        osim, held = spec.osim, self.held(spec)
        key = (osim.resolve(), muscles, json.dumps(held, sort_keys=True))
        if key not in self._muscle:
            try:
                self._muscle[key] = load_muscle_twin(
                    osim, self.coordinate, muscles, held, self.muscle_model
                )
            except OsimModelError:
                # an unknown muscle, or a model that does not load (re-raised by this call)
                known = load_muscle_twin(osim, self.coordinate, None, held, self.muscle_model)
                missing = [m for m in muscles if m not in known.muscle_names]
                if missing:
                    raise ValidationInputError(
                        f"muscle(s) {', '.join(missing)} not in the model {osim} (its muscles: "
                        f"{', '.join(known.muscle_names)}); name the columns after the model's "
                        "muscles",
                        spec.activation_file,
                    ) from None
                raise
        return self._muscle[key]

    def inverse_dynamics(self, spec: TrialSpec) -> InverseDynamicsTwin:
        osim = spec.id_osim
        held = self.held(spec) if self.id_locked is None else self.id_locked
        key = (osim.resolve(), float(spec.load_kg), float(spec.lever_arm_m))
        key = (*key, json.dumps(held, sort_keys=True))
        if key not in self._id:
            if not osim.is_file():
                raise ValidationInputError("model for inverse dynamics (.osim) not found", osim)
            self._id[key] = build_inverse_dynamics_twin(
                osim, spec.load_kg, spec.lever_arm_m, None, self.coordinate, held
            )
        return self._id[key]


def validate_trial(spec: TrialSpec, twins: _Twins) -> TrialResult:
    """OpenSim muscle torque and inverse dynamics of one trial, and the comparisons."""
    act = _sto(spec.activation_file)
    muscles = tuple(act.columns)
    if not muscles:
        raise ValidationInputError("no muscle columns", spec.activation_file)
    kin = spec.kinematics
    spans = {str(spec.activation_file): _span(act.time), kin.source: _span(kin.time)}
    torque_tab, cols = None, (None, "")
    if spec.torque_file is not None:
        torque_tab = _sto(spec.torque_file)
        cols = _torque_columns(torque_tab, spec.torque_file)
        spans[str(spec.torque_file)] = _span(torque_tab.time)
    if spec.recorded is not None:
        spans[spec.recorded[2]] = _span(spec.recorded[0])
    start = max(s[0] for s in spans.values()) - _TIME_EPS
    stop = min(s[1] for s in spans.values()) + _TIME_EPS
    keep = (kin.time >= start) & (kin.time <= stop)
    if keep.sum() < 2:
        raise ValidationInputError(
            "no time overlap with the kinematics: "
            + "; ".join(f"{k} spans {a:g}-{b:g} s" for k, (a, b) in spans.items()),
            spec.activation_file,
        )
    grid = kin.time[keep]
    q, qd, qdd = kin.angle[keep], kin.velocity[keep], kin.acceleration[keep]
    a = _interp(grid, act.time, act.data)
    twin = twins.muscle(spec, muscles)
    tau_os = np.asarray(opensim_muscle_torque(twin, q, qd, a))
    id_twin = twins.inverse_dynamics(spec)
    tau_id = opensim_inverse_dynamics(id_twin, grid, q, qd, qdd)

    torch_tau = recorded = None
    recorded_source = None
    if torque_tab is not None:
        torch_tau = _interp(grid, torque_tab.time, torque_tab.column(cols[1]))
    if spec.recorded is not None:
        recorded = _interp(grid, spec.recorded[0], spec.recorded[1])
        recorded_source = spec.recorded[2]
    elif torque_tab is not None and cols[0] is not None:
        recorded = _interp(grid, torque_tab.time, torque_tab.column(cols[0]))
        recorded_source = f"{spec.torque_file.name} column {cols[0]}"
    m: dict[str, Any] = {
        "subject": spec.subject,
        "trial": spec.stem,
        "osim": str(spec.osim),
        "id_osim": str(spec.id_osim),
        "activation_file": str(spec.activation_file),
        "kinematics": kin.source,
        "load_kg": spec.load_kg,
        "lever_arm_m": spec.lever_arm_m,
        "n_samples": int(grid.size),
        "span_s": [float(grid[0]), float(grid[-1])],
        "muscles": list(muscles),
        "activation_range": [float(a.min()), float(a.max())],
        "opensim_torque_rmse_nm": rmse(tau_os, tau_id),
        "opensim_torque_r2": r2_score(tau_os, tau_id),
        "id_torque_range_nm": [float(tau_id.min()), float(tau_id.max())],
    }
    if spec.posture is not None:
        m["locked"] = twins.held(spec)  # the subject's own posture (rad or m)
    if not (a.min() >= 0.0 and a.max() <= 1.0):
        log.warning(
            "%s: activations outside [0, 1] (%.3g to %.3g); prescribed as they are",
            spec.activation_file,
            a.min(),
            a.max(),
        )
    if torch_tau is not None:
        m["torch_rel_rms_diff"] = _relative_rms(tau_os, torch_tau)
        m["torch_max_abs_diff_nm"] = float(np.max(np.abs(tau_os - torch_tau)))
        m["torch_torque_r2_vs_id"] = r2_score(torch_tau, tau_id)
    if recorded is not None:
        m["recorded_source"] = recorded_source
        m["recorded_torque_rmse_nm"] = rmse(tau_os, recorded)
        m["recorded_torque_r2"] = r2_score(tau_os, recorded)
        m["id_vs_recorded_rmse_nm"] = rmse(tau_id, recorded)
        m["id_vs_recorded_rel_rms"] = _relative_rms(tau_id, recorded)
    return TrialResult(
        spec, grid, muscles, a, tau_os, tau_id, torch_tau, recorded, recorded_source, m
    )


# --------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------


def _nanmean(values: Sequence[float]) -> float | None:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def summarise(
    results: Sequence[TrialResult], torch_tolerance: float = DEFAULT_TORCH_TOLERANCE
) -> dict[str, Any]:
    """Overall metrics: means over trials of every per-trial metric, and the headline
    ``opensim_torque_r2`` (mean R² of the OpenSim muscle torque vs OpenSim ID).

    ``torch_agreement_within_tolerance`` is True when every trial with a torch torque has a
    relative RMS difference below ``torch_tolerance`` (None without torch torques).
    """
    rows = [r.metrics for r in results]

    def mean(key: str) -> float | None:
        return _nanmean([r.get(key) for r in rows])

    torch_diffs = [r["torch_rel_rms_diff"] for r in rows if "torch_rel_rms_diff" in r]
    return {
        "n_trials": len(rows),
        "opensim_torque_r2": mean("opensim_torque_r2"),
        "opensim_torque_rmse_nm": mean("opensim_torque_rmse_nm"),
        "recorded_torque_r2": mean("recorded_torque_r2"),
        "recorded_torque_rmse_nm": mean("recorded_torque_rmse_nm"),
        "id_vs_recorded_rmse_nm": mean("id_vs_recorded_rmse_nm"),
        "id_vs_recorded_rel_rms": mean("id_vs_recorded_rel_rms"),
        "torch_rel_rms_diff_mean": mean("torch_rel_rms_diff"),
        "torch_rel_rms_diff_max": max(torch_diffs) if torch_diffs else None,
        "torch_max_abs_diff_nm": max(
            (r["torch_max_abs_diff_nm"] for r in rows if "torch_max_abs_diff_nm" in r), default=None
        ),
        "torch_tolerance": torch_tolerance,
        "torch_agreement_within_tolerance": (
            bool(max(torch_diffs) < torch_tolerance) if torch_diffs else None
        ),
    }


_CSV_COLUMNS = (
    "subject",
    "trial",
    "load_kg",
    "lever_arm_m",
    "n_samples",
    "opensim_torque_rmse_nm",
    "opensim_torque_r2",
    "torch_rel_rms_diff",
    "torch_max_abs_diff_nm",
    "recorded_torque_rmse_nm",
    "recorded_torque_r2",
    "id_vs_recorded_rmse_nm",
)


def _write_csv(results: Sequence[TrialResult], path: Path) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for r in results:
        row = []
        for c in _CSV_COLUMNS:
            v = r.metrics.get(c)
            row.append("" if v is None else (f"{v:.6g}" if isinstance(v, float) else v))
        writer.writerow(row)
    return atomic_write_text(path, buf.getvalue())


def _write_torque_sto(r: TrialResult, path: Path, coordinate: str) -> Path:
    names = [f"{coordinate}_moment_muscles_opensim", f"{coordinate}_moment_id_opensim"]
    cols = [r.opensim_torque, r.id_torque]
    if r.torch_torque is not None:
        names.append(f"{coordinate}_moment_muscles_torch")
        cols.append(r.torch_torque)
    if r.recorded_torque is not None:
        names.append(f"{coordinate}_moment_recorded")
        cols.append(r.recorded_torque)
    return write_sto(
        path,
        r.time,
        np.column_stack(cols),
        names,
        name=f"{r.spec.stem} OpenSim muscle torque and inverse dynamics (N·m)",
    )


def plot_trial(r: TrialResult, path: Path) -> Path:
    """Torque over time (OpenSim muscles, OpenSim ID, torch, recorded) and the OpenSim − torch
    (or OpenSim − ID) difference below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nmm.reports.figures import save_figure

    m = r.metrics
    fig, (ax, ax_d) = plt.subplots(
        2, 1, figsize=(9.5, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    if r.recorded_torque is not None:
        ax.plot(r.time, r.recorded_torque, color="0.65", lw=3.0, label="recorded")
    ax.plot(r.time, r.id_torque, color="k", lw=1.3, label="OpenSim inverse dynamics")
    ax.plot(r.time, r.opensim_torque, color="C0", lw=1.6, label="OpenSim muscles")
    if r.torch_torque is not None:
        ax.plot(r.time, r.torch_torque, color="C1", lw=1.3, ls="--", label="torch muscles")
        ax_d.plot(r.time, r.opensim_torque - r.torch_torque, color="C1", lw=1.0)
        ax_d.set_ylabel("OpenSim − torch\n(N·m)")
        note = f", OpenSim vs torch {100 * m['torch_rel_rms_diff']:.2g} % RMS"
    else:
        ax_d.plot(r.time, r.opensim_torque - r.id_torque, color="C0", lw=1.0)
        ax_d.set_ylabel("muscles − ID\n(N·m)")
        note = ""
    ax_d.axhline(0.0, color="0.7", lw=0.8)
    ax.set_ylabel("elbow flexion moment (N·m)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax_d.set_xlabel("time (s)")
    for a in (ax, ax_d):
        a.spines[["top", "right"]].set_visible(False)
    ax.set_title(
        f"{r.spec.subject} {r.spec.stem}: {r.spec.load_kg:.3g} kg at {r.spec.lever_arm_m:.3g} m\n"
        f"muscles vs ID: R² {m['opensim_torque_r2']:.3f}, RMSE "
        f"{m['opensim_torque_rmse_nm']:.2f} N·m{note}",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, path, dpi=110)


def run_validation(
    specs: Sequence[TrialSpec],
    out_dir: str | os.PathLike[str],
    *,
    coordinate: str = DEFAULT_COORDINATE,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
    id_locked: Mapping[str, float] | None = None,
    data_coordinate: str = "elbow_flexion",
    torch_tolerance: float = DEFAULT_TORCH_TOLERANCE,
    max_figures: int | None = None,
    extra: Mapping[str, Any] | None = None,
    muscle_model: str = DEFAULT_MUSCLE_MODEL,
) -> dict[str, Any]:
    """Validate ``specs`` and write the outputs (see the module doc) into ``out_dir``.

    Args:
        coordinate: the elbow coordinate of the models (``r_elbow_flex``).
        locked: coordinates held in the muscle twin (rad), updated by a trial's subject's
            recorded posture (:attr:`TrialSpec.posture`); ``id_locked`` in the ID twin
            (default the muscle twin's).
        data_coordinate: the prefix of the ``.sto`` column names written.
        torch_tolerance: relative RMS for ``torch_agreement_within_tolerance``.
        max_figures: at most this many figures (None: one per trial).
        extra: added to the metrics (mode, inputs).
        muscle_model: the registered muscle model of the twin, as the torch model's
            (``physics.muscle_model``; :func:`~nmm.opensim.elbow_twin.load_muscle_twin`).

    Returns:
        the metrics written to ``metrics.json``: ``trials`` (per-trial metrics),
        :func:`summarise`'s keys, ``files`` and ``wall_s``.
    """

    t0 = time.perf_counter()
    if not specs:
        raise ValidationInputError("no trials to validate")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    twins = _Twins(coordinate, locked, id_locked, muscle_model)
    results, files = [], {"sto": [], "figures": [], "csv": []}
    for k, spec in enumerate(specs):
        r = validate_trial(spec, twins)
        results.append(r)
        sto = out / "torque" / spec.subject / f"{spec.stem}_opensim_torque.sto"
        files["sto"].append(str(_write_torque_sto(r, sto, data_coordinate)))
        if max_figures is None or k < max_figures:
            fig = out / "figures" / f"{spec.subject}_{spec.stem}.png"
            files["figures"].append(str(plot_trial(r, fig)))
        log.info(
            "%s/%s: muscles vs ID R² %.3f, RMSE %.2f N·m; vs torch %s",
            spec.subject,
            spec.stem,
            r.metrics["opensim_torque_r2"],
            r.metrics["opensim_torque_rmse_nm"],
            f"{100 * r.metrics['torch_rel_rms_diff']:.3g} % RMS"
            if "torch_rel_rms_diff" in r.metrics
            else "n/a",
        )
    files["csv"].append(str(_write_csv(results, out / "trials.csv")))
    metrics: dict[str, Any] = dict(extra or {})
    metrics["muscle_model"] = muscle_model
    metrics.update(summarise(results, torch_tolerance))
    metrics["trials"] = [r.metrics for r in results]
    metrics["files"] = {k: len(v) for k, v in files.items()}
    metrics["torch_imported"] = "torch" in sys.modules
    metrics["wall_s"] = time.perf_counter() - t0
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def validate_predictions(
    predictions_dir: str | os.PathLike[str],
    cohort: Cohort,
    out_dir: str | os.PathLike[str],
    *,
    osim: str | os.PathLike[str] | None = None,
    id_osim: str | os.PathLike[str] | None = None,
    kinematics: str | os.PathLike[str] | None = None,
    kinematics_columns: Sequence[str] = DEFAULT_KINEMATICS_COLUMNS,
    kinematics_chain: Callable[[Signal], Signal] | None = None,
    use_recorded_derivatives: bool = True,
    default_lever_arm_m: float = 0.3,
    kinds: Sequence[str] | None = ("movement",),
    coordinate: str = DEFAULT_COORDINATE,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
    id_locked: Mapping[str, float] | None = None,
    torch_tolerance: float = DEFAULT_TORCH_TOLERANCE,
    max_figures: int | None = None,
    muscle_model: str = DEFAULT_MUSCLE_MODEL,
    subject_lever_arm_m: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Validate a predictions folder against OpenSim (see the module doc); writes into
    ``out_dir`` and returns the metrics.

    Args:
        predictions_dir: ``<nmm-train run>/predictions`` or an ``nmm-predict`` run directory.
        cohort: the dataset the predictions were made from (kinematics, loads, torque).
        osim: a model for every subject, or a folder of ``<subject>.osim``; default
            ``<predictions_dir>/models/<subject>.osim``.
        id_osim: body for inverse dynamics (may contain ``{subject}``); default the model.
        kinematics: a ``.mot`` for every trial, or a folder of ``<stem>.mot``, instead of the
            dataset's kinematics; ``kinematics_columns``: its candidate angle columns.
        kinematics_chain, use_recorded_derivatives: as the NMM prepared the kinematics.
        default_lever_arm_m: lever arm of a trial whose load has none (m), unless its subject
            has its own in ``subject_lever_arm_m`` (its own model's grip,
            :func:`~nmm.opensim.elbow_twin.grip_lever_arms`).
        kinds, coordinate, locked, id_locked, torch_tolerance, max_figures, muscle_model: see
            :func:`prediction_trials` and :func:`run_validation`.
    """
    specs, skipped = prediction_trials(
        predictions_dir,
        cohort,
        osim=osim,
        id_osim=id_osim,
        kinematics=kinematics,
        kinematics_columns=kinematics_columns,
        kinematics_chain=kinematics_chain,
        use_recorded_derivatives=use_recorded_derivatives,
        default_lever_arm_m=default_lever_arm_m,
        kinds=kinds,
        subject_lever_arm_m=subject_lever_arm_m,
    )
    return run_validation(
        specs,
        out_dir,
        coordinate=coordinate,
        locked=locked,
        id_locked=id_locked,
        data_coordinate=next(iter(cohort)).coordinate if len(cohort) else "elbow_flexion",
        torch_tolerance=torch_tolerance,
        max_figures=max_figures,
        muscle_model=muscle_model,
        extra={
            "mode": "predictions",
            "predictions": str(predictions_dir),
            "cohort": cohort.name,
            "skipped": skipped,
        },
    )


def validate_files(
    osim: str | os.PathLike[str],
    activations: str | os.PathLike[str],
    kinematics: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    load_kg: float = 0.0,
    lever_arm_m: float = 0.3,
    id_osim: str | os.PathLike[str] | None = None,
    kinematics_columns: Sequence[str] = DEFAULT_KINEMATICS_COLUMNS,
    data_coordinate: str = "elbow_flexion",
    kinematics_chain: Callable[[Signal], Signal] | None = None,
    coordinate: str = DEFAULT_COORDINATE,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
    id_locked: Mapping[str, float] | None = None,
    torch_tolerance: float = DEFAULT_TORCH_TOLERANCE,
    max_figures: int | None = None,
    muscle_model: str = DEFAULT_MUSCLE_MODEL,
) -> dict[str, Any]:
    """Validate a user's ``.osim`` with their activations and kinematics (:func:`file_trials`);
    writes into ``out_dir`` and returns the metrics (see :func:`run_validation`)."""
    specs = file_trials(
        osim,
        activations,
        kinematics,
        load_kg=load_kg,
        lever_arm_m=lever_arm_m,
        id_osim=id_osim,
        kinematics_columns=kinematics_columns,
        coordinate=data_coordinate,
        kinematics_chain=kinematics_chain,
    )
    return run_validation(
        specs,
        out_dir,
        coordinate=coordinate,
        locked=locked,
        id_locked=id_locked,
        data_coordinate=data_coordinate,
        torch_tolerance=torch_tolerance,
        max_figures=max_figures,
        muscle_model=muscle_model,
        extra={
            "mode": "files",
            "osim": str(osim),
            "activations": str(activations),
            "kinematics_input": str(kinematics),
        },
    )
