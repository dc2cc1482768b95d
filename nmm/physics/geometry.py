"""Musculotendon geometry of the elbow muscles as fitted polynomials of the elbow angle.

Per muscle, the musculotendon length ``l_MT(θ)`` (m) is a polynomial of degree ``d`` in the
centred, scaled angle ``x = (θ - θ_c) / θ_h`` (``θ_c``, ``θ_h``: centre and half-width of the
fitted domain, so ``x ∈ [-1, 1]``), plus truncated-power terms at the angles where OpenSim's
path changes its points (a wrap object engages or disengages)::

    l_MT(θ) = Σ_{k=0..d} c_k x^k + Σ_b Σ_{j=2..d} a_bj max(x - x_b, 0)^j

The truncated powers start at ``j = 2``, so ``l_MT`` and the moment arm stay continuous at a
wrap event while the moment arm's slope may change there: that is what wrapping does (on arm26
the triceps start to wrap the humeral ``TRI`` cylinder at 71.1° and BRA leaves it at 44.8°, and
a single polynomial misses those kinks by ~1 % RMS of the moment arm, up to 1 mm). A muscle
without events in the domain gets the plain polynomial.

The moment arm is ``r(θ) = -dl_MT/dθ`` (m), the analytic derivative of the same expression:
OpenSim's definition (moment arm = -∂l/∂q; ``Muscle::computeMomentArm`` evaluates it with
``MomentArmSolver``, Sherman, Seth & Delp 2013), so the model is energy-consistent: power
``F·v_MT = -F·r·θ̇``. The coefficients are least-squares fits to
OpenSim samples of both ``l_MT`` and ``computeMomentArm`` (:meth:`MuscleGeometry.fit`),
weighted by ``moment_arm_weight``. Both matter because OpenSim 4.6's ``computeMomentArm`` is not
exactly ``-dl_MT/dθ`` on wrapped paths (arm26 BRA: up to 0.15 mm, 1 %, near extension).

Geometry source for arm26: Holzbaur, Murray & Delp (2005), Ann Biomed Eng 33:829-840.

Outside the fitted domain the polynomial is still evaluated (extrapolation, no clamping, so
gradients stay honest); call :meth:`MuscleGeometry.check_range` on data before use: it raises a
:class:`ValueError` for angles beyond the domain by more than ``margin`` (default 1°).

Results are saved as JSON (:meth:`MuscleGeometry.save`, :meth:`MuscleGeometry.load`);
:func:`nmm.opensim.torch_elbow.muscle_geometry_from_osim` samples, fits and caches them, so
OpenSim is needed only once per model and setting.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from nmm.atomic import atomic_write_text
from nmm.physics.muscle import MuscleParameters

if TYPE_CHECKING:
    from nmm.opensim.geometry_sampling import GeometrySamples

__all__ = [
    "DEFAULT_DEGREE",
    "DEFAULT_MOMENT_ARM_WEIGHT",
    "DEFAULT_RANGE_MARGIN",
    "FORMAT_VERSION",
    "FitError",
    "MuscleGeometry",
]

log = logging.getLogger(__name__)

#: Polynomial degree. With breaks at wrap events, degree 7 fits arm26 to < 5e-5 m in length
#: and < 0.02 % RMS in moment arm; degree 5 is ~10x worse, 9+ gains little.
DEFAULT_DEGREE = 7
#: Weight (rad) of moment-arm residuals against length residuals in the least squares:
#: minimise Σ (l̂ - l)² + w² Σ (r̂ - r)². 0 fits lengths only.
DEFAULT_MOMENT_ARM_WEIGHT = 1.0
#: Tolerance of :meth:`MuscleGeometry.check_range` beyond the fitted domain (rad; 1°).
DEFAULT_RANGE_MARGIN = math.radians(1.0)
#: Version of the JSON cache format; a cache of another version is not reused (2: the muscle
#: parameters hold each tendon's strain).
FORMAT_VERSION = 2
_FORMAT_NAME = "nmm.physics.geometry.MuscleGeometry"
# Knot position used to pad muscles with fewer knots (x units): never reached, coefficient 0.
_PAD_KNOT = 1.0e6


@dataclass(frozen=True)
class FitError:
    """Fit errors of one muscle against the OpenSim samples it was fitted to (all in m).

    ``*_rms`` and ``*_max`` are the RMS and largest absolute errors; ``moment_arm_rel_rms`` is
    the moment-arm RMS error divided by the RMS of the sampled moment arm (dimensionless; a
    relative error that stays meaningful where the moment arm crosses zero).
    """

    length_rms: float
    length_max: float
    moment_arm_rms: float
    moment_arm_max: float
    moment_arm_rel_rms: float


def _as_angle(theta: Tensor | float | np.ndarray) -> Tensor:
    t = torch.as_tensor(theta)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def _horner(coeffs: Tensor, x: Tensor) -> Tensor:
    """Σ_k coeffs[k] x^k for ``coeffs`` ``(K, M)`` and ``x`` ``(..., M)`` -> ``(..., M)``."""
    if coeffs.shape[0] == 1:
        return torch.zeros_like(x) + coeffs[0]
    out = torch.addcmul(coeffs[-2], x, coeffs[-1])
    for k in range(coeffs.shape[0] - 3, -1, -1):
        out = torch.addcmul(coeffs[k], out, x)
    return out


class MuscleGeometry:
    """Fitted ``l_MT(θ)`` and ``r(θ) = -dl_MT/dθ`` for M muscles over one coordinate.

    Build with :meth:`fit` (from OpenSim samples), :meth:`load`, or
    :func:`nmm.opensim.torch_elbow.muscle_geometry_from_osim` (sample + fit + cache). Treat
    instances as immutable; evaluation takes tensors of any batch shape ``(...)`` of angles in rad
    and returns ``(..., M)``, in the angles' dtype (float32 or float64) and device,
    differentiable with respect to the angles.

    Attributes:
        muscle_names: ``(M,)`` names, the order of the last output dimension.
        coordinate: OpenSim coordinate the angle belongs to (e.g. ``r_elbow_flex``).
        domain: ``(min, max)`` fitted angle range (rad).
        degree: polynomial degree d.
        coefficients: ``(M, d + 1)`` c_k (m), ascending powers of ``x``.
        knots: per muscle, the break angles θ_b (rad).
        knot_coefficients: per muscle, ``(B_m, d - 1)`` a_bj (m) for j = 2..d.
        fit_errors: ``{muscle: FitError}`` against the samples fitted (empty if unknown).
        muscle_parameters: ``{property: (M,) values}`` read from the model (OpenSim names and
            units), or None.
        source: provenance (``osim_path``, ``sha256``, ``locked``, ...), JSON-compatible.
        settings: the sampling and fitting settings; ``muscle_geometry_from_osim`` reuses a
            cache only when they and the file's SHA-256 match.
    """

    def __init__(
        self,
        *,
        muscle_names: Sequence[str],
        coordinate: str,
        domain: tuple[float, float],
        degree: int,
        coefficients: np.ndarray | Sequence[Sequence[float]],
        knots: Sequence[Sequence[float]] | None = None,
        knot_coefficients: Sequence[Sequence[Sequence[float]]] | None = None,
        fit_errors: Mapping[str, FitError] | None = None,
        muscle_parameters: Mapping[str, Sequence[float]] | None = None,
        source: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.muscle_names = tuple(muscle_names)
        n_muscles = len(self.muscle_names)
        self.coordinate = str(coordinate)
        lo, hi = (float(v) for v in domain)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"domain must be finite with min < max, got {domain}")
        self.domain = (lo, hi)
        self.degree = int(degree)
        self.coefficients = np.array(coefficients, dtype=float)
        if self.coefficients.shape != (n_muscles, self.degree + 1):
            raise ValueError(
                f"coefficients must have shape (M, degree + 1) = ({n_muscles}, "
                f"{self.degree + 1}), got {self.coefficients.shape}"
            )
        knots = [[] for _ in range(n_muscles)] if knots is None else knots
        knot_coefficients = (
            [[] for _ in range(n_muscles)] if knot_coefficients is None else knot_coefficients
        )
        if len(knots) != n_muscles or len(knot_coefficients) != n_muscles:
            raise ValueError("knots and knot_coefficients need one entry per muscle")
        self.knots = tuple(tuple(float(v) for v in k) for k in knots)
        self.knot_coefficients = tuple(
            np.array(a, dtype=float).reshape(len(k), max(self.degree - 1, 0))
            for k, a in zip(self.knots, knot_coefficients, strict=True)
        )
        self.fit_errors = dict(fit_errors or {})
        self.muscle_parameters = (
            None
            if muscle_parameters is None
            else {key: tuple(float(v) for v in vals) for key, vals in muscle_parameters.items()}
        )
        self.source = dict(source or {})
        self.settings = dict(settings or {})
        self._center = 0.5 * (lo + hi)
        self._half_width = 0.5 * (hi - lo)
        self._cache: dict[tuple[torch.dtype, torch.device], tuple[Tensor, ...]] = {}

    # ----------------------------------------------------------------------------------
    # Fitting
    # ----------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        samples: GeometrySamples,
        degree: int = DEFAULT_DEGREE,
        moment_arm_weight: float = DEFAULT_MOMENT_ARM_WEIGHT,
        split_at_path_events: bool = True,
        settings: Mapping[str, Any] | None = None,
    ) -> MuscleGeometry:
        """Least-squares fit to OpenSim samples (:func:`~nmm.opensim.geometry_sampling.
        sample_elbow_geometry`).

        Per muscle, minimises ``Σ (l̂ - l)² + w² Σ (r̂ - r)²`` over the samples, with l the
        sampled lengths (m), r OpenSim's ``computeMomentArm`` (m), ``r̂ = -dl̂/dθ`` and
        ``w = moment_arm_weight`` (rad). The domain is the sampled angle range.

        Args:
            samples: OpenSim samples ``(N,)`` angles, ``(N, M)`` lengths and moment arms.
            degree: polynomial degree d >= 1 (needs N >= d + 1 samples).
            moment_arm_weight: w >= 0 (rad); 0 fits the lengths only.
            split_at_path_events: add truncated powers at the samples' path events inside
                the domain (wrap on/off); False fits one polynomial per muscle.
            settings: recorded in :attr:`settings` (used by the cache).
        """
        angles = np.asarray(samples.angles, dtype=float)
        lengths = np.asarray(samples.lengths, dtype=float)
        moment_arms = np.asarray(samples.moment_arms, dtype=float)
        names = tuple(samples.muscle_names)
        if degree < 1:
            raise ValueError(f"degree must be >= 1, got {degree}")
        if np.unique(angles).size < degree + 1:
            raise ValueError(f"degree {degree} needs at least {degree + 1} distinct angles")
        if moment_arm_weight < 0 or not math.isfinite(moment_arm_weight):
            raise ValueError(f"moment_arm_weight must be finite and >= 0, got {moment_arm_weight}")
        lo, hi = float(angles.min()), float(angles.max())
        center, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        x = (angles - center) / half

        coefficients = np.zeros((len(names), degree + 1))
        all_knots: list[list[float]] = []
        all_knot_coefficients: list[np.ndarray] = []
        for m, name in enumerate(names):
            events = samples.path_events.get(name, ()) if split_at_path_events else ()
            knots = sorted(float(e) for e in events if lo < e < hi) if degree >= 2 else []
            basis, d_basis = _basis(x, [(k - center) / half for k in knots], degree)
            d_basis = d_basis / half  # d/dθ
            design = np.vstack([basis, -moment_arm_weight * d_basis])
            target = np.concatenate([lengths[:, m], moment_arm_weight * moment_arms[:, m]])
            scale = np.linalg.norm(design, axis=0)
            scale[scale == 0] = 1.0
            solution, _, rank, _ = np.linalg.lstsq(design / scale, target, rcond=None)
            if rank < design.shape[1]:
                log.warning(
                    "geometry fit of %s is rank deficient (%d < %d columns)",
                    name,
                    rank,
                    design.shape[1],
                )
            solution = solution / scale
            coefficients[m] = solution[: degree + 1]
            all_knots.append(knots)
            all_knot_coefficients.append(
                solution[degree + 1 :].reshape(len(knots), degree - 1)
                if knots
                else np.zeros((0, max(degree - 1, 0)))
            )

        geometry = cls(
            muscle_names=names,
            coordinate=samples.coordinate,
            domain=(lo, hi),
            degree=degree,
            coefficients=coefficients,
            knots=all_knots,
            knot_coefficients=all_knot_coefficients,
            muscle_parameters=samples.muscle_parameters,
            source=_source_of(samples),
            settings=settings,
        )
        geometry.fit_errors = geometry.errors_against(angles, lengths, moment_arms)
        return geometry

    def errors_against(
        self, angles: np.ndarray, lengths: np.ndarray, moment_arms: np.ndarray
    ) -> dict[str, FitError]:
        """Per-muscle :class:`FitError` against reference samples.

        Args:
            angles: ``(N,)`` rad; lengths, moment_arms: ``(N, M)`` m (e.g. from OpenSim).
        """
        theta = torch.as_tensor(np.asarray(angles, dtype=float))
        with torch.no_grad():
            dl = self.lengths(theta).numpy() - np.asarray(lengths, dtype=float)
            dr = self.moment_arms(theta).numpy() - np.asarray(moment_arms, dtype=float)
        rms_r = np.sqrt(np.mean(np.asarray(moment_arms, dtype=float) ** 2, axis=0))
        out = {}
        for m, name in enumerate(self.muscle_names):
            r_rms = float(np.sqrt(np.mean(dr[:, m] ** 2)))
            out[name] = FitError(
                length_rms=float(np.sqrt(np.mean(dl[:, m] ** 2))),
                length_max=float(np.max(np.abs(dl[:, m]))),
                moment_arm_rms=r_rms,
                moment_arm_max=float(np.max(np.abs(dr[:, m]))),
                moment_arm_rel_rms=r_rms / float(rms_r[m]) if rms_r[m] > 0 else math.inf,
            )
        return out

    # ----------------------------------------------------------------------------------
    # Evaluation (torch)
    # ----------------------------------------------------------------------------------

    @property
    def n_muscles(self) -> int:
        """Number of muscles M."""
        return len(self.muscle_names)

    def _tensors(self, ref: Tensor) -> tuple[Tensor, ...]:
        key = (ref.dtype, ref.device)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        d = self.degree
        n_knots = max((len(k) for k in self.knots), default=0)
        # Knots padded to B per muscle: positions (B, M) in x, coefficients (B, j = 2..d, M).
        knot_x = np.full((n_knots, self.n_muscles), _PAD_KNOT)
        knot_a = np.zeros((n_knots, max(d - 1, 0), self.n_muscles))
        for m, (knots, a) in enumerate(zip(self.knots, self.knot_coefficients, strict=True)):
            for b, k in enumerate(knots):
                knot_x[b, m] = (k - self._center) / self._half_width
                knot_a[b, :, m] = a[b]
        powers = np.arange(1, d + 1, dtype=float)
        d_coef = self.coefficients[:, 1:].T * powers[:, None]  # (d, M): d/dx of Σ c_k x^k
        d_knot_a = knot_a * np.arange(2, d + 1, dtype=float)[None, :, None]  # j a_j

        def t(a: np.ndarray) -> Tensor:
            return torch.as_tensor(a, dtype=ref.dtype, device=ref.device)

        cached = (t(self.coefficients.T), t(d_coef), t(knot_x), t(knot_a), t(d_knot_a))
        self._cache[key] = cached
        return cached

    def _x(self, theta: Tensor) -> Tensor:
        """Scaled angle, repeated per muscle: ``(..., M)`` contiguous (fast elementwise ops)."""
        x = (theta - self._center) / self._half_width
        return x.unsqueeze(-1).expand(*x.shape, self.n_muscles).contiguous()

    def lengths(self, theta: Tensor | float | np.ndarray) -> Tensor:
        """Musculotendon lengths ``l_MT`` (m).

        Args:
            theta: ``(...,)`` coordinate angles (rad).

        Returns:
            ``(..., M)`` lengths, in the dtype/device of ``theta``.
        """
        theta = _as_angle(theta)
        coef, _, knot_x, knot_a, _ = self._tensors(theta)
        x = self._x(theta)
        out = _horner(coef, x)
        if knot_a.shape[1]:  # degree >= 2 (knot terms are t^2 .. t^d)
            for b in range(knot_x.shape[0]):
                t = torch.relu(x - knot_x[b])
                out = out + t * t * _horner(knot_a[b], t)
        return out

    def moment_arms(self, theta: Tensor | float | np.ndarray) -> Tensor:
        """Moment arms ``r = -dl_MT/dθ`` (m), the analytic derivative of :meth:`lengths`.

        Positive for muscles that lengthen as θ decreases (flexors of ``r_elbow_flex``).

        Args:
            theta: ``(...,)`` coordinate angles (rad).

        Returns:
            ``(..., M)`` moment arms, in the dtype/device of ``theta``.
        """
        theta = _as_angle(theta)
        _, d_coef, knot_x, _, d_knot_a = self._tensors(theta)
        x = self._x(theta)
        dl_dx = _horner(d_coef, x)
        if d_knot_a.shape[1]:
            for b in range(knot_x.shape[0]):
                t = torch.relu(x - knot_x[b])
                dl_dx = dl_dx + t * _horner(d_knot_a[b], t)
        return -dl_dx / self._half_width

    def velocities(
        self, theta: Tensor | float | np.ndarray, theta_dot: Tensor | float | np.ndarray
    ) -> Tensor:
        """Musculotendon lengthening velocities ``v_MT = dl_MT/dt = -r(θ)·θ̇`` (m/s).

        Args:
            theta: ``(...,)`` angles (rad).
            theta_dot: ``(...,)`` angular velocities (rad/s), broadcastable with ``theta``.

        Returns:
            ``(..., M)`` velocities, positive when the musculotendon unit lengthens.
        """
        theta = _as_angle(theta)
        theta_dot = torch.as_tensor(theta_dot, dtype=theta.dtype, device=theta.device)
        return -self.moment_arms(theta) * theta_dot.unsqueeze(-1)

    def check_range(
        self, theta: Tensor | float | np.ndarray, margin: float = DEFAULT_RANGE_MARGIN
    ) -> None:
        """Raise :class:`ValueError` if any angle is outside the domain by more than ``margin``.

        The evaluation methods extrapolate silently (a polynomial grows fast outside its
        domain, and a clamp would zero the gradient there); check data with this first.

        Args:
            theta: angles (rad), any shape.
            margin: tolerance beyond each end of the domain (rad); default 1°.
        """
        values = torch.as_tensor(theta).detach().to("cpu", torch.float64).reshape(-1)
        if values.numel() == 0:
            return
        if not bool(torch.isfinite(values).all()):
            raise ValueError(f"{self.coordinate}: angles contain NaN or infinity")
        lo, hi = self.domain
        got_lo, got_hi = float(values.min()), float(values.max())
        if got_lo < lo - margin or got_hi > hi + margin:
            raise ValueError(
                f"{self.coordinate} angles span [{got_lo:.4f}, {got_hi:.4f}] rad "
                f"([{math.degrees(got_lo):.1f}, {math.degrees(got_hi):.1f}]°), beyond the "
                f"geometry's fitted domain [{lo:.4f}, {hi:.4f}] rad ([{math.degrees(lo):.1f}, "
                f"{math.degrees(hi):.1f}]°) by more than {margin:.4f} rad; refit over a wider "
                f"angle_range (source: {self.source.get('osim_path', 'unknown')})"
            )

    def to_muscle_parameters(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
    ) -> MuscleParameters:
        """The model's muscle properties as :class:`MuscleParameters` of ``(M,)`` tensors.

        Only the properties read from the model (F0, l_opt, l_Ts, pennation, v_max and the
        tendon strain at one normalised force) are set; curve parameters keep the
        ``DeGrooteFregly2016Muscle`` defaults. Note that arm26's
        muscles are ``Thelen2003Muscle``, whose curves differ.
        """
        if not self.muscle_parameters:
            raise ValueError("this geometry carries no muscle parameters (fit without a model)")
        return MuscleParameters(
            **{
                key: torch.tensor(vals, dtype=dtype, device=device)
                for key, vals in self.muscle_parameters.items()
            }
        )

    # ----------------------------------------------------------------------------------
    # Cache as data
    # ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible representation (floats round-trip exactly)."""
        return {
            "format": _FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "expression": (
                "l_MT(θ) = Σ_k c_k x^k + Σ_b Σ_{j=2..degree} a_bj max(x - x_b, 0)^j, "
                "x = (θ - center) / half_width, x_b = (knot - center) / half_width; "
                "moment arm r = -dl_MT/dθ; θ in rad, lengths in m"
            ),
            "coordinate": self.coordinate,
            "muscle_names": list(self.muscle_names),
            "domain": list(self.domain),
            "center": self._center,
            "half_width": self._half_width,
            "degree": self.degree,
            "coefficients": {
                n: self.coefficients[m].tolist() for m, n in enumerate(self.muscle_names)
            },
            "knots": {n: list(self.knots[m]) for m, n in enumerate(self.muscle_names)},
            "knot_coefficients": {
                n: self.knot_coefficients[m].tolist() for m, n in enumerate(self.muscle_names)
            },
            "fit_errors": {n: asdict(e) for n, e in self.fit_errors.items()},
            "muscle_parameters": (
                None
                if self.muscle_parameters is None
                else {k: list(v) for k, v in self.muscle_parameters.items()}
            ),
            "source": self.source,
            "settings": self.settings,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "geometry data") -> MuscleGeometry:
        """Inverse of :meth:`to_dict`; ``where`` names the origin in error messages."""
        if data.get("format") != _FORMAT_NAME or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{where}: not a {_FORMAT_NAME} version {FORMAT_VERSION} (found "
                f"{data.get('format')!r} version {data.get('format_version')!r})"
            )
        try:
            names = list(data["muscle_names"])
            return cls(
                muscle_names=names,
                coordinate=data["coordinate"],
                domain=tuple(data["domain"]),
                degree=data["degree"],
                coefficients=[data["coefficients"][n] for n in names],
                knots=[data["knots"][n] for n in names],
                knot_coefficients=[data["knot_coefficients"][n] for n in names],
                fit_errors={n: FitError(**e) for n, e in data.get("fit_errors", {}).items()},
                muscle_parameters=data.get("muscle_parameters"),
                source=data.get("source"),
                settings=data.get("settings"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: malformed geometry data ({exc!r})") from exc

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the geometry to a JSON file atomically (temporary file + ``os.replace``)."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MuscleGeometry:
        """Read a geometry written by :meth:`save`; ValueError names the file if invalid."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read a geometry JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a geometry JSON object")
        return cls.from_dict(data, where=str(path))

    def fit_report(self) -> str:
        """A plain-text table of :attr:`fit_errors` (mm)."""
        lines = [f"{'muscle':<12} {'l rms':>9} {'l max':>9} {'r rms':>9} {'r max':>9} {'r rel':>7}"]
        for name, e in self.fit_errors.items():
            lines.append(
                f"{name:<12} {e.length_rms * 1e3:9.5f} {e.length_max * 1e3:9.5f} "
                f"{e.moment_arm_rms * 1e3:9.5f} {e.moment_arm_max * 1e3:9.5f} "
                f"{e.moment_arm_rel_rms * 100:6.3f}%"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        lo, hi = self.domain
        return (
            f"MuscleGeometry({self.coordinate}, muscles={list(self.muscle_names)}, "
            f"domain=[{lo:.4f}, {hi:.4f}] rad, degree={self.degree}, "
            f"knots={sum(len(k) for k in self.knots)})"
        )


def _basis(x: np.ndarray, knots_x: Sequence[float], degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix ``(N, P)`` of the expression and its derivative with respect to x."""
    cols = [x**k for k in range(degree + 1)]
    d_cols = [np.zeros_like(x)] + [k * x ** (k - 1) for k in range(1, degree + 1)]
    for xb in knots_x:
        t = np.maximum(x - xb, 0.0)
        for j in range(2, degree + 1):
            cols.append(t**j)
            d_cols.append(j * t ** (j - 1))
    return np.stack(cols, axis=1), np.stack(d_cols, axis=1)


def _source_of(samples: GeometrySamples) -> dict[str, Any]:
    """Provenance of the samples, JSON-compatible."""
    return json.loads(
        json.dumps(
            {
                "osim_path": samples.osim_path,
                "sha256": samples.sha256,
                "model_name": samples.model_name,
                "opensim_version": samples.opensim_version,
                "coordinate_range": list(samples.coordinate_range),
                "joint": samples.joint,
                "parent_body": samples.parent_body,
                "child_body": samples.child_body,
                "locked": samples.locked,
                "held_coordinates": samples.held_coordinates,
                "muscle_classes": list(samples.muscle_classes),
                "path_events": {k: list(v) for k, v in samples.path_events.items()},
                "n_samples": int(np.asarray(samples.angles).size),
            }
        )
    )
