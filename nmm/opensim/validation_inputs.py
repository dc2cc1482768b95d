"""What ``nmm-validate`` validates: trials gathered from a predictions folder or a user's files.

A :class:`TrialSpec` is one trial: the activation file, the model whose muscles are evaluated,
the model whose bodies give the inverse dynamics, the prescribed :class:`Kinematics`, the load
in the hand, and the torch and recorded torque when known. :func:`prediction_trials` reads the
layout of :func:`nmm.model.reconstruct.write_outputs` (``nmm-train``/``nmm-predict``) joined to
the dataset the predictions were made from; :func:`file_trials` reads a user's ``.osim``,
activation ``.sto`` files and IK ``.mot``. Kinematics are prepared as the NMM prepares them
(recorded derivatives, else the configured low-pass and differentiation). Bad input raises
:class:`ValidationInputError` naming the file. Torch-free (numpy, scipy).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmm.data.errors import MissingChannelError
from nmm.data.io.opensim_files import read_coordinate
from nmm.data.io.sto import read_sto
from nmm.data.posture import cohort_postures
from nmm.data.preprocess import trial_kinematics
from nmm.data.schema import Cohort, Signal, Trial

__all__ = [
    "ACTIVATION_SUFFIX",
    "EXCITATION_SUFFIX",
    "TORQUE_SUFFIX",
    "Kinematics",
    "TrialSpec",
    "ValidationInputError",
    "file_trials",
    "kinematics_from_file",
    "kinematics_from_trial",
    "prediction_trials",
]

#: Suffixes of the files :func:`nmm.model.reconstruct.write_outputs` writes per trial.
ACTIVATION_SUFFIX = "_activation.sto"
EXCITATION_SUFFIX = "_excitation.sto"
TORQUE_SUFFIX = "_torque.sto"
#: Kinematics files looked for in a kinematics folder, per trial stem.
KINEMATICS_NAMES = ("{stem}.mot", "{stem}_kinematics.mot", "{stem}_kinematics.sto")
#: Candidate names of the elbow angle column of an IK file (arm26's, then the data's).
DEFAULT_KINEMATICS_COLUMNS = ("r_elbow_flex", "elbow_flexion")


class ValidationInputError(ValueError):
    """Bad input to the validation: a missing file, an unknown muscle, no time overlap.

    The message starts with the file concerned; ``path`` holds it.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{path}: {message}" if path is not None else message)


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kinematics:
    """Elbow kinematics on one grid: time ``(T,)`` s, angle ``(T,)`` rad, velocity ``(T,)``
    rad/s, acceleration ``(T,)`` rad/s²; ``source`` says where they came from."""

    time: np.ndarray
    angle: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    source: str


@dataclass(frozen=True)
class TrialSpec:
    """One trial to validate.

    Attributes:
        subject, stem: identity (``stem``: ``<session>_<trial id>`` in a predictions folder).
        activation_file: ``.sto`` of activations, one column per muscle (0-1).
        osim: the (personalised) model whose muscles are evaluated.
        id_osim: the model whose bodies give the inverse dynamics.
        kinematics: the prescribed motion.
        load_kg, lever_arm_m: the load in the hand (kg) and its distance from the axis (m).
        torque_file: ``<stem>_torque.sto`` (torch muscle torque, the trial's torque), or None.
        recorded: ``(time (T_r,) s, torque (T_r,) N·m, source)`` of the trial, or None.
        posture: the subject's recorded posture (``{coordinate: value}``, rad or m;
            :mod:`nmm.data.posture`), held in its twins over the run's ``locked``; None: the
            run's.
    """

    subject: str
    stem: str
    activation_file: Path
    osim: Path
    id_osim: Path
    kinematics: Kinematics
    load_kg: float
    lever_arm_m: float
    torque_file: Path | None = None
    recorded: tuple[np.ndarray, np.ndarray, str] | None = None
    posture: Mapping[str, float] | None = None


