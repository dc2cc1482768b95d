"""`nmm-aggregate`: one table of a sweep's jobs, a summary over seeds, figures, and the failures.

A sweep folder (``multirun/<date_time>/``) holds one folder per job (``<job.num>/``) with Hydra's
``.hydra/overrides.yaml`` and the app's ``metrics.json`` (``nmm.jobs.sweep`` adds ``status`` and
the job's overrides to it). Folders of single runs (``config.yaml`` + ``metrics.json``, no
``.hydra/``) are read too: their overrides are the config keys whose values differ between them.

Outputs (atomic writes) in ``out_dir``:

- ``runs.csv`` / ``runs.md``: one row per job: its folder, status, overrides and metrics;
- ``summary.csv`` / ``summary.md``: the completed jobs grouped by every override except the seed,
  with per metric the mean, the t-interval (``ci``, 95 %) over the group's runs and their number
  (n = 1: no interval), and the failed jobs with their reason;
- ``figures/<metric>.png``: mean and interval per group, each run as a dot (metrics that are
  the same in every run are left out);
- ``aggregate.json``: counts, the failed jobs and the files written.

Metrics (``metrics``: dotted ``metrics.json`` keys; default every numeric scalar at the top level
and one level down, e.g. ``loso.hidden_rmse_mean``, ``balanced_accuracy``; booleans, ``seed`` and
the ``job`` record are not metrics).

A failed job is one whose ``metrics.json`` says ``status: failed`` (its ``error``), or that has no
readable ``metrics.json``: the reason is then Hydra's error where submitit kept it
(``.submitit/<id>/<id>_<task>_result.pkl``, the JobReturn of the job), else the last error line of
its submitit log, else that it did not finish (killed, timed out, or still running).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from nmm.atomic import atomic_write_text

__all__ = [
    "Job",
    "aggregate",
    "find_job_dirs",
    "flatten_metrics",
    "parse_overrides",
    "read_jobs",
    "summarise",
    "t_interval",
]

log = logging.getLogger(__name__)

NOT_METRICS = ("job", "status", "error", "traceback", "seed")


@dataclass
class Job:
    """One job of a sweep: ``name`` its folder relative to the sweep folder, ``overrides``
    key -> value as given on the command line, ``metrics`` dotted key -> value."""

    name: str
    path: Path
    overrides: dict[str, str]
    status: str  # "completed" or "failed"
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- reading


def parse_overrides(lines: Iterable[str]) -> dict[str, str]:
    """Hydra override strings (``subject=S01``, ``+local=x``, ``model.window_s=1.0``) as
    key -> value text, parsed with Hydra's own override grammar."""
    out = {}
    for o in OverridesParser.create().parse_overrides(list(lines)):
        value = o.get_value_element_as_str() if o.value() is not None else ""
        out[o.key_or_group] = value
    return out


def flatten_metrics(metrics: Mapping[str, Any], keys: Sequence[str] | None = None) -> dict:
    """Numeric metrics of one ``metrics.json``: the dotted ``keys``, or by default every number
    at the top level and one level down (booleans and :data:`NOT_METRICS` left out)."""
    if keys is not None:
        out = {}
        for key in keys:
            node: Any = metrics
            for part in key.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            out[key] = _number(node)
        return out
    out = {}
    for key, value in metrics.items():
        if key in NOT_METRICS:
            continue
        if isinstance(value, Mapping):
            for sub, v in value.items():
                if _is_number(v):
                    out[f"{key}.{sub}"] = float(v)
        elif _is_number(value):
            out[key] = float(value)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _number(v: Any) -> float:
    return float(v) if _is_number(v) else math.nan


def find_job_dirs(sweep_dir: Path, exclude: Sequence[Path] = ()) -> list[Path]:
    """Job folders under ``sweep_dir`` (itself included): those with ``.hydra/overrides.yaml``,
    and run folders with ``config.yaml`` and ``metrics.json``; a job's subfolders are not
    searched, nor ``.submitit`` and ``exclude``."""
    skip = {p.resolve() for p in exclude}
    found = []
    for root, dirs, files in os.walk(sweep_dir):
        here = Path(root)
        if here.resolve() in skip:
            dirs[:] = []
            continue
        is_hydra_job = (here / ".hydra" / "overrides.yaml").is_file()
        is_run = "config.yaml" in files and "metrics.json" in files
        if is_hydra_job or is_run:
            found.append(here)
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found, key=lambda p: _natural_key(p.relative_to(sweep_dir)))


