"""A trained NMM as ONNX graphs for the edge (wearables, embedded boards): export, parity, latency.

Two graphs, each traced by torch's TorchScript-based exporter at opset :data:`OPSET` with a
fixed window length (the positional encoding, a causal run's attention mask and the activation
loop are unrolled over it) and a dynamic batch axis:

- the encoder (:func:`export_encoder`): ``features (B, T, F)`` float32, the network's inputs
  already scaled (:func:`nmm.model.features.input_features`), -> ``envelopes (B, T, M)`` in
  [0, 1], every muscle's, deep ones included;
- one subject's personalised elbow (:func:`export_physics`, :class:`SubjectPhysics`):
  ``envelopes (B, T, M)``, ``angle (B, T)`` rad, ``velocity (B, T)`` rad/s -> ``torque_nm
  (B, T)`` the muscle torque (flexion positive) and ``activation (B, T, M)``, the subject's
  parameters baked in as constants. The activation state starts at the window's first sample,
  as :func:`nmm.model.reconstruct.reconstruct` starts it at a trial's.

The exporter has no symbolic for ``expm1`` (the activation shape, Lloyd & Besier 2003 eq. 4) or
``asinh``; they are exported as ``Exp(x) - 1`` and ONNX ``Asinh`` (:func:`_register_symbolics`).
:func:`encoder_parity` and :func:`physics_parity` compare onnxruntime with torch;
:func:`window_latency` times onnxruntime on single windows (one thread by default).
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import Tensor, nn

from nmm.atomic import atomic_path
from nmm.model.features import FeatureSpec, PreparedTrial, input_features, window_starts
from nmm.model.physics import PersonalisedElbow, with_measured

__all__ = [
    "ENCODER_INPUTS",
    "ENCODER_OUTPUTS",
    "INPUT_UNITS",
    "OPSET",
    "PHYSICS_INPUTS",
    "PHYSICS_OUTPUTS",
    "ExportWindows",
    "SubjectPhysics",
    "WindowLatency",
    "encoder_parity",
    "export_encoder",
    "export_physics",
    "export_windows",
    "feature_columns",
    "inference_session",
    "physics_parity",
    "window_latency",
]

#: ONNX opset of both graphs (17: LayerNormalization is a single op; onnxruntime >= 1.13).
OPSET = 17
#: Names of the encoder graph's inputs and outputs.
ENCODER_INPUTS = ("features",)
ENCODER_OUTPUTS = ("envelopes",)
#: Names of the physics graph's inputs and outputs.
PHYSICS_INPUTS = ("envelopes", "angle", "velocity")
PHYSICS_OUTPUTS = ("torque_nm", "activation")


#: Unit of each input kind of :data:`nmm.model.features.INPUT_KINDS` before its scale.
INPUT_UNITS = {
    "angle": "rad",
    "velocity": "rad/s",
    "acceleration": "rad/s^2",
    "load": "kg",
    "measured_envelopes": "1 (fraction of MVIC)",
}


def feature_columns(spec: FeatureSpec) -> list[dict[str, str | float]]:
    """The encoder's input columns in order: ``{"name", "kind", "unit", "scale"}`` each; the
    graph reads value (in ``unit``) × ``scale`` (:func:`nmm.model.features.input_features`)."""
    kinds = [
        kind
        for kind in spec.inputs
        for _ in (spec.input_muscles if kind == "measured_envelopes" else (kind,))
    ]
    return [
        {
            "name": name,
            "kind": kind,
            "unit": INPUT_UNITS[kind],
            "scale": 1.0 if kind == "measured_envelopes" else float(spec.scales.get(kind, 1.0)),
        }
        for name, kind in zip(spec.names, kinds, strict=True)
    ]


def _expm1(g, x):
    """``expm1(x) = exp(x) - 1`` in ONNX (no Expm1 op), the 1 cast like ``x`` (``g``: the
    exporter's graph context, ``x``: the op's input)."""
    one = g.op("CastLike", g.op("Constant", value_t=torch.tensor(1.0)), x)
    return g.op("Sub", g.op("Exp", x), one)


def _asinh(g, x):
    return g.op("Asinh", x)


def _register_symbolics() -> None:
    """The ONNX form of the aten ops the elbow uses that the exporter lacks (idempotent)."""
    torch.onnx.register_custom_op_symbolic("aten::expm1", _expm1, OPSET)
    torch.onnx.register_custom_op_symbolic("aten::asinh", _asinh, OPSET)


def _export(
    module: nn.Module,
    example: tuple[Tensor, ...],
    path: Path,
    inputs: Sequence[str],
    outputs: Sequence[str],
) -> Path:
    """Trace ``module`` on ``example`` into ``path`` (atomically), batch axis dynamic, and check
    the file with :func:`onnx.checker.check_model`."""
    _register_symbolics()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # the tracer's notes on Python-side shape checks (constants at a fixed window) and the
        # TorchScript exporter's deprecation notice (the dynamo exporter needs onnxscript)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            example,
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes={name: {0: "batch"} for name in (*inputs, *outputs)},
        )
        onnx.checker.check_model(str(tmp))
    return path


def _frozen(module: nn.Module) -> nn.Module:
    """An evaluation-mode copy with no parameter requiring gradients (the tracer bakes them)."""
    return copy.deepcopy(module).eval().requires_grad_(False)


def export_encoder(net: nn.Module, n_features: int, window: int, path: str | Path) -> Path:
    """Write the encoder ``net`` to ``path``: ``features (B, window, n_features)`` ->
    ``envelopes (B, window, M)`` (see the module doc). Returns the path."""
    if window < 1 or n_features < 1:
        raise ValueError(f"window and n_features must be >= 1, got {window}, {n_features}")
    ref = next(net.parameters())
    example = torch.zeros(1, window, n_features, dtype=ref.dtype)
    # gradients on: torch's fused encoder-layer kernel (its no-grad fast path) has no ONNX form
    traced = copy.deepcopy(net).eval().requires_grad_(True)
    return _export(traced, (example,), Path(path), ENCODER_INPUTS, ENCODER_OUTPUTS)


class SubjectPhysics(nn.Module):
    """One subject's personalised elbow as a module of envelopes and kinematics only.

    Args:
        physics: the trained :class:`~nmm.model.physics.PersonalisedElbow` (copied, frozen).
        row: the subject's row of its parameter table.
    """

    def __init__(self, physics: PersonalisedElbow, row: int) -> None:
        super().__init__()
        if not 0 <= row < physics.n_subjects:
            raise ValueError(f"row {row} not in the parameter table ({physics.n_subjects} rows)")
        self.physics = _frozen(physics)
        self.row = int(row)

    def forward(self, envelopes: Tensor, angle: Tensor, velocity: Tensor) -> tuple[Tensor, Tensor]:
        """``torque (B, T)`` N·m and ``activation (B, T, M)`` from ``envelopes (B, T, M)``,
        ``angle (B, T)`` rad and ``velocity (B, T)`` rad/s."""
        rows = torch.zeros_like(envelopes[:, 0, 0], dtype=torch.long) + self.row
        out = self.physics(envelopes, rows, angle, velocity)
        return out.torque, out.activation


def export_physics(physics: PersonalisedElbow, row: int, window: int, path: str | Path) -> Path:
    """Write row ``row``'s elbow to ``path`` (:class:`SubjectPhysics`, ``window`` samples at
    the physics' ``dt``). Returns the path."""
    ref = physics.parameters_table.raw
    m = len(physics.muscle_names)
    example = (
        torch.full((1, window, m), 0.1, dtype=ref.dtype),
        torch.full((1, window), 1.0, dtype=ref.dtype),
        torch.zeros(1, window, dtype=ref.dtype),
    )
    return _export(
        SubjectPhysics(physics, row), example, Path(path), PHYSICS_INPUTS, PHYSICS_OUTPUTS
    )


