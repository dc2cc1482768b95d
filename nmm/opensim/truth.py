"""Ground truth of the synthetic cohort from OpenSim: Moco excitations, forward check, ID torque.

For a prescribed elbow motion and a subject's arm model (:mod:`nmm.opensim.arm_model`):

- :func:`solve_excitations` finds the excitations of all muscles with **MocoInverse** (kinematics
  prescribed, compliant tendons in implicit mode, DeGrooteFregly2016 muscles). The cost is not
  minimum effort alone: it is a weighted tracking of a *co-contraction reference*,
  ``J = Σ_i w_i ∫ (e_i(t) - c_i(t))² dt``, where ``c_i(t)`` (the excitation the subject would
  show without any net torque demand) and the weights ``w_i`` (how much the subject "prefers"
  each muscle) are chosen per subject, load and condition by the caller. Large ``c`` gives
  co-contraction of agonists and antagonists; different ``w`` gives different force sharing among
  synergists. With ``c = 0`` and ``w = 1`` this is MocoInverse's own minimum-effort problem.
  A lower bound per excitation (Moco control bounds) keeps a co-contraction floor. The stored
  excitation is recovered from the solution's (smooth) activation by inverting the muscle's
  activation dynamics (:func:`invert_activation_dynamics`): Moco's own excitations chatter
  between mesh points.
- :func:`inverse_dynamics` gives the elbow moment of the motion with OpenSim's
  ``InverseDynamicsSolver`` (muscles switched off: the net moment the muscles must produce).
- :func:`forward_check` integrates the model in OpenSim, open loop, driven by the solved
  excitations (``PrescribedController``, tendons in explicit mode), from the solution's states at
  the start of windows of a given horizon, and reports the elbow-angle error. The elbow under
  open-loop excitations is unstable (errors grow roughly exponentially), so errors are reported
  per horizon; a whole-trial run is available too.
- :func:`isometric_effort` simulates an isometric maximal effort (MVIC) with the elbow held
  (a locked coordinate in a forward simulation, where locking is allowed), driven by a given
  excitation profile, and returns the muscle forces and the moment a dynamometer would measure.

All arrays are NumPy: ``time (N,) s``, per-muscle arrays ``(N, M)`` with muscles in the order
given. OpenSim is imported inside the functions.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmm.opensim.arm_model import ArmModelSpec, build_arm_model, import_opensim, set_tendon_mode

__all__ = [
    "Motion",
    "MuscleTruth",
    "TruthSolveError",
    "activation_derivative",
    "forward_check",
    "inverse_dynamics",
    "invert_activation_dynamics",
    "isometric_effort",
    "muscle_quantities",
    "solve_excitations",
]

log = logging.getLogger(__name__)


class TruthSolveError(RuntimeError):
    """Moco did not converge for a trial; the message names the trial and the solver status."""


@dataclass(frozen=True)
class Motion:
    """A prescribed elbow motion: time (N,) s, uniform; q (N,) rad; qd (N,) rad/s; qdd (N,)
    rad/s²."""

    time: np.ndarray
    q: np.ndarray
    qd: np.ndarray
    qdd: np.ndarray


@dataclass
class MuscleTruth:
    """Ground truth of one trial on the solver's grid.

    time: (N,) s. excitation, activation: (N, M) in [0, 1]. tendon_force: (N, M) N.
    fiber_length: (N, M) normalised by the optimal fibre length. moment_arm: (N, M) m (positive
    for flexors). muscle_moment: (N,) N·m = Σ_i moment_arm_i · tendon_force_i. q, qd: (N,) rad,
    rad/s. info: solver status, iterations, time, objective.
    """

    muscles: tuple[str, ...]
    time: np.ndarray
    excitation: np.ndarray
    activation: np.ndarray
    tendon_force: np.ndarray
    fiber_length: np.ndarray
    moment_arm: np.ndarray
    muscle_moment: np.ndarray
    q: np.ndarray
    qd: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def resample(self, time: np.ndarray) -> dict[str, np.ndarray]:
        """Every per-time array linearly interpolated onto ``time`` (s), by attribute name."""
        out = {}
        for name in (
            "excitation",
            "activation",
            "tendon_force",
            "fiber_length",
            "moment_arm",
            "muscle_moment",
            "q",
            "qd",
        ):
            arr = getattr(self, name)
            if arr.ndim == 1:
                out[name] = np.interp(time, self.time, arr)
            else:
                out[name] = np.column_stack(
                    [np.interp(time, self.time, arr[:, j]) for j in range(arr.shape[1])]
                )
        return out


def activation_derivative(
    activation: np.ndarray,
    excitation: np.ndarray,
    tau_act: float,
    tau_deact: float,
    smoothing: float,
) -> np.ndarray:
    """da/dt (1/s) of OpenSim's DeGrooteFregly2016Muscle (``calcActivationDerivative``).

    ``z = 0.5 + 1.5 a``; ``f = 0.5 tanh(b (e - a))``;
    ``da/dt = [(f + 0.5)/(τ_a z) + (0.5 - f) z/τ_d] (e - a)`` (De Groote et al. 2016, eq. 1-2,
    with OpenSim's smoothing b). Arrays broadcast.
    """
    z = 0.5 + 1.5 * activation
    f = 0.5 * np.tanh(smoothing * (excitation - activation))
    return ((f + 0.5) / (tau_act * z) + (0.5 - f) * z / tau_deact) * (excitation - activation)


def invert_activation_dynamics(
    time: np.ndarray,
    activation: np.ndarray,
    tau_act: float,
    tau_deact: float,
    smoothing: float,
    *,
    iterations: int = 60,
) -> np.ndarray:
    """The excitation (N, M) that produces ``activation`` (N, M) on ``time`` (N,) s.

    da/dt is taken from a cubic spline through the activation; for each sample the excitation
    in [0, 1] with ``activation_derivative(a, e) = da/dt`` is found by bisection (the derivative
    increases with e). Where even e = 0 or 1 cannot produce da/dt, the bound is returned.

    Why: MocoInverse's excitations chatter from one mesh point to the next (the optimiser
    exploits the asymmetric activation and deactivation time constants), while its activation
    trajectory is smooth. The excitation recovered from that activation is smooth, produces the
    same activation, and drives an OpenSim forward simulation closer to the kinematics than the
    chattering one (measured: 0.2° instead of 2.6° after 0.2 s).
    """
    from scipy.interpolate import CubicSpline

    rate = CubicSpline(time, activation, axis=0)(time, 1)
    lo = np.zeros_like(activation)
    hi = np.ones_like(activation)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = activation_derivative(activation, mid, tau_act, tau_deact, smoothing) > rate
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)


def _kinematics_table(osim: Any, motion: Motion, coord: str) -> Any:
    table = osim.TimeSeriesTable()
    # a Python list, not osim.StdVectorString: that name is opensim.moco's proxy class, which
    # opensim.common's setColumnLabels refused in some import orders (a TypeError in the suite)
    table.setColumnLabels([f"/jointset/r_elbow/{coord}/value"])
    for t, q in zip(motion.time, motion.q, strict=True):
        table.appendRow(float(t), osim.RowVector([float(q)]))
    table.addTableMetaDataString("inDegrees", "no")
    return table


def _controls_table(osim: Any, time: np.ndarray, values: np.ndarray, paths: Sequence[str]) -> Any:
    table = osim.TimeSeriesTable()
    table.setColumnLabels([str(p) for p in paths])  # a list: see _kinematics_table
    for k, t in enumerate(time):
        table.appendRow(float(t), osim.RowVector([float(v) for v in values[k]]))
    return table


def _muscle_names(model: Any) -> list[str]:
    mset = model.getMuscles()
    return [mset.get(i).getName() for i in range(mset.getSize())]


def _checked_cost(
    motion: Motion, muscles: Sequence[str], weights: Sequence[float], reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``weights`` (M,) > 0 and ``reference`` (N, M) on ``motion.time`` as float arrays."""
    reference = np.asarray(reference, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if reference.shape != (motion.time.size, len(muscles)):
        raise ValueError(
            f"reference must be (N, M) = ({motion.time.size}, {len(muscles)}), "
            f"got {reference.shape}"
        )
    if weights.shape != (len(muscles),) or np.any(weights <= 0):
        raise ValueError(f"weights must be {len(muscles)} positive numbers, got {weights}")
    return weights, reference


def _inverse_study(
    osim: Any,
    spec: ArmModelSpec,
    motion: Motion,
    muscles: Sequence[str],
    *,
    mesh_interval: float,
    tolerance: float,
    constraint_tolerance: float,
    max_iterations: int,
    label: str,
) -> Any:
    """The MocoInverse study of ``spec``'s model following ``motion`` (compliant tendons in
    implicit mode), on a mesh of ``mesh_interval`` s, with IPOPT's tolerances."""
    model = build_arm_model(spec)
    names = _muscle_names(model)
    if sorted(names) != sorted(muscles):
        raise ValueError(f"muscles {list(muscles)} do not match the model's {names}")
    processor = osim.ModelProcessor(model)
    processor.append(osim.ModOpTendonComplianceDynamicsModeDGF("implicit"))
    inverse = osim.MocoInverse()
    inverse.setName(label)
    inverse.setModel(processor)
    inverse.setKinematics(
        osim.TableProcessor(_kinematics_table(osim, motion, spec.elbow_coordinate))
    )
    inverse.set_initial_time(float(motion.time[0]))
    inverse.set_final_time(float(motion.time[-1]))
    inverse.set_mesh_interval(float(mesh_interval))
    inverse.set_convergence_tolerance(float(tolerance))
    inverse.set_constraint_tolerance(float(constraint_tolerance))
    inverse.set_max_iterations(int(max_iterations))
    inverse.set_kinematics_allow_extra_columns(True)
    return inverse.initialize()


def _set_recruitment_cost(
    osim: Any,
    problem: Any,
    time: np.ndarray,
    paths: Sequence[str],
    weights: np.ndarray,
    reference: np.ndarray,
) -> None:
    """Replace MocoInverse's minimum effort by ``J = Σ_i w_i ∫ (e_i(t) - c_i(t))² dt``, a
    weighted tracking of the co-contraction reference ``c`` (a MocoControlTrackingGoal)."""
    problem.updGoal("excitation_effort").setEnabled(False)
    goal = osim.MocoControlTrackingGoal("cocontraction_tracking")
    goal.setReference(osim.TableProcessor(_controls_table(osim, time, reference, paths)))
    for p, w in zip(paths, weights, strict=True):
        goal.setWeightForControl(p, float(w))
    problem.addGoal(goal)


def _set_bounds(
    osim: Any,
    problem: Any,
    paths: Sequence[str],
    min_excitation: Sequence[float] | None,
    max_excitation: Sequence[float] | None,
    max_activation: Sequence[float] | None,
) -> None:
    """Moco control bounds of the excitations (default [0.01, 1]) and state bounds of the
    activations below 1."""
    if min_excitation is not None or max_excitation is not None:
        lows = min_excitation if min_excitation is not None else [0.01] * len(paths)
        highs = max_excitation if max_excitation is not None else [1.0] * len(paths)
        for p, lo, hi in zip(paths, lows, highs, strict=True):
            problem.setControlInfo(p, osim.MocoBounds(float(lo), float(max(hi, lo))))
    if max_activation is not None:
        for p, hi in zip(paths, max_activation, strict=True):
            if hi < 1.0:
                problem.setStateInfo(f"{p}/activation", osim.MocoBounds(0.0, float(hi)))


def _solve(osim: Any, study: Any, transcription: str, label: str) -> tuple[Any, dict[str, Any]]:
    """Solve with CasADi (limited-memory Hessian, single-threaded, quiet); the solution and its
    status, iterations, solve time (s) and objective. TruthSolveError unless IPOPT converged."""
    solver = osim.MocoCasADiSolver.safeDownCast(study.updSolver())
    solver.set_optim_hessian_approximation("limited-memory")
    solver.set_verbosity(0)
    solver.set_optim_ipopt_print_level(0)
    solver.set_parallel(1)  # the cohort runs trials in parallel processes instead
    solver.set_transcription_scheme(transcription)
    t0 = _time.perf_counter()
    solution = study.solve()
    elapsed = _time.perf_counter() - t0
    if not solution.success():
        solution.unseal()
        raise TruthSolveError(
            f"MocoInverse did not converge for {label}: status {solution.getStatus()} after "
            f"{solution.getNumIterations()} iterations"
        )
    info = {
        "status": solution.getStatus(),
        "iterations": int(solution.getNumIterations()),
        "solve_time_s": elapsed,
        "objective": float(solution.getObjective()),
    }
    return solution, info


def solve_excitations(
    spec: ArmModelSpec,
    motion: Motion,
    muscles: Sequence[str],
    *,
    weights: Sequence[float],
    reference: np.ndarray,
    min_excitation: Sequence[float] | None = None,
    max_excitation: Sequence[float] | None = None,
    max_activation: Sequence[float] | None = None,
    mesh_interval: float = 0.04,
    tolerance: float = 1e-3,
    constraint_tolerance: float = 1e-3,
    max_iterations: int = 500,
    transcription: str = "hermite-simpson",
    label: str = "trial",
) -> MuscleTruth:
    """Excitations of ``muscles`` that make ``spec``'s model follow ``motion`` (MocoInverse).

    weights: (M,) w_i > 0; reference: (N, M) co-contraction reference c_i(t) on ``motion.time``;
    min_excitation, max_excitation: (M,) bounds of the excitations (Moco control bounds),
    default 0.01 (DeGrooteFregly2016's ``min_control``) and 1; max_activation: (M,) upper
    bounds of the activations (Moco state bounds; bounding the smooth activation rather than the
    chattering excitation caps a muscle without distorting the solution), default 1;
    muscles' own ``min_control``.
    tolerance: IPOPT's convergence (optimality) tolerance; constraint_tolerance: its tolerance
    on the dynamics defects and kinematic constraints. 1e-2 for the optimality is tempting (a
    4 kg trial: 24 instead of 60 iterations for a 1 % higher cost) but stopped a 0 kg trial at
    5 times its optimal cost. The duration should be a multiple of ``mesh_interval`` so that the
    grid lands on the motion's.
    Raises TruthSolveError when IPOPT does not converge.
    """
    osim = import_opensim()
    weights, reference = _checked_cost(motion, muscles, weights, reference)
    study = _inverse_study(
        osim,
        spec,
        motion,
        muscles,
        mesh_interval=mesh_interval,
        tolerance=tolerance,
        constraint_tolerance=constraint_tolerance,
        max_iterations=max_iterations,
        label=label,
    )
    problem = study.updProblem()
    paths = [f"/forceset/{m}" for m in muscles]
    _set_recruitment_cost(osim, problem, motion.time, paths, weights, reference)
    _set_bounds(osim, problem, paths, min_excitation, max_excitation, max_activation)
    solution, info = _solve(osim, study, transcription, label)
    return muscle_quantities(spec, solution, motion, muscles, info)


def muscle_quantities(
    spec: ArmModelSpec,
    solution: Any,
    motion: Motion,
    muscles: Sequence[str],
    info: dict[str, Any],
) -> MuscleTruth:
    """Tendon forces, fibre lengths, moment arms and the muscle moment along a Moco solution.

    The excitation is recovered from the solution's activation
    (:func:`invert_activation_dynamics`), not taken from its chattering controls.

    The solution of ``study.solve()`` holds no coordinate states (MocoInverse prescribes them):
    angle and speed come from ``motion``, interpolated onto the solution's grid.
    """
    osim = import_opensim()
    model = build_arm_model(spec)
    set_tendon_mode(model, "implicit")
    state = model.initSystem()
    time = np.asarray(solution.getTimeMat(), dtype=float).reshape(-1)
    coord = model.getCoordinateSet().get(spec.elbow_coordinate)
    q = np.interp(time, motion.time, motion.q)
    qd = np.interp(time, motion.time, motion.qd)
    n, m = time.size, len(muscles)
    exc = np.column_stack([solution.getControl(f"/forceset/{k}").to_numpy() for k in muscles])
    act = np.column_stack(
        [solution.getState(f"/forceset/{k}/activation").to_numpy() for k in muscles]
    )
    ntf = np.column_stack(
        [solution.getState(f"/forceset/{k}/normalized_tendon_force").to_numpy() for k in muscles]
    )
    info = dict(info)
    info["moco_excitation_roughness"] = float(np.sqrt(np.mean(np.diff(exc, 2, axis=0) ** 2)))
    exc = invert_activation_dynamics(
        time,
        act,
        spec.activation_time_constant_s,
        spec.deactivation_time_constant_s,
        spec.activation_smoothing,
    )
    objs = [osim.DeGrooteFregly2016Muscle.safeDownCast(model.getMuscles().get(k)) for k in muscles]
    force = np.empty((n, m))
    fiber = np.empty((n, m))
    arm = np.empty((n, m))
    for i in range(n):
        coord.setValue(state, float(q[i]), False)
        coord.setSpeedValue(state, float(qd[i]))
        for j, mus in enumerate(objs):
            mus.setActivation(state, float(act[i, j]))
            mus.setNormalizedTendonForce(state, float(ntf[i, j]))
        model.realizePosition(state)
        for j, mus in enumerate(objs):
            force[i, j] = ntf[i, j] * mus.get_max_isometric_force()
            fiber[i, j] = mus.getNormalizedFiberLength(state)
            arm[i, j] = mus.computeMomentArm(state, coord)
    return MuscleTruth(
        muscles=tuple(muscles),
        time=time,
        excitation=exc,
        activation=act,
        tendon_force=force,
        fiber_length=fiber,
        moment_arm=arm,
        muscle_moment=np.sum(arm * force, axis=1),
        q=q,
        qd=qd,
        info=info,
    )


def inverse_dynamics(spec: ArmModelSpec, motion: Motion) -> np.ndarray:
    """(N,) elbow moment, N·m, from OpenSim's InverseDynamicsSolver with the muscles off.

    Uses the motion's own speeds and accelerations (no spline differentiation of angles).
    """
    osim = import_opensim()
    model = build_arm_model(spec)
    state = model.initSystem()
    mset = model.getMuscles()
    for i in range(mset.getSize()):
        mset.get(i).setAppliesForce(state, False)
    coord = model.getCoordinateSet().get(spec.elbow_coordinate)
    solver = osim.InverseDynamicsSolver(model)
    out = np.empty(motion.time.size)
    udot = osim.Vector(1, 0.0)
    for i in range(motion.time.size):
        state.setTime(float(motion.time[i]))
        coord.setValue(state, float(motion.q[i]), False)
        coord.setSpeedValue(state, float(motion.qd[i]))
        model.realizeVelocity(state)
        udot.set(0, float(motion.qdd[i]))
        out[i] = solver.solve(state, udot).get(0)
    return out


def _controlled_model(spec: ArmModelSpec, truth: MuscleTruth) -> Any:
    osim = import_opensim()
    model = build_arm_model(spec)
    set_tendon_mode(model, "explicit")
    controller = osim.PrescribedController()
    controller.setName("truth_excitations")
    mset = model.getMuscles()
    for j, name in enumerate(truth.muscles):
        controller.addActuator(mset.get(name))
        fn = osim.PiecewiseLinearFunction()
        for t, e in zip(truth.time, truth.excitation[:, j], strict=True):
            fn.addPoint(float(t), float(e))
        controller.prescribeControlForActuator(name, fn)
    model.addController(controller)
    model.finalizeConnections()
    return model


def _set_truth_state(
    model: Any, state: Any, spec: ArmModelSpec, truth: MuscleTruth, k: int
) -> None:
    osim = import_opensim()
    state.setTime(float(truth.time[k]))
    coord = model.getCoordinateSet().get(spec.elbow_coordinate)
    coord.setValue(state, float(truth.q[k]), False)
    coord.setSpeedValue(state, float(truth.qd[k]))
    for j, name in enumerate(truth.muscles):
        mus = osim.DeGrooteFregly2016Muscle.safeDownCast(model.getMuscles().get(name))
        mus.setActivation(state, float(truth.activation[k, j]))
        mus.setNormalizedTendonForce(
            state, float(truth.tendon_force[k, j] / mus.get_max_isometric_force())
        )
    model.realizeVelocity(state)


def forward_check(
    spec: ArmModelSpec,
    truth: MuscleTruth,
    motion: Motion,
    *,
    horizon_s: float = 0.2,
    n_windows: int | None = None,
    accuracy: float = 1e-5,
    whole_trial: bool = False,
    abort_error_rad: float = 0.5,
) -> dict[str, Any]:
    """Open-loop forward simulation of the truth excitations in OpenSim; elbow-angle errors.

    Windows of ``horizon_s`` start from the truth states at evenly spaced solver grid points
    (all that fit, or ``n_windows``). Returns ``horizon_s``, ``max_error_rad`` and
    ``rms_error_rad`` (over the window ends), ``per_window_rad`` (end error of each window),
    and with ``whole_trial`` the errors of one run over the whole trial (``trial_*``; the run
    stops once the error exceeds ``abort_error_rad``, reported as ``trial_stopped_at_s``).
    """
    osim = import_opensim()
    model = _controlled_model(spec, truth)
    state = model.initSystem()
    coord = model.getCoordinateSet().get(spec.elbow_coordinate)
    t_end = float(truth.time[-1])
    starts = [k for k in range(truth.time.size) if truth.time[k] + horizon_s <= t_end + 1e-9]
    if n_windows is not None and len(starts) > n_windows:
        pick = np.linspace(0, len(starts) - 1, n_windows).round().astype(int)
        starts = [starts[i] for i in pick]
    else:
        step = max(1, round(horizon_s / np.median(np.diff(truth.time))))
        starts = starts[::step]
    errors = []
    for k in starts:
        _set_truth_state(model, state, spec, truth, k)
        manager = osim.Manager(model)
        manager.setIntegratorAccuracy(accuracy)
        manager.initialize(state)
        t1 = float(truth.time[k]) + horizon_s
        end = manager.integrate(t1)
        errors.append(coord.getValue(end) - float(np.interp(t1, motion.time, motion.q)))
    errors = np.asarray(errors)
    out: dict[str, Any] = {
        "horizon_s": horizon_s,
        "n_windows": int(errors.size),
        "max_error_rad": float(np.max(np.abs(errors))) if errors.size else float("nan"),
        "rms_error_rad": float(np.sqrt(np.mean(errors**2))) if errors.size else float("nan"),
        "per_window_rad": errors.tolist(),
    }
    if whole_trial:
        _set_truth_state(model, state, spec, truth, 0)
        manager = osim.Manager(model)
        manager.setIntegratorAccuracy(accuracy)
        manager.initialize(state)
        trial_err = []
        stopped = None
        for t in motion.time[1:]:
            s = manager.integrate(float(t))
            e = coord.getValue(s) - float(np.interp(t, motion.time, motion.q))
            trial_err.append(e)
            if abs(e) > abort_error_rad:
                stopped = float(t)
                break
        trial_err = np.asarray(trial_err)
        out.update(
            trial_rms_error_rad=float(np.sqrt(np.mean(trial_err**2))),
            trial_max_error_rad=float(np.max(np.abs(trial_err))),
            trial_stopped_at_s=stopped,
        )
    return out


def isometric_effort(
    spec: ArmModelSpec,
    angle: float,
    time: np.ndarray,
    excitation: np.ndarray,
    muscles: Sequence[str],
    *,
    accuracy: float = 1e-4,
) -> dict[str, np.ndarray]:
    """Forward simulation of an isometric effort with the elbow locked at ``angle`` (rad).

    time: (N,) s; excitation: (N, M). Returns ``activation``, ``tendon_force`` (N),
    ``fiber_length`` (normalised), ``moment_arm`` (m), all (N, M), and ``muscle_moment`` (N,)
    N·m: the moment the muscles exert on the forearm, which a dynamometer holding the forearm
    reacts (plus the static gravity moment, which does not change during the effort).
    """
    osim = import_opensim()
    model = build_arm_model(spec)
    set_tendon_mode(model, "explicit")
    controller = osim.PrescribedController()
    mset = model.getMuscles()
    for j, name in enumerate(muscles):
        controller.addActuator(mset.get(name))
        fn = osim.PiecewiseLinearFunction()
        for t, e in zip(time, excitation[:, j], strict=True):
            fn.addPoint(float(t), float(e))
        controller.prescribeControlForActuator(name, fn)
    model.addController(controller)
    model.finalizeConnections()
    state = model.initSystem()
    coord = model.getCoordinateSet().get(spec.elbow_coordinate)
    coord.setValue(state, float(angle))
    coord.setLocked(state, True)
    state.setTime(float(time[0]))
    objs = [osim.DeGrooteFregly2016Muscle.safeDownCast(mset.get(k)) for k in muscles]
    for j, mus in enumerate(objs):
        mus.setActivation(state, float(excitation[0, j]))
    model.equilibrateMuscles(state)
    manager = osim.Manager(model)
    manager.setIntegratorAccuracy(accuracy)
    manager.initialize(state)
    n, m = time.size, len(muscles)
    res = {
        k: np.empty((n, m)) for k in ("activation", "tendon_force", "fiber_length", "moment_arm")
    }
    for i, t in enumerate(time):
        s = state if i == 0 else manager.integrate(float(t))
        model.realizeDynamics(s)
        for j, mus in enumerate(objs):
            res["activation"][i, j] = mus.getActivation(s)
            res["tendon_force"][i, j] = mus.getTendonForce(s)
            res["fiber_length"][i, j] = mus.getNormalizedFiberLength(s)
            res["moment_arm"][i, j] = mus.computeMomentArm(s, coord)
    res["muscle_moment"] = np.sum(res["moment_arm"] * res["tendon_force"], axis=1)
    return res
