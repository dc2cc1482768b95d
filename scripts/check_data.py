"""`nmm-check-data`: check a data source before any work (logic in nmm.jobs.check_data; config
conf/check_data.yaml). Prints a table per subject and trial and the findings, writes
check_data.json into run_dir, and exits 1 when a finding is an error.

    nmm-check-data
    nmm-check-data data=folder data.path=/path/to/dataset
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.data.quality import Finding
from nmm.jobs.check_data import REPORT_FILE, format_findings, format_table, run_check_data
from nmm.jobs.sweep import app_run


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="check_data")
def main(cfg: DictConfig) -> None:
    with app_run(cfg, "check_data"):  # config checked, run folder locked
        report = run_check_data(cfg)
    print(format_table(report["trials"]))
    print()
    for line in format_findings(Finding(**f) for f in report["findings"]):
        print(line)
    counts = report["counts"]
    print(
        f"nmm-check-data: {report['n_subjects']} subjects, {report['n_trials']} trials; "
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s); "
        f"{cfg.run_dir}/{REPORT_FILE}"
    )
    if report["status"] == "error":
        sys.exit(1)


if __name__ == "__main__":
    main()
