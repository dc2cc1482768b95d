"""A trained causal NMM as a stream estimator (``nmm-stream``'s model), and a recorded trial as
the arrays a replay sends.

- :func:`write_stream_inputs` what each subject's stream sends (EMG channels, rates, the
  EMG references), written by ``nmm-train`` into a causal run (``stream_inputs.json``);
- :func:`load_stream_estimator` the :class:`~nmm.stream.estimator.StreamEstimator` of one
  subject of a causal ``nmm-train`` run: its own network where the run specialised one
  (``subjects/<subject>.ckpt``), else the joint one, with its personalised parameters; weights
  read as tensors only (``weights_only=True``);
- :func:`trial_stream_arrays` a trial's raw EMG and kinematics in the estimator's channel order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nmm.atomic import atomic_write_json
from nmm.data.schema import Cohort, Trial
from nmm.jobs.nmm_setup import training_setup
from nmm.jobs.trained import load_trained
from nmm.model.causal import StreamInputs, stream_inputs
from nmm.model.settings import NMMComponents, NMMSettings
from nmm.model.train import channel_map
from nmm.stream.estimator import StreamEstimator, StreamModel

__all__ = [
    "STREAM_INPUTS",
    "StreamModelError",
    "load_stream_estimator",
    "trial_stream_arrays",
    "write_stream_inputs",
]

#: A causal run's ``{subject: StreamInputs.as_dict() or {"unavailable": reason}}``.
STREAM_INPUTS = "stream_inputs.json"


class StreamModelError(ValueError):
    """A run folder cannot give a stream estimator (not causal, subject unknown, ...)."""


def write_stream_inputs(
    cohort: Cohort, settings: NMMSettings, components: NMMComponents, run_dir: Path
) -> Path:
    """``<run_dir>/stream_inputs.json``: each subject's :class:`StreamInputs`, or why it has
    none (:func:`nmm.model.causal.stream_inputs`)."""
    out: dict[str, Any] = {}
    for subject in cohort.subjects:
        try:
            out[subject] = stream_inputs(cohort, subject, settings, components.emg).as_dict()
        except ValueError as exc:
            out[subject] = {"unavailable": str(exc)}
    path = Path(run_dir) / STREAM_INPUTS
    atomic_write_json(path, out)
    return path


def _inputs(run_dir: Path, subject: str, trained: list[str]) -> StreamInputs:
    """The subject's :class:`StreamInputs` of ``stream_inputs.json``."""
    path = run_dir / STREAM_INPUTS
    if not path.is_file():
        raise StreamModelError(f"{run_dir}: no {STREAM_INPUTS} (written by a causal nmm-train)")
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StreamModelError(f"{path}: not JSON ({exc})") from exc
    if subject not in table or subject not in trained:
        raise StreamModelError(
            f"{run_dir}: unknown subject {subject!r}; the run was trained on {trained}"
        )
    entry = table[subject]
    if "unavailable" in entry:
        raise StreamModelError(
            f"{run_dir}: subject {subject} cannot stream: {entry['unavailable']}"
        )
    try:
        return StreamInputs.from_mapping(entry)
    except (KeyError, TypeError, ValueError) as exc:
        raise StreamModelError(f"{path}: subject {subject}: bad entry ({exc})") from exc


def load_stream_estimator(
    run_dir: str | Path, subject: str, load_kg: float = 0.0
) -> StreamEstimator:
    """The stream estimator of ``subject`` of the causal ``nmm-train`` run ``run_dir`` (module
    doc), the load in the hand ``load_kg`` (kg; :attr:`StreamEstimator.load_kg`).

    Raises:
        FileNotFoundError: ``run_dir`` has no ``config.yaml`` or ``model.ckpt``.
        StreamModelError: the run is not causal (``model.causal``), or does not know
            ``subject``, or the subject cannot stream; each naming the run folder.
        ValueError: a checkpoint holds anything but tensors (refused unread).
    """
    run_dir = Path(run_dir)
    train_cfg, joint = load_trained(run_dir)
    if joint.causal_hop is None:
        raise StreamModelError(
            f"{run_dir}: not a causal run (model.causal=false); a stream needs a model trained "
            "with model.causal=true"
        )
    ids = list(joint.module.subject_ids)
    inputs = _inputs(run_dir, subject, ids)
    own = run_dir / "subjects" / f"{subject}.ckpt"
    if own.is_file():
        _, b = load_trained(run_dir, own)
        row = 0
    else:
        b, row = joint, ids.index(subject)
    setup = training_setup(train_cfg)
    model = StreamModel(
        net=b.module.net,
        physics=b.module.physics,
        row=row,
        spec=b.spec,
        channel_map=channel_map(setup.settings),
        rate_hz=setup.settings.rate_hz,
        window=b.window,
        hop=int(joint.causal_hop),
        use_measured=b.use_measured,
        emg_chain=setup.components.emg,
        kinematics_chain=setup.components.kinematics,
        inputs=inputs,
    )
    return StreamEstimator(model, load_kg=load_kg)


def trial_stream_arrays(trial: Trial, estimator: StreamEstimator) -> tuple[np.ndarray, np.ndarray]:
    """``(emg (N, C) at emg_rate_hz, kinematics (K, len(kinematic_channels)) at
    kinematic_rate_hz)``: the trial's raw streams in the estimator's channel order, what a
    replay of it sends (both starting at the trial's first sample).

    Raises:
        ValueError: the trial lacks a stream or a channel, its rates differ from the
            estimator's, or its streams do not start together; naming the trial.
    """
    where = f"trial {trial.subject}/{trial.trial_id}"
    if trial.emg is None or trial.kinematics is None:
        raise ValueError(f"{where}: a stream needs raw EMG and kinematics")
    pairs = (
        (trial.emg, estimator.emg_channels, estimator.emg_rate_hz, "EMG"),
        (trial.kinematics, estimator.kinematic_channels, estimator.kinematic_rate_hz, "kinematics"),
    )
    for sig, channels, rate, what in pairs:
        missing = [c for c in channels if c not in sig.channels]
        if missing:
            raise ValueError(f"{where}: {what} lacks {missing}; it has {list(sig.channels)}")
        if not np.isclose(sig.rate, rate, rtol=1e-9):
            raise ValueError(
                f"{where}: {what} at {sig.rate:g} Hz, the model's stream at {rate:g} Hz"
            )
    lag = abs(float(trial.emg.time[0]) - float(trial.kinematics.time[0]))
    if lag > 0.5 / max(estimator.emg_rate_hz, estimator.kinematic_rate_hz):
        raise ValueError(f"{where}: its EMG and kinematics start {lag:g} s apart")
    return (
        trial.emg.select(estimator.emg_channels).values,
        trial.kinematics.select(estimator.kinematic_channels).values,
    )
