"""``nmm-predict`` (``conf/predict.yaml``): reconstruct trials with a trained NMM.

1. The training run is read back: its ``config.yaml`` (physics, preprocessing, model, channel
   map) and ``model.ckpt`` (network and the training subjects' parameters).
2. The data (``data=...``) are prepared as in training (:func:`nmm.model.train.prepare_cohort`).
3. Each subject the model has parameters for keeps them (unless ``repersonalise``), with its
   own network where the run specialised one (``subjects/<subject>.ckpt``, unless a
   ``checkpoint`` is given); every other
   subject is personalised with the network frozen, from its measured channels, kinematics and
   torque only (:func:`nmm.model.personalise.personalise`), then, with
   ``personalise.adapt``, a copy of the network is adapted to them on the same data
   (:func:`nmm.model.adapt.adapt`, within ``budget.adapt``) and reconstructs their trials.
4. Every trial is reconstructed and written (:func:`nmm.model.reconstruct.write_outputs`):
   every muscle's envelope as ``.sto``, the personalised ``.osim`` per subject (from its own
   model where it has one), figures; and
   ``metrics.json`` with the torque fit per trial (RMSE, R² against the trial's torque: the
   recorded elbow moment of a real trial), the envelopes' range and how channels were mapped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from nmm.jobs.check_data import check_before_work
from nmm.jobs.config_check import check_cohort_rates
from nmm.jobs.nmm_setup import budget, build_elbows, plain, prepared_trials, training_setup
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from nmm.jobs.trained import load_trained
from nmm.metrics import pearson_r, r2_score, rmse
from nmm.model.adapt import personalise_and_adapt
from nmm.model.evaluate import read_truth_excitation
from nmm.model.features import PreparedTrial
from nmm.model.physics import PersonalisedElbow
from nmm.model.reconstruct import Reconstruction, reconstruct, write_outputs
from nmm.model.settings import PersonaliseSettings
from nmm.model.train import NMMBundle, set_threads

__all__ = ["run_predict"]

#: Personalisation steps of a new subject when ``personalise`` names none.
PERSONALISE_STEPS = 200
#: Per subject: its personalised elbow and the row of it that is the subject's.
PhysicsFor = dict[str, tuple[PersonalisedElbow, int]]


def _subject_models(
    cfg: DictConfig,
    train_cfg: DictConfig,
    b: NMMBundle,
    trials: Sequence[PreparedTrial],
    new: Sequence[PreparedTrial],
    run_dir: Path,
) -> tuple[PhysicsFor, dict[str, torch.nn.Module], dict[str, Any] | None]:
    """Step 3 of the module doc: each subject's physics row and, where it has one, its own
    network (adapted here, or specialised by the training run); and the personalisation's info
    (None when no subject is new)."""
    physics_for: PhysicsFor = {}
    net_for: dict[str, torch.nn.Module] = {}  # adapted or specialised networks
    pinfo = None
    if new:
        adapted, physics, ids, pinfo = personalise_and_adapt(
            training_setup(train_cfg),  # the trained model's optimizer, batches and seed
            b,
            new,
            PersonaliseSettings.from_mapping(plain(cfg.get("personalise")), PERSONALISE_STEPS),
            int(cfg.seed),
            run_dir / "adapt",
            budget(cfg, "adapt"),
        )
        net_for.update({s: adapted.module.net for s in ids})
        for i, s in enumerate(ids):
            physics_for[s] = (physics, i)
    for s in b.module.subject_ids:
        own = Path(cfg.model_dir) / "subjects" / f"{s}.ckpt"
        if s in physics_for or cfg.get("checkpoint") or not own.is_file():
            continue  # an explicit checkpoint stands for the whole run
        if any(t.subject == s for t in trials):
            _, sb = load_trained(cfg.model_dir, own)
            net_for[s] = sb.module.net
            physics_for[s] = (sb.module.physics, 0)
    for i, s in enumerate(b.module.subject_ids):
        physics_for.setdefault(s, (b.module.physics, i))
    return physics_for, net_for, pinfo


def _write(
    cfg: DictConfig,
    train_cfg: DictConfig,
    recs: Sequence[Reconstruction],
    physics_for: PhysicsFor,
    truths: Mapping[str, np.ndarray | None],
    run_dir: Path,
) -> dict[str, list[Any]]:
    """Step 4's files, one :func:`write_outputs` per personalised elbow (its subjects' rows)."""
    written: dict[str, list[Any]] = {"sto": [], "osim": [], "figures": []}
    groups: dict[int, tuple[PersonalisedElbow, dict[str, int]]] = {}
    subjects = {r.trial.subject for r in recs}
    for s, (phys, row) in physics_for.items():
        if s in subjects:
            groups.setdefault(id(phys), (phys, {}))[1][s] = row
    for phys, rows in groups.values():
        w = write_outputs(
            [r for r in recs if r.trial.subject in rows],
            run_dir,
            physics=phys,
            subject_rows=rows,
            osim=train_cfg.physics.osim,
            truth={k: v for k, v in truths.items() if v is not None},
            hidden=list(train_cfg.physics.hidden),
            max_figures=int(cfg.get("max_figures", 12)),
        )
        for name in written:
            written[name] += w[name]
    return written


def _trial_row(
    r: Reconstruction, truth: np.ndarray | None, hidden: Sequence[str], personalised: bool
) -> dict[str, Any]:
    """``metrics.json``'s row of a trial: torque fit (N·m, R², r), envelope range (1), channel
    map, and the hidden muscles' RMSE and r against the truth ``(T, M)`` where there is one."""
    tr = r.trial
    row: dict[str, Any] = {
        "subject": tr.subject,
        "trial": tr.trial_id,
        "load_kg": tr.load_kg,
        "n_samples": tr.n_samples,
        "span_s": [float(tr.time[0]), float(tr.time[-1])],
        "torque_source": tr.torque_source,
        "torque_rmse_nm": rmse(r.torque, tr.torque),
        "torque_r2": r2_score(r.torque, tr.torque),
        "torque_pearson_r": pearson_r(r.torque, tr.torque),
        "torque_range_nm": [float(tr.torque.min()), float(tr.torque.max())],
        "envelope_min": float(r.envelopes.min()),
        "envelope_max": float(r.envelopes.max()),
        "envelope_peak": dict(zip(r.muscles, r.envelopes.max(axis=0).tolist(), strict=True)),
        "envelope_normalisation": tr.metadata.get("envelope_normalisation"),
        "channel_map": tr.metadata.get("channel_map"),
        "personalised_here": personalised,
    }
    if truth is not None:
        for m in hidden:
            j = list(r.muscles).index(m)
            row[f"{m}_rmse"] = rmse(r.envelopes[:, j], truth[:, j])
            row[f"{m}_pearson_r"] = pearson_r(r.envelopes[:, j], truth[:, j])
    return row


