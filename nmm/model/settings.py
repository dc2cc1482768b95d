"""The NMM's settings and injected parts, as plain frozen objects.

The app layer (:mod:`nmm.jobs.nmm_setup`) reads a run's config and builds these; the model's
functions (:mod:`nmm.model.train`, :mod:`nmm.model.adapt`, :mod:`nmm.model.evaluate`) take them
and never read a config themselves.

- :class:`NMMSettings` what the model is: muscles, rates, inputs, windows, activation
  integration (``physics``, ``preprocess.resample_hz`` and ``model`` of ``conf/train.yaml``);
- :class:`NMMComponents` the injected parts: network, loss, optimizer and scheduler factories
  (``model.net``, ``model.loss``, ``model.optimizer``, ``model.scheduler``) and the
  preprocessing chains (``preprocess.emg``, ``preprocess.kinematics``);
- :class:`DataModuleSettings` the windows' batches (``datamodule``);
- :class:`PersonaliseSettings` a new subject's personalisation (``evaluate.personalise``,
  ``personalise`` of ``conf/predict.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DataModuleSettings",
    "NMMComponents",
    "NMMSettings",
    "PersonaliseSettings",
]

#: A preprocessing chain: a Signal in, a Signal out (:class:`nmm.data.preprocess.Chain`).
Step = Callable[[Any], Any]


@dataclass(frozen=True)
class NMMSettings:
    """The plain settings of the NMM.

    Attributes:
        physics: the ``physics`` group as a plain mapping (``conf/physics/arm26.yaml``: the
            ``.osim``, muscles, personalised parameters, arm, load lever arm).
        rate_hz: the common rate of envelopes, kinematics and torque (Hz).
        inputs: the network's kinematic inputs (``model.inputs``).
        input_scales: each input's scale (input × scale is O(1)).
        channel_map: recorded channels -> model muscles, for channels not named like a muscle.
        synergists: hidden muscle -> its synergists (the synergy prior).
        window_s, stride_s: training windows and their stride (s).
        burn_in_s: each window's first seconds the torque term skips (s; 0: none).
        parameter_lr: Adam step of the personalised parameters' logits (None: the network's).
        use_measured: drive the physics with the recorded envelopes of the measured muscles.
        use_recorded_derivatives: take θ̇, θ̈ from the data where recorded.
        activation_method, activation_substeps: integration of the activation ODE.
        activation_smoothing: smoothing of the activation dynamics' switch
            (``physics.activation.smoothing``).
        causal: the causal model (``model.causal``): a trial is reconstructed from windows
            ending at each update, every ``hop_s`` (:mod:`nmm.model.causal`).
        hop_s: the updates' period in causal mode (s; ``model.hop_s``).
    """

    physics: Mapping[str, Any]
    rate_hz: float
    inputs: tuple[str, ...]
    input_scales: Mapping[str, float] = field(default_factory=dict)
    channel_map: Mapping[str, Any] | None = None
    synergists: Mapping[str, Sequence[str]] = field(default_factory=dict)
    window_s: float = 1.0
    stride_s: float = 0.25
    burn_in_s: float = 0.0
    parameter_lr: float | None = None
    use_measured: bool = True
    use_recorded_derivatives: bool = True
    activation_method: str = "euler"
    activation_substeps: int | None = 2
    activation_smoothing: float = 10.0
    causal: bool = False
    hop_s: float = 0.02

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> NMMSettings:
        """From a run's config as plain nested mappings: its ``physics``, ``preprocess``
        (``resample_hz``) and ``model`` nodes (``conf/train.yaml``)."""
        physics, model = config["physics"], config["model"]
        activation = model.get("activation", {}) or {}
        return cls(
            physics=physics,
            rate_hz=float(config["preprocess"]["resample_hz"]),
            inputs=tuple(model["inputs"]),
            input_scales=dict(model.get("input_scales") or {}),
            channel_map=model.get("channel_map"),
            synergists=dict(model.get("synergists") or {}),
            window_s=float(model["window_s"]),
            stride_s=float(model["stride_s"]),
            burn_in_s=float(model.get("burn_in_s") or 0.0),
            parameter_lr=model.get("parameter_lr"),
            use_measured=bool(model.get("use_measured", True)),
            use_recorded_derivatives=bool(model.get("use_recorded_derivatives", True)),
            activation_method=str(activation.get("method", "euler")),
            activation_substeps=activation.get("substeps", 2),
            activation_smoothing=float(physics["activation"].get("smoothing", 10.0)),
            causal=bool(model.get("causal", False)),
            hop_s=float(model.get("hop_s", 0.02)),
        )

    @property
    def muscles(self) -> tuple[str, ...]:
        """The model muscles (``physics.muscles``), in model order."""
        return tuple(self.physics["muscles"])

    @property
    def hidden(self) -> tuple[str, ...]:
        """The hidden muscles (``physics.hidden``): no EMG, reconstructed."""
        return tuple(self.physics["hidden"])

    @property
    def lever_arm_m(self) -> float:
        """The load's lever arm when a trial gives none (m; ``physics.load.lever_arm_m``)."""
        return float(self.physics.get("load", {}).get("lever_arm_m", 0.3))


