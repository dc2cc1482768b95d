"""The torch elbow of :mod:`nmm.physics` built from an OpenSim model.

:func:`muscle_geometry_from_osim` samples an ``.osim`` file's elbow muscles with OpenSim
(:mod:`nmm.opensim.geometry_sampling`), fits them
(:meth:`~nmm.physics.geometry.MuscleGeometry.fit`) and caches the fit as JSON, so OpenSim is
needed only once per model and setting; :func:`elbow_from_config` builds the whole
:class:`~nmm.physics.elbow.ElbowModel` of the ``physics`` config from it, and
:func:`subject_elbows` each subject's, from its own ``.osim`` where it has one
(:class:`~nmm.physics.subject_elbows.SubjectElbows`). OpenSim itself is imported only when a
model is sampled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from nmm.opensim.elbow_twin import (
    arm_parameters_from_osim,
    check_posture,
    forearm_com_distance,
)
from nmm.opensim.geometry_sampling import (
    DEFAULT_LOCKED,
    HELD_POLICY,
    OsimModelError,
    file_sha256,
    sample_elbow_geometry,
)
from nmm.physics.elbow import ArmParameters, ElbowModel
from nmm.physics.geometry import (
    DEFAULT_DEGREE,
    DEFAULT_MOMENT_ARM_WEIGHT,
    FORMAT_VERSION,
    MuscleGeometry,
)
from nmm.physics.muscle import MuscleParameters
from nmm.physics.muscle_models import CONFIG_KEY, DEFAULT_MUSCLE_MODEL, get_muscle_model
from nmm.physics.subject_elbows import SubjectElbows

__all__ = ["elbow_from_config", "muscle_geometry_from_osim", "own_elbow", "subject_elbows"]

log = logging.getLogger(__name__)


def muscle_geometry_from_osim(
    osim_path: str | os.PathLike[str],
    coordinate: str = "r_elbow_flex",
    muscles: Sequence[str] | None = None,
    locked: Mapping[str, float] | None = None,
    n: int = 121,
    angle_range: tuple[float, float] | None = None,
    *,
    degree: int = DEFAULT_DEGREE,
    moment_arm_weight: float = DEFAULT_MOMENT_ARM_WEIGHT,
    split_at_path_events: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    muscle_model: str = DEFAULT_MUSCLE_MODEL,
) -> MuscleGeometry:
    """Sample ``osim_path`` with OpenSim and fit, or reuse a matching cache.

    Sampling arguments are those of
    :func:`~nmm.opensim.geometry_sampling.sample_elbow_geometry` (``locked=None`` means its
    default, arm26's shoulder at 0 rad; ``muscle_model`` names the registered muscle model whose
    parameters are read from the ``.osim``); fitting arguments those of
    :meth:`MuscleGeometry.fit`. With ``cache_dir``, the result is stored there as
    ``<model stem>.<coordinate>.<key>.json`` and reused when the file's SHA-256 and every
    setting match; otherwise (or if the cache is unreadable) OpenSim samples again and
    the cache is rewritten.

    Raises:
        OsimModelError (a ValueError): missing/unreadable model, unknown coordinate or
            muscle (see the sampler).
    """
    path = Path(osim_path).expanduser().resolve()
    held = dict(DEFAULT_LOCKED if locked is None else locked)
    settings = json.loads(
        json.dumps(
            {
                "coordinate": coordinate,
                "muscles": None if muscles is None else list(muscles),
                "locked": {k: float(v) for k, v in sorted(held.items())},
                "n": int(n),
                "angle_range": None if angle_range is None else [float(v) for v in angle_range],
                "degree": int(degree),
                "moment_arm_weight": float(moment_arm_weight),
                "split_at_path_events": bool(split_at_path_events),
                "muscle_parameters": list(get_muscle_model(muscle_model).osim_parameters),
                "format_version": FORMAT_VERSION,
                "held_policy": HELD_POLICY,
            }
        )
    )

    cache_path = None
    if cache_dir is not None:
        sha = file_sha256(path)
        key = hashlib.sha256(
            json.dumps({"sha256": sha, "settings": settings}, sort_keys=True).encode()
        ).hexdigest()[:16]
        cache_path = Path(cache_dir) / f"{path.stem}.{coordinate}.{key}.json"
        if cache_path.is_file():
            try:
                cached = MuscleGeometry.load(cache_path)
            except ValueError as exc:
                log.warning("ignoring unreadable geometry cache (%s)", exc)
            else:
                if cached.source.get("sha256") == sha and cached.settings == settings:
                    log.info("muscle geometry from cache %s", cache_path)
                    return cached
                log.warning("geometry cache %s does not match; resampling", cache_path)

    samples = sample_elbow_geometry(
        path, coordinate, muscles, held, n, angle_range, muscle_model=muscle_model
    )
    geometry = MuscleGeometry.fit(
        samples, degree, moment_arm_weight, split_at_path_events, settings
    )
    for name, err in geometry.fit_errors.items():
        log.info(
            "%s fit: l_MT rms %.2e max %.2e m; r rms %.2e max %.2e m",
            name,
            err.length_rms,
            err.length_max,
            err.moment_arm_rms,
            err.moment_arm_max,
        )
    if cache_path is not None:
        geometry.save(cache_path)
    return geometry


def elbow_from_config(
    physics: Mapping[str, Any],
    cache_dir: str | None = None,
    arm: ArmParameters | None = None,
) -> ElbowModel:
    """The elbow of the configured model, from the ``physics`` config group
    (``conf/physics/arm26.yaml``) as a plain mapping.

    Samples the ``.osim`` named by ``physics.osim`` with OpenSim once (or reuses the geometry
    cache in ``cache_dir``), in the muscle order of ``physics.muscles`` with ``physics.locked``
    held where the model does not hold them itself
    (:func:`~nmm.opensim.geometry_sampling.held_values`); the nominal muscle parameters are the
    model's (tendon strains included), with ``physics.tendon_strain``, if set, as every tendon's
    strain at one normalised force. ``physics.muscle_model`` names the registered muscle model
    (:mod:`nmm.physics.muscle_models`), checked before any sampling. ``arm`` defaults to
    :meth:`ArmParameters.from_mapping`, the forearm of the config, oriented by the held value
    of ``physics.shoulder_coordinate``; where the model holds that coordinate elsewhere (locks
    it, or lacks it: a welded shoulder), the upper arm's orientation is the model's pose
    (:func:`~nmm.opensim.elbow_twin.arm_parameters_from_osim`).

    Raises:
        UnknownMuscleModelError (a ValueError): ``physics.muscle_model`` is not registered.
        OsimModelError (a ValueError): see :func:`muscle_geometry_from_osim`.
    """
    geometry, muscle_model = _geometry(physics, physics["osim"], cache_dir)
    return ElbowModel(
        geometry=geometry,
        muscle_parameters=_nominal(physics, geometry),
        arm=_configured_arm(physics, geometry) if arm is None else arm,
        muscle_model=muscle_model,
    )


def subject_elbows(
    physics: Mapping[str, Any],
    models: Mapping[str, str | os.PathLike[str] | None],
    cache_dir: str | None = None,
    postures: Mapping[str, Mapping[str, float]] | None = None,
) -> SubjectElbows:
    """Each subject's elbow: that of its own ``.osim`` (``models``: subject -> file, None: the
    configured ``physics.osim``) in its own posture (``postures``: subject -> ``{coordinate:
    value}``, rad or m, :mod:`nmm.data.posture`; absent: ``physics.locked``), the configured
    one's otherwise (:func:`elbow_from_config`).

    Files are told apart by content (SHA-256): a model with the configured model's content, held
    as ``physics.locked`` holds it, is the configured elbow, and subjects whose files have the
    same content and who share a posture share one elbow, sampled once. A subject's posture
    updates ``physics.locked`` (a coordinate the model locks or lacks stays where the model
    holds it: :func:`~nmm.opensim.geometry_sampling.held_values`); its geometry and the upper
    arm's pose are sampled there. A subject's own elbow (:func:`own_elbow`) takes everything the
    model has from the model: geometry, F0, l_opt, l_Ts, tendon strains, the forearm and the
    upper arm's pose; one with only its own posture, the configured elbow's (the config's arm)
    at that posture.

    Raises:
        OsimModelError (a ValueError): a subject's model is missing, unreadable, lacks the elbow
            coordinate or a muscle of ``physics.muscles``, or its posture holds a coordinate
            outside the coordinate's range in the model; the message names the subject and
            the file.
    """
    default = elbow_from_config(physics, cache_dir)
    own_files = {s: Path(m).expanduser().resolve() for s, m in models.items() if m is not None}
    held = {s: {**_locked(physics), **dict(p)} for s, p in (postures or {}).items() if p}
    held = {s: h for s, h in held.items() if h != _locked(physics)}
    if not own_files and not held:
        return SubjectElbows(default)
    configured_path = Path(physics["osim"]).expanduser().resolve()
    configured = file_sha256(configured_path)
    shared: dict[tuple[str, str], ElbowModel] = {}
    own, files = {}, {}
    reference_com = None
    for subject in dict.fromkeys([*models, *held]):
        path = own_files.get(subject)
        sha = configured if path is None else _subject_file_sha(subject, path)
        if sha == configured and subject not in held:
            continue
        locked = held.get(subject, _locked(physics))
        key = (sha, json.dumps(locked, sort_keys=True))
        if key not in shared:
            if subject in held:
                _check_subject_posture(subject, path or configured_path, postures[subject])
            at_posture = {**physics, "locked": locked}
            if sha == configured:
                shared[key] = elbow_from_config(at_posture, cache_dir)
            else:
                if reference_com is None:
                    reference_com = _forearm_com_distance(physics)
                shared[key] = own_elbow(at_posture, path, reference_com, cache_dir, subject=subject)
        own[subject] = shared[key]
        files[subject] = str(configured_path if path is None or sha == configured else path)
    models_own = sum(1 for s in own if s in own_files and files[s] != str(configured_path))
    log.info(
        "%d of %d subjects have their own model, %d their own posture (%d distinct elbows)",
        models_own,
        len(dict.fromkeys([*models, *held])),
        len(held),
        len(shared),
    )
    return SubjectElbows(default, own, files, {s: held[s] for s in own if s in held})


def own_elbow(
    physics: Mapping[str, Any],
    osim_path: str | os.PathLike[str],
    reference_com_m: float,
    cache_dir: str | None = None,
    *,
    subject: str | None = None,
) -> ElbowModel:
    """The elbow of a subject's own (scaled) ``.osim``.

    Geometry and nominal muscle parameters as :func:`elbow_from_config` reads them, from this
    file; the forearm's mass, centre of mass and inertia and the upper arm's pose from the model
    (:func:`~nmm.opensim.elbow_twin.arm_parameters_from_osim`, the held coordinates of
    ``physics.locked`` where the model does not hold them itself), the passive joint of the
    config; the load's lever arm ``physics.load.lever_arm_m`` (the configured model's grip)
    scaled by the forearm's length, l_c / ``reference_com_m`` (l_c of the configured model, m;
    OpenSim's ScaleTool scales a segment's points with it), as
    :func:`~nmm.opensim.elbow_twin.grip_lever_arms` gives nmm-validate.

    Raises:
        OsimModelError: as :func:`subject_elbows`; with ``subject``, its message names it.
    """
    try:
        geometry, muscle_model = _geometry(physics, osim_path, cache_dir)
        arm = arm_parameters_from_osim(
            osim_path,
            physics["coordinate"],
            _locked(physics),
            physics.get("shoulder_coordinate"),
            passive=ArmParameters.from_mapping(physics),
        )
    except OsimModelError as exc:
        if subject is None:
            raise
        raise OsimModelError(f"model of subject {subject}: {exc.reason}", path=exc.path) from exc
    lever = float(physics["load"]["lever_arm_m"]) * float(arm.forearm_com_distance)
    return ElbowModel(
        geometry=geometry,
        muscle_parameters=_nominal(physics, geometry),
        arm=arm,
        muscle_model=muscle_model,
        load_lever_arm=lever / float(reference_com_m),
    )


def _forearm_com_distance(physics: Mapping[str, Any]) -> float:
    """l_c of the configured model's forearm as :func:`own_elbow` reads a subject's (m)."""
    return forearm_com_distance(physics["osim"], physics["coordinate"], _locked(physics))


def _check_subject_posture(subject: str, path: Path, posture: Mapping[str, float]) -> None:
    """:func:`~nmm.opensim.elbow_twin.check_posture`, its error naming the subject."""
    try:
        check_posture(path, posture)
    except OsimModelError as exc:
        raise OsimModelError(f"subject {subject}: {exc.reason}", path=exc.path) from exc


def _subject_file_sha(subject: str, path: Path) -> str:
    try:
        return file_sha256(path)
    except OsimModelError as exc:
        raise OsimModelError(f"model of subject {subject}: {exc.reason}", path=path) from exc


def _locked(physics: Mapping[str, Any]) -> dict[str, float]:
    """``physics.locked`` as ``{coordinate: value}`` (rad or m)."""
    return {k: float(v) for k, v in (physics.get("locked") or {}).items()}


def _geometry(
    physics: Mapping[str, Any], osim_path: str | os.PathLike[str], cache_dir: str | None
) -> tuple[MuscleGeometry, str]:
    """The fitted geometry of ``osim_path`` as ``physics`` asks, and the muscle model's name."""
    muscle_model = get_muscle_model(physics["muscle_model"], CONFIG_KEY).name
    geometry = muscle_geometry_from_osim(
        osim_path,
        coordinate=physics["coordinate"],
        muscles=list(physics["muscles"]),
        locked=_locked(physics),
        cache_dir=cache_dir,
        muscle_model=muscle_model,
    )
    return geometry, muscle_model