def kinematics_from_trial(
    trial: Trial,
    chain: Callable[[Signal], Signal] | None = None,
    use_recorded_derivatives: bool = True,
) -> Kinematics:
    """θ, θ̇, θ̈ of a trial, as the NMM prepared them (recorded derivatives, else ``chain``,
    e.g. ``preprocess.kinematics``: 10 Hz low-pass, then differentiated)."""
    try:  # the NMM's own selection, so OpenSim sees the torch model's motion
        kin = trial_kinematics(trial, chain, use_recorded_derivatives)
    except MissingChannelError as exc:
        where = trial.source or (trial.kinematics.source if trial.kinematics else None)
        raise ValidationInputError(str(exc), where) from exc
    c = trial.coordinate
    return Kinematics(
        time=np.asarray(kin.time, dtype=float),
        angle=np.asarray(kin[c], dtype=float),
        velocity=np.asarray(kin[f"{c}_speed"], dtype=float),
        acceleration=np.asarray(kin[f"{c}_acceleration"], dtype=float),
        source=str(kin.source or trial.source or f"trial {trial.subject}/{trial.trial_id}"),
    )


def kinematics_from_file(
    path: str | os.PathLike[str],
    columns: Sequence[str],
    coordinate: str = "elbow_flexion",
    chain: Callable[[Signal], Signal] | None = None,
) -> Kinematics:
    """θ, θ̇, θ̈ from an IK ``.mot``/``.sto`` (degrees converted when ``inDegrees=yes``).

    Args:
        path: the file.
        columns: candidate names of the elbow angle column, the first present is read (e.g.
            ``r_elbow_flex``, ``elbow_flexion``).
        coordinate: the name ``chain`` differentiates (``Differentiate(coordinate=...)``).
        chain: angle -> angle, speed, acceleration (``preprocess.kinematics``).

    Raises:
        ValidationInputError: missing file, no such column, no chain to differentiate.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationInputError("kinematics file not found", path)
    have = read_sto(path).columns
    found = [c for c in columns if c in have]
    if not found:
        raise ValidationInputError(
            f"no elbow angle column (looked for {', '.join(columns)}; the file has "
            f"{', '.join(have)})",
            path,
        )
    sig = read_coordinate(path, found[0])
    sig = sig.with_values(sig.values, channels=(coordinate,))
    trial = Trial(
        subject="kinematics",
        trial_id="file",
        kinematics=sig,
        coordinate=coordinate,
        source=str(path),
    )
    return kinematics_from_trial(trial, chain, use_recorded_derivatives=False)


def _activation_file(base: Path) -> Path:
    """``<base>_activation.sto``, or a clear refusal when only the excitation exists."""
    act = Path(f"{base}{ACTIVATION_SUFFIX}")
    if act.is_file():
        return act
    exc = Path(f"{base}{EXCITATION_SUFFIX}")
    if exc.is_file():
        raise ValidationInputError(
            f"excitations only: {act.name} is missing. nmm-validate prescribes activations: the "
            "personalised activation (electromechanical delay, shape factor, the smoothing of "
            "its dynamics) is not in the .osim, so OpenSim's activation dynamics would validate "
            "another model; write the activations (nmm-predict does) and run again",
            exc,
        )
    raise ValidationInputError("activation file not found", act)


def _optional(path: Path) -> Path | None:
    return path if path.is_file() else None


def _kinematics_in(folder: Path, stem: str) -> Path:
    candidates = [folder / n.format(stem=stem) for n in KINEMATICS_NAMES]
    for p in candidates:
        if p.is_file():
            return p
    raise ValidationInputError(
        "no kinematics for trial "
        + stem
        + " (looked for "
        + ", ".join(c.name for c in candidates)
        + ")",
        folder,
    )


def _kinematics_for(
    stem: str,
    kinematics: str | os.PathLike[str],
    columns: Sequence[str],
    coordinate: str,
    chain: Callable[[Signal], Signal] | None,
) -> Kinematics:
    path = Path(kinematics)
    if path.is_dir():
        path = _kinematics_in(path, stem)
    return kinematics_from_file(path, columns, coordinate, chain)


def _id_model(template: str | os.PathLike[str] | None, subject: str, osim: Path) -> Path:
    return osim if template is None else Path(str(template).format(subject=subject))


def _model_for(osim: str | os.PathLike[str] | None, predictions: Path, subject: str) -> Path:
    """The personalised model of ``subject``: ``osim`` (a file, or a folder of <subject>.osim),
    by default ``<predictions>/models/<subject>.osim``."""
    if osim is None:
        path = predictions / "models" / f"{subject}.osim"
    else:
        path = Path(osim)
        if path.is_dir():
            path = path / f"{subject}.osim"
    if not path.is_file():
        raise ValidationInputError(f"no model for subject {subject} (.osim not found)", path)
    return path


def prediction_trials(
    predictions_dir: str | os.PathLike[str],
    cohort: Cohort,
    *,
    osim: str | os.PathLike[str] | None = None,
    id_osim: str | os.PathLike[str] | None = None,
    kinematics: str | os.PathLike[str] | None = None,
    kinematics_columns: Sequence[str] = DEFAULT_KINEMATICS_COLUMNS,
    kinematics_chain: Callable[[Signal], Signal] | None = None,
    use_recorded_derivatives: bool = True,
    default_lever_arm_m: float = 0.3,
    kinds: Sequence[str] | None = ("movement",),
    subject_lever_arm_m: Mapping[str, float] | None = None,
) -> tuple[list[TrialSpec], list[dict[str, str]]]:
    """The trials of a predictions folder, joined to ``cohort`` by (subject, ``<session>_<trial>``).

    Every ``envelopes/<subject>/<stem>_activation.sto`` (or a lone ``_excitation.sto``, refused)
    is a trial; its load and lever arm come from the dataset trial (when the trial has none, the
    subject's in ``subject_lever_arm_m``, the grip in its own model, else
    ``default_lever_arm_m``), its kinematics from the trial or from ``kinematics`` (a file, or a
    folder of ``<stem>.mot``), its recorded torque from the trial's torque stream and its
    posture from its subject's metadata (:func:`~nmm.data.posture.cohort_postures`).

    Args:
        kinds: trial kinds validated (``metadata['kind']``, default ``movement``); others
            (e.g. the synthetic MVIC trials, isometric on a dynamometer) are skipped.

    Returns:
        ``(specs, skipped)``; ``skipped``: ``{"subject", "stem", "reason"}`` per trial left out.

    Raises:
        ValidationInputError: no such folder, no trials in it, a file without its dataset trial,
            a missing model or kinematics file.
    """
    root = Path(predictions_dir)
    env = root / "envelopes"
    if not env.is_dir():
        raise ValidationInputError(
            "not a predictions folder (no envelopes/ in it; nmm-train writes <run>/predictions, "
            "nmm-predict its run directory)",
            root,
        )
    bases = sorted(
        {
            p.with_name(p.name[: -len(sfx)])
            for sfx in (ACTIVATION_SUFFIX, EXCITATION_SUFFIX)
            for p in env.glob(f"*/*{sfx}")
        }
    )
    if not bases:
        raise ValidationInputError("no <stem>_activation.sto files under envelopes/<subject>/", env)
    by_key = {(t.subject, f"{t.session}_{t.trial_id}"): t for t in cohort}
    postures = cohort_postures(cohort)
    specs, skipped = [], []
    for base in bases:
        subject, stem = base.parent.name, base.name
        trial = by_key.get((subject, stem))
        if trial is None:
            raise ValidationInputError(
                f"no trial {subject}/{stem} in dataset '{cohort.name}' (give the dataset the "
                "predictions were made from: data=...)",
                base.parent,
            )
        kind = str(trial.metadata.get("kind", "movement"))
        if kinds is not None and kind not in set(kinds):
            skipped.append({"subject": subject, "stem": stem, "reason": f"kind '{kind}'"})
            continue
        model = _model_for(osim, root, subject)
        kin = (
            kinematics_from_trial(trial, kinematics_chain, use_recorded_derivatives)
            if kinematics is None
            else _kinematics_for(
                stem, kinematics, kinematics_columns, trial.coordinate, kinematics_chain
            )
        )
        recorded = None
        moment = f"{trial.coordinate}_moment"
        if trial.torque is not None and moment in trial.torque:
            source = str(trial.metadata.get("torque_source") or trial.torque.source or "recorded")
            recorded = (np.asarray(trial.torque.time), np.asarray(trial.torque[moment]), source)
        lever = trial.load.lever_arm_m
        if lever is None:
            lever = (subject_lever_arm_m or {}).get(subject, default_lever_arm_m)
        specs.append(
            TrialSpec(
                subject=subject,
                stem=stem,
                activation_file=_activation_file(base),
                osim=model,
                id_osim=_id_model(id_osim, subject, model),
                kinematics=kin,
                load_kg=float(trial.load.mass_kg),
                lever_arm_m=float(lever),
                torque_file=_optional(Path(f"{base}{TORQUE_SUFFIX}")),
                recorded=recorded,
                posture=postures.get(subject),
            )
        )
    return specs, skipped


def file_trials(
    osim: str | os.PathLike[str],
    activations: str | os.PathLike[str],
    kinematics: str | os.PathLike[str],
    *,
    load_kg: float = 0.0,
    lever_arm_m: float = 0.3,
    id_osim: str | os.PathLike[str] | None = None,
    kinematics_columns: Sequence[str] = DEFAULT_KINEMATICS_COLUMNS,
    coordinate: str = "elbow_flexion",
    kinematics_chain: Callable[[Signal], Signal] | None = None,
) -> list[TrialSpec]:
    """A user's trials: one ``.osim``, activations, kinematics and one load for all.

    Args:
        osim: the model.
        activations: an activation ``.sto`` or a folder searched (recursively) for
            ``*_activation.sto``; a ``<stem>_torque.sto`` beside one (as ``nmm-predict`` writes)
            adds the torch and recorded torque.
        kinematics: an IK ``.mot``/``.sto`` for every trial, or a folder of ``<stem>.mot``
            (``<stem>_kinematics.mot``, ``<stem>_kinematics.sto``).
        load_kg, lever_arm_m: the load in the hand (kg) and its lever arm (m).
        id_osim: the body for inverse dynamics (default ``osim``; ``{subject}`` is the name of
            the activation file's folder).
        kinematics_columns, coordinate, kinematics_chain: see :func:`kinematics_from_file`.

    Raises:
        ValidationInputError: missing files, no activation files, excitations only.
    """
    model = Path(osim)
    if not model.is_file():
        raise ValidationInputError("model (.osim) not found", model)
    src = Path(activations)
    if src.is_dir():
        files = sorted(src.rglob(f"*{ACTIVATION_SUFFIX}"))
        if not files:
            lone = sorted(src.rglob(f"*{EXCITATION_SUFFIX}"))
            if lone:
                _activation_file(lone[0].with_name(lone[0].name[: -len(EXCITATION_SUFFIX)]))
            raise ValidationInputError(f"no *{ACTIVATION_SUFFIX} files in this folder", src)
    elif src.name.endswith(EXCITATION_SUFFIX):
        _activation_file(src.with_name(src.name[: -len(EXCITATION_SUFFIX)]))
        files = []  # not reached: the line above raises
    elif src.is_file():
        files = [src]
    else:
        raise ValidationInputError("activation file or folder not found", src)
    specs = []
    for f in files:
        stem = f.name[: -len(ACTIVATION_SUFFIX)] if f.name.endswith(ACTIVATION_SUFFIX) else f.stem
        subject = f.parent.name if src.is_dir() and f.parent != src else model.stem
        kin = _kinematics_for(stem, kinematics, kinematics_columns, coordinate, kinematics_chain)
        specs.append(
            TrialSpec(
                subject=subject,
                stem=stem,
                activation_file=f,
                osim=model,
                id_osim=_id_model(id_osim, subject, model),
                kinematics=kin,
                load_kg=float(load_kg),
                lever_arm_m=float(lever_arm_m),
                torque_file=_optional(f.with_name(f"{stem}{TORQUE_SUFFIX}")),
            )
        )
    return specs
