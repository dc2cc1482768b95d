"""The muscle models of the elbow, by name: one registry for the torch elbow and the OpenSim twin.

An entry (:class:`MuscleModel`) says everything both sides need to know about one model:

- ``force``: the torch function ``(activation, l_MT, v_MT, MuscleParameters) -> MuscleState``
  that :func:`nmm.physics.elbow.muscle_torque` calls, as a dotted path imported on first use
  (``nmm.physics.muscle.rigid_tendon_muscle``; this module stays torch-free, so the OpenSim
  twin of ``nmm-validate`` can read the registry without importing torch);
- ``parameters``: its parameters (:class:`ParameterSpec`) with OpenSim's names, units, valid
  ranges and whether each is read from the ``.osim`` by
  :func:`nmm.opensim.geometry_sampling.sample_elbow_geometry`;
- ``opensim``: how :mod:`nmm.opensim.elbow_twin` builds the same model in OpenSim
  (:class:`OpenSimMuscle`, plain strings: this layer never imports OpenSim).

``physics.muscle_model`` (``conf/physics/arm26.yaml``) names the entry. A new muscle model is
one torch function (with its equations and their source) and one
:func:`register_muscle_model` call; the torch elbow, the twin and the geometry sampler look it up
by name. :func:`get_muscle_model` raises :class:`UnknownMuscleModelError`, naming the config key
and the registered names, for a name not registered.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_MUSCLE_MODEL",
    "MUSCLE_MODELS",
    "MuscleModel",
    "OpenSimMuscle",
    "ParameterSpec",
    "UnknownMuscleModelError",
    "get_muscle_model",
    "register_muscle_model",
]

#: The config key that names the muscle model (the ``physics`` group).
CONFIG_KEY = "physics.muscle_model"
#: The model of :class:`nmm.physics.elbow.ElbowModel` when none is named.
DEFAULT_MUSCLE_MODEL = "degroote2016_rigid_tendon"


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of a muscle model: a field of :class:`nmm.physics.muscle.MuscleParameters`.

    Attributes:
        name: the field, which is also the OpenSim property's name.
        unit: its unit (``"1"``: dimensionless; ``"flag"``: a bool, 0 or 1).
        low, high: the valid range; ``low_closed``/``high_closed`` whether it includes them.
        from_osim: read from each muscle of the ``.osim`` (otherwise the model's default).
        meaning: what it is, in a few words.
    """

    name: str
    unit: str
    low: float
    high: float = math.inf
    low_closed: bool = False
    high_closed: bool = False
    from_osim: bool = False
    meaning: str = ""

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the valid range."""
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return bool(above and below)

    def range_text(self) -> str:
        """The range as an interval with its unit, e.g. ``[0, 1.5708) rad``."""
        lo = "[" if self.low_closed else "("
        hi = "]" if self.high_closed else ")"
        return f"{lo}{self.low:g}, {self.high:g}{hi} {self.unit}"


@dataclass(frozen=True)
class OpenSimMuscle:
    """How the OpenSim twin represents a muscle model (names only; :mod:`nmm.opensim` acts).

    Attributes:
        muscle_class: OpenSim's concrete class of the twin's muscles.
        model_operators: ``ModelProcessor`` operators (OpenSim class names, applied in order)
            that turn the ``.osim``'s muscles into ``muscle_class``, copying F0, l_opt, l_Ts,
            pennation, v_max and the tendon strain.
        fixed_properties: OpenSim properties then set on every twin muscle,
            ``{property: value}`` (e.g. ``ignore_tendon_compliance``).
        equilibrate: the twin solves the fibre-tendon equilibrium
            (``Model::equilibrateMuscles``) at every state.
        properties: ``{MuscleParameters field: OpenSim property of muscle_class}``, to set the
            torch parameters on an OpenSim muscle.
    """

    muscle_class: str
    model_operators: tuple[str, ...]
    fixed_properties: Mapping[str, bool | float] = field(default_factory=dict)
    equilibrate: bool = False
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MuscleModel:
    """A registered muscle model (see the module doc).

    Attributes:
        name: the registry key, the value of ``physics.muscle_model``.
        force: dotted path of the torch function
            ``(activation (..., M), l_MT (..., M) m, v_MT (..., M) m/s, MuscleParameters)
            -> MuscleState``.
        parameters: its parameters.
        opensim: its OpenSim twin.
        source: the publication and the OpenSim class its equations follow.
    """

    name: str
    force: str
    parameters: tuple[ParameterSpec, ...]
    opensim: OpenSimMuscle
    source: str

    def force_function(self) -> Callable[..., Any]:
        """The torch force function (imported on first use; it imports torch)."""
        return _import_function(self.force)

    @property
    def osim_parameters(self) -> tuple[str, ...]:
        """Names of the parameters read from the ``.osim``, in declaration order."""
        return tuple(p.name for p in self.parameters if p.from_osim)


@cache
def _import_function(path: str) -> Callable[..., Any]:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"muscle model force function {path!r} cannot be imported") from exc


class UnknownMuscleModelError(ValueError):
    """A muscle model name that is not registered; the message names the key and the choices.

    Attributes:
        key: the config key (or argument) that named it; name: the name; known: the names
        registered.
    """

    def __init__(self, name: object, key: str = CONFIG_KEY) -> None:
        self.key = key
        self.name = name
        self.known = tuple(MUSCLE_MODELS)
        super().__init__(
            f"{key}: unknown muscle model {name!r}; registered: {', '.join(self.known)}"
        )


#: The registry, name -> entry; add entries with :func:`register_muscle_model`.
MUSCLE_MODELS: dict[str, MuscleModel] = {}


def register_muscle_model(model: MuscleModel) -> MuscleModel:
    """Add ``model`` to :data:`MUSCLE_MODELS` under its name; returns it.

    Raises:
        ValueError: the name is taken, or a parameter's OpenSim property is not declared.
    """
    if model.name in MUSCLE_MODELS:
        raise ValueError(f"a muscle model named {model.name!r} is already registered")
    undeclared = set(model.opensim.properties) - {p.name for p in model.parameters}
    if undeclared:
        raise ValueError(
            f"muscle model {model.name!r}: OpenSim properties for undeclared parameters "
            f"{sorted(undeclared)}"
        )
    MUSCLE_MODELS[model.name] = model
    return model


def get_muscle_model(name: str, key: str = CONFIG_KEY) -> MuscleModel:
    """The registered model called ``name``.

    Raises:
        UnknownMuscleModelError (a ValueError): no such model; the message names ``key``.
    """
    try:
        return MUSCLE_MODELS[name]
    except (KeyError, TypeError):
        raise UnknownMuscleModelError(name, key) from None


# --------------------------------------------------------------------------------------------
# OpenSim's DeGrooteFregly2016Muscle (De Groote et al. 2016, Ann Biomed Eng 44:2922), rigid or
# compliant tendon: equations in nmm.physics.muscle. Ranges: those OpenSim 4.6 enforces in
# DeGrooteFregly2016Muscle::extendFinalizeFromProperties, and > 0 for the lengths, the force and
# the velocity that the normalisations divide by.
# --------------------------------------------------------------------------------------------

_DEGROOTE_PARAMETERS = (
    ParameterSpec("max_isometric_force", "N", 0.0, from_osim=True, meaning="F0"),
    ParameterSpec("optimal_fiber_length", "m", 0.0, from_osim=True, meaning="l_opt"),
    ParameterSpec("tendon_slack_length", "m", 0.0, from_osim=True, meaning="l_Ts"),
    ParameterSpec(
        "pennation_angle_at_optimal",
        "rad",
        0.0,
        math.pi / 2,
        low_closed=True,
        from_osim=True,
        meaning="phi_opt",
    ),
    ParameterSpec("max_contraction_velocity", "l_opt/s", 0.0, from_osim=True, meaning="v_max"),
    ParameterSpec(
        "tendon_strain_at_one_norm_force",
        "1",
        0.0,
        from_osim=True,
        meaning="e0T of the tendon curve (unused with a rigid tendon)",
    ),
    ParameterSpec("fiber_damping", "1", 0.0, low_closed=True, meaning="fibre damping"),
    ParameterSpec(
        "passive_fiber_strain_at_one_norm_force", "1", 0.0, meaning="e0 of the passive curve"
    ),
    ParameterSpec("active_force_width_scale", "1", 1.0, low_closed=True, meaning="widens f_L"),
    ParameterSpec(
        "ignore_passive_fiber_force",
        "flag",
        0.0,
        1.0,
        low_closed=True,
        high_closed=True,
        meaning="f_PE = 0",
    ),
)
_DEGROOTE_PROPERTIES = MappingProxyType({p.name: p.name for p in _DEGROOTE_PARAMETERS})
_DEGROOTE_SOURCE = (
    "De Groote et al. 2016 (Ann Biomed Eng 44:2922, supplement S1); OpenSim 4.6 "
    "DeGrooteFregly2016Muscle"
)
_TO_DEGROOTE = ("ModOpReplaceMusclesWithDeGrooteFregly2016",)

register_muscle_model(
    MuscleModel(
        name="degroote2016_rigid_tendon",
        force="nmm.physics.muscle.rigid_tendon_muscle",
        parameters=_DEGROOTE_PARAMETERS,
        opensim=OpenSimMuscle(
            muscle_class="DeGrooteFregly2016Muscle",
            model_operators=_TO_DEGROOTE,
            fixed_properties=MappingProxyType({"ignore_tendon_compliance": True}),
            properties=_DEGROOTE_PROPERTIES,
        ),
        source=_DEGROOTE_SOURCE + " with ignore_tendon_compliance",
    )
)
register_muscle_model(
    MuscleModel(
        name="degroote2016_compliant_tendon",
        force="nmm.physics.muscle.compliant_tendon_equilibrium",
        parameters=_DEGROOTE_PARAMETERS,
        opensim=OpenSimMuscle(
            muscle_class="DeGrooteFregly2016Muscle",
            model_operators=_TO_DEGROOTE,
            fixed_properties=MappingProxyType({"ignore_tendon_compliance": False}),
            equilibrate=True,
            properties=_DEGROOTE_PROPERTIES,
        ),
        source=_DEGROOTE_SOURCE + ", fibre-tendon equilibrium at every state "
        "(computeInitialFiberEquilibrium)",
    )
)