def inference_session(path: str | Path, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session of ``path`` on ``threads`` intra-op threads, operators run in
    sequence (one inter-op thread)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class ExportWindows:
    """Windows of prepared trials, as the exported graphs read them (N windows of T samples).

    Attributes:
        features: ``(N, T, F)`` float32 network inputs.
        envelopes: ``(N, T, M)`` recorded envelopes (0 where not measured).
        measured: ``(N, M)`` bool.
        angle, velocity: ``(N, T)`` rad, rad/s.
        subjects: ``(N,)`` each window's subject.
    """

    features: np.ndarray
    envelopes: np.ndarray
    measured: np.ndarray
    angle: np.ndarray
    velocity: np.ndarray
    subjects: tuple[str, ...]

    def of_subject(self, subject: str) -> ExportWindows:
        """The windows of one subject."""
        keep = np.array([s == subject for s in self.subjects], dtype=bool)
        return ExportWindows(
            self.features[keep],
            self.envelopes[keep],
            self.measured[keep],
            self.angle[keep],
            self.velocity[keep],
            tuple(s for s in self.subjects if s == subject),
        )


def export_windows(
    trials: Sequence[PreparedTrial],
    spec: FeatureSpec,
    muscles: Sequence[str],
    window: int,
    stride: int,
) -> ExportWindows:
    """Every window of ``window`` samples every ``stride`` of ``trials`` (the last flush with a
    trial's end; trials shorter than a window are left out: the graphs have a fixed length).

    Raises:
        ValueError: no trial is as long as a window.
    """
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("x", "e", "m", "a", "v")}
    subjects: list[str] = []
    for trial in trials:
        if trial.n_samples < window:
            continue
        x = input_features(trial, spec, muscles)
        for s in window_starts(trial.n_samples, window, stride):
            cut = slice(s, s + window)
            parts["x"].append(x[cut])
            parts["e"].append(trial.recorded_envelopes[cut])
            parts["m"].append(trial.measured)
            parts["a"].append(trial.angle[cut])
            parts["v"].append(trial.velocity[cut])
            subjects.append(trial.subject)
    if not subjects:
        raise ValueError(f"no trial has a window of {window} samples")
    e, a, v = (np.stack(parts[k]).astype(np.float32) for k in ("e", "a", "v"))
    return ExportWindows(np.stack(parts["x"]), e, np.stack(parts["m"]), a, v, tuple(subjects))


