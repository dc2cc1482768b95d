"""Building the NMM and fitting it: the pieces of nmm-train (:mod:`nmm.jobs.train`).

Every piece takes the settings objects of :mod:`nmm.model.settings` (the app layer,
:mod:`nmm.jobs.nmm_setup`, builds them from ``conf/train.yaml``); the evaluation's protocols and
``nmm-predict`` reuse them:

- :func:`channel_map`, :func:`feature_spec`, :func:`prepare_cohort` the arrays of a cohort;
- :func:`build_module`, :func:`bundle`, :func:`build_datamodule` the Lightning parts;
- :func:`train_to_budget`, :func:`fit` one training run within a training budget, with the
  trainer the app's :class:`TrainingSetup` makes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch import seed_everything as seed_lightning

from nmm.data.schema import Cohort
from nmm.model.budget import ConvergenceStop, TrainingBudget
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
    uncalibrated_muscles,
)
from nmm.model.loss import LOSS_TERMS
from nmm.model.module import NMMModule
from nmm.model.physics import PersonalisedElbow
from nmm.model.settings import DataModuleSettings, NMMComponents, NMMSettings
from nmm.physics.elbow import ArmParameters, ElbowModel, inverse_dynamics_torque
from nmm.physics.subject_elbows import SubjectElbows

__all__ = [
    "NMMBundle",
    "TrainerFactory",
    "TrainingSetup",
    "build_datamodule",
    "build_module",
    "bundle",
    "calibration_report",
    "channel_map",
    "feature_spec",
    "fit",
    "prepare_cohort",
    "selected_subjects",
    "set_threads",
    "train_to_budget",
]

log = logging.getLogger(__name__)

#: Makes the Lightning Trainer of a run: ``(run_dir, *, callbacks, loggers, extra_callbacks,
#: **trainer overrides) -> Trainer`` (:class:`nmm.jobs.nmm_setup.TrainerFactory`: the
#: configured trainer, callbacks and loggers, writing under ``run_dir``).
TrainerFactory = Callable[..., Trainer]


@dataclass(frozen=True)
class TrainingSetup:
    """Everything a fit needs besides its data and its budget.

    Attributes:
        settings: the model (:class:`~nmm.model.settings.NMMSettings`).
        components: its injected parts (:class:`~nmm.model.settings.NMMComponents`).
        data: the batches of windows (:class:`~nmm.model.settings.DataModuleSettings`).
        make_trainer: the run's trainer (:data:`TrainerFactory`).
        seed: seeds Lightning (dropout, window order) before each fit.
    """

    settings: NMMSettings
    components: NMMComponents
    data: DataModuleSettings
    make_trainer: TrainerFactory
    seed: int


# ----------------------------------------------------------------------------- data


def channel_map(settings: NMMSettings) -> ChannelMap:
    """Recorded channels -> model muscles (``physics.muscles``, ``physics.hidden``,
    ``model.channel_map``)."""
    return ChannelMap.from_config(
        list(settings.muscles), list(settings.hidden), settings.channel_map
    )


def feature_spec(settings: NMMSettings) -> FeatureSpec:
    """Network inputs of ``model.inputs`` with ``model.input_scales``."""
    cmap = channel_map(settings)
    return FeatureSpec(settings.inputs, cmap.inputs, dict(settings.input_scales))


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
    cohort: Cohort,
    settings: NMMSettings,
    components: NMMComponents,
    elbow: ElbowModel | SubjectElbows | None = None,
    *,
    kinds: Sequence[str] | None = None,
) -> list[PreparedTrial]:
    """Every trial of ``cohort`` prepared (:func:`nmm.model.features.prepare_trial`) with the
    preprocessing chains of ``components``.

    Trials whose kind is not in ``kinds`` (when given; ``datamodule.kinds``) are left out;
    angles beyond the subject's geometry's fitted range are an error
    (:meth:`MuscleGeometry.check_range`). A trial without a torque stream gets the inverse
    dynamics of its subject's arm (``elbow[subject].arm``; without ``elbow``, the arm of
    ``settings.physics``), and one without a lever arm its subject's model's
    (``load_lever_arm``) or ``physics.load.lever_arm_m``. A subject without an MVIC reference
    has its envelopes divided by its peak over all its trials
    (:func:`nmm.model.features.subject_peak_reference`), the same for every trial.

    With ``components.emg_targets`` (a causal model), each trial is prepared with both EMG
    chains: the targets' envelopes are its ``envelopes`` (what the loss and the physics take in
    training), the causal chain's its ``input_envelopes`` (what the network reads, and what a
    stream records).
    """
    cmap = channel_map(settings)
    chains = {"inputs": components.emg}
    if components.emg_targets is not None:
        chains["targets"] = components.emg_targets
    elbows = None if elbow is None else SubjectElbows.of(elbow)
    configured_arm = ArmParameters.from_mapping(settings.physics)
    out = []
    peaks: dict[tuple[str, str], dict[str, float]] = {}
    for t in cohort:
        mvic = cohort.subjects[t.subject].mvic or None
        own = None if elbows is None else elbows[t.subject]
        arm = configured_arm if own is None else own.arm
        lever = settings.lever_arm_m
        if own is not None and own.load_lever_arm is not None:
            lever = own.load_lever_arm
        prepared = {}
        for role, chain in chains.items():
            if (t.subject, role) not in peaks:  # only subjects without an MVIC reference
                mine = [x for x in cohort if x.subject == t.subject]
                peaks[t.subject, role] = {} if mvic else subject_peak_reference(mine, chain)
            prepared[role] = prepare_trial(
                t,
                cmap,
                settings.rate_hz,
                emg_chain=chain,
                kinematics_chain=components.kinematics,
                mvic=mvic,
                peak_reference=peaks[t.subject, role],
                use_recorded_derivatives=settings.use_recorded_derivatives,
                default_lever_arm_m=lever,
                inverse_dynamics=_torch_inverse_dynamics(arm),
            )
        p = prepared["inputs"]
        if "targets" in prepared:
            p = dataclasses.replace(prepared["targets"], input_envelopes=p.envelopes)
        if kinds is not None and p.kind not in set(kinds):
            continue
        p.metadata["body_mass_kg"] = cohort.subjects[t.subject].body_mass_kg
        if own is not None:
            own.geometry.check_range(torch.tensor(p.angle))
        out.append(p)
    if not out:
        raise ValueError(f"no trials left to train on (datamodule.kinds = {kinds})")
    return out


# ----------------------------------------------------------------------------- components


@dataclass
class NMMBundle:
    """What a trained NMM is made of, for prediction and evaluation.

    Attributes: the LightningModule, the feature spec, the model muscles, hidden muscle indices,
    window and stride (samples), the sample interval (s), whether reconstruction drives the
    physics with the recorded envelopes of the measured muscles (``model.use_measured``), and
    for a causal model (``model.causal``) the samples between a stream's updates
    (``model.hop_s``; None: the offline model).
    """

    module: NMMModule
    spec: FeatureSpec
    muscles: tuple[str, ...]
    hidden: tuple[int, ...]
    window: int
    stride: int
    dt: float
    use_measured: bool = True
    causal_hop: int | None = None


def build_module(
    setup: TrainingSetup,
    elbow: ElbowModel | SubjectElbows,
    subject_ids: Sequence[str],
    *,
    body_mass_kg: Sequence[float | None] | None = None,
    uncalibrated: Sequence[Sequence[bool] | None] | None = None,
    freeze_network: bool = False,
) -> NMMModule:
    """The LightningModule of ``setup`` for the given subjects (parameter rows, each with its
    elbow, ``elbow[subject]``), their strength priors centred on the strength expected from
    ``body_mass_kg`` (one per subject, kg, None: unknown; ``physics.strength_from_body_mass``)
    and the gain priors of their ``uncalibrated`` muscles as ``physics.uncalibrated_gain_prior``
    says (one ``(M,)`` mask per subject, :func:`nmm.model.features.uncalibrated_muscles`).
    """
    settings, parts = setup.settings, setup.components
    spec = feature_spec(settings)
    physics = PersonalisedElbow.from_settings(
        settings, elbow, subject_ids, body_mass_kg, uncalibrated
    )
    muscles = list(physics.muscle_names)
    net = parts.net(n_inputs=spec.n_features, n_outputs=len(muscles))
    hidden = [muscles.index(m) for m in settings.hidden]
    synergists = {
        muscles.index(h): [muscles.index(m) for m in group]
        for h, group in settings.synergists.items()
        if h in muscles
    }
    burn_in = samples(settings.burn_in_s, settings.rate_hz) if settings.burn_in_s else 0
    loss = parts.loss(hidden=hidden, synergists=synergists, burn_in=burn_in)
    metadata = {
        "muscles": muscles,
        "hidden": list(settings.hidden),
        "inputs": spec.names,
        "rate_hz": settings.rate_hz,
    }
    return NMMModule(
        net,
        physics,
        loss,
        parts.optimizer,
        list(subject_ids),
        parameter_lr=settings.parameter_lr,
        scheduler=parts.scheduler,
        freeze_network=freeze_network,
        use_measured=settings.use_measured,
        metadata=metadata,
    )


def bundle(settings: NMMSettings, module: NMMModule) -> NMMBundle:
    """An :class:`NMMBundle` of a module built by :func:`build_module` with ``settings``."""
    rate = settings.rate_hz
    muscles = tuple(module.physics.muscle_names)
    return NMMBundle(
        module=module,
        spec=feature_spec(settings),
        muscles=muscles,
        hidden=tuple(muscles.index(m) for m in settings.hidden),
        window=samples(settings.window_s, rate),
        stride=samples(settings.stride_s, rate),
        dt=1.0 / rate,
        use_measured=settings.use_measured,
        causal_hop=samples(settings.hop_s, rate) if settings.causal else None,
    )


def build_datamodule(
    setup: TrainingSetup,
    trials: Sequence[PreparedTrial],
    subject_ids: Sequence[str],
    train_subjects: Sequence[str] | None = None,
    val_subjects: Sequence[str] | None = None,
) -> NMMDataModule:
    """Windows of ``trials`` (``model.window_s``/``stride_s``, ``datamodule.*``)."""
    settings, data = setup.settings, setup.data
    return NMMDataModule(
        trials,
        feature_spec(settings),
        list(settings.muscles),
        subject_ids,
        train_subjects=train_subjects,
        val_subjects=val_subjects,
        window=samples(settings.window_s, settings.rate_hz),
        stride=samples(settings.stride_s, settings.rate_hz),
        batch_size=data.batch_size,
        num_workers=data.num_workers,
        seed=setup.seed,
        kinds=data.kinds,
    )


# ----------------------------------------------------------------------------- fitting


def train_to_budget(
    make_trainer: TrainerFactory,
    module: NMMModule,
    datamodule: NMMDataModule,
    limits: TrainingBudget,
    run_dir: str | os.PathLike[str],
    *,
    ckpt_path: str | None = None,
    **trainer_kwargs: Any,
) -> tuple[Trainer, dict[str, Any]]:
    """Fit ``module`` until ``limits`` stop it (:class:`~nmm.model.budget.ConvergenceStop`).

    The trainer is ``make_trainer`` of ``run_dir`` with ``trainer_kwargs`` and the convergence
    callback added (which enforces ``limits.max_steps`` itself). Returns the trainer and the
    budget's summary (steps, stop reason, loss history, final terms, wall time).
    """
    stop = ConvergenceStop(limits, LOSS_TERMS)
    trainer = make_trainer(run_dir, extra_callbacks=[stop], **trainer_kwargs)
    # a resumed checkpoint is read as tensors and plain containers only: no code in it runs
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    return trainer, stop.summary()


def _best_weights(trainer: Trainer, module: NMMModule, callbacks: bool) -> tuple[str, Any]:
    """Load the best checkpoint's weights into ``module`` when a checkpoint callback kept one;
    returns its path ("" if none) and score (None if none)."""
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") if callbacks else ""
    if best and Path(best).is_file():
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    score = getattr(trainer.checkpoint_callback, "best_model_score", None) if callbacks else None
    return best, score


def fit(
    setup: TrainingSetup,
    trials: Sequence[PreparedTrial],
    elbow: ElbowModel | SubjectElbows,
    run_dir: str | os.PathLike[str],
    limits: TrainingBudget,
    *,
    train_subjects: Sequence[str] | None = None,
    ckpt_path: str | None = None,
    callbacks: bool = True,
    loggers: bool = True,
    **trainer_overrides: Any,
) -> tuple[NMMModule, Trainer, dict[str, Any]]:
    """Train network and parameters on ``train_subjects`` (default: every subject in ``trials``)
    within ``limits`` (``budget.fit``: optimiser steps, wall time, convergence).

    Returns the module (with the best checkpoint's weights when a checkpoint callback kept
    one), the trainer and a summary (steps, stop reason, loss history and final loss terms,
    wall time, best score, checkpoint path).
    """
    subjects = list(dict.fromkeys(t.subject for t in trials))
    train_subjects = list(train_subjects) if train_subjects is not None else subjects
    table_subjects = [s for s in subjects if s in set(train_subjects)]
    val = [s for s in setup.data.val_subjects if s not in set(train_subjects)]
    ids = table_subjects + val
    seed_lightning(setup.seed, workers=True, verbose=False)
    module = build_module(
        setup,
        elbow,
        ids,
        body_mass_kg=body_masses(trials, ids),
        uncalibrated=uncalibrated_muscles(trials, ids),
    )
    dm = build_datamodule(setup, trials, ids, table_subjects, val or None)

    t0 = time.perf_counter()
    trainer, stopped = train_to_budget(
        setup.make_trainer,
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
    best, score = _best_weights(trainer, module, callbacks)
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


def selected_subjects(chosen: Sequence[str] | None, trials: Sequence[PreparedTrial]) -> list[str]:
    """The subjects ``chosen`` (``subjects``, set by ``conf/subject/``; None: every subject), in
    cohort order.

    The per-subject protocol fits and scores these only; LOSO holds out these only (and trains
    on all the others). A name the cohort lacks is an error listing the cohort's subjects.
    """
    cohort = list(dict.fromkeys(t.subject for t in trials))
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
