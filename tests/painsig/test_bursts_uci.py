"""The EMG-only segmenter on a real recording of repeated contractions: the UCI lower-limb
seated leg extensions (Sanchez et al. 2014, CC BY 4.0), whose knee goniometer, ignored by the
segmenter, tells when the leg moved. The quadriceps raise the leg (concentric) and lower it
(eccentric), and the goniometer's sign differs between files: the movement phases of the
kinematic segmenter in both directions are the quadriceps' contractions. Most of them should
overlap a vastus medialis burst, and most bursts a movement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate

from nmm.config import compose_config
from nmm.data.io.uci import read_uci_lower_limb
from nmm.data.preprocess import preprocess_trial
from painsig.segment import Epoch, KinematicSegmenter


def overlaps(a: Epoch, b: Epoch) -> bool:
    return a.start_s < b.stop_s and b.start_s < a.stop_s


@pytest.fixture(scope="module")
def sitting(uci_dir: Path):
    """The seated trials preprocessed by the UCI experiment's chains, and its emg_bursts
    segmenter (agonist vastus_medialis)."""
    cfg = compose_config("painsig_run", ["experiment=uci_painsig", "painsig/segmenter=emg_bursts"])
    emg, kin = instantiate(cfg.preprocess.emg), instantiate(cfg.preprocess.kinematics)
    cohort = read_uci_lower_limb(uci_dir, tasks=("sen",))
    trials = [preprocess_trial(t, emg=emg, kinematics=kin) for t in cohort]
    return trials, instantiate(cfg.painsig.segmenter)


def test_bursts_agree_with_the_kinematic_contractions(sitting):
    trials, segmenter = sitting
    n_phases = n_phases_hit = n_bursts = n_bursts_moving = 0
    per_repetition = []
    for trial in trials:
        bursts = segmenter(trial)
        moving = KinematicSegmenter(direction=-1)(trial) + KinematicSegmenter(direction=1)(trial)
        n_phases += len(moving)
        n_phases_hit += sum(any(overlaps(b, k) for b in bursts) for k in moving)
        n_bursts += len(bursts)
        n_bursts_moving += sum(any(overlaps(b, k) for k in moving) for b in bursts)
        per_repetition.append(2 * len(bursts) / len(moving))  # a repetition: raise and lower
    assert len(trials) == 22 and n_phases > 160
    assert n_phases_hit / n_phases >= 0.85  # 0.89 when written
    assert n_bursts_moving / n_bursts >= 0.85  # 0.91 when written
    assert np.median(per_repetition) == pytest.approx(1.0, abs=0.25)
