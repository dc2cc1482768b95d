"""``nmm-stream``: a trained causal NMM on a stream (issue 22; config ``conf/stream.yaml``).

Builds, from the config, one subject's :class:`~nmm.stream.estimator.StreamEstimator` (a causal
``nmm-train`` run), the source (a replay of the subject's recorded trials, one after the other,
each with its own estimator and load; an ``.xdf`` file; live LSL inlets), the online indices
(co-contraction, completed contractions with a saved classifier's pain probability) and the
outputs (the live page on 127.0.0.1, LSL outlets), runs :class:`~nmm.stream.engine.Engine`
over each recording and writes:

- ``estimates.csv``: every model-rate sample (recording, t_s, in_gap, each muscle's envelope,
  torque_nm);
- ``metrics.json``: latency p50/p99/max (ms) over all updates and per recording, gaps, late
  samples and the completed contractions with their pain probability;
- ``config.yaml``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nmm.atomic import atomic_path
from nmm.jobs.config_check import ConfigError
from nmm.jobs.painsig import settings_from_config
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from nmm.jobs.stream_model import load_stream_estimator, trial_stream_arrays
from nmm.stream.engine import Engine, EngineReport, Output, Recording, warm_up
from nmm.stream.estimator import StreamEstimator
from nmm.stream.lsl import LslOutlets, LslSource
from nmm.stream.online import (
    CoContractionSettings,
    OnlineContractions,
    PainScorer,
    RunningCoContraction,
)
from nmm.stream.server import LiveServer
from nmm.stream.sources import ArrayReplay, RecordedStream, Source, xdf_replay
from painsig.classifier import PainClassifier
from painsig.segment import EmgBurstSegmenter

__all__ = ["StreamSettings", "recordings", "run_stream", "run_stream_job", "stream_settings"]

log = logging.getLogger(__name__)

#: One recording to stream: its name, its estimator and its source.
StreamRecording = tuple[str, StreamEstimator, Source]


@dataclass(frozen=True)
class StreamSettings:
    """The engine's settings: update_s, stall_s (s); duration_s: s of stream per recording
    (None: all); the co-contraction groups and window; the segmenter of contractions; the
    envelope history searched (s); the pain classifier (None: no probability), its positive
    class and feature parameters."""

    update_s: float
    stall_s: float
    duration_s: float | None
    cocontraction: CoContractionSettings
    segmenter: EmgBurstSegmenter
    history_s: float
    classifier: PainClassifier | None
    positive: str
    feature_params: dict[str, Any]


def stream_settings(cfg: DictConfig) -> StreamSettings:
    """The ``stream`` node and the painsig settings it uses; ConfigError naming the key for a
    segmenter that needs kinematics or a classifier trained on other contractions."""
    segmenter = instantiate(cfg.painsig.segmenter)
    if not isinstance(segmenter, EmgBurstSegmenter):
        raise ConfigError(
            "painsig.segmenter",
            f"{type(segmenter).__name__} cannot run online; the stream cuts contractions from "
            "the envelope alone (painsig/segmenter=emg_bursts)",
        )
    path = cfg.stream.classifier
    model = None if path is None else PainClassifier.load(path)
    trained_on = {} if model is None else model.context_
    if trained_on.get("segmenter", "emg_bursts") != "emg_bursts":
        raise ConfigError(
            "stream.classifier",
            f"{path} was trained on {trained_on['segmenter']} contractions; the stream cuts "
            "emg_bursts contractions (train it with painsig/segmenter=emg_bursts)",
        )
    painsig = settings_from_config(cfg.painsig)
    cc, st = cfg.stream.cocontraction, cfg.stream
    return StreamSettings(
        float(st.update_s),
        float(st.stall_s),
        None if st.duration_s is None else float(st.duration_s),
        CoContractionSettings(tuple(cc.flexors), tuple(cc.extensors), float(cc.window_s)),
        segmenter,
        float(st.history_s),
        model,
        painsig.positive,
        dict(painsig.features.params),
    )


def _replays(cfg: DictConfig, speed: float | None) -> Iterator[StreamRecording]:
    """The subject's trials of ``cfg.data``, each checked against the run's streams before the
    first is played (ConfigError for an unknown trial id; ValueError naming the trial for a
    missing channel or another rate)."""
    cohort = instantiate(cfg.data)
    mine = [t for t in cohort if t.subject == cfg.subject_id]
    wanted = cfg.replay.trials
    if wanted is not None:
        unknown = sorted(set(wanted) - {t.trial_id for t in mine})
        if unknown:
            raise ConfigError("replay.trials", f"subject {cfg.subject_id!r} has no {unknown}")
        trials = [t for t in mine if t.trial_id in wanted]
    else:
        excluded = set(cfg.replay.exclude_conditions or ())
        trials = [t for t in mine if t.condition not in excluded]
    if not trials:
        raise ConfigError("subject_id", f"no trial of subject {cfg.subject_id!r} to replay")
    first = load_stream_estimator(cfg.run, cfg.subject_id)
    arrays = [trial_stream_arrays(t, first) for t in trials]  # every trial checked first
    for trial, (emg, kinematics) in zip(trials, arrays, strict=True):
        estimator = load_stream_estimator(cfg.run, cfg.subject_id, trial.load.mass_kg)
        source = ArrayReplay(
            RecordedStream.regular(emg, estimator.emg_rate_hz),
            RecordedStream.regular(kinematics, estimator.kinematic_rate_hz),
            speed,
            float(cfg.replay.chunk_s),
        )
        yield trial.trial_id, estimator, source


def recordings(cfg: DictConfig) -> Iterator[StreamRecording]:
    """The recordings of ``cfg.source``, each with its estimator: the replayed trials (each
    with its own load), or one .xdf file or live stream (``stream.load_kg`` in the hand)."""
    speed = None if cfg.replay.speed is None else float(cfg.replay.speed)
    if cfg.source == "replay":
        yield from _replays(cfg, speed)
        return
    estimator = load_stream_estimator(cfg.run, cfg.subject_id, float(cfg.stream.load_kg))
    if cfg.source == "xdf":
        if cfg.xdf.path is None:
            raise ConfigError("xdf.path", "source=xdf needs the .xdf file")
        x = cfg.xdf
        source: Source = xdf_replay(
            x.path,
            x.emg_stream,
            estimator.emg_channels,
            x.kinematics_stream,
            estimator.kinematic_channels,
            speed,
            float(cfg.replay.chunk_s),
        )
        yield Path(x.path).stem, estimator, source
    else:
        lsl = cfg.lsl
        source = LslSource(
            lsl.emg_stream,
            estimator.emg_channels,
            lsl.kinematics_stream,
            estimator.kinematic_channels,
            float(lsl.resolve_timeout_s),
        )
        yield "lsl", estimator, source


def _outputs(cfg: DictConfig, estimator: StreamEstimator, settings: StreamSettings) -> list[Output]:
    """The live page (started) and the LSL outlets the config asks for."""
    out: list[Output] = []
    o = cfg.outputs
    if o.page:
        bands = OmegaConf.to_container(o.bands, resolve=True) or {}
        page = LiveServer(
            estimator.muscles,
            bands,
            estimator.hidden,
            settings.cocontraction.flexors,
            settings.cocontraction.extensors,
            float(o.window_s),
            int(o.port),
        )
        print(f"nmm-stream: live page on {page.start()}")
        out.append(page)
    if o.lsl:
        out.append(LslOutlets(estimator.muscles, estimator.out_rate_hz, o.lsl_prefix))
    return out


def _engine(
    estimator: StreamEstimator, source: Source, outputs: list[Output], settings: StreamSettings
) -> Engine:
    scorer = None
    if settings.classifier is not None:
        scorer = PainScorer(
            settings.classifier, settings.positive, estimator.muscles, settings.feature_params
        )
    rate = estimator.out_rate_hz
    return Engine(
        estimator,
        source,
        outputs,
        RunningCoContraction(estimator.muscles, settings.cocontraction, rate),
        OnlineContractions(estimator.muscles, settings.segmenter, rate, settings.history_s, scorer),
        settings.update_s,
        settings.stall_s,
    )


def _estimates(name: str, muscles: tuple[str, ...], recording: Recording) -> pd.DataFrame:
    """One recording's rows of estimates.csv."""
    a = recording.arrays()
    if a["t_s"].size == 0:
        return pd.DataFrame()
    table = pd.DataFrame(a["envelopes"], columns=list(muscles))
    table.insert(0, "in_gap", a["in_gap"].astype(int))
    table.insert(0, "t_s", a["t_s"])
    table.insert(0, "recording", name)
    table["torque_nm"] = a["torque_nm"]
    return table