def _natural_key(path: Path) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.parts]


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read YAML ({exc})") from exc


def _hydra_error(job_dir: Path, sweep_dir: Path) -> str | None:
    """The last error line of the stderr log submitit kept for this job (None when it says
    nothing). Submitit's ``*_result.pkl`` files are never read: unpickling a file found in a
    sweep folder could run code."""
    hydra_yaml = job_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        return None
    job_id = str(((_read_yaml(hydra_yaml) or {}).get("hydra") or {}).get("job", {}).get("id"))
    folder = sweep_dir / ".submitit" / job_id
    if not folder.is_dir():
        return None
    for err in sorted(folder.glob("*_log.err")):
        lines = [
            ln.strip()
            for ln in err.read_text(encoding="utf-8", errors="replace").splitlines()
            if any(w in ln for w in ("Error", "error:", "CANCELLED", "Killed", "Traceback"))
        ]
        if lines:
            return f"{lines[-1]} ({err.name})"
    return None


def _read_job(job_dir: Path, sweep_dir: Path, keys: Sequence[str] | None) -> Job:
    name = str(job_dir.relative_to(sweep_dir)) or "."
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = (
        parse_overrides(_read_yaml(overrides_file) or []) if overrides_file.is_file() else {}
    )
    path = job_dir / "metrics.json"
    metrics = None
    reason = None
    if path.is_file():
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            reason = f"metrics.json unreadable: {exc}"
    if isinstance(metrics, Mapping) and metrics.get("status") != "failed":
        return Job(name, job_dir, overrides, "completed", None, flatten_metrics(metrics, keys))
    if isinstance(metrics, Mapping):
        reason = str(metrics.get("error") or "status: failed (no error recorded)")
    reason = (
        reason
        or _hydra_error(job_dir, sweep_dir)
        or (
            "no metrics.json: the job raised (see the sweep's console output), was killed, "
            "timed out, or is still running"
        )
    )
    return Job(name, job_dir, overrides, "failed", reason)


