"""Data sources named in `conf/data/`: each returns a Cohort, ready for preprocessing (the
synthetic cohort's, a source of data above this layer, is :mod:`nmm.jobs.synthetic_source`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from nmm.data.errors import ReaderError
from nmm.data.io.c3d import emg_from_c3d, read_c3d
from nmm.data.io.csv import read_csv_trial
from nmm.data.io.dataset import read_dataset
from nmm.data.io.opensim_files import trial_from_opensim
from nmm.data.io.uci import read_uci_lower_limb
from nmm.data.schema import Cohort, Load, Subject

log = logging.getLogger(__name__)

STANDARD_GRAVITY = 9.80665  # m/s^2 (ISO 80000-3)


_REPO = Path(__file__).resolve().parents[2]


def shared_data_root() -> Path:
    """The folder of shared recordings: $NMM_SHARED_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get("NMM_SHARED_DATA", _REPO.parent / "shared" / "data")).resolve()


def shared_models_root() -> Path:
    """The folder of shared models: $NMM_SHARED_MODELS, else `models` beside the shared data."""
    return Path(os.environ.get("NMM_SHARED_MODELS", shared_data_root().parent / "models")).resolve()


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise ReaderError(
            f"{what} not found; set NMM_SHARED_DATA or data.root to the folder holding it",
            source=str(path),
        )
    return path


def pyomeca_cohort(
    root: str | os.PathLike[str],
    coordinate: str = "elbow_flexion",
    load_weight_n: float = 60.0,
    channel_map: Mapping[str, str] | None = None,
) -> Cohort:
    """The pyomeca upper-limb box-lifting trial: C3D EMG, IK `.mot`, ID `.sto`, one subject.

    load_weight_n: weight of the box in N (about 60 N per the data's README), stored as kg.
    """
    root = _require(Path(root), "pyomeca upper-limb folder")
    rec = read_c3d(_require(root / "markers_analogs.c3d", "C3D file"))
    emg = emg_from_c3d(rec, channel_map, muscle_set="upper_limb_surface")
    trial = trial_from_opensim(
        subject="pyomeca",
        trial_id="box_lift",
        kinematics=_require(root / "inverse_kin.mot", "IK file"),
        torque=_require(root / "inverse_dyn.sto", "ID file"),
        coordinate=coordinate,
        emg=emg,
        muscle_set="upper_limb_surface",
        load=Load(mass_kg=load_weight_n / STANDARD_GRAVITY),
        metadata={"dataset": "pyomeca-upper-limb", "licence": "Apache-2.0"},
    )
    return Cohort([Subject("pyomeca")], [trial], name="pyomeca-upper-limb")


def check_coordinate(cohort: Cohort, coordinate: str) -> Cohort:
    """``cohort``, or ReaderError naming the first trial whose angle is not ``coordinate``."""
    for t in cohort:
        if t.coordinate != coordinate:
            raise ReaderError(
                f"trial '{t.trial_id}' uses coordinate '{t.coordinate}', the config says "
                f"'{coordinate}' (set data.coordinate)",
                source=t.source,
            )
    return cohort


def uci_cohort(
    root: str | os.PathLike[str],
    tasks: tuple[str, ...] = ("mar", "pie", "sen"),
    coordinate: str = "knee_angle",
) -> Cohort:
    """The UCI lower-limb EMG dataset (22 subjects, normal vs knee abnormality)."""
    cohort = read_uci_lower_limb(_require(Path(root), "UCI lower-limb folder"), tuple(tasks))
    return check_coordinate(cohort, coordinate)


def folder_cohort(path: str | os.PathLike[str], coordinate: str = "elbow_flexion") -> Cohort:
    """A dataset folder in the project's format (manifest.yaml + .sto files)."""
    return check_coordinate(read_dataset(_require(Path(path), "dataset folder")), coordinate)


def csv_cohort(
    csv: str | os.PathLike[str], schema: str | os.PathLike[str], coordinate: str = "elbow_flexion"
) -> Cohort:
    """One CSV trial with its YAML schema, as a one-subject cohort."""
    trial = read_csv_trial(_require(Path(csv), "CSV file"), _require(Path(schema), "CSV schema"))
    cohort = Cohort([Subject(trial.subject)], [trial], name=Path(csv).stem)
    return check_coordinate(cohort, coordinate)