def run_stream(
    items: Iterator[StreamRecording],
    settings: StreamSettings,
    make_outputs: Callable[[StreamEstimator], list[Output]],
) -> tuple[dict[str, EngineReport], pd.DataFrame]:
    """Streams each recording in turn (the outputs built once, for the first estimator, and
    shared); returns each recording's report and every estimate. Ctrl-C ends the stream and
    keeps what was estimated."""
    reports: dict[str, EngineReport] = {}
    tables, outputs = [], None
    try:
        for name, estimator, source in items:
            outputs = make_outputs(estimator) if outputs is None else outputs
            recording = Recording()
            engine = _engine(estimator, source, [*outputs, recording], settings)
            try:
                reports[name] = engine.run(settings.duration_s)
            except KeyboardInterrupt:  # a live stream ends with Ctrl-C
                reports[name] = engine.report
                break
            finally:
                source.close()
                tables.append(_estimates(name, estimator.muscles, recording))
            log.info("%s: latency %s", name, reports[name].summary()["latency_ms"])
    finally:
        for out in outputs or []:
            out.close()
    return reports, pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _metrics(reports: dict[str, EngineReport]) -> dict[str, Any]:
    """Latency over every update of every recording, and each recording's summary."""
    lat = np.concatenate([np.asarray(r.latencies_s) for r in reports.values()] or [[]]) * 1e3
    return {
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)) if lat.size else None,
            "p99": float(np.percentile(lat, 99)) if lat.size else None,
            "max": float(lat.max()) if lat.size else None,
            "n": int(lat.size),
        },
        "n_gaps": sum(len(r.gaps) for r in reports.values()),
        "n_contractions": sum(len(r.contractions) for r in reports.values()),
        "recordings": {name: r.summary() for name, r in reports.items()},
    }


def run_stream_job(cfg: DictConfig) -> dict[str, Any]:
    """The stream of one config into ``cfg.run_dir``; returns its metrics."""
    run_dir = Path(cfg.run_dir)
    settings = stream_settings(cfg)  # a bad segmenter or classifier fails here, before any work
    seed = seed_everything(int(cfg.seed))
    write_config(cfg, run_dir)
    warm_up(load_stream_estimator(cfg.run, cfg.subject_id))  # the first update's one-time costs
    reports, table = run_stream(recordings(cfg), settings, lambda est: _outputs(cfg, est, settings))
    with atomic_path(run_dir / "estimates.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    metrics = {"seed": seed, "source": cfg.source, "subject": cfg.subject_id, **_metrics(reports)}
    path = write_metrics(metrics, run_dir)
    lat = {k: "-" if v is None else f"{v:.1f}" for k, v in metrics["latency_ms"].items()}
    print(
        f"nmm-stream finished: {len(reports)} recording(s), latency p50 {lat['p50']} ms, "
        f"p99 {lat['p99']} ms, max {lat['max']} ms, {metrics['n_gaps']} gap(s); "
        f"metrics in {path}"
    )
    return metrics