def _nominal(physics: Mapping[str, Any], geometry: MuscleGeometry) -> MuscleParameters:
    """The model's muscle parameters, every tendon's strain ``physics.tendon_strain`` if set."""
    params = geometry.to_muscle_parameters()
    strain = physics.get("tendon_strain")
    if strain is None:
        return params
    if not float(strain) > 0:
        raise ValueError(f"physics config: tendon_strain must be > 0, got {strain}")
    return replace(
        params,
        tendon_strain_at_one_norm_force=torch.full_like(params.max_isometric_force, float(strain)),
    )


def _configured_arm(physics: Mapping[str, Any], geometry: MuscleGeometry) -> ArmParameters:
    """The config's arm (:meth:`ArmParameters.from_mapping`); where the model holds the
    shoulder coordinate elsewhere than ``physics.locked`` asks (it locks or lacks it), its
    orientation (ψ, φ_0, cos β) from the model's pose instead."""
    arm = ArmParameters.from_mapping(physics)
    shoulder = physics.get("shoulder_coordinate")
    requested = _locked(physics).get(shoulder) if shoulder else None
    held = geometry.source.get("locked", {}).get(shoulder) if shoulder else None
    if not shoulder or (requested is not None and held == requested):
        return arm
    posed = arm_parameters_from_osim(
        physics["osim"], physics["coordinate"], _locked(physics), shoulder
    )
    log.info(
        "%s: the model holds %s itself; the upper arm's orientation is the model's pose",
        physics["osim"],
        shoulder,
    )
    return arm.replace(
        shoulder_elevation=posed.shoulder_elevation,
        gravity_angle_offset=posed.gravity_angle_offset,
        gravity_plane_factor=posed.gravity_plane_factor,
    )
