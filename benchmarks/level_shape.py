"""Level or shape: how much of a method's hidden-muscle error one scale per subject removes.

From a finished ``nmm-compare`` run and the cohort it ran on, the signals its compare stage
scored (:mod:`nmm.compare.scores`) are read back the way it reads them: each method's
reconstructions (:func:`nmm.model.reconstruct.read_outputs` of the NMM's and SynX's
``predictions``; the trials of ``evaluate.kinds`` that both reconstructed and the truth holds),
the hidden muscle's ``evaluate.hidden_signal`` against the truth's reference envelope
(:func:`nmm.model.evaluate.read_truth_excitation`), the copy-synergist baseline by the scorer's
own function (``nmm.model.evaluate.copy_synergist_baseline``: the mean of the synergists' recorded
envelopes, which the NMM's ``_envelopes.sto`` holds for the measured muscles), each pooled
per (subject, load) cell in trial order as :func:`nmm.model.evaluate.cell_scores` pools it.

Per hidden muscle and method (``nmm``, ``synx``, ``copy``), over that muscle's cells (u: the
truth, p: the reconstruction, excitation units 0-1):

- ``rmse``: the mean over cells of each cell's RMSE, as the scorer computes it and as
  ``bench_generalise.muscle_scores`` averages it (:func:`check_against_cells` refuses a run
  whose ``cells.csv`` says otherwise);
- ``rmse_subject_scaled``: the same after each subject's reconstruction is multiplied by its
  own least-squares factor ``k_s = Σ p u / Σ p²`` over all its scored samples (every load):
  the error left when each subject's level is free, i.e. the shape error;
- ``level_share``: ``1 - SSE_scaled / SSE``, squared errors summed over every scored sample of
  the muscle: the share of the squared error that one scale per subject removes (0: all shape,
  1: all level). Each ``k_s`` minimises its subject's SSE, so the share lies in [0, 1];
- ``subject_factors`` (``{subject: k_s}``; ``k_s < 1``: the reconstruction lies above the
  truth, by ``1 / k_s``) and ``median_abs_log_factor``, the median over subjects of
  ``|ln k_s|`` (0.18: a typical subject's level off by a factor 1.2).
- ``rmse_cell_scaled`` and ``cell_level_share``: the same with one factor per (subject, load)
  cell instead (each cell's own least-squares scale): the error no level correction, however
  fine, can remove; the gap to ``rmse_subject_scaled`` is a level that changes with the load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nmm.compare.scores import predictions_dir
from nmm.data.io.sto import read_sto
from nmm.data.io.textfile import load_yaml
from nmm.metrics import rmse
from nmm.model.evaluate import (
    EvaluationSettings,
    copy_synergist_baseline,
    read_truth_excitation,
)
from nmm.model.reconstruct import Reconstruction, read_outputs
from nmm.synth.ground_truth import read_cohort_truth

METHODS = ("nmm", "synx", "copy")
# relative tolerance between the RMSE of a cell recomputed here and the one in cells.csv (the
# truth's filter is designed at the rate read back from the files' time grid, not the trial's)
CELLS_RTOL = 1e-6


@dataclass(frozen=True)
class ScoredCell:
    """One (subject, load, hidden muscle) cell of one method: ``pred`` and ``true``, ``(N,)``
    excitation (0-1) over the cell's scored samples, its trials concatenated in order."""

    method: str
    subject: str
    load_kg: float
    muscle: str
    pred: np.ndarray
    true: np.ndarray


@dataclass(frozen=True)
class FileTrial:
    """The fields of a :class:`nmm.model.features.PreparedTrial` that the scorer reads,
    from the run's files: ids and load (kg) from the truth's ``cohort.json``, the time grid
    (s, ``(T,)``) and its rate (Hz) and the recorded envelopes (``(T, M)``, measured muscles
    only meaningful) from the NMM's ``_envelopes.sto``."""

    subject: str
    trial_id: str
    session: str
    load_kg: float
    time: np.ndarray
    rate: float
    measured: np.ndarray
    recorded_envelopes: np.ndarray

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subject, self.session, self.trial_id)


