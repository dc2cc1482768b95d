"""``nmm-export-onnx``: a trained NMM as ONNX graphs for wearables (issue 22, item 4; config
``conf/export_onnx.yaml``, graphs by :mod:`nmm.model.onnx_export`).

Reads an ``nmm-train`` run folder (``config.yaml``, ``model.ckpt``; with ``subject_id`` and a
specialised network, ``subjects/<subject>.ckpt``) and writes into ``out``:

- ``model.onnx``: the encoder, ``features (B, T, F) -> envelopes (B, T, M)``; a causal run's
  (``model.causal``) attends to earlier samples only;
- ``physics/<subject>.onnx`` (``physics_graphs: true``): each subject's personalised elbow,
  ``envelopes, angle, velocity -> torque_nm, activation``;
- ``model.json``: the sidecar a device needs to feed the graphs: opset, window (samples, s),
  rate, causal mode and hop, the input columns in order with their units and scales, the
  muscles (hidden ones marked), the preprocessing chains, the channel map, a causal run's
  stream inputs of each subject (raw EMG channels, rates and EMG references,
  ``stream_inputs.json``), each graph's inputs, outputs and SHA-256, and the run's
  fingerprint (the SHA-256 of its config and checkpoint);
- ``config.yaml`` and ``metrics.json``: onnxruntime vs torch on every window of the run's cohort
  (``check.parity``; the export fails above ``check.*_tolerance``) and onnxruntime's latency per
  window on ``threads`` threads.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from nmm.atomic import atomic_write_json
from nmm.jobs.nmm_setup import load_cohort, plain, prepared_trials
from nmm.jobs.run_dir import write_config
from nmm.jobs.stream_model import STREAM_INPUTS
from nmm.jobs.trained import load_trained
from nmm.model import onnx_export as ox
from nmm.model.physics import PersonalisedElbow
from nmm.model.train import NMMBundle, set_threads

__all__ = ["SIDECAR", "ExportParityError", "run_export_onnx"]

log = logging.getLogger(__name__)

#: The sidecar's file name in ``out``.
SIDECAR = "model.json"
#: The encoder's file name in ``out``.
ENCODER_FILE = "model.onnx"


class ExportParityError(ValueError):
    """onnxruntime and torch disagree beyond the tolerance (names the graph and both values)."""


@dataclass(frozen=True)
class _Exported:
    """What is exported: the network's bundle, each subject's elbow and row, the checkpoint."""

    train_cfg: DictConfig
    bundle: NMMBundle
    physics_for: dict[str, tuple[PersonalisedElbow, int]]
    checkpoint: Path


def _trained(run: Path, subject: str | None) -> _Exported:
    """The run's joint network and every subject's elbow, or with ``subject`` (``subject_id``)
    that subject's own network and elbow where the run specialised one
    (``subjects/<subject>.ckpt``), else the joint network and the subject's row.

    Raises:
        FileNotFoundError: ``run`` is not an nmm-train run folder (names the missing file).
        ValueError: the run has no subject ``subject`` (names the run and its subjects).
    """
    train_cfg, b = load_trained(run)
    ids = list(b.module.subject_ids)
    if subject is None:
        rows = {s: (b.module.physics, i) for i, s in enumerate(ids)}
        return _Exported(train_cfg, b, rows, run / "model.ckpt")
    if subject not in ids:
        raise ValueError(f"{run}: the trained run has no subject {subject!r}; it has {ids}")
    own = run / "subjects" / f"{subject}.ckpt"
    if own.is_file():
        _, sb = load_trained(run, own)
        return _Exported(train_cfg, sb, {subject: (sb.module.physics, 0)}, own)
    rows = {subject: (b.module.physics, ids.index(subject))}
    return _Exported(train_cfg, b, rows, run / "model.ckpt")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stream_inputs(run: Path, subjects: Sequence[str]) -> dict[str, Any] | None:
    """The subjects' entries of a causal run's ``stream_inputs.json`` (raw EMG channels and
    rates, the EMG references a device divides the envelopes by; None: the run has none).

    Raises:
        ValueError: the file is not a JSON object (names it).
    """
    path = run / STREAM_INPUTS
    if not path.is_file():
        return None
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected {{subject: stream inputs}}")
    return {s: table.get(s) for s in subjects}


def _sidecar(run: Path, out: Path, ex: _Exported, physics_files: dict[str, Path]) -> dict[str, Any]:
    """The content of ``model.json`` (module doc)."""
    b = ex.bundle
    t, m = b.window, len(b.muscles)
    encoder = out / ENCODER_FILE
    return {
        "format": "nmm-onnx/1",
        "opset": ox.OPSET,
        "run": str(run),
        "fingerprint": {
            "config.yaml": _sha256(run / "config.yaml"),
            str(ex.checkpoint.relative_to(run)): _sha256(ex.checkpoint),
        },
        "rate_hz": 1.0 / b.dt,
        "window_samples": t,
        "window_s": t * b.dt,
        "causal": b.causal_hop is not None,
        # a causal run's stream emits each window's newest hop samples (nmm.model.causal)
        "hop_samples": b.causal_hop,
        "muscles": list(b.muscles),
        "hidden": [b.muscles[k] for k in b.hidden],
        "use_measured": b.use_measured,
        "features": ox.feature_columns(b.spec),
        "preprocess": plain(ex.train_cfg.preprocess),
        # recorded channel -> model muscles (several channels on one muscle are averaged)
        "channel_map": plain(ex.train_cfg.model.get("channel_map")),
        "stream_inputs": _stream_inputs(run, sorted(ex.physics_for)),
        "encoder": {
            "file": ENCODER_FILE,
            "sha256": _sha256(encoder),
            "inputs": {"features": ["batch", t, b.spec.n_features]},
            "outputs": {"envelopes": ["batch", t, m]},
        },
        "physics": {
            s: {
                "file": str(p.relative_to(out)),
                "sha256": _sha256(p),
                "inputs": {
                    "envelopes": ["batch", t, m],
                    "angle": ["batch", t],
                    "velocity": ["batch", t],
                },
                "outputs": {"torque_nm": ["batch", t], "activation": ["batch", t, m]},
            }
            for s, p in physics_files.items()
        },
    }


def _check(
    cfg: DictConfig, ex: _Exported, encoder: Path, physics_files: dict[str, Path]
) -> dict[str, Any]:
    """Parity of every graph on the windows of the run's cohort, and onnxruntime's latency.

    Raises:
        ExportParityError: a graph beyond ``check.envelope_tolerance`` /
            ``check.torque_tolerance`` (a fraction of the windows' peak torque).
    """
    b, check = ex.bundle, cfg.check
    cohort, _ = load_cohort(ex.train_cfg)
    subjects = set(ex.physics_for)
    trials = [
        t
        for t in prepared_trials(ex.train_cfg, cohort, b.module.physics.elbows, every_kind=True)
        if t.subject in subjects
    ]
    windows = ox.export_windows(trials, b.spec, b.muscles, b.window, b.stride)
    threads = int(cfg.get("threads") or 1)
    session = ox.inference_session(encoder, threads)
    diff = ox.encoder_parity(b.module.net, session, windows.features)
    tol = float(check.envelope_tolerance)
    if diff > tol:
        raise ExportParityError(f"{encoder}: envelopes differ from torch's by {diff:.3g} > {tol:g}")
    result: dict[str, Any] = {
        "windows": len(windows.features),
        "envelope_max_abs_diff": diff,
        "torque": {s: _torque_parity(cfg, ex, s, p, windows) for s, p in physics_files.items()},
    }
    n = int(check.latency_windows)
    if n:
        result["latency"] = {"encoder": ox.window_latency(session, windows.features[:n]).to_dict()}
        for s, path in list(physics_files.items())[:1]:  # the elbows' graphs differ by constants
            feeds = {"envelopes": windows.envelopes[:n], "angle": windows.angle[:n]}
            feeds["velocity"] = windows.velocity[:n]
            timed = ox.window_latency(path, feeds, threads=threads)
            result["latency"]["physics"] = {"subject": s, **timed.to_dict()}
    return result


def _torque_parity(
    cfg: DictConfig, ex: _Exported, subject: str, path: Path, windows: ox.ExportWindows
) -> dict[str, float] | None:
    """One subject's elbow graph vs torch on its windows (None: the subject has none)."""
    own = windows.of_subject(subject)
    if not own.subjects:
        return None
    physics, row = ex.physics_for[subject]
    session = ox.inference_session(path, int(cfg.get("threads") or 1))
    diff, peak = ox.physics_parity(
        ex.bundle.module.net, physics, row, session, own, ex.bundle.use_measured
    )
    tol = float(cfg.check.torque_tolerance) * max(peak, 1.0)
    if diff > tol:
        raise ExportParityError(
            f"{path}: muscle torque differs from torch's by {diff:.3g} N·m > {tol:.3g} N·m"
        )
    return {"max_abs_diff_nm": diff, "peak_abs_nm": peak}


def _export_physics(ex: _Exported, out: Path) -> dict[str, Path]:
    """``physics/<subject>.onnx`` of every subject exported."""
    return {
        s: ox.export_physics(physics, row, ex.bundle.window, out / "physics" / f"{s}.onnx")
        for s, (physics, row) in ex.physics_for.items()
    }


def run_export_onnx(cfg: DictConfig) -> dict[str, Any]:
    """``nmm-export-onnx``: see the module doc. Returns the metrics (the job writes them to
    ``metrics.json``)."""
    run, out = Path(cfg.run), Path(cfg.out)
    subject = cfg.get("subject_id")
    ex = _trained(run, None if subject is None else str(subject))  # bad input fails here
    set_threads(cfg.get("threads"))
    out.mkdir(parents=True, exist_ok=True)
    write_config(cfg, out)
    b = ex.bundle
    encoder = ox.export_encoder(b.module.net, b.spec.n_features, b.window, out / ENCODER_FILE)
    physics_files = _export_physics(ex, out) if cfg.physics_graphs else {}
    checked = _check(cfg, ex, encoder, physics_files) if cfg.check.parity else None
    sidecar = _sidecar(run, out, ex, physics_files)
    atomic_write_json(out / SIDECAR, sidecar)
    log.info(
        "nmm-export-onnx: %s and %d elbow graph(s) in %s", ENCODER_FILE, len(physics_files), out
    )
    return {
        "run": str(run),
        "out": str(out),
        "opset": ox.OPSET,
        "causal": sidecar["causal"],
        "window_samples": sidecar["window_samples"],
        "subjects": sorted(physics_files),
        "torch_threads": torch.get_num_threads(),
        "check": checked,
    }
