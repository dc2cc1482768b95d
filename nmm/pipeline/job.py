"""``nmm-pipeline``: recordings -> NMM -> reconstruction -> NMM vs MSE -> OpenSim validation ->
pain signature on measured and on measured + reconstructed channels -> one report
(``conf/pipeline.yaml``; ``make demo`` runs it with ``conf/demo.yaml``).

Every stage is cached under ``<run_dir>/stages/<name>/`` (:class:`nmm.jobs.stages.StageRunner`)
and skipped on a re-run while its inputs (config node, data files, upstream stages) are
unchanged; a failed or killed stage leaves the finished ones intact, and the NMM fit resumes from
its last checkpoint. Stages:

``data``
    the cohort preprocessed and written as a dataset folder (read back exactly), figures;
``nmm``, ``mse``, ``compare``
    as in ``nmm-compare`` (:mod:`nmm.compare.job`);
``validate``
    the NMM's personalised ``.osim`` files driven by its reconstructed activations in OpenSim,
    muscle torque against OpenSim inverse dynamics (:mod:`nmm.opensim.validate`);
``painsig_measured``, ``painsig_with_reconstructed``
    the pain signature (:func:`nmm.jobs.painsig.run_painsig`, ``pipeline.painsig``) on the measured
    channels, then with the reconstructed deep muscles added as channels
    (:class:`nmm.pipeline.channels.ReconstructedChannels`): same contractions, same folds, so
    the value of the deep muscles for the classifier is measured, not assumed. Skipped, with
    the reason, for a cohort without the two conditions;
``report``
    ``report.html`` (:mod:`nmm.pipeline.report`) from the stages' files.

The run directory's ``metrics.json`` gathers the headline numbers: ``nmm``, ``mse``,
``paired_rmse_diff_ci``, ``opensim_torque_r2``, ``painsig_measured``,
``painsig_with_reconstructed``, ``placebo_fraction_painful``.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from nmm.compare.job import nmm_stage, open_run
from nmm.compare.mse import mse_stage
from nmm.compare.scores import compare_stage
from nmm.config import compose_config
from nmm.jobs.data_overview import run_data_overview
from nmm.jobs.run_dir import write_metrics
from nmm.jobs.stages import StageResult, StageRunner
from nmm.jobs.validate import run_validate
from nmm.model.features import PreparedTrial
from nmm.pipeline.channels import ReconstructedChannels
from nmm.pipeline.config import painsig_config
from nmm.pipeline.report import build_report

__all__ = ["cohort_summary", "pipeline_and_report", "run_pipeline", "summary_lines"]

log = logging.getLogger(__name__)

HEADLINE_PAINSIG = (
    "balanced_accuracy",
    "balanced_accuracy_ci",
    "chance_level",
    "permutation_p_value",
    "roc_auc",
    "roc_auc_ci",
    "cv",
    "n_subjects",
    "n_samples",
)


def _painsig_stage(
    runner: StageRunner,
    name: str,
    pain: DictConfig,
    data_fp: str,
    upstream: StageResult | None,
    hidden: list[str],
    predictions: str,
    subjects: Sequence[str] | None,
) -> StageResult:
    # painsig loads scikit-learn, xgboost and shap (5 s): only when a painsig stage runs
    from nmm.jobs.painsig import run_painsig, settings_from_config

    inputs = {
        "painsig": pain.painsig,
        "preprocess": pain.preprocess,
        "data": pain.data,
        "seed": pain.seed,
        "files": data_fp,
        "reconstructed": None if upstream is None else [upstream.fingerprint, hidden, predictions],
        "subjects": list(subjects) if subjects else None,
    }

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        cohort = instantiate(pain.data)
        if subjects:
            cohort = cohort.select(subject=list(subjects))
        settings = settings_from_config(pain.painsig)
        missing = {settings.positive, settings.negative} - set(cohort.conditions)
        if missing:
            return {"skipped": f"the cohort has no '{sorted(missing)}' trials"}
        augment = (
            None if upstream is None else ReconstructedChannels(upstream.path / predictions, hidden)
        )
        return run_painsig(
            cohort,
            instantiate(pain.preprocess.emg),
            instantiate(pain.preprocess.kinematics),
            instantiate(pain.painsig.segmenter),
            settings,
            folder,
            int(pain.seed),
            augment=augment,
        )

    return runner.run(name, inputs, run)


def _data_stage(runner: StageRunner, cfg: DictConfig, cohort: Any, data_fp: str) -> StageResult:
    """The cohort preprocessed, written as a dataset folder (read back exactly), figures."""
    inputs = {"preprocess": cfg.preprocess, "files": data_fp}

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        out = run_data_overview(
            cohort,
            instantiate(cfg.preprocess.emg),
            instantiate(cfg.preprocess.kinematics),
            cfg.preprocess.resample_hz,
            folder,
            max_figures=int((cfg.get("pipeline") or {}).get("data_figures", 2)),
        )
        out["figures"] = [str(Path(f).relative_to(folder)) for f in out["figures"]]
        return out

    return runner.run("data", inputs, run)


def _validate_stage(
    runner: StageRunner, cfg: DictConfig, upstream: StageResult, predictions: str
) -> StageResult:
    vcfg = compose_config("validate")
    with open_dict(vcfg):
        vcfg.paths = cfg.paths
        vcfg.physics = cfg.physics
        # resolved: its keys may point at nodes validate's config lacks (preprocess.causal
        # follows model.causal)
        vcfg.preprocess = OmegaConf.to_container(cfg.preprocess, resolve=True)
        vcfg.data = cfg.data
        vcfg.validate = OmegaConf.merge(vcfg.validate, cfg.get("validate") or {})
    inputs = {"validate": vcfg, "upstream": upstream.fingerprint, "predictions": predictions}

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        with open_dict(vcfg):
            vcfg.run_dir = str(folder)
            vcfg.validate.predictions = str(upstream.path / predictions)
        return run_validate(vcfg)

    return runner.run("validate", inputs, run)


def _report_stage(runner: StageRunner, cfg: DictConfig, metrics: dict[str, Any]) -> StageResult:
    inputs = {
        "stages": {n: s.fingerprint for n, s in runner.results.items()},
        "report": cfg.get("report"),
    }

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        path = build_report(cfg, runner, metrics, folder / "report.html")
        return {"report": path.name}

    return runner.run("report", inputs, run)


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    if "skipped" in result:
        return {"skipped": result["skipped"]}
    out = {k: result.get(k) for k in HEADLINE_PAINSIG if k in result}
    third = result.get("third_condition")
    if third:
        out["third_condition"] = {
            k: third.get(k) for k in ("condition", "fraction", "ci", "n_samples", "n_subjects")
        }
    return out


def cohort_summary(trials: Sequence[PreparedTrial], hidden: Sequence[str]) -> dict[str, Any]:
    """Subjects, trials per kind and condition, loads, measured and hidden muscles."""
    first = trials[0]
    muscles = list(first.metadata.get("muscles", [])) or None
    return {
        "subjects": sorted({t.subject for t in trials}),
        "trials": len(trials),
        "trials_per_condition": dict(Counter(f"{t.kind}/{t.condition}" for t in trials)),
        "loads_kg": sorted({float(t.load_kg) for t in trials}),
        "measured_channels": int(first.measured.sum()),
        "hidden_muscles": list(hidden),
        "rate_hz": first.rate,
        "duration_s": round(float(sum(t.time[-1] - t.time[0] for t in trials)), 1),
        **({"muscles": muscles} if muscles else {}),
    }


def run_pipeline(cfg: DictConfig) -> dict[str, Any]:
    """The whole pipeline; returns (and writes) the headline metrics."""
    t0 = time.perf_counter()
    run = open_run(cfg)
    run_dir, runner, trials, data_fp = run.run_dir, run.runner, run.trials, run.data_fp
    cohort, truth_dir, elbow, seed = run.cohort, run.truth_dir, run.elbow, run.seed
    protocol = str(cfg.compare.get("protocol", "per_subject"))
    predictions = "predictions" if protocol == "per_subject" else "loso/predictions"
    hidden = list(cfg.physics.hidden)

    data = _data_stage(runner, cfg, cohort, data_fp)
    nmm = nmm_stage(runner, cfg, data_fp)
    mse = mse_stage(runner, cfg, trials, elbow, truth_dir, data_fp)
    cmp = compare_stage(runner, cfg, trials, truth_dir, {"nmm": nmm, "mse": mse})
    val = _validate_stage(runner, cfg, nmm, "predictions")
    pain = painsig_config(cfg)
    subjects = cfg.get("subjects")
    measured = _painsig_stage(
        runner, "painsig_measured", pain, data_fp, None, hidden, predictions, subjects
    )
    source = {"nmm": nmm, "mse": mse}[str(cfg.pipeline.get("reconstructed", "nmm"))]
    with_rec = _painsig_stage(
        runner, "painsig_with_reconstructed", pain, data_fp, source, hidden, predictions, subjects
    )
    metrics: dict[str, Any] = {
        "seed": seed,
        "cohort": cohort.name,
        "cohort_summary": cohort_summary(trials, hidden),
        "dataset_roundtrip_exact": data.result.get("dataset_roundtrip_exact"),
        "protocol": protocol,
        "nmm": cmp.result.get("nmm"),
        "mse": cmp.result.get("mse"),
        "baseline_copy_synergist": cmp.result.get("baseline"),
        "paired_rmse_diff_mean": cmp.result.get("paired_rmse_diff_mean"),
        "paired_rmse_diff_ci": cmp.result.get("paired_rmse_diff_ci"),
        "nmm_to_mse_rmse_ratio": cmp.result.get("nmm_to_mse_rmse_ratio"),
        "opensim_torque_r2": val.result.get("opensim_torque_r2"),
        "opensim_torque_rmse_nm": val.result.get("opensim_torque_rmse_nm"),
        "opensim_vs_torch_rel_rms_max": val.result.get("torch_rel_rms_diff_max"),
        "painsig_measured": _headline(measured.result),
        "painsig_with_reconstructed": _headline(with_rec.result),
        "painsig_reconstructed_from": str(cfg.pipeline.get("reconstructed", "nmm")),
    }
    third = measured.result.get("third_condition") or {}
    metrics["placebo_fraction_painful"] = third.get("fraction")
    metrics["placebo_fraction_painful_ci"] = third.get("ci")
    rec_third = with_rec.result.get("third_condition") or {}
    metrics["placebo_fraction_painful_with_reconstructed"] = rec_third.get("fraction")
    report = _report_stage(runner, cfg, metrics)
    shutil.copyfile(report.path / "report.html", run_dir / "report.html.tmp")
    (run_dir / "report.html.tmp").replace(run_dir / "report.html")
    metrics["stages"] = {
        n: {"ran": s.ran, "wall_s": round(s.wall_s, 2)} for n, s in runner.results.items()
    }
    metrics["wall_s"] = time.perf_counter() - t0
    metrics["config"] = OmegaConf.to_container(cfg.pipeline, resolve=True)
    write_metrics(metrics, run_dir)
    return metrics


def summary_lines(metrics: dict, run_dir: str) -> list[str]:
    """What the job prints when it ends."""
    lines = []
    for m in ("nmm", "mse"):
        s = metrics.get(m) or {}
        lines.append(
            f"{m}: hidden RMSE {s.get('hidden_rmse_mean', float('nan')):.4f}, r "
            f"{s.get('hidden_pearson_r_mean', float('nan')):.3f}, torque R² "
            f"{s.get('torque_r2', float('nan')):.3f}"
        )
    ci = metrics.get("paired_rmse_diff_ci")
    if ci:
        lines.append(f"MSE − NMM hidden RMSE 95 % CI [{ci[0]:+.4f}, {ci[1]:+.4f}]")
    if metrics.get("opensim_torque_r2") is not None:
        lines.append(f"OpenSim muscle torque vs ID: R² {metrics['opensim_torque_r2']:.3f}")
    for key in ("painsig_measured", "painsig_with_reconstructed"):
        s = metrics.get(key) or {}
        if "balanced_accuracy" in s:
            lo, hi = s["balanced_accuracy_ci"]
            lines.append(
                f"{key}: balanced accuracy {s['balanced_accuracy']:.3f} [{lo:.3f}, {hi:.3f}], "
                f"chance {s.get('chance_level') or float('nan'):.3f}"
            )
        elif "skipped" in s:
            lines.append(f"{key}: skipped ({s['skipped']})")
    ran = [n for n, s in metrics.get("stages", {}).items() if s["ran"]]
    skipped = [n for n, s in metrics.get("stages", {}).items() if not s["ran"]]
    lines.append(f"stages run: {', '.join(ran) or 'none'}; reused: {', '.join(skipped) or 'none'}")
    lines.append(f"report: {run_dir}/report.html   metrics: {run_dir}/metrics.json")
    return lines


def pipeline_and_report(cfg: DictConfig) -> dict:
    """nmm-pipeline's work (nmm.pipeline.job.run_pipeline) and what it prints at the end."""
    metrics = run_pipeline(cfg)
    print("\n".join(summary_lines(metrics, str(cfg.run_dir))))
    return metrics
