"""The synthetic cohort as a data source: the ``_target_`` of ``conf/data/synthetic.yaml``
(in the app layer: it generates the cohort folder on first use, a job).

``data=synthetic`` (the default of every app with a data group) reads the embedded default
cohort, ``data/default_cohort/``, generated on first use from ``conf/synth.yaml`` and then
reused (:func:`~nmm.jobs.cohorts.ensure_default_cohort`); ``data.overrides`` change its config
(``[synth=tiny]``) and ``data.root`` its folder: a folder that already holds
``dataset/manifest.yaml`` is read as it is; ``++data.subjects=[S01,S02]`` keeps only those
subjects (absent by default). Only the dataset is read into the cohort; the ground truth beside
it is for evaluation (:func:`synthetic_truth_dir`), never for models.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nmm.data.io.dataset import read_dataset
from nmm.data.schema import Cohort
from nmm.data.sources import check_coordinate
from nmm.jobs.cohorts import DEFAULT_ROOT, ensure_default_cohort

__all__ = [
    "SOURCE",
    "synthetic_cohort",
    "synthetic_cohort_folder",
    "synthetic_root",
    "synthetic_truth_dir",
]

#: The ``_target_`` of ``conf/data/synthetic.yaml``.
SOURCE = "nmm.jobs.synthetic_source.synthetic_cohort"


def synthetic_cohort_folder(
    root: str | os.PathLike[str] | None = None,
    config: str = "synth",
    overrides: Sequence[str] = (),
) -> Path:
    """The folder of the synthetic cohort: ``root`` as it is when it holds
    ``dataset/manifest.yaml``; otherwise the cohort of ``conf/<config>.yaml`` composed with
    ``overrides``, generated into ``root`` unless it is there already (default:
    ``data/default_cohort/`` for the configured cohort, a cache folder of its own for any other;
    :func:`~nmm.jobs.cohorts.ensure_default_cohort`)."""
    if root is not None and (Path(root) / "dataset" / "manifest.yaml").is_file():
        return Path(root)
    return ensure_default_cohort(root, list(overrides), config=config)


def synthetic_cohort(
    root: str | os.PathLike[str] | None = None,
    config: str = "synth",
    overrides: Sequence[str] = (),
    coordinate: str = "elbow_flexion",
    subjects: Sequence[str] | None = None,
) -> Cohort:
    """The synthetic cohort's dataset (folder: :func:`synthetic_cohort_folder`); ReaderError
    when its trials' angle is not ``coordinate``.

    subjects: ids of the subjects to read (``++data.subjects=[S01,S02]``; in the cohort's
    order whatever the order given; the others' files are not opened); None: every subject.
    ReaderError naming the manifest for an id the cohort lacks or an empty list.
    """
    folder = synthetic_cohort_folder(root, config, overrides)
    return check_coordinate(read_dataset(folder / "dataset", subjects), coordinate)


def _names_this_source(data: Mapping[str, Any] | None) -> bool:
    return data is not None and data.get("_target_") == SOURCE


def synthetic_root(data: Mapping[str, Any] | None) -> Path | None:
    """The cohort folder a plain ``data`` node names when it is this source (``data.root``, or
    ``data/default_cohort/``), without generating anything; None for another source."""
    if not _names_this_source(data):
        return None
    return Path(data["root"]) if data.get("root") else DEFAULT_ROOT


def synthetic_truth_dir(data: Mapping[str, Any] | None) -> Path | None:
    """The ``ground_truth/`` folder of the cohort a plain ``data`` node reads when it is this
    source (generating the cohort if needed, as :func:`synthetic_cohort` does); None for
    another source or a cohort folder without one."""
    if not _names_this_source(data):
        return None
    folder = synthetic_cohort_folder(
        data.get("root"), data.get("config", "synth"), data.get("overrides") or ()
    )
    truth = folder / "ground_truth"
    return truth if truth.is_dir() else None