def run_predict(cfg: DictConfig) -> dict[str, Any]:
    """``nmm-predict``: see the module doc. Returns the metrics written to ``metrics.json``."""
    t0 = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = seed_everything(int(cfg.seed))
    set_threads(cfg.get("threads"))
    write_config(cfg, run_dir)
    train_cfg, b = load_trained(cfg.model_dir, cfg.get("checkpoint"))
    if cfg.get("use_measured") is not None:
        b.use_measured = bool(cfg.use_measured)
    cohort = instantiate(cfg.data)
    check_before_work(train_cfg, cohort)  # the data checks with the training run's chain
    check_cohort_rates(train_cfg, cohort)  # the training run's filters on this data's rates
    # each subject's elbow: the trained subjects' and this cohort's own models
    b.module.physics.add_elbows(build_elbows(train_cfg, cohort))
    # prepared as in training, every trial (no trial-kind filter at prediction time)
    trials = prepared_trials(train_cfg, cohort, b.module.physics.elbows, every_kind=True)
    known = set(b.module.subject_ids)
    new = [t for t in trials if cfg.get("repersonalise") or t.subject not in known]
    physics_for, net_for, pinfo = _subject_models(cfg, train_cfg, b, trials, new, run_dir)
    recs = [
        reconstruct(
            net_for.get(t.subject, b.module.net),
            physics_for[t.subject][0],
            physics_for[t.subject][1],
            t,
            b.spec,
            b.window,
            b.stride,
            use_measured=b.use_measured,
            causal_hop=b.causal_hop,
        )
        for t in trials
    ]
    truth_dir = cfg.get("truth_dir")
    cutoff = (train_cfg.get("evaluate") or {}).get("reference_cutoff_hz", 6.0)
    truths = (
        {t.key: read_truth_excitation(truth_dir, t, b.muscles, cutoff) for t in trials}
        if truth_dir
        else {}
    )
    written = _write(cfg, train_cfg, recs, physics_for, truths, run_dir)
    personalised = {t.subject for t in new}
    hidden = list(train_cfg.physics.hidden)
    per_trial = [
        _trial_row(r, truths.get(r.trial.key), hidden, r.trial.subject in personalised)
        for r in recs
    ]
    bounded = all(x["envelope_min"] >= 0.0 and x["envelope_max"] <= 1.0 for x in per_trial)
    metrics = {
        "seed": seed,
        "model_dir": str(cfg.model_dir),
        "causal": b.causal_hop is not None,  # reconstructed as a stream does (nmm.model.causal)
        "cohort": cohort.name,
        "trials": per_trial,
        "envelopes_bounded_0_1": bounded,
        "torque_r2_mean": float(np.mean([x["torque_r2"] for x in per_trial])),
        "personalisation": pinfo,
        "files": {k: len(v) for k, v in written.items()},
        "wall_s": time.perf_counter() - t0,
    }
    write_metrics(metrics, run_dir)
    return metrics
