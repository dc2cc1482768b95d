"""The NMM's objects from a run's config (``conf/train.yaml``): the one place where the model's
settings are read.

The apps (``nmm-train``, ``nmm-predict``, ``nmm-compare``, ``nmm-pipeline``) call these and pass
the objects to :mod:`nmm.model`, which never reads a config:

- :func:`training_setup` a :class:`~nmm.model.train.TrainingSetup` (:func:`model_settings`,
  :func:`model_components`, the ``datamodule`` settings, a :class:`TrainerFactory`, the seed);
- :func:`budget` a stage's training budget; :func:`evaluation_settings` the ``evaluate`` node;
- :func:`build_elbow` the torch elbow of ``physics.osim``, :func:`build_elbows` each subject's
  (its own ``.osim`` and recorded posture where it has them); :func:`load_cohort` the cohort
  and its ground truth; :func:`prepared_trials` the cohort's trials prepared as the model reads
  them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch import Trainer
from omegaconf import DictConfig, ListConfig, OmegaConf

from nmm.data.posture import cohort_postures
from nmm.data.schema import Cohort
from nmm.jobs.check_data import check_before_work
from nmm.jobs.synthetic_source import synthetic_truth_dir
from nmm.model.budget import TrainingBudget, stage_budget
from nmm.model.evaluate import EvaluationSettings
from nmm.model.features import PreparedTrial
from nmm.model.settings import DataModuleSettings, NMMComponents, NMMSettings
from nmm.model.train import TrainingSetup, prepare_cohort
from nmm.opensim.torch_elbow import elbow_from_config, subject_elbows
from nmm.physics.elbow import ElbowModel
from nmm.physics.subject_elbows import SubjectElbows

__all__ = [
    "TrainerFactory",
    "budget",
    "build_elbow",
    "build_elbows",
    "evaluation_settings",
    "load_cohort",
    "model_components",
    "model_settings",
    "plain",
    "prepared_trials",
    "training_setup",
]

log = logging.getLogger(__name__)


def plain(node: Any) -> Any:
    """A config node as plain dicts and lists, interpolations resolved (anything else as is)."""
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def model_settings(cfg: Any) -> NMMSettings:
    """The :class:`~nmm.model.settings.NMMSettings` of ``cfg.physics``, ``cfg.preprocess``
    (``resample_hz``) and ``cfg.model``."""
    return NMMSettings.from_mapping(
        {
            "physics": plain(cfg.physics),
            "preprocess": {"resample_hz": cfg.preprocess.resample_hz},
            "model": plain(cfg.model),
        }
    )


def model_components(cfg: Any) -> NMMComponents:
    """The injected parts of ``cfg.model`` (network, loss, optimizer, scheduler ``_target_``\\ s,
    as factories) and the preprocessing chains of ``cfg.preprocess`` (with ``model.causal``,
    also the EMG chain's zero-phase form, the training targets)."""
    model = cfg.model
    sched = model.get("scheduler")
    return NMMComponents(
        net=instantiate(model.net, _partial_=True),
        loss=instantiate(model.loss, _partial_=True, _convert_="all"),
        optimizer=instantiate(model.optimizer),
        scheduler=instantiate(sched) if sched and sched.get("_target_") else None,
        emg=instantiate(cfg.preprocess.emg),
        kinematics=instantiate(cfg.preprocess.kinematics),
        # a causal model learns the present from the past: zero-phase envelopes as its targets
        emg_targets=instantiate(cfg.preprocess.emg, causal=False) if model.get("causal") else None,
    )


@dataclass(frozen=True)
class TrainerFactory:
    """The Lightning Trainer of a run: ``trainer`` with the ``callbacks`` and ``logger`` of the
    config (plain mappings of ``_target_`` nodes). Picklable, so LOSO worker processes make
    their own trainers."""

    trainer: Mapping[str, Any]
    callbacks: Mapping[str, Any]
    logger: Mapping[str, Any]

    @classmethod
    def from_config(cls, cfg: Any) -> TrainerFactory:
        """From ``cfg.trainer``, ``cfg.callbacks`` and ``cfg.logger``."""
        return cls(
            plain(cfg.trainer), plain(cfg.get("callbacks")) or {}, plain(cfg.get("logger")) or {}
        )

    def _callbacks(self, run_dir: Path) -> list[Any]:
        out = []
        for node in self.callbacks.values():
            if node is None or not node.get("_target_"):
                continue
            if "ModelCheckpoint" in str(node["_target_"]):
                out.append(instantiate(node, dirpath=str(run_dir / "checkpoints")))
            else:
                out.append(instantiate(node))
        return out

    def _loggers(self, run_dir: Path) -> list[Any]:
        out = []
        for name, node in self.logger.items():
            if node is None or not node.get("_target_"):
                continue
            if "TensorBoard" in str(node["_target_"]) and not _tensorboard_installed():
                log.info("logger %s skipped: neither tensorboard nor tensorboardX installed", name)
                continue
            out.append(instantiate(node, save_dir=str(run_dir)))
        return out

    def __call__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        callbacks: bool = True,
        loggers: bool = True,
        extra_callbacks: Sequence[Any] = (),
        **overrides: Any,
    ) -> Trainer:
        """The Trainer, checkpoints to ``<run_dir>/checkpoints``, logs under ``run_dir`` (Hydra
        with ``version_base="1.3"`` does not change directory, so nothing goes to the cwd);
        ``extra_callbacks`` added to the configured ones (e.g. the training budget's)."""
        run_dir = Path(run_dir)
        cbs = self._callbacks(run_dir) if callbacks else []
        logger_list = self._loggers(run_dir) if loggers else []
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
        return instantiate(self.trainer, **kwargs)