def _file_trials(
    nmm_predictions: Path, truth: Mapping[str, Any], opt: EvaluationSettings
) -> list[FileTrial]:
    """The truth's trials of ``opt.kinds`` that the NMM reconstructed, in the truth's order."""
    out = []
    for t in truth["trials"]:
        if opt.kinds is not None and t.get("kind", "movement") not in opt.kinds:
            continue
        path = nmm_predictions / "envelopes" / t["subject"] / f"{t['session']}_{t['trial_id']}"
        path = path.with_name(path.name + "_envelopes.sto")
        if not path.is_file():
            continue
        table = read_sto(path)
        muscles = [c for c in table.columns if c != "time"]
        time = np.asarray(table.time, dtype=float)
        out.append(
            FileTrial(
                subject=t["subject"],
                trial_id=t["trial_id"],
                session=t["session"],
                load_kg=float(t["load_kg"]),
                time=time,
                rate=1.0 / float(np.median(np.diff(time))),
                measured=np.array([m not in opt.hidden for m in muscles]),
                recorded_envelopes=np.column_stack([table.column(m) for m in muscles]),
            )
        )
    return out


def _cells_of(
    recs: Sequence[Reconstruction],
    truths: Sequence[np.ndarray],
    opt: EvaluationSettings,
    method: str,
) -> list[ScoredCell]:
    """The method's cells (``copy``: the NMM's trials' copy-synergist baseline)."""
    groups: dict[tuple[str, float], list[int]] = {}
    for k, rec in enumerate(recs):
        groups.setdefault((rec.trial.subject, rec.trial.load_kg), []).append(k)
    cells = []
    for (subject, load), ks in sorted(groups.items()):
        for m in opt.hidden:
            j = list(recs[ks[0]].muscles).index(m)
            if method == "copy":
                parts = [
                    copy_synergist_baseline(recs[k].trial, recs[k].muscles, opt.baseline, m)
                    for k in ks
                ]
                if any(p is None for p in parts):
                    continue
            else:
                parts = [getattr(recs[k], opt.hidden_signal)[:, j] for k in ks]
            true = np.concatenate([truths[k][:, j] for k in ks])
            cells.append(ScoredCell(method, subject, load, m, np.concatenate(parts), true))
    return cells


@dataclass(frozen=True)
class RunFiles:
    """Where a finished ``nmm-compare`` run's scored inputs lie: the NMM's and SynX's
    ``predictions`` folders, the truth folder, and its evaluation settings."""

    nmm_predictions: Path
    synx_predictions: Path
    truth_dir: Path
    settings: EvaluationSettings

    @classmethod
    def of_run(cls, run_dir: Path, cohort_root: Path, hidden: Sequence[str]) -> RunFiles:
        """From the run's ``config.yaml`` and ``metrics.json`` (its stages' folders); the
        truth is ``evaluate.truth_dir`` if set, else the cohort's ``ground_truth/``."""
        config = load_yaml(run_dir / "config.yaml", final_newline=True)
        evaluate = config.get("evaluate") or {}
        stages = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["stages"]
        protocol = str((config.get("compare") or {}).get("protocol", "per_subject"))
        return cls(
            nmm_predictions=predictions_dir(run_dir / stages["nmm"]["path"], protocol),
            synx_predictions=run_dir / stages["mse"]["path"] / "predictions",
            truth_dir=Path(evaluate.get("truth_dir") or cohort_root / "ground_truth"),
            settings=EvaluationSettings.from_mapping(evaluate, hidden),
        )


def scored_cells(files: RunFiles) -> list[ScoredCell]:
    """Every method's cells of a finished run (module doc)."""
    opt = files.settings
    trials = _file_trials(files.nmm_predictions, read_cohort_truth(files.truth_dir), opt)
    recs = {
        "nmm": read_outputs(files.nmm_predictions, trials),
        "synx": read_outputs(files.synx_predictions, trials),
    }
    both = {r.trial.key for r in recs["nmm"]} & {r.trial.key for r in recs["synx"]}
    recs = {m: [r for r in rs if r.trial.key in both] for m, rs in recs.items()}
    if not recs["nmm"]:
        raise ValueError(f"{files.nmm_predictions}: no scored trial reconstructed by both methods")
    muscles = recs["nmm"][0].muscles
    cutoff = opt.reference_cutoff_hz
    truths = [read_truth_excitation(files.truth_dir, r.trial, muscles, cutoff) for r in recs["nmm"]]
    keep = [k for k, t in enumerate(truths) if t is not None]
    recs = {m: [rs[k] for k in keep] for m, rs in recs.items()}
    truths = [truths[k] for k in keep]
    cells = _cells_of(recs["nmm"], truths, opt, "nmm") + _cells_of(recs["nmm"], truths, opt, "copy")
    return cells + _cells_of(recs["synx"], truths, opt, "synx")


