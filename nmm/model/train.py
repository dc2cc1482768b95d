"""Building the NMM from the config and fitting it: the pieces of nmm-train (conf/train.yaml).

Pieces, each usable alone (the evaluation's protocols and ``nmm-predict`` reuse them):

- :func:`load_cohort` the cohort (a ``data`` option, or the synthetic default cohort) and the
  folder of its ground truth when it has one;
- :func:`build_elbow`, :func:`feature_spec`, :func:`prepare_cohort` physics and arrays;
- :func:`build_module`, :func:`build_datamodule`, :func:`build_trainer` the Lightning parts, from
  ``model``, ``datamodule``, ``trainer``, ``callbacks`` and ``logger`` (Hydra ``_target_``);
- :func:`fit` one training run; :func:`nmm.jobs.train.run_train` the whole job (fit, save,
  evaluate, metrics).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.pytorch import Trainer
from lightning.pytorch import seed_everything as seed_lightning
from omegaconf import DictConfig, OmegaConf

from nmm.config import compose_config
from nmm.data.io.dataset import read_dataset
from nmm.data.schema import Cohort
from nmm.model.budget import ConvergenceStop, TrainingBudget, stage_budget
from nmm.model.datamodule import NMMDataModule
from nmm.model.features import (
    MVIC_KIND,
    ChannelMap,
    FeatureSpec,
    PreparedTrial,
    body_masses,
    prepare_trial,
    samples,
    subject_peak_reference,
)
from nmm.model.loss import LOSS_TERMS
from nmm.model.module import NMMModule
from nmm.model.physics import PersonalisedElbow
from nmm.opensim.torch_elbow import elbow_from_config
from nmm.physics.elbow import ArmParameters, ElbowModel, inverse_dynamics_torque
from nmm.synth import ensure_default_cohort

__all__ = [
    "NMMBundle",
    "budget",
    "build_datamodule",
    "build_elbow",
    "build_module",
    "build_trainer",
    "channel_map",
    "feature_spec",
    "fit",
    "load_cohort",
    "prepare_cohort",
    "selected_subjects",
    "train_to_budget",
]

log = logging.getLogger(__name__)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


# ----------------------------------------------------------------------------- data


def load_cohort(cfg: DictConfig) -> tuple[Cohort, Path | None]:
    """The cohort to train on, and its ground-truth folder (None for recorded data).

    With a ``data`` option (``data=folder data.path=...``, ``data=pyomeca``) that source;
    otherwise the synthetic cohort of ``cfg.synthetic`` (``conf/synth.yaml`` composed with
    ``synthetic.overrides``, generated once and cached by
    :func:`nmm.synth.ensure_default_cohort`; ``synthetic.root`` names a folder holding
    ``dataset/`` and ``ground_truth/`` to use as it is).
    """

    data = cfg.get("data")
    truth = cfg.get("evaluate", {}).get("truth_dir") if cfg.get("evaluate") else None
    if data is not None and data.get("_target_"):
        cohort = instantiate(data)
        return cohort, Path(truth) if truth else None
    syn = cfg.synthetic
    if syn.get("root") and (Path(syn.root) / "dataset" / "manifest.yaml").is_file():
        root = Path(syn.root)
    else:
        synth_cfg = compose_config(str(syn.config), list(syn.overrides or []))
        root = ensure_default_cohort(synth_cfg, root=syn.get("root"))
    cohort = read_dataset(root / "dataset")
    gt = root / "ground_truth"
    return cohort, Path(truth) if truth else (gt if gt.is_dir() else None)


def build_elbow(cfg: DictConfig) -> ElbowModel:
    """The torch elbow of ``cfg.physics`` (geometry sampled once with OpenSim, then cached)."""
    cache = cfg.get("geometry_cache")
    return elbow_from_config(cfg.physics, cache_dir=str(cache) if cache else None)


def channel_map(cfg: DictConfig) -> ChannelMap:
    """Recorded channels -> model muscles (``physics.muscles``, ``physics.hidden``,
    ``model.channel_map``)."""
    return ChannelMap.from_config(
        list(cfg.physics.muscles), list(cfg.physics.hidden), _plain(cfg.model.get("channel_map"))
    )


def feature_spec(cfg: DictConfig) -> FeatureSpec:
    """Network inputs of ``model.inputs`` with ``model.input_scales``."""
    cmap = channel_map(cfg)
    return FeatureSpec(
        tuple(cfg.model.inputs), cmap.inputs, dict(_plain(cfg.model.input_scales) or {})
    )


def _torch_inverse_dynamics(arm: ArmParameters):
    def f(angle, velocity, acceleration, load_kg, lever_m):  # numpy in, numpy out
        th = torch.as_tensor(angle, dtype=torch.float64)
        with torch.no_grad():
            tau = inverse_dynamics_torque(
                th,
                torch.as_tensor(velocity, dtype=torch.float64),
                torch.as_tensor(acceleration, dtype=torch.float64),
                arm,
                load_kg,
                lever_m,
            )
        return tau.numpy()

    return f


def prepare_cohort(
    cohort: Cohort, cfg: DictConfig, elbow: ElbowModel | None = None
) -> list[PreparedTrial]:
    """Every trial of ``cohort`` prepared (:func:`nmm.model.features.prepare_trial`).

    Trials whose kind is not in ``datamodule.kinds`` (when set) are left out; angles beyond
    the geometry's fitted range are an error (:meth:`MuscleGeometry.check_range`). A subject
    without an MVIC reference has its envelopes divided by its peak over all its trials
    (:func:`nmm.model.features.subject_peak_reference`), the same for every trial.
    """
    cmap = channel_map(cfg)
    emg_chain = instantiate(cfg.preprocess.emg)
    kin_chain = instantiate(cfg.preprocess.kinematics)
    arm = ArmParameters.from_mapping(cfg.physics)
    kinds = cfg.datamodule.get("kinds")
    lever = float(cfg.physics.get("load", {}).get("lever_arm_m", 0.3))
    out = []
    peaks: dict[str, dict[str, float]] = {}
    for t in cohort:
        mvic = cohort.subjects[t.subject].mvic or None
        if t.subject not in peaks:  # only subjects without an MVIC reference need it
            mine = [x for x in cohort if x.subject == t.subject]
            peaks[t.subject] = {} if mvic else subject_peak_reference(mine, emg_chain)
        p = prepare_trial(
            t,
            cmap,
            float(cfg.preprocess.resample_hz),
            emg_chain=emg_chain,
            kinematics_chain=kin_chain,
            mvic=mvic,
            peak_reference=peaks[t.subject],
            use_recorded_derivatives=bool(cfg.model.get("use_recorded_derivatives", True)),
            default_lever_arm_m=lever,
            inverse_dynamics=_torch_inverse_dynamics(arm),
        )
        if kinds is not None and p.kind not in set(kinds):
            continue
        p.metadata["body_mass_kg"] = cohort.subjects[t.subject].body_mass_kg
        if elbow is not None:
            elbow.geometry.check_range(torch.tensor(p.angle))
        out.append(p)
    if not out:
        raise ValueError(f"no trials left to train on (datamodule.kinds = {kinds})")
    return out


# ----------------------------------------------------------------------------- components


@dataclass
class NMMBundle:
    """What a trained NMM is made of, for prediction and evaluation.

    Attributes: the LightningModule, the feature spec, the model muscles, hidden muscle indices,
    window and stride (samples), the sample interval (s), and whether reconstruction drives the
    physics with the recorded envelopes of the measured muscles (``model.use_measured``).
    """

    module: NMMModule
    spec: FeatureSpec
    muscles: tuple[str, ...]
    hidden: tuple[int, ...]
    window: int
    stride: int
    dt: float
    use_measured: bool = True


def build_module(
    cfg: DictConfig,
    elbow: ElbowModel,
    subject_ids: Sequence[str],
    *,
    body_mass_kg: Sequence[float | None] | None = None,
    freeze_network: bool = False,
) -> NMMModule:
    """The LightningModule of ``cfg.model`` for the given subjects (parameter rows), their
    strength priors centred on the strength expected from ``body_mass_kg`` (one per subject,
    kg, None: unknown; ``physics.strength_from_body_mass``)."""
    spec = feature_spec(cfg)
    muscles = list(elbow.muscle_names)
    rate = float(cfg.preprocess.resample_hz)
    physics = PersonalisedElbow.from_config(cfg, elbow, len(subject_ids), body_mass_kg)
    net = instantiate(cfg.model.net, n_inputs=spec.n_features, n_outputs=len(muscles))
    hidden = [muscles.index(m) for m in cfg.physics.hidden]
    synergists = {
        muscles.index(h): [muscles.index(m) for m in group]
        for h, group in (_plain(cfg.model.get("synergists")) or {}).items()
        if h in muscles
    }
    loss = instantiate(
        cfg.model.loss,
        hidden=hidden,
        synergists=synergists,
        burn_in=samples(float(cfg.model.get("burn_in_s", 0.0)), rate)
        if cfg.model.get("burn_in_s")
        else 0,
        _convert_="all",
    )
    optimizer = instantiate(cfg.model.optimizer)
    sched = cfg.model.get("scheduler")
    scheduler = instantiate(sched) if sched and sched.get("_target_") else None
    metadata = {
        "muscles": muscles,
        "hidden": list(cfg.physics.hidden),
        "inputs": spec.names,
        "rate_hz": rate,
    }
    return NMMModule(
        net,
        physics,
        loss,
        optimizer,
        list(subject_ids),
        parameter_lr=cfg.model.get("parameter_lr"),
        scheduler=scheduler,
        freeze_network=freeze_network,
        use_measured=bool(cfg.model.get("use_measured", True)),
        metadata=metadata,
    )


def bundle(cfg: DictConfig, module: NMMModule) -> NMMBundle:
    """An :class:`NMMBundle` of a module built by :func:`build_module` from ``cfg``."""
    rate = float(cfg.preprocess.resample_hz)
    muscles = tuple(module.physics.muscle_names)
    return NMMBundle(
        module=module,
        spec=feature_spec(cfg),
        muscles=muscles,
        hidden=tuple(muscles.index(m) for m in cfg.physics.hidden),
        window=samples(float(cfg.model.window_s), rate),
        stride=samples(float(cfg.model.stride_s), rate),
        dt=1.0 / rate,
        use_measured=bool(cfg.model.get("use_measured", True)),
    )


def build_datamodule(
    cfg: DictConfig,
    trials: Sequence[PreparedTrial],
    subject_ids: Sequence[str],
    train_subjects: Sequence[str] | None = None,
    val_subjects: Sequence[str] | None = None,
) -> NMMDataModule:
    """Windows of ``trials`` (``model.window_s``/``stride_s``, ``datamodule.*``)."""
    rate = float(cfg.preprocess.resample_hz)
    dm = cfg.datamodule
    return NMMDataModule(
        trials,
        feature_spec(cfg),
        list(cfg.physics.muscles),
        subject_ids,
        train_subjects=train_subjects,
        val_subjects=val_subjects,
        window=samples(float(cfg.model.window_s), rate),
        stride=samples(float(cfg.model.stride_s), rate),
        batch_size=int(dm.batch_size),
        num_workers=int(dm.get("num_workers", 0)),
        seed=int(cfg.seed),
        kinds=dm.get("kinds"),
    )


def _loggers(cfg: DictConfig, run_dir: Path) -> list[Any]:
    out = []
    for name, node in (cfg.get("logger") or {}).items():
        if node is None or not node.get("_target_"):
            continue
        if "TensorBoard" in str(node._target_):
            try:
                import tensorboard  # noqa: F401
            except ImportError:
                try:
                    import tensorboardX  # noqa: F401
                except ImportError:
                    log.info(
                        "logger %s skipped: neither tensorboard nor tensorboardX installed", name
                    )
                    continue
        out.append(instantiate(node, save_dir=str(run_dir)))
    return out


def build_trainer(
    cfg: DictConfig,
    run_dir: str | os.PathLike[str],
    *,
    callbacks: bool = True,
    loggers: bool = True,
    extra_callbacks: Sequence[Any] = (),
    **overrides: Any,
) -> Trainer:
    """The Lightning Trainer of ``cfg.trainer`` with ``cfg.callbacks`` and ``cfg.logger``.

    Checkpoints go to ``<run_dir>/checkpoints``, logs under ``<run_dir>`` (Hydra with
    ``version_base="1.3"`` does not change directory, so nothing is written to the cwd).
    ``extra_callbacks`` are added to the configured ones (e.g. the training budget's).
    """
    run_dir = Path(run_dir)
    cbs = []
    if callbacks:
        for node in (cfg.get("callbacks") or {}).values():
            if node is None or not node.get("_target_"):
                continue
            if "ModelCheckpoint" in str(node._target_):
                cbs.append(instantiate(node, dirpath=str(run_dir / "checkpoints")))
            else:
                cbs.append(instantiate(node))
    logger_list = _loggers(cfg, run_dir) if loggers else []
    if not logger_list:  # a learning-rate monitor needs a logger
        cbs = [c for c in cbs if type(c).__name__ != "LearningRateMonitor"]
    cbs.extend(extra_callbacks)
    kwargs: dict[str, Any] = {
        "default_root_dir": str(run_dir),
        "callbacks": cbs,
        "logger": logger_list if logger_list else False,
        "enable_checkpointing": any("ModelCheckpoint" in type(c).__name__ for c in cbs),
    }
    kwargs.update(overrides)
    return instantiate(cfg.trainer, **kwargs)


# ----------------------------------------------------------------------------- fitting


def budget(cfg: DictConfig, stage: str) -> TrainingBudget:
    """The training budget of ``stage`` (``fit``, ``specialise``, ``adapt``) of ``cfg.budget``
    (``conf/budget/default.yaml``, :mod:`nmm.model.budget`)."""
    node = cfg.get("budget")
    if node is None:
        raise ValueError("budget: missing from the config (conf/budget/default.yaml)")
    return stage_budget(_plain(node), stage)


def train_to_budget(
    cfg: DictConfig,
    module: NMMModule,
    datamodule: NMMDataModule,
    limits: TrainingBudget,
    run_dir: str | os.PathLike[str],
    *,
    ckpt_path: str | None = None,
    **trainer_kwargs: Any,
) -> tuple[Trainer, dict[str, Any]]:
    """Fit ``module`` until ``limits`` stop it (:class:`~nmm.model.budget.ConvergenceStop`).

    The trainer is :func:`build_trainer` of ``cfg`` and ``run_dir`` with ``trainer_kwargs``
    and the convergence callback added (which enforces ``limits.max_steps`` itself). Returns
    the trainer and the budget's summary (steps, stop reason, loss history, final terms, wall
    time).
    """
    stop = ConvergenceStop(limits, LOSS_TERMS)
    trainer = build_trainer(cfg, run_dir, extra_callbacks=[stop], **trainer_kwargs)
    # a resumed checkpoint is read as tensors and plain containers only: no code in it runs
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    return trainer, stop.summary()


def fit(
    cfg: DictConfig,
    trials: Sequence[PreparedTrial],
    elbow: ElbowModel,
    run_dir: str | os.PathLike[str],
    *,
    train_subjects: Sequence[str] | None = None,
    ckpt_path: str | None = None,
    callbacks: bool = True,
    loggers: bool = True,
    **trainer_overrides: Any,
) -> tuple[NMMModule, Trainer, dict[str, Any]]:
    """Train network and parameters on ``train_subjects`` (default: every subject in ``trials``)
    within the budget ``budget.fit`` (optimiser steps, wall time, convergence).

    Returns the module (with the best checkpoint's weights when a checkpoint callback kept
    one), the trainer and a summary (steps, stop reason, loss history and final loss terms,
    wall time, best score, checkpoint path).
    """
    subjects = list(dict.fromkeys(t.subject for t in trials))
    train_subjects = list(train_subjects) if train_subjects is not None else subjects
    table_subjects = [s for s in subjects if s in set(train_subjects)]
    val = list(cfg.datamodule.get("val_subjects") or [])
    val = [s for s in val if s not in set(train_subjects)]
    ids = table_subjects + val
    limits = budget(cfg, "fit")
    seed_lightning(int(cfg.seed), workers=True, verbose=False)
    module = build_module(cfg, elbow, ids, body_mass_kg=body_masses(trials, ids))
    dm = build_datamodule(cfg, trials, ids, table_subjects, val or None)

    t0 = time.perf_counter()
    trainer, stopped = train_to_budget(
        cfg,
        module,
        dm,
        limits,
        run_dir,
        ckpt_path=ckpt_path,
        callbacks=callbacks,
        loggers=loggers,
        **trainer_overrides,
    )
    wall = time.perf_counter() - t0
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") if callbacks else ""
    if best and Path(best).is_file():
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    score = getattr(trainer.checkpoint_callback, "best_model_score", None) if callbacks else None
    info = {
        "subjects": ids,
        "train_subjects": table_subjects,
        "val_subjects": val,
        "global_steps": int(trainer.global_step),
        "epochs": int(trainer.current_epoch),
        "fit_wall_s": wall,
        "steps_per_s": trainer.global_step / wall if wall > 0 else float("nan"),
        "best_checkpoint": best or None,
        "best_score": None if score is None else float(score),
        "n_train_windows": len(dm.train_set) if dm.train_set is not None else 0,
        "budget": stopped,
    }
    log.info(
        "joint fit: %d steps (%s), %d training windows, %.1f s",
        info["global_steps"],
        stopped["stop_reason"],
        info["n_train_windows"],
        wall,
    )
    return module, trainer, info


def calibration_report(cohort: Cohort, trials: Sequence[PreparedTrial]) -> dict[str, Any]:
    """What can fix the level of every muscle's excitation (not only its shape): MVIC trials (the
    ``mvic`` loss term: agonists near full drive in the hold) and MVIC references (envelopes in
    fractions of MVIC). Without either, the torque fixes only the product strength × excitation
    of each muscle, and a hidden muscle's level rests on the synergy and strength priors; the
    returned ``note`` says so (and is logged as a warning).

    Returns ``{"mvic_trials": {subject: n}, "without_mvic_trials": [...],
    "without_mvic_reference": [...], "note": str | None}``.
    """
    subjects = list(dict.fromkeys(t.subject for t in trials))
    counts = {s: sum(t.subject == s and t.kind == MVIC_KIND for t in trials) for s in subjects}
    no_trials = [s for s, n in counts.items() if n == 0]
    no_ref = [s for s in subjects if not cohort.subjects[s].mvic]
    notes = []
    if no_trials:
        notes.append(
            f"{len(no_trials)} of {len(subjects)} subjects have no MVIC trial: their muscles' "
            "excitation scale is not calibrated by a maximal effort, so strength and excitation "
            "trade off and the hidden muscles' levels rest on the synergy and strength priors"
        )
    if no_ref:
        notes.append(
            f"{len(no_ref)} of {len(subjects)} subjects have no MVIC reference: their envelopes "
            "are not in fractions of MVIC"
        )
    note = "; ".join(notes) or None
    if note:
        log.warning("calibration: %s", note)
    return {
        "mvic_trials": counts,
        "without_mvic_trials": no_trials,
        "without_mvic_reference": no_ref,
        "note": note,
    }


def selected_subjects(cfg: DictConfig, trials: Sequence[PreparedTrial]) -> list[str]:
    """The subjects of ``cfg.subjects`` (``conf/subject/``; null: every subject), in cohort order.

    The per-subject protocol fits and scores these only; LOSO holds out these only (and trains
    on all the others). A name the cohort lacks is an error listing the cohort's subjects.
    """
    cohort = list(dict.fromkeys(t.subject for t in trials))
    chosen = cfg.get("subjects")
    if chosen is None:
        return cohort
    chosen = [str(s) for s in chosen]
    missing = [s for s in chosen if s not in set(cohort)]
    if missing or not chosen:
        what = f"{missing} not in the cohort" if missing else "no subject chosen"
        raise ValueError(f"subjects={chosen}: {what} (the cohort has {cohort})")
    return [s for s in cohort if s in set(chosen)]


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads`` unless None (see ``threads`` in ``conf/train.yaml``)."""
    if threads:
        torch.set_num_threads(int(threads))
