"""Benchmark: pain-classifier fit time on a real feature table.

Builds the contraction feature table of a painsig experiment (``--experiment``, default
``uci_painsig``: the UCI lower-limb recordings) by running the painsig job once with quick
evaluation settings (its ``features.csv``), then times on the labelled rows, best of
``--repeats`` (``time.perf_counter``):

- ``PainClassifier.fit`` with the experiment's hyperparameters (``conf/painsig/xgboost.yaml``:
  200 trees of depth 3, ``n_jobs=1``);
- ``predict_proba`` on the same rows;
- the subject-grouped cross-validation the job runs (``painsig.cv.grouped_cross_validate``,
  leave-one-subject-out: one fit per subject).

Its balanced accuracy is reported with a subject-level cluster-bootstrap 95 % CI
(``painsig.intervals.bootstrap_ci``) and the permutation chance level and p-value of
``--permutations`` label permutations (``permutation_chance_level``: each reruns the CV).

Records the table's size, the machine and the peak memory. Needs the shared recordings for
UCI ($NMM_SHARED_DATA); without them it prints why and writes nothing.

Usage: python benchmarks/bench_classifier.py [--experiment uci_painsig] [--permutations 100]
[--out PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# evaluation settings of the table-building run: its CV results are not used here
TABLE_RUN = [
    "painsig.evaluation.n_permutations=2",
    "painsig.evaluation.n_boot=20",
    "painsig.evaluation.report_random_split_inflation=false",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="uci_painsig")
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "classifier.json"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--permutations", type=int, default=100, help="for the chance level")
    args = parser.parse_args(argv)

    if str(REPO_ROOT) not in sys.path:  # run as a script: make the project importable
        sys.path.insert(0, str(REPO_ROOT))
    import numpy as np
    import pandas as pd
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from benchmarks.machine import best_time, describe_machine, write_result
    from nmm.config import CONF_DIR
    from nmm.jobs.painsig import run_painsig, settings_from_config
    from painsig.classifier import PainClassifier
    from painsig.cv import grouped_cross_validate
    from painsig.intervals import bootstrap_ci
    from painsig.permutation import permutation_chance_level
    from painsig.table import feature_columns

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("painsig_run", overrides=[f"experiment={args.experiment}", *TABLE_RUN])
    try:
        cohort = instantiate(cfg.data)
    except Exception as exc:  # missing shared recordings: say so, write nothing
        print(
            f"bench_classifier: cannot read the {args.experiment} cohort ({exc}); nothing written"
        )
        return 1
    settings = settings_from_config(cfg.painsig)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_classifier_") as run_dir:
        run_painsig(
            cohort,
            instantiate(cfg.preprocess.emg),
            instantiate(cfg.preprocess.kinematics),
            instantiate(cfg.painsig.segmenter),
            settings,
            run_dir,
            int(cfg.seed),
        )
        table = pd.read_csv(Path(run_dir) / "features.csv", index_col=0)
    table_s = time.perf_counter() - t0
    labelled = table[table["condition"].isin([settings.positive, settings.negative])]
    X = labelled[feature_columns(table)]  # noqa: N806
    y = np.where(labelled["condition"] == settings.positive, settings.positive, settings.negative)
    groups = labelled["subject"].to_numpy()
    params = dict(settings.classifier) | {"n_jobs": 1}

    model = PainClassifier(**params).fit(X, y)  # warm-up
    fit_s = best_time(lambda: PainClassifier(**params).fit(X, y), args.repeats)
    predict_s = best_time(lambda: model.predict_proba(X), args.repeats)
    t1 = time.perf_counter()
    cv = grouped_cross_validate(
        PainClassifier(**params),
        X,
        y,
        groups,
        "logo",
        5,
        int(cfg.seed),
        pos_label=settings.positive,
    )
    cv_s = time.perf_counter() - t1
    accuracy = float(cv.metrics["balanced_accuracy"])
    ci = bootstrap_ci(
        cv.y_true, cv.y_pred, cv.y_score, cv.groups, pos_label=settings.positive, n_boot=2000
    )
    chance = permutation_chance_level(
        PainClassifier(**params),
        X,
        y,
        groups,
        "logo",
        args.permutations,
        int(cfg.seed),
        pos_label=settings.positive,
        observed=accuracy,
    )
    n_folds = len(np.unique(groups))
    result = {
        "benchmark": "classifier",
        "what": "PainClassifier (XGBoost hist, n_jobs=1) on the contraction feature table of "
        f"experiment={args.experiment}",
        "experiment": args.experiment,
        "fit_s": fit_s,
        "predict_proba_s": predict_s,
        "logo_cv_s": cv_s,
        "logo_cv_folds": n_folds,
        "fit_s_per_1000_rows": fit_s / len(X) * 1000,
        "n_samples": len(X),
        "n_features": X.shape[1],
        "n_subjects": n_folds,
        "cv_balanced_accuracy": accuracy,
        "cv_balanced_accuracy_ci95": ci.as_list(),
        "ci_method": "subject-level cluster bootstrap, percentile interval, 2000 draws",
        "chance_level": chance.chance_level,
        "permutation_p_value": chance.p_value,
        "n_permutations": args.permutations,
        "classifier": params,
        "table_build_s": table_s,
        "repeats": args.repeats,
        "machine": describe_machine("xgboost", "sklearn", "numpy"),
    }
    write_result(result, args.out)
    print(
        f"{args.experiment}: {len(X)} contractions x {X.shape[1]} features of {n_folds} subjects: "
        f"fit {fit_s * 1000:.0f} ms, predict_proba {predict_s * 1000:.1f} ms, "
        f"leave-one-subject-out CV {cv_s:.2f} s ({n_folds} fits) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
