"""What a model must be told about a synthetic cohort's set-up, read from its dataset only.

A generator variant (docs/cohort_family.md) may change the set-up a model assumes: the shoulder
posture and the generic ``.osim`` (``shoulder_elevated``) or the mains frequency (``low_snr``).
The generator records these in each subject's metadata in ``dataset/manifest.yaml`` (never in
``ground_truth/`` alone), and these functions turn them into Hydra overrides of the NMM's config
groups (``conf/physics/arm26.yaml``, ``conf/preprocess/msk.yaml``):

- ``locked: {r_shoulder_elev: rad}`` per subject -> ``physics.locked.r_shoulder_elev``, the
  held shoulder angle of the configured elbow (``physics.locked`` holds one value, so the
  cohort mean); each subject's own value stays in its metadata, where the NMM, SynX and
  ``nmm-validate`` read it (:mod:`nmm.data.posture`: each subject's elbow is sampled at its own
  posture);
- ``generic_model: generic_model.osim`` -> ``physics.osim``, the generic model (the source
  ``.osim`` with the variant's muscle changes) whose values a model's personalised factors
  multiply;
- ``powerline_hz`` -> the EMG chain's notch (``preprocess.emg.steps.notch.freq_hz``).

A cohort without these keys (the default cohort) needs no overrides: shoulder at 0, the source
``.osim``, 50 Hz.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nmm.data.io.dataset import read_dataset

__all__ = ["variant_physics_overrides", "variant_preprocess_overrides"]

#: Name of the notch in the EMG chain of conf/preprocess/msk.yaml (band-pass, notch, envelope).
MSK_NOTCH_STEP = "notch"


def _subjects_metadata(root: str | os.PathLike[str]) -> tuple[Path, list[dict[str, Any]]]:
    """(dataset folder, each subject's metadata) of a cohort folder or its dataset folder."""
    folder = Path(root)
    dataset = folder / "dataset" if (folder / "dataset").is_dir() else folder
    cohort = read_dataset(dataset)
    return dataset, [s.metadata for s in cohort.subjects.values()]


def variant_physics_overrides(root: str | os.PathLike[str]) -> list[str]:
    """Hydra overrides of ``physics`` for a cohort (its folder or its ``dataset/`` folder).

    ``physics.locked.<coordinate>=<rad>`` for each shoulder coordinate the subjects' metadata
    hold (``locked``), at the mean over subjects (rad); ``physics.osim=<path>`` when the
    dataset carries a generic model. Empty for the default cohort. Raises ValueError when only
    some subjects record a posture or they name different generic models.
    """
    dataset, metas = _subjects_metadata(root)
    out = []
    locked = [m.get("locked") for m in metas]
    if any(x is not None for x in locked):
        if any(x is None for x in locked):
            raise ValueError(f"{root}: only some subjects record their posture ('locked')")
        for coord in sorted({k for x in locked for k in x}):
            mean = float(np.mean([float(x[coord]) for x in locked]))
            out.append(f"physics.locked.{coord}={mean!r}")
    models = {m.get("generic_model") for m in metas}
    if len(models) > 1:
        names = sorted(map(str, models))
        raise ValueError(f"{root}: subjects name different generic models {names}")
    model = models.pop() if models else None
    if model is not None:
        out.append(f"physics.osim={(dataset / model).resolve()}")
    return out


def variant_preprocess_overrides(root: str | os.PathLike[str]) -> list[str]:
    """Hydra overrides of ``preprocess`` (``conf/preprocess/msk.yaml``) for a cohort: the EMG
    notch at the recorded mains frequency (``powerline_hz``, Hz), if one is recorded. Raises
    ValueError when subjects record different ones."""
    _, metas = _subjects_metadata(root)
    mains = {float(m["powerline_hz"]) for m in metas if "powerline_hz" in m}
    if len(mains) > 1:
        raise ValueError(f"{root}: subjects record different mains frequencies {sorted(mains)}")
    if not mains:
        return []
    return [f"preprocess.emg.steps.{MSK_NOTCH_STEP}.freq_hz={mains.pop()!r}"]
