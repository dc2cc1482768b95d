"""The torch elbow of :mod:`nmm.physics` built from an OpenSim model.

:func:`muscle_geometry_from_osim` samples an ``.osim`` file's elbow muscles with OpenSim
(:mod:`nmm.opensim.geometry_sampling`), fits them
(:meth:`~nmm.physics.geometry.MuscleGeometry.fit`) and caches the fit as JSON, so OpenSim is
needed only once per model and setting; :func:`elbow_from_config` builds the whole
:class:`~nmm.physics.elbow.ElbowModel` of the ``physics`` config from it. OpenSim itself is
imported only when a model is sampled.
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

from nmm.opensim.geometry_sampling import DEFAULT_LOCKED, file_sha256, sample_elbow_geometry
from nmm.physics.elbow import ArmParameters, ElbowModel
from nmm.physics.geometry import (
    DEFAULT_DEGREE,
    DEFAULT_MOMENT_ARM_WEIGHT,
    FORMAT_VERSION,
    MuscleGeometry,
)
from nmm.physics.muscle_models import CONFIG_KEY, DEFAULT_MUSCLE_MODEL, get_muscle_model

__all__ = ["elbow_from_config", "muscle_geometry_from_osim"]

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
    """Build from the ``physics`` config group (``conf/physics/arm26.yaml``) as a plain mapping.

    Samples the ``.osim`` named by ``physics.osim`` with OpenSim once (or reuses the geometry
    cache in ``cache_dir``), in the muscle order of ``physics.muscles`` with ``physics.locked``
    held; the nominal muscle parameters are the model's (tendon strains included), with
    ``physics.tendon_strain``, if set, as every tendon's strain at one normalised force.
    ``physics.muscle_model`` names the registered muscle model
    (:mod:`nmm.physics.muscle_models`), checked before any sampling. ``arm`` defaults to
    :meth:`ArmParameters.from_mapping`.

    Raises:
        UnknownMuscleModelError (a ValueError): ``physics.muscle_model`` is not registered.
    """
    muscle_model = get_muscle_model(physics["muscle_model"], CONFIG_KEY).name
    geometry = muscle_geometry_from_osim(
        physics["osim"],
        coordinate=physics["coordinate"],
        muscles=list(physics["muscles"]),
        locked={k: float(v) for k, v in (physics.get("locked") or {}).items()},
        cache_dir=cache_dir,
        muscle_model=muscle_model,
    )
    params = geometry.to_muscle_parameters()
    strain = physics.get("tendon_strain")
    if strain is not None:
        if not float(strain) > 0:
            raise ValueError(f"physics config: tendon_strain must be > 0, got {strain}")
        params = replace(
            params,
            tendon_strain_at_one_norm_force=torch.full_like(
                params.max_isometric_force, float(strain)
            ),
        )
    return ElbowModel(
        geometry=geometry,
        muscle_parameters=params,
        arm=ArmParameters.from_mapping(physics) if arm is None else arm,
        muscle_model=muscle_model,
    )
