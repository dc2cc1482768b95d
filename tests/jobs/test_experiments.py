"""A multirun over every experiment config (conf/experiment/), each with the app it belongs to
and quick settings: a config that no longer runs fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmm.config import CONF_DIR

from .conftest import PAINSIG_FAST, job_metrics, run_app, train_fast

# Which app each experiment config belongs to. A new conf/experiment/*.yaml must be added here,
# so that a config that no longer runs fails this test.
EXPERIMENT_APP = {
    "pyomeca_envelopes": "scripts.train",
    "uci_painsig": "scripts.pain",
    "synthetic_painsig": "scripts.pain",
}


def test_every_experiment_has_an_app():
    configs = {p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml")}
    assert configs == set(EXPERIMENT_APP), (
        "map every conf/experiment config to its app in EXPERIMENT_APP of tests/jobs/test_sweeps.py"
    )


@pytest.mark.slow
def test_every_experiment_runs_in_a_multirun(tmp_path, shared_data, geometry_cache):
    fast = {"scripts.pain": PAINSIG_FAST, "scripts.train": train_fast(geometry_cache)}
    for app in sorted(set(EXPERIMENT_APP.values())):
        names = sorted(e for e, a in EXPERIMENT_APP.items() if a == app)
        sweep = tmp_path / app
        proc = run_app(
            app,
            [
                "-m",
                f"experiment={','.join(names)}",
                "hydra/launcher=local_parallel",  # joblib, two jobs at once
                f"hydra.sweep.dir={sweep}",
                f"paths.shared_data={shared_data}",
                *fast[app],
            ],
            cwd=tmp_path,
            timeout=240,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics = job_metrics(sweep)
        assert len(metrics) == len(names), f"{app}: jobs {sorted(metrics)}"
        ran = set()
        for m in metrics.values():
            assert m["status"] == "completed", m.get("error")
            ran |= {
                o.split("=", 1)[1] for o in m["job"]["overrides"] if o.startswith("experiment=")
            }
            assert Path(m["job"]["output_dir"]).parent == sweep
        assert ran == set(names)