def _batches(n: int, batch_size: int) -> list[slice]:
    return [slice(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]


@torch.no_grad()
def encoder_parity(
    net: nn.Module, session: ort.InferenceSession, features: np.ndarray, batch_size: int = 64
) -> float:
    """Max abs difference of the envelopes, onnxruntime vs torch, over ``features (N, T, F)``."""
    net = _frozen(net)
    worst = 0.0
    for cut in _batches(len(features), batch_size):
        x = np.ascontiguousarray(features[cut], dtype=np.float32)
        ours = session.run(None, {ENCODER_INPUTS[0]: x})[0]
        ref = net(torch.from_numpy(x)).numpy()
        worst = max(worst, float(np.max(np.abs(ours - ref))))
    return worst


@torch.no_grad()
def physics_parity(
    net: nn.Module,
    physics: PersonalisedElbow,
    row: int,
    session: ort.InferenceSession,
    windows: ExportWindows,
    use_measured: bool = True,
    batch_size: int = 64,
) -> tuple[float, float]:
    """``(max abs torque difference (N·m), peak |torque| (N·m))``, onnxruntime vs torch, of row
    ``row``'s elbow driven as reconstruction drives it: the encoder's envelopes, the recorded
    ones of the measured muscles with ``use_measured``."""
    net, physics = _frozen(net), _frozen(physics)
    worst, peak = 0.0, 0.0
    for cut in _batches(len(windows.features), batch_size):
        env = net(torch.from_numpy(windows.features[cut]))
        if use_measured:
            env = with_measured(
                env,
                torch.from_numpy(windows.envelopes[cut]),
                torch.from_numpy(windows.measured[cut]),
            )
        angle, velocity = (
            torch.from_numpy(windows.angle[cut]),
            torch.from_numpy(windows.velocity[cut]),
        )
        ref = physics(env, [row] * len(env), angle, velocity).torque.numpy()
        feeds = dict(
            zip(PHYSICS_INPUTS, (env.numpy(), angle.numpy(), velocity.numpy()), strict=True)
        )
        ours = session.run([PHYSICS_OUTPUTS[0]], feeds)[0]
        worst = max(worst, float(np.max(np.abs(ours - ref))))
        peak = max(peak, float(np.max(np.abs(ref))))
    return worst, peak


@dataclass(frozen=True)
class WindowLatency:
    """onnxruntime's time per window (one window per call), ms.

    Attributes:
        n_windows: windows timed (after the warm-up).
        threads: intra-op threads of the session.
        p50_ms, p99_ms, max_ms, mean_ms: the calls' median, 99th percentile, maximum and mean.
    """

    n_windows: int
    threads: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def window_latency(
    model: str | Path | ort.InferenceSession,
    windows: np.ndarray | Mapping[str, np.ndarray],
    *,
    threads: int = 1,
    warmup: int = 10,
) -> WindowLatency:
    """Time onnxruntime on each window in turn (batch 1), after ``warmup`` untimed calls.

    Args:
        model: a graph file (a session of ``threads`` threads is made) or a session.
        windows: ``(N, T, ...)`` float32 windows of the graph's first input (the encoder's
            ``features``), or ``{input name: (N, ...)}`` for every input (the physics graph).
        threads: intra-op threads of the session made from a file.
        warmup: untimed calls first (onnxruntime allocates on its first runs).

    Returns:
        The wall-clock time of each ``session.run`` (:func:`time.perf_counter`).

    Raises:
        ValueError: no window.
    """
    session = (
        model if isinstance(model, ort.InferenceSession) else inference_session(model, threads)
    )
    inputs = windows if isinstance(windows, Mapping) else {session.get_inputs()[0].name: windows}
    n = min(len(v) for v in inputs.values())
    if n == 0:
        raise ValueError("no window to time")
    feeds = [
        {k: np.ascontiguousarray(v[i : i + 1], dtype=np.float32) for k, v in inputs.items()}
        for i in range(n)
    ]
    for k in range(warmup):
        session.run(None, feeds[k % n])
    times = np.empty(n)
    for k, feed in enumerate(feeds):
        t0 = time.perf_counter()
        session.run(None, feed)
        times[k] = time.perf_counter() - t0
    ms = 1e3 * times
    return WindowLatency(
        n_windows=n,
        threads=int(session.get_session_options().intra_op_num_threads),
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        max_ms=float(ms.max()),
        mean_ms=float(ms.mean()),
    )