def _flat_config(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, Mapping):
        out = {}
        for k, v in node.items():
            out.update(_flat_config(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: json.dumps(node) if isinstance(node, list | dict) else str(node)}


def read_jobs(
    sweep_dir: str | os.PathLike[str],
    metrics: Sequence[str] | None = None,
    exclude: Sequence[Path] = (),
) -> list[Job]:
    """Every job under ``sweep_dir`` (see :func:`find_job_dirs`), completed or failed.

    Run folders without ``.hydra/`` get as overrides the keys of their ``config.yaml`` whose
    values differ between them (``run_dir`` excepted)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep folder {sweep_dir} does not exist")
    dirs = find_job_dirs(sweep_dir, exclude)
    if not dirs:
        raise ValueError(
            f"{sweep_dir}: no job folders (a folder with .hydra/overrides.yaml, or with "
            "config.yaml and metrics.json)"
        )
    jobs = [_read_job(d, sweep_dir, metrics) for d in dirs]
    plain = [j for j in jobs if not (j.path / ".hydra" / "overrides.yaml").is_file()]
    if len(plain) > 1:
        configs = {j.name: _flat_config(_read_yaml(j.path / "config.yaml") or {}) for j in plain}
        keys = sorted({k for c in configs.values() for k in c} - {"run_dir"})
        varying = [k for k in keys if len({c.get(k) for c in configs.values()}) > 1]
        for j in plain:
            j.overrides = {k: configs[j.name].get(k, "") for k in varying}
    return jobs


# ----------------------------------------------------------------------------- statistics


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and Student-t confidence interval of the finite ``values``: (mean, low, high, n).

    mean ± t_{(1+level)/2, n-1} · s / √n with s the sample SD (ddof 1); n = 1 gives NaN bounds,
    n = 0 NaN throughout."""
    from scipy import stats

    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n == 1:
        return mean, math.nan, math.nan, 1
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


def varying_keys(jobs: Sequence[Job]) -> list[str]:
    """Override keys whose value is not the same in every job (in first-seen order)."""
    keys = list(dict.fromkeys(k for j in jobs for k in j.overrides))
    return [k for k in keys if len({j.overrides.get(k) for j in jobs}) > 1]


def metric_names(jobs: Sequence[Job]) -> list[str]:
    return list(dict.fromkeys(k for j in jobs for k in j.metrics))


def summarise(
    jobs: Sequence[Job], group_keys: Sequence[str], metrics: Sequence[str], level: float = 0.95
) -> list[dict[str, Any]]:
    """One row per combination of ``group_keys`` values (in first-seen order): the values,
    ``n_runs``, ``n_failed``, and per metric ``<m>.mean``, ``<m>.ci_low``, ``<m>.ci_high``,
    ``<m>.n`` over the group's completed jobs (:func:`t_interval`)."""
    groups: dict[tuple[str, ...], list[Job]] = {}
    for j in jobs:
        groups.setdefault(tuple(j.overrides.get(k, "") for k in group_keys), []).append(j)
    rows = []
    for values, members in groups.items():
        done = [j for j in members if j.status == "completed"]
        row: dict[str, Any] = dict(zip(group_keys, values, strict=True))
        row["n_runs"] = len(done)
        row["n_failed"] = len(members) - len(done)
        for m in metrics:
            mean, low, high, n = t_interval([j.metrics.get(m, math.nan) for j in done], level)
            row.update({f"{m}.mean": mean, f"{m}.ci_low": low, f"{m}.ci_high": high, f"{m}.n": n})
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- writing


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: "" if _is_nan(r.get(c)) else r.get(c, "") for c in columns})
    return buf.getvalue()


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return _fmt(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _group_label(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in keys) or "all runs"


def _interval_text(row: Mapping[str, Any], m: str) -> str:
    mean, low, high, n = (row[f"{m}.{s}"] for s in ("mean", "ci_low", "ci_high", "n"))
    if n == 0:
        return ""
    if n == 1:
        return f"{mean:.4g} (n=1)"
    return f"{mean:.4g} [{low:.4g}, {high:.4g}] (n={n})"


def plot_metric(
    rows: Sequence[Mapping[str, Any]],
    jobs_by_group: Sequence[Sequence[Job]],
    group_keys: Sequence[str],
    metric: str,
    level: float,
    path: Path,
) -> Path:
    """Mean and t-interval of ``metric`` per group (rows of :func:`summarise`), runs as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nmm.reports.figures import save_figure

    labels = [_group_label(r, group_keys) for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.35 * len(rows)))
    for i, (r, members) in enumerate(zip(rows, jobs_by_group, strict=True)):
        dots = [j.metrics.get(metric, math.nan) for j in members if j.status == "completed"]
        ax.plot(dots, [i] * len(dots), "o", color="0.6", ms=4, zorder=1)
        mean, low, high = r[f"{metric}.mean"], r[f"{metric}.ci_low"], r[f"{metric}.ci_high"]
        if np.isfinite(low):
            ax.errorbar(mean, i, xerr=[[mean - low], [high - mean]], fmt="none", color="k")
        ax.plot(mean, i, "D", color="tab:blue", ms=6, zorder=2)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first group on top
    ax.set_xlabel(metric)
    ax.set_title(f"mean and {level:.0%} t-interval over seeds; dots: runs", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, path)


def _failures(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    """The failed jobs: folder, overrides and reason."""
    return [{"job": j.name, "overrides": j.overrides, "reason": j.reason} for j in jobs if j.reason]


def _write_runs(
    out: Path, jobs: Sequence[Job], varying: Sequence[str], names: Sequence[str]
) -> dict[str, Path]:
    """``runs.csv`` and ``runs.md``: one row per job, its status, overrides, metrics, reason."""
    cols = ["job", "status", *varying, *names, "reason"]
    rows = [
        {"job": j.name, "status": j.status, **j.overrides, **j.metrics, "reason": j.reason or ""}
        for j in jobs
    ]
    return {
        "runs_csv": atomic_write_text(out / "runs.csv", _csv(rows, cols)),
        "runs_md": atomic_write_text(
            out / "runs.md", _md_table(cols, [[r.get(c, "") for c in cols] for r in rows])
        ),
    }


def _summary_markdown(
    sweep_dir: Path,
    jobs: Sequence[Job],
    rows: Sequence[Mapping[str, Any]],
    group_keys: Sequence[str],
    names: Sequence[str],
    ci: float,
    seed_key: str,
) -> str:
    """``summary.md``: counts, the common overrides, mean and interval per metric and group,
    the failed jobs."""
    varying = varying_keys(jobs)
    common = {k: v for k, v in (jobs[0].overrides.items() if jobs else []) if k not in varying}
    failed = _failures(jobs)
    n_done = sum(j.status == "completed" for j in jobs)
    md = [f"# Sweep {sweep_dir}\n"]
    md.append(
        f"{len(jobs)} jobs: {n_done} completed, {len(failed)} failed. "
        f"Grouped by {', '.join(group_keys) or 'nothing (one group)'}; means with "
        f"{ci:.0%} Student-t intervals over {seed_key} (n = runs; n=1: no interval).\n"
    )
    if common:
        md.append("Common overrides: " + " ".join(f"`{k}={v}`" for k, v in common.items()) + "\n")
    if rows and names:
        labels = [_group_label(r, group_keys) for r in rows]
        md.append("## Summary\n")
        md.append(
            _md_table(
                ["metric", *labels],
                [
                    ["runs completed", *(r["n_runs"] for r in rows)],
                    ["runs failed", *(r["n_failed"] for r in rows)],
                    *([m] + [_interval_text(r, m) for r in rows] for m in names),
                ],
            )
        )
    md.append("## Failed jobs\n")
    md.append(
        _md_table(
            ["job", "overrides", "reason"],
            [
                [f["job"], " ".join(f"{k}={v}" for k, v in f["overrides"].items()), f["reason"]]
                for f in failed
            ],
        )
        if failed
        else "None.\n"
    )
    return "\n".join(md)


def _figures(
    out: Path,
    jobs: Sequence[Job],
    rows: Sequence[Mapping[str, Any]],
    group_keys: Sequence[str],
    names: Sequence[str],
    ci: float,
) -> list[Path]:
    """``figures/<metric>.png`` for each metric that is not the same in every completed run."""
    members = [
        [
            j
            for j in jobs
            if tuple(j.overrides.get(k, "") for k in group_keys) == tuple(r[k] for k in group_keys)
        ]
        for r in rows
    ]
    done = [j for j in jobs if j.status == "completed"]
    paths = []
    for m in names:
        values = {j.metrics.get(m) for j in done if np.isfinite(j.metrics.get(m, math.nan))}
        if len(values) > 1:  # a metric equal in every run says nothing per group
            paths.append(
                plot_metric(rows, members, group_keys, m, ci, out / "figures" / f"{m}.png")
            )
    return paths


def aggregate(
    sweep_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] | None = None,
    seed_key: str = "seed",
    ci: float = 0.95,
    figures: bool = True,
) -> dict[str, Any]:
    """Read the sweep, write the tables, figures and ``aggregate.json``; returns its content
    (see the module doc)."""
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    sweep_dir = Path(sweep_dir)
    out = Path(out_dir) if out_dir else sweep_dir / "aggregate"
    jobs = read_jobs(sweep_dir, metrics, exclude=[out])
    done = [j for j in jobs if j.status == "completed"]
    names = list(metrics) if metrics is not None else metric_names(done)
    varying = varying_keys(jobs)
    group_keys = [k for k in varying if k != seed_key]
    rows = summarise(jobs, group_keys, names, ci)
    sum_cols = [*group_keys, "n_runs", "n_failed"] + [
        f"{m}.{s}" for m in names for s in ("mean", "ci_low", "ci_high", "n")
    ]
    files = _write_runs(out, jobs, varying, names)
    files["summary_csv"] = atomic_write_text(out / "summary.csv", _csv(rows, sum_cols))
    files["summary_md"] = atomic_write_text(
        out / "summary.md",
        _summary_markdown(sweep_dir, jobs, rows, group_keys, names, ci, seed_key),
    )
    figure_files = _figures(out, jobs, rows, group_keys, names, ci) if figures and rows else []
    failed = _failures(jobs)
    result = {
        "sweep_dir": str(sweep_dir),
        "n_jobs": len(jobs),
        "n_completed": len(done),
        "n_failed": len(failed),
        "group_by": group_keys,
        "seed_key": seed_key,
        "ci": ci,
        "metrics": names,
        "failed": failed,
        "files": {k: str(v) for k, v in files.items()},
        "figures": [str(p) for p in figure_files],
    }
    atomic_write_text(out / "aggregate.json", json.dumps(result, indent=2) + "\n")
    return result