def _tensorboard_installed() -> bool:
    try:
        import tensorboard  # noqa: F401  (optional logger)
    except ImportError:
        try:
            import tensorboardX  # noqa: F401  (optional logger)
        except ImportError:
            return False
    return True


def training_setup(cfg: Any) -> TrainingSetup:
    """Everything :func:`nmm.model.train.fit` needs of ``cfg`` besides data and budget."""
    return TrainingSetup(
        settings=model_settings(cfg),
        components=model_components(cfg),
        data=DataModuleSettings.from_mapping(plain(cfg.datamodule)),
        make_trainer=TrainerFactory.from_config(cfg),
        seed=int(cfg.seed),
    )


def budget(cfg: Any, stage: str) -> TrainingBudget:
    """The training budget of ``stage`` (``fit``, ``specialise``, ``adapt``) of ``cfg.budget``
    (``conf/budget/default.yaml``, :mod:`nmm.model.budget`)."""
    node = cfg.get("budget")
    if node is None:
        raise ValueError("budget: missing from the config (conf/budget/default.yaml)")
    return stage_budget(plain(node), stage)


def evaluation_settings(cfg: Any) -> EvaluationSettings:
    """The :class:`~nmm.model.evaluate.EvaluationSettings` of ``cfg.evaluate`` (the module's
    defaults where it is silent) for the hidden muscles of ``cfg.physics``."""
    return EvaluationSettings.from_mapping(plain(cfg.get("evaluate")), list(cfg.physics.hidden))


def build_elbow(cfg: Any) -> ElbowModel:
    """The torch elbow of ``cfg.physics`` (geometry sampled once with OpenSim, then cached in
    ``cfg.geometry_cache``)."""
    return elbow_from_config(plain(cfg.physics), cache_dir=_geometry_cache(cfg))


def build_elbows(
    cfg: Any,
    models: Cohort | Mapping[str, str | None],
    postures: Mapping[str, Mapping[str, float]] | None = None,
) -> SubjectElbows:
    """Each subject's torch elbow (:func:`nmm.opensim.torch_elbow.subject_elbows`): of its own
    ``.osim`` (:attr:`~nmm.data.schema.Subject.model` of a cohort's subjects, or ``models``:
    subject -> file), else of ``cfg.physics.osim``, in its own recorded posture (a cohort's
    subjects' :func:`~nmm.data.posture.cohort_postures`, or ``postures``), else
    ``cfg.physics.locked``; each distinct file and posture sampled once, then cached in
    ``cfg.geometry_cache``."""
    if isinstance(models, Cohort):
        postures = cohort_postures(models)
        models = {s: subject.model for s, subject in models.subjects.items()}
    return subject_elbows(
        plain(cfg.physics), models, cache_dir=_geometry_cache(cfg), postures=postures
    )


def _geometry_cache(cfg: Any) -> str | None:
    cache = cfg.get("geometry_cache")
    return str(cache) if cache else None


def prepared_trials(
    cfg: Any,
    cohort: Cohort,
    elbow: ElbowModel | SubjectElbows | None = None,
    *,
    every_kind: bool = False,
) -> list[PreparedTrial]:
    """:func:`nmm.model.train.prepare_cohort` of ``cohort`` with the settings of ``cfg``; the
    trial kinds of ``datamodule.kinds`` unless ``every_kind``."""
    kinds = None if every_kind else DataModuleSettings.from_mapping(plain(cfg.datamodule)).kinds
    return prepare_cohort(cohort, model_settings(cfg), model_components(cfg), elbow, kinds=kinds)


def load_cohort(cfg: Any) -> tuple[Cohort, Path | None]:
    """The cohort of the ``data`` option (``data=synthetic``, the default cohort;
    ``data=folder data.path=...``, ``data=pyomeca``) and its ground-truth folder:
    ``evaluate.truth_dir`` if set, else the synthetic cohort's ``ground_truth/``
    (:func:`nmm.jobs.synthetic_source.synthetic_truth_dir`), else None (recorded data). The
    data checks run on it first (:func:`nmm.jobs.check_data.check_before_work`: DataCheckError
    listing every error)."""
    truth = (cfg.get("evaluate") or {}).get("truth_dir")
    cohort = instantiate(cfg.data)
    check_before_work(cfg, cohort)
    return cohort, Path(truth) if truth else synthetic_truth_dir(plain(cfg.data))
