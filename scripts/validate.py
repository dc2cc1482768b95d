"""`nmm-validate`: the OpenSim torque validation run (logic in nmm.jobs.validate; config
conf/validate.yaml). Torch is not imported.

    nmm-validate validate.predictions=outputs/train/predictions
    nmm-validate validate.osim=my.osim validate.activations=acts/ validate.kinematics=ik.mot
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.sweep import app_run
from nmm.jobs.validate import run_validate


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.3g} %"


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="validate")
def main(cfg: DictConfig) -> None:
    with app_run(cfg, "validate"):  # config checked, run folder locked
        m = run_validate(cfg)
    for t in m["trials"]:
        print(
            f"{t['subject']}/{t['trial']}: OpenSim muscles vs ID R² {t['opensim_torque_r2']:.3f}, "
            f"RMSE {t['opensim_torque_rmse_nm']:.2f} N·m; vs torch "
            f"{_pct(t.get('torch_rel_rms_diff'))} RMS"
        )
    print(
        f"{m['n_trials']} trials: opensim_torque_r2 {m['opensim_torque_r2']:.3f}; OpenSim vs "
        f"torch max {_pct(m['torch_rel_rms_diff_max'])} RMS (within "
        f"{_pct(m['torch_tolerance'])}: {m['torch_agreement_within_tolerance']})"
    )
    print(f"nmm-validate finished: {cfg.run_dir}/metrics.json")


if __name__ == "__main__":
    main()
