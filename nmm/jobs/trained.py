"""A trained NMM read back from its ``nmm-train`` run folder (:func:`load_trained`), for
``nmm-predict`` (:mod:`nmm.jobs.predict`) and the tests; and the run folder's list of the
subjects' own models (:func:`write_subject_models`) it is rebuilt with."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nmm.atomic import atomic_write_json
from nmm.data.errors import DataValidationError
from nmm.data.posture import POSTURE_KEY, posture_of
from nmm.jobs.nmm_setup import build_elbows, training_setup
from nmm.model.checkpoint import read_checkpoint
from nmm.model.train import NMMBundle, build_module, bundle
from nmm.physics.subject_elbows import SubjectElbows

__all__ = [
    "SUBJECT_MODELS",
    "SUBJECT_POSTURES",
    "load_trained",
    "read_subject_models",
    "read_subject_postures",
    "write_subject_models",
]

#: The run folder's ``{subject: .osim}`` of the subjects trained with their own model.
SUBJECT_MODELS = "subject_models.json"
#: The run folder's ``{subject: {coordinate: value}}`` (rad or m) of the subjects trained in
#: their own recorded posture (:attr:`~nmm.physics.subject_elbows.SubjectElbows.postures`).
SUBJECT_POSTURES = "subject_postures.json"


def write_subject_models(elbows: SubjectElbows, run_dir: Path) -> None:
    """``<run_dir>/subject_models.json``: the subjects with their own model and its file; none
    (an earlier run's file removed) when every subject has the configured model; and
    ``subject_postures.json`` the same of the subjects' own postures."""
    for name, table in ((SUBJECT_MODELS, elbows.models), (SUBJECT_POSTURES, elbows.postures)):
        if table:
            atomic_write_json(run_dir / name, dict(table))
        else:
            (run_dir / name).unlink(missing_ok=True)


def read_subject_models(run_dir: Path) -> dict[str, str]:
    """The models :func:`write_subject_models` wrote (``{}`` without the file).

    Raises:
        ValueError: the file is not a JSON object of subject -> path (names the file).
    """
    path = run_dir / SUBJECT_MODELS
    if not path.is_file():
        return {}
    try:
        models = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(models, dict) or not all(isinstance(v, str) for v in models.values()):
        raise ValueError(f"{path}: expected {{subject: .osim path}}")
    return {str(k): v for k, v in models.items()}


def read_subject_postures(run_dir: Path) -> dict[str, dict[str, float]]:
    """The postures :func:`write_subject_models` wrote (``{}`` without the file).

    Raises:
        ValueError: the file is not a JSON object of subject -> {coordinate: number} (names
            the file).
    """
    path = run_dir / SUBJECT_POSTURES
    if not path.is_file():
        return {}
    try:
        postures = json.loads(path.read_text(encoding="utf-8"))
        return {str(s): posture_of(str(s), {POSTURE_KEY: p}) for s, p in postures.items()}
    except (json.JSONDecodeError, AttributeError, DataValidationError) as exc:
        raise ValueError(f"{path}: expected {{subject: {{coordinate: value}}}} ({exc})") from exc


def load_trained(
    model_dir: str | Path, checkpoint: str | Path | None = None
) -> tuple[DictConfig, NMMBundle]:
    """The trained NMM of an ``nmm-train`` run directory: ``(train config, NMMBundle)``, the
    model built from the run's ``config.yaml`` and the subjects' own models and postures
    (``subject_models.json``, ``subject_postures.json``) with the weights of ``checkpoint``
    (default ``model.ckpt``).

    Raises:
        FileNotFoundError: the run directory has no ``config.yaml`` or checkpoint.
        OsimModelError: a subject's own model is no longer where the run found it.
        ValueError: the checkpoint holds anything but tensors and plain containers, or is not
            an NMM's (:func:`nmm.model.checkpoint.read_checkpoint`).
    """
    model_dir = Path(model_dir)
    cfg_path = model_dir / "config.yaml"
    ckpt = Path(checkpoint) if checkpoint else model_dir / "model.ckpt"
    for p in (cfg_path, ckpt):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p}: not found; model_dir must be a run directory written by nmm-train"
            )
    train_cfg = OmegaConf.load(cfg_path)
    subject_ids, state = read_checkpoint(ckpt)
    setup = training_setup(train_cfg)
    elbows = build_elbows(
        train_cfg, read_subject_models(model_dir), read_subject_postures(model_dir)
    )
    module = build_module(setup, elbows, subject_ids)
    module.load_state_dict(state)
    module.eval()
    return train_cfg, bundle(setup.settings, module)
