"""Figure: the EMG-only segmenter on real repeated contractions, for a person to check the marks.

Three seated leg-extension trials of the UCI lower-limb set (Sanchez et al. 2014, CC BY 4.0,
found through ``NMM_SHARED_DATA``), preprocessed by the UCI experiment's chain
(``experiment=uci_painsig``) and segmented by ``painsig/segmenter=emg_bursts`` on the vastus
medialis. Per trial: the band-passed EMG (grey), its envelope (black), the rest level and the
threshold (dashed), the detected contractions (green); below, the knee angle the segmenter never
saw, with the kinematic segmenter's movement phases, raising and lowering the leg (blue; the
goniometer's sign differs between files).

Usage: python -m benchmarks.fig_emg_bursts [--out docs/figures/emg_bursts_uci.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from hydra.utils import instantiate

from nmm.config import compose_config
from nmm.data.io.uci import read_uci_file
from nmm.data.preprocess import BandPass, preprocess_trial
from nmm.data.sources import shared_data_root
from nmm.reports.figures import save_figure
from painsig.segment import KinematicSegmenter

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "docs" / "figures" / "emg_bursts_uci.png"
#: Trials shown: one normal subject with short holds, one with long holds, one abnormal.
FILES = ("N_TXT/6Nsen.txt", "N_TXT/8Nsen.txt", "A_TXT/9Asen.txt")
MUSCLE = "vastus_medialis"


def _panel(axes, trial, segmenter) -> None:
    """The EMG panel and the knee panel of one preprocessed trial."""
    env = trial.envelope
    found = segmenter.bursts(trial)
    epochs = segmenter(trial)
    emg = BandPass(20.0, 400.0)(trial.emg.select([MUSCLE]))
    top, knee = axes
    top.plot(emg.time, emg[MUSCLE], color="0.75", lw=0.4, label="EMG, 20-400 Hz")
    top.plot(env.time, env[MUSCLE], color="k", lw=0.8, label="envelope (50 Hz)")
    top.axhline(found.baseline.mean, color="tab:blue", ls=":", lw=0.8, label="rest mean")
    top.axhline(found.baseline.threshold, color="tab:red", ls="--", lw=0.8, label="threshold")
    for ep in epochs:
        top.axvspan(ep.start_s, ep.stop_s, color="tab:green", alpha=0.25, lw=0)
    peak = np.percentile(np.abs(emg[MUSCLE]), 99.5)
    top.set_ylim(-0.6 * peak, 1.05 * peak)
    top.set_ylabel(f"{trial.subject}\n{MUSCLE} (mV)")
    kin = trial.kinematics
    knee.plot(kin.time, np.degrees(kin[trial.coordinate]), color="k", lw=0.8)
    for ep in KinematicSegmenter(direction=-1)(trial) + KinematicSegmenter(direction=1)(trial):
        knee.axvspan(ep.start_s, ep.stop_s, color="tab:blue", alpha=0.2, lw=0)
    knee.set_ylabel("knee (deg)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    root = shared_data_root() / "uci-lower-limb"
    if not root.exists():
        print(f"UCI lower-limb recordings not found at {root} (set NMM_SHARED_DATA)")
        return 1
    cfg = compose_config("painsig_run", ["experiment=uci_painsig", "painsig/segmenter=emg_bursts"])
    emg, kin = instantiate(cfg.preprocess.emg), instantiate(cfg.preprocess.kinematics)
    segmenter = instantiate(cfg.painsig.segmenter)
    fig, axes = plt.subplots(
        2 * len(FILES), 1, figsize=(11, 3.2 * len(FILES)), height_ratios=[3, 1] * len(FILES)
    )
    for k, name in enumerate(FILES):
        trial = preprocess_trial(read_uci_file(root / name), emg=emg, kinematics=kin)
        _panel(axes[2 * k : 2 * k + 2], trial, segmenter)
    axes[0].legend(loc="upper right", ncol=4, fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(
        "EMG-only contractions (green, painsig/segmenter=emg_bursts) against the knee's "
        "movement phases (blue, kinematic segmenter), UCI seated leg extensions"
    )
    fig.tight_layout()
    print(f"wrote {save_figure(fig, args.out, dpi=110)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