@dataclass(frozen=True)
class NMMComponents:
    """The NMM's injected parts (Hydra ``_target_``\\ s, built by the app).

    Attributes:
        net: called with ``n_inputs`` and ``n_outputs``, returns the network.
        loss: called with ``hidden``, ``synergists`` (muscle indices) and ``burn_in``
            (samples), returns the physics-informed loss.
        optimizer: called with parameter groups, returns the optimizer.
        scheduler: called with the optimizer, returns a scheduler; None: none.
        emg: the EMG chain, raw EMG -> envelope.
        kinematics: the kinematics chain, angle -> filtered angle and its derivatives.
        emg_targets: a causal model's training targets: the zero-phase form of ``emg``,
            whose envelopes the loss and the physics take while the network reads ``emg``'s
            (:func:`nmm.model.train.prepare_cohort`); None: ``emg``'s for both.
    """

    net: Callable[..., Any]
    loss: Callable[..., Any]
    optimizer: Callable[..., Any]
    scheduler: Callable[..., Any] | None
    emg: Step
    kinematics: Step
    emg_targets: Step | None = None


@dataclass(frozen=True)
class DataModuleSettings:
    """Batches of training windows (``datamodule`` of ``conf/train.yaml``).

    Attributes:
        batch_size: windows per batch.
        num_workers: DataLoader worker processes (trials are in memory: 0).
        kinds: trial kinds trained on (None: all, MVIC trials included).
        val_subjects: held-out validation subjects (none: validate on the fit).
    """

    batch_size: int = 32
    num_workers: int = 0
    kinds: tuple[str, ...] | None = None
    val_subjects: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, node: Mapping[str, Any]) -> DataModuleSettings:
        """From the ``datamodule`` node as a plain mapping."""
        kinds = node.get("kinds")
        return cls(
            batch_size=int(node["batch_size"]),
            num_workers=int(node.get("num_workers", 0)),
            kinds=None if kinds is None else tuple(kinds),
            val_subjects=tuple(node.get("val_subjects") or ()),
        )


@dataclass(frozen=True)
class PersonaliseSettings:
    """A new subject's personalisation (:func:`nmm.model.personalise.personalise`, then
    :func:`nmm.model.adapt.adapt`).

    Attributes:
        steps: Adam steps on its parameters, the network frozen.
        lr: their learning rate.
        batch_size: windows per step (None: all).
        window_s: non-overlapping windows of this length (s; None: the model's windows).
        adapt: then adapt a copy of the network to the subject (budget ``budget.adapt``).
    """

    steps: int
    lr: float = 0.05
    batch_size: int | None = None
    window_s: float | None = None
    adapt: bool = False

    @classmethod
    def from_mapping(
        cls, node: Mapping[str, Any] | None, default_steps: int
    ) -> PersonaliseSettings:
        """From a ``personalise`` node as a plain mapping (None: every default);
        ``default_steps`` where it names no ``steps``."""
        node = node or {}
        window_s = node.get("window_s")
        return cls(
            steps=int(node.get("steps", default_steps)),
            lr=float(node.get("lr", 0.05)),
            batch_size=node.get("batch_size"),
            window_s=float(window_s) if window_s else None,
            adapt=bool(node.get("adapt", False)),
        )
