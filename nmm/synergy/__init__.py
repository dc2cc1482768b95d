"""Muscle synergy extrapolation (SynX, the "MSE" baseline the NMM is compared with).

After Bianco et al. 2018 (Front. Comput. Neurosci.) and Ao et al. 2022 (Front. Bioeng.
Biotechnol. 10:962959), as the NMSM Pipeline implements it (rcnl-org/nmsm-core,
``src/MuscleTendonPersonalization/SynergyExtrapolation``): the measured EMG envelopes are
factorised into a few synergies, the unmeasured muscles' envelopes are weighted sums of the
synergy excitations, and the weights, residual excitations of the measured muscles and the
personalised muscle parameters are fitted together so that the muscle torque of the elbow
tracks inverse dynamics. Modules:

- :mod:`~nmm.synergy.factorise` NMF (multiplicative updates, replicates) and PCA;
- :mod:`~nmm.synergy.extrapolate` the torch model of excitations from synergies;
- :mod:`~nmm.synergy.fit` :func:`fit_synx`, the joint fit and whole-trial reconstructions.

Options: ``conf/mse/synx.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["build_physics"]


def build_physics(
    cfg: Any,
    elbow: Any,
    subject_ids: Sequence[str],
    body_mass_kg: Sequence[float | None] | None = None,
) -> Any:
    """The NMM's :class:`~nmm.model.physics.PersonalisedElbow` for ``subject_ids`` (one row
    each): the same table (``cfg.physics``: bounds, initial values, priors) and activation
    integration (``cfg.model.activation``) as :func:`nmm.model.train.build_module` builds, taken
    from it so both methods share one construction. ``body_mass_kg`` (kg, one per subject; None
    or all None: not given) is passed on, for the strength the NMM expects from body mass."""
    from nmm.model.train import build_module

    kwargs = {}
    if body_mass_kg is not None and any(m is not None for m in body_mass_kg):
        kwargs["body_mass_kg"] = list(body_mass_kg)
    return build_module(cfg, elbow, list(subject_ids), **kwargs).physics
