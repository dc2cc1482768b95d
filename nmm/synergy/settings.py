"""The options of synergy extrapolation (``conf/mse/synx.yaml``), as one validated object.

The app reads the ``mse`` node of its config, resolves it to plain containers and builds
:class:`SynXSettings` with :meth:`SynXSettings.from_mapping`; :func:`nmm.synergy.fit.fit_synx`
takes the object.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["SCOPES", "SynXSettings"]

#: Where synergy / residual weights are shared (SynX's categorisations).
SCOPES = ("trial", "task", "subject")
#: Keys of ``mse.nmf``: NMF random starts, iteration limit, convergence tolerance.
NMF_KEYS = ("replicates", "max_iter", "tol")
#: Keys of ``mse.allowable_error``: each cost term's allowable error (``parameters``: the
#: prior's SD as a fraction of each bound range, a number or ``{name: fraction, default}``).
ALLOWABLE_KEYS = (
    "moment_nm",
    "extrapolated_activation",
    "residual_activation",
    "activation_similarity",
    "bounds",
    "parameters",
)


def _check_keys(where: str, given: Mapping[str, Any], known: Collection[str]) -> None:
    """ValueError naming ``where`` for a key of ``given`` not in ``known`` or one it lacks."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; known: {sorted(known)}")
    missing = sorted(set(known) - set(given))
    if missing:
        raise ValueError(f"{where}: missing option(s) {missing} (conf/mse/synx.yaml has them all)")


@dataclass(frozen=True)
class SynXSettings:
    """The options of ``conf/mse/synx.yaml`` (see there for values and sources), validated on
    construction.

    Attributes:
        n_synergies: k.
        method: ``"nmf"`` or ``"pca"``.
        replicates, max_iter, tol: NMF random starts, iteration limit, convergence tolerance
            (``nmf.*``).
        weight_scope, residual_scope: one of :data:`SCOPES`.
        activation_groups: muscle groups whose activations are kept similar (empty: none).
        allowable: ``allowable_error``: ``{moment_nm, extrapolated_activation,
            residual_activation, activation_similarity, bounds}`` and ``parameters`` (a
            fraction of each bound range, or ``{name: fraction, default}``).
        optimizer: ``"lbfgs"`` or ``"adam"`` (see :func:`nmm.synergy.fit.optimise`).
        steps: L-BFGS iterations or Adam steps.
        lr, parameter_lr, final_lr_fraction: Adam's step sizes of the weights and of the
            parameters' logits, and the cosine decay's end as a fraction of each.
        window_s, burn_in_s: window length and the moment term's burn-in per window (s).
    """

    n_synergies: int
    method: str
    replicates: int
    max_iter: int
    tol: float
    weight_scope: str
    residual_scope: str
    activation_groups: Sequence[Sequence[str]]
    allowable: Mapping[str, Any]
    optimizer: str
    steps: int
    lr: float
    parameter_lr: float
    final_lr_fraction: float
    window_s: float
    burn_in_s: float

    def __post_init__(self) -> None:
        self.check()

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> SynXSettings:
        """From the ``mse`` node of a resolved config (plain containers, every key of
        ``conf/mse/synx.yaml``: ``OmegaConf.to_container(cfg.mse, resolve=True)``).

        Raises:
            ValueError: an unknown or missing key, an unknown method or scope, or a value out
                of range (messages name the option).
        """
        top = [f.name for f in fields(cls) if f.name != "allowable" and f.name not in NMF_KEYS]
        _check_keys("mse", settings, [*top, "nmf", "allowable_error"])
        _check_keys("mse.nmf", settings["nmf"], NMF_KEYS)
        _check_keys("mse.allowable_error", settings["allowable_error"], ALLOWABLE_KEYS)
        raw = {k: settings[k] for k in top}
        return cls(**raw, **settings["nmf"], allowable=dict(settings["allowable_error"]))

    def check(self) -> None:
        """Raise ValueError for a value out of range (messages name the option)."""
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"mse.optimizer must be 'lbfgs' or 'adam', got {self.optimizer!r}")
        if self.method not in ("nmf", "pca"):
            raise ValueError(f"mse.method must be 'nmf' or 'pca', got {self.method!r}")
        for name in ("weight_scope", "residual_scope"):
            if getattr(self, name) not in SCOPES:
                raise ValueError(f"mse.{name} must be one of {SCOPES}, got {getattr(self, name)!r}")
        if int(self.n_synergies) < 1:
            raise ValueError(f"mse.n_synergies must be >= 1, got {self.n_synergies}")
        names = ("moment_nm", "extrapolated_activation", "residual_activation", "bounds")
        for name in (*names, "activation_similarity"):
            if not float(self.allowable.get(name, 0.0)) > 0:
                raise ValueError(f"mse.allowable_error.{name} must be > 0")
        if "parameters" not in self.allowable:
            raise ValueError("mse.allowable_error.parameters: missing (the parameters' prior SD)")
        if int(self.steps) < 0 or not self.window_s > 0 or self.burn_in_s < 0:
            raise ValueError("mse: steps must be >= 0, window_s > 0 and burn_in_s >= 0")
