"""The synergy-extrapolation stage of ``nmm-compare`` and ``nmm-pipeline`` (``stages/mse``):
the config read into :class:`~nmm.synergy.settings.SynXSettings` and the NMM's personalised
elbow, :func:`nmm.synergy.fit.fit_synx` on every subject, reconstructions written."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nmm.jobs.nmm_setup import evaluation_settings, model_settings
from nmm.jobs.stages import StageResult, StageRunner
from nmm.model.evaluate import read_truth_excitation
from nmm.model.features import PreparedTrial, body_masses, uncalibrated_muscles
from nmm.model.physics import PersonalisedElbow
from nmm.model.reconstruct import Reconstruction, write_outputs
from nmm.physics.elbow import ElbowModel
from nmm.physics.subject_elbows import SubjectElbows
from nmm.synergy.fit import fit_synx
from nmm.synergy.settings import SynXSettings

__all__ = ["mse_stage", "synx_physics", "synx_settings"]


def synx_settings(cfg: DictConfig) -> SynXSettings:
    """The ``mse`` node of ``cfg`` (``conf/mse/synx.yaml``), resolved where it sits (its
    parameter prior interpolates the model's)."""
    return SynXSettings.from_mapping(OmegaConf.to_container(cfg.mse, resolve=True))  # type: ignore[arg-type]


def synx_physics(
    cfg: DictConfig, elbow: ElbowModel | SubjectElbows, trials: Sequence[PreparedTrial]
) -> PersonalisedElbow:
    """The personalised elbow SynX fits, built as the NMM builds it
    (:meth:`PersonalisedElbow.from_settings`): one parameter row per subject of ``trials`` in
    order of first appearance, each with its elbow (its own model's where it has one),
    strength priors centred on their body masses (kg) where ``physics.strength_from_body_mass``
    asks for it, and the same gain priors for muscles without an MVIC reference."""
    subjects = list(dict.fromkeys(t.subject for t in trials))
    masses = body_masses(trials, subjects)
    return PersonalisedElbow.from_settings(
        model_settings(cfg), elbow, subjects, masses, uncalibrated_muscles(trials, subjects)
    )


def _truth(
    truth_dir: Path | None, recs: Sequence[Reconstruction], cutoff_hz: float | None
) -> dict[Any, Any]:
    """The true excitation of each reconstructed trial that has one, by trial key, low-passed
    at ``cutoff_hz`` (Hz; None: raw)."""
    truth = {}
    if truth_dir is not None:
        for rec in recs:
            t = read_truth_excitation(truth_dir, rec.trial, rec.muscles, cutoff_hz)
            if t is not None:
                truth[rec.trial.key] = t
    return truth


def mse_stage(
    runner: StageRunner,
    cfg: DictConfig,
    trials: Sequence[PreparedTrial],
    elbow: ElbowModel | SubjectElbows,
    truth_dir: Path | None,
    data_fp: str,
) -> StageResult:
    """Synergy extrapolation of every subject in ``stages/mse`` (reconstructions as ``.sto``,
    personalised ``.osim`` files, figures)."""
    inputs = {
        "mse": cfg.mse,
        "physics": cfg.physics,
        "preprocess": cfg.preprocess,
        "model_inputs": {
            "channel_map": cfg.model.get("channel_map"),
            "loss_allowable_error": cfg.model.get("loss_allowable_error"),
        },
        "kinds": cfg.datamodule.get("kinds"),
        "subjects": cfg.get("subjects"),
        "seed": cfg.seed,
        "data": data_fp,
    }

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        t0 = time.perf_counter()
        physics = synx_physics(cfg, elbow, trials)
        result = fit_synx(synx_settings(cfg), trials, physics, seed=int(cfg.seed))
        ev = evaluation_settings(cfg)
        write_outputs(
            result.reconstructions,
            folder / "predictions",
            physics=result.physics,
            subject_rows={s: i for i, s in enumerate(result.subject_ids)},
            osim=cfg.physics.osim,
            truth=_truth(truth_dir, result.reconstructions, ev.reference_cutoff_hz),
            hidden=list(cfg.physics.hidden),
            max_figures=ev.max_figures,
        )
        return {"wall_s": time.perf_counter() - t0, "info": result.info}

    return runner.run("mse", inputs, run)
