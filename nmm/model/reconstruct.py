"""Whole-trial reconstruction with a trained NMM, and the files ``nmm-predict`` writes.

The network sees windows (``model.window_s`` every ``model.stride_s``); a trial's envelopes are
the windows' outputs blended with a Hann taper (each sample a weighted mean of the windows that
cover it, so window edges, where attention sees one side only, count less). A causal model
(``model.causal``) instead gives each sample from the window ending at the stream update that
brings it (:func:`nmm.model.causal.causal_envelopes`), as a stream computes it. The physics then
runs once over the whole trial: activation dynamics from the first sample and the muscle torque
with the subject's personalised parameters.

Files (:func:`write_outputs`), under an output folder::

    envelopes/<subject>/<session>_<trial>_envelopes.sto   every muscle's envelope ê (0-1)
    envelopes/<subject>/<session>_<trial>_excitation.sto  u = gain × ê
    envelopes/<subject>/<session>_<trial>_activation.sto  a (0-1)
    envelopes/<subject>/<session>_<trial>_torque.sto      τ_ID (the data) and τ_mus (model), N·m
    models/<subject>.osim                                  the personalised OpenSim model
    figures/<subject>_<trial>.png                          envelopes and torque over time
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nmm.atomic import atomic_path
from nmm.data.io.sto import read_sto, write_sto
from nmm.model.causal import causal_envelopes
from nmm.model.features import PreparedTrial, input_features, window_starts
from nmm.model.physics import PersonalisedElbow
from nmm.physics.parameters import export_personalised_osim

__all__ = [
    "Reconstruction",
    "parameters_report",
    "plot_reconstruction",
    "predict_envelopes",
    "read_outputs",
    "reconstruct",
    "write_outputs",
]

log = logging.getLogger(__name__)

# Floor of the Hann taper, so a sample covered by one window edge only still has a weight.
_TAPER_FLOOR = 1e-3


@dataclass
class Reconstruction:
    """One trial reconstructed (T samples, M muscles).

    Attributes:
        trial: the prepared trial.
        muscles: ``(M,)`` names.
        envelopes: ``(T, M)`` ê in [0, 1]: the network's output (for the measured muscles the
            recordings instead, when reconstructed with ``use_measured``).
        excitation: ``(T, M)`` u = gain × ê.
        activation: ``(T, M)`` a.
        torque: ``(T,)`` τ_mus (N·m).
    """

    trial: PreparedTrial
    muscles: tuple[str, ...]
    envelopes: np.ndarray
    excitation: np.ndarray
    activation: np.ndarray
    torque: np.ndarray


def _taper(n: int) -> np.ndarray:
    k = np.arange(n)
    return np.sin(math.pi * (k + 0.5) / n) ** 2 + _TAPER_FLOOR


@torch.no_grad()
def predict_envelopes(
    net: torch.nn.Module,
    trial: PreparedTrial,
    spec: Any,
    muscles: Sequence[str],
    window: int,
    stride: int,
    batch_size: int = 64,
) -> np.ndarray:
    """``(T, M)`` envelopes of a whole trial from overlapping windows (Hann-weighted mean)."""
    was_training = net.training
    net.eval()
    x = torch.from_numpy(input_features(trial, spec, muscles))
    n = trial.n_samples
    length = min(window, n) if n < window else window
    starts = window_starts(n, length, stride)
    ref = next(net.parameters())
    xs = torch.stack([x[s : s + length] for s in starts]).to(ref)
    outs = [net(xs[i : i + batch_size]) for i in range(0, len(starts), batch_size)]
    y = torch.cat(outs).double().cpu().numpy()
    w = _taper(length)
    total = np.zeros((n, y.shape[-1]))
    weight = np.zeros(n)
    for k, s in enumerate(starts):
        total[s : s + length] += y[k] * w[:, None]
        weight[s : s + length] += w
    net.train(was_training)
    return total / weight[:, None]


@torch.no_grad()
def reconstruct(
    net: torch.nn.Module,
    physics: PersonalisedElbow,
    row: int,
    trial: PreparedTrial,
    spec: Any,
    window: int,
    stride: int,
    use_measured: bool = True,
    causal_hop: int | None = None,
) -> Reconstruction:
    """Envelopes, excitation, activation and muscle torque of one trial (subject row ``row``).

    With ``use_measured`` the measured muscles' envelopes are the recordings (the network's
    outputs for them are replaced, :func:`nmm.model.physics.with_measured`); the hidden
    muscles' are always the network's. With ``causal_hop`` (samples between a stream's
    updates; a causal network) the envelopes are the causal reconstruction's
    (:func:`nmm.model.causal.causal_envelopes`, ``stride`` unused); None: overlapping windows.
    """
    muscles = tuple(physics.muscle_names)
    if causal_hop is None:
        env = predict_envelopes(net, trial, spec, muscles, window, stride)
    else:
        env = causal_envelopes(net, input_features(trial, spec, muscles), window, causal_hop)
    if use_measured:
        env = np.where(trial.measured[None, :], trial.recorded_envelopes, env)
    ref = physics.parameters_table.raw
    e = torch.as_tensor(env, dtype=ref.dtype, device=ref.device).unsqueeze(0)
    th = torch.tensor(trial.angle, dtype=ref.dtype, device=ref.device).unsqueeze(0)
    thd = torch.tensor(trial.velocity, dtype=ref.dtype, device=ref.device).unsqueeze(0)
    out = physics(e, [row], th, thd)
    return Reconstruction(
        trial=trial,
        muscles=muscles,
        envelopes=env,
        excitation=out.excitation[0].double().cpu().numpy(),
        activation=out.activation[0].double().cpu().numpy(),
        torque=out.torque[0].double().cpu().numpy(),
    )


def parameters_report(
    bundle: Any, physics: PersonalisedElbow, subject_ids: Sequence[str]
) -> dict[str, Any]:
    """``{subject: {parameter: value or {muscle: value}}}`` of a parameter table (factors for
    relative parameters, values in their units otherwise), plus the bounds."""
    table = physics.parameters_table
    out: dict[str, Any] = {"bounds": {s.name: [s.lower, s.upper] for s in table.specs}}
    out["relative"] = [s.name for s in table.specs if s.relative]
    for i, sid in enumerate(subject_ids):
        sp = table.subject(i)
        out[sid] = {
            name: (
                dict(zip(table.muscle_names, np.atleast_1d(v).tolist(), strict=True))
                if np.ndim(v)
                else float(v)
            )
            for name, v in sp.values.items()
        }
    return out


def _stem(trial: PreparedTrial) -> str:
    return f"{trial.session}_{trial.trial_id}"


def plot_reconstruction(
    rec: Reconstruction,
    path: str | os.PathLike[str],
    truth: np.ndarray | None = None,
    hidden: Sequence[str] = (),
) -> Path:
    """Figure: each muscle's envelope (measured, predicted, true when known) and the torque."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = rec.trial.time
    m = len(rec.muscles)
    fig, axes = plt.subplots(m + 1, 1, figsize=(8, 1.4 * (m + 1) + 0.6), sharex=True)
    for k, name in enumerate(rec.muscles):
        ax = axes[k]
        if rec.trial.measured[k]:
            ax.plot(t, rec.trial.envelopes[:, k], color="0.6", lw=1.0, label="measured")
        if truth is not None:
            ax.plot(t, truth[:, k], color="k", lw=1.0, ls="--", label="truth")
        ax.plot(
            t, rec.envelopes[:, k], color="C0" if name not in hidden else "C3", lw=1.2, label="NMM"
        )
        ax.set_ylabel(name + (" (hidden)" if name in hidden else ""), fontsize=8)
        top = float(np.nanmax(rec.envelopes[:, k]))
        if truth is not None:
            top = max(top, float(np.nanmax(truth[:, k])))
        ax.set_ylim(-0.02, max(0.2, top * 1.15))
        if k == 0:
            ax.legend(fontsize=7, loc="upper right", ncol=3)
    ax = axes[-1]
    ax.plot(t, rec.trial.torque, color="k", lw=1.0, label=f"τ {rec.trial.torque_source}")
    ax.plot(t, rec.torque, color="C1", lw=1.2, label="τ muscles (NMM)")
    ax.set_ylabel("elbow moment\n(N·m)", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{rec.trial.subject} {rec.trial.trial_id} ({rec.trial.load_kg:g} kg)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path


def write_outputs(
    recs: Sequence[Reconstruction],
    out_dir: str | os.PathLike[str],
    *,
    physics: PersonalisedElbow | None = None,
    subject_rows: Mapping[str, int] | None = None,
    osim: str | os.PathLike[str] | None = None,
    coordinate: str = "elbow_flexion",
    truth: Mapping[tuple[str, str, str], np.ndarray] | None = None,
    hidden: Sequence[str] = (),
    max_figures: int | None = None,
) -> dict[str, list[str]]:
    """Write the ``.sto`` files, the personalised ``.osim`` per subject (from its own model
    where it has one, else ``osim``) and figures.

    Returns ``{"sto": [...], "osim": [...], "figures": [...]}`` (paths).
    """

    out = Path(out_dir)
    written: dict[str, list[str]] = {"sto": [], "osim": [], "figures": []}
    for rec in recs:
        tr = rec.trial
        base = out / "envelopes" / tr.subject
        names = list(rec.muscles)
        for what, arr in (
            ("envelopes", rec.envelopes),
            ("excitation", rec.excitation),
            ("activation", rec.activation),
        ):
            p = write_sto(
                base / f"{_stem(tr)}_{what}.sto", tr.time, arr, names, name=f"{tr.trial_id} {what}"
            )
            written["sto"].append(str(p))
        p = write_sto(
            base / f"{_stem(tr)}_torque.sto",
            tr.time,
            np.column_stack([tr.torque, rec.torque]),
            [f"{coordinate}_moment", f"{coordinate}_moment_muscles"],
            name=f"{tr.trial_id} torque ({tr.torque_source}) and NMM muscle torque",
        )
        written["sto"].append(str(p))
    if physics is not None and subject_rows is not None:
        written["osim"] += _write_models(physics, subject_rows, osim, out / "models")
    for k, rec in enumerate(recs):
        if max_figures is not None and k >= max_figures:
            break
        t = None if truth is None else truth.get(rec.trial.key)
        p = plot_reconstruction(
            rec, out / "figures" / f"{rec.trial.subject}_{rec.trial.trial_id}.png", t, hidden
        )
        written["figures"].append(str(p))
    return written


def _write_models(
    physics: PersonalisedElbow,
    subject_rows: Mapping[str, int],
    osim: str | os.PathLike[str] | None,
    out: Path,
) -> list[str]:
    """``<out>/<subject>.osim``: each subject's own model (``physics.elbows``), else ``osim``
    (``physics.osim``), with its row's personalised muscle properties, in its recorded posture
    where it has one (``physics.elbows.postures``)."""
    written = []
    for sid, row in subject_rows.items():
        src = physics.elbows.model(sid, None if osim is None else str(osim))
        if src is None:
            continue
        if not Path(src).is_file():
            log.warning("no .osim at %s: the personalised model of %s not written", src, sid)
            continue
        params = physics.parameters_table.subject(row)
        posture = physics.elbows.postures.get(sid)
        written.append(str(export_personalised_osim(src, params, out / f"{sid}.osim", posture)))
    return written


def read_outputs(
    out_dir: str | os.PathLike[str], trials: Sequence[PreparedTrial]
) -> list[Reconstruction]:
    """The reconstructions :func:`write_outputs` wrote under ``out_dir``, for ``trials``.

    Each trial's ``_envelopes``, ``_excitation``, ``_activation`` and ``_torque`` files are read
    back onto the trial (the files hold its own time grid); trials with no files are left out.
    Raises ``ValueError`` naming the file when its grid or columns disagree with the trial.
    """

    out = []
    for tr in trials:
        base = Path(out_dir) / "envelopes" / tr.subject / _stem(tr)
        if not Path(f"{base}_envelopes.sto").is_file():
            continue
        arrays = {}
        for what in ("envelopes", "excitation", "activation", "torque"):
            path = Path(f"{base}_{what}.sto")
            table = read_sto(path)
            if table.time.shape != tr.time.shape or not np.allclose(table.time, tr.time):
                raise ValueError(f"{path}: its time grid differs from trial {tr.key}")
            arrays[what] = table
        muscles = tuple(c for c in arrays["envelopes"].columns if c != "time")
        torque_col = [c for c in arrays["torque"].columns if c.endswith("_moment_muscles")]
        if not torque_col:
            raise ValueError(f"{base}_torque.sto: no '<coordinate>_moment_muscles' column")
        out.append(
            Reconstruction(
                trial=tr,
                muscles=muscles,
                envelopes=np.column_stack([arrays["envelopes"].column(m) for m in muscles]),
                excitation=np.column_stack([arrays["excitation"].column(m) for m in muscles]),
                activation=np.column_stack([arrays["activation"].column(m) for m in muscles]),
                torque=np.asarray(arrays["torque"].column(torque_col[0]), dtype=float),
            )
        )
    return out