def check_against_cells(cells: Sequence[ScoredCell], rows: Sequence[Mapping[str, Any]]) -> None:
    """Refuse cells whose RMSE is not the compare stage's (``rows``: its ``cells.csv``, the
    copy-synergist's as the NMM rows' ``baseline_rmse``), to :data:`CELLS_RTOL`.

    Raises:
        ValueError: naming the first cell that differs or that ``rows`` lacks.
    """
    column = {"nmm": ("nmm", "rmse"), "synx": ("mse", "rmse"), "copy": ("nmm", "baseline_rmse")}
    scored = {(r["method"], r["subject"], float(r["load_kg"]), r["muscle"]): r for r in rows}
    for c in cells:
        method, key = column[c.method]
        row = scored.get((method, c.subject, c.load_kg, c.muscle))
        mine = rmse(c.pred, c.true)
        if row is None or not np.isclose(mine, float(row[key]), rtol=CELLS_RTOL, atol=0.0):
            found = None if row is None else row[key]
            raise ValueError(
                f"{c.method} {c.subject} {c.load_kg} kg {c.muscle}: RMSE {mine} recomputed from "
                f"the run's files, cells.csv has {found}"
            )


def level_shape(cells: Sequence[ScoredCell]) -> dict[str, Any]:
    """The record of one method and muscle's cells (module doc): ``n_cells``, ``rmse``,
    ``rmse_subject_scaled``, ``level_share``, ``subject_factors``, ``median_abs_log_factor``,
    ``rmse_cell_scaled``, ``cell_level_share``."""
    subjects = sorted({c.subject for c in cells})
    factors = {}
    for s in subjects:
        p = np.concatenate([c.pred for c in cells if c.subject == s])
        u = np.concatenate([c.true for c in cells if c.subject == s])
        factors[s] = _least_squares_scale(p, u)
    by_subject = [factors[c.subject] for c in cells]
    by_cell = [_least_squares_scale(c.pred, c.true) for c in cells]
    sse = sum(float(np.sum((c.pred - c.true) ** 2)) for c in cells)
    return {
        "n_cells": len(cells),
        "rmse": float(np.mean([rmse(c.pred, c.true) for c in cells])),
        "rmse_subject_scaled": _scaled_rmse(cells, by_subject),
        "level_share": _level_share(cells, by_subject, sse),
        "subject_factors": factors,
        "median_abs_log_factor": float(np.median([abs(np.log(k)) for k in factors.values()])),
        "rmse_cell_scaled": _scaled_rmse(cells, by_cell),
        "cell_level_share": _level_share(cells, by_cell, sse),
    }


def _least_squares_scale(pred: np.ndarray, true: np.ndarray) -> float:
    """k minimising ||k · pred - true||² over ``(N,)`` samples: Σ pred·true / Σ pred²."""
    return float(np.dot(pred, true) / np.dot(pred, pred))


def _scaled_rmse(cells: Sequence[ScoredCell], scales: Sequence[float]) -> float:
    """Mean over cells of the RMSE of each cell's reconstruction times its scale."""
    return float(np.mean([rmse(k * c.pred, c.true) for c, k in zip(cells, scales, strict=True)]))


def _level_share(cells: Sequence[ScoredCell], scales: Sequence[float], sse: float) -> float | None:
    """``1 - SSE_scaled / sse`` over every sample of ``cells`` (None: no error to share)."""
    scaled = sum(
        float(np.sum((k * c.pred - c.true) ** 2)) for c, k in zip(cells, scales, strict=True)
    )
    return 1.0 - scaled / sse if sse > 0 else None


def run_level_shape(
    run_dir: Path, cohort_root: Path, hidden: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """``{muscle: {method: record}}`` of a finished run (:func:`level_shape` of each),
    checked against its ``cells.csv`` ``rows`` (:func:`check_against_cells`); ``{"not_scored":
    why}`` when the run kept no predictions of one of the methods to read back."""
    files = RunFiles.of_run(run_dir, cohort_root, hidden)
    folders = {"nmm": files.nmm_predictions, "synx": files.synx_predictions}
    missing = [m for m, f in folders.items() if not (f / "envelopes").is_dir()]
    if missing:
        return {"not_scored": f"the run kept no {missing} predictions to read back"}
    cells = scored_cells(files)
    check_against_cells(cells, rows)
    return {
        m: {
            method: level_shape([c for c in cells if c.muscle == m and c.method == method])
            for method in METHODS
            if any(c.muscle == m and c.method == method for c in cells)
        }
        for m in hidden
    }
