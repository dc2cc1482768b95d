"""Personalising new subjects with the network frozen.

A subject the network never saw gets its own row of the 32 bounded parameters, fitted with the
same physics-informed loss on *its measured channels, kinematics and torque only*: the network's
envelopes are computed once (it is frozen, in eval mode), then Adam updates the parameters'
unbounded raw values (:class:`~nmm.physics.parameters.PersonalisedParameters`) through the
activation dynamics and the muscle torque. The data term is constant here (the network is
fixed); the torque term and the priors move the parameters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import default_collate

from nmm.model.datamodule import WindowDataset
from nmm.model.features import PreparedTrial, body_masses, samples, uncalibrated_muscles
from nmm.model.physics import PersonalisedElbow, with_measured
from nmm.model.settings import PersonaliseSettings

__all__ = ["personalise", "personalise_with"]

log = logging.getLogger(__name__)


def personalise(
    bundle: Any,
    trials: Sequence[PreparedTrial],
    *,
    steps: int = 150,
    lr: float = 0.05,
    batch_size: int | None = None,
    seed: int = 0,
    window: int | None = None,
    use_measured: bool = True,
) -> tuple[PersonalisedElbow, list[str], dict[str, Any]]:
    """Fit the parameters of the subjects in ``trials`` with the network frozen.

    Args:
        bundle: the trained NMM (:class:`nmm.model.train.NMMBundle`).
        trials: the new subjects' prepared trials (measured envelopes, kinematics, torque).
        steps: Adam steps.
        lr: Adam learning rate of the raw (logit) parameters.
        batch_size: windows per step (None: all of them).
        seed: seeds the choice of windows when ``batch_size`` is set.
        window: samples per window (non-overlapping; default the model's). The activation ODE
            is a loop over time, so shorter windows in a larger batch cost less per step.
        use_measured: drive the physics with the recorded envelopes of the measured muscles
            (and the network's for the hidden ones), as :func:`~nmm.model.reconstruct.
            reconstruct` does.

    Returns:
        ``(physics, subject_ids, info)``: a :class:`PersonalisedElbow` whose table has one row
        per new subject (in ``subject_ids`` order), and the loss history and timing.
    """
    module = bundle.module
    ids = list(dict.fromkeys(t.subject for t in trials))
    rows = {s: i for i, s in enumerate(ids)}
    physics = module.physics.with_subjects(
        ids, body_masses(trials, ids), uncalibrated_muscles(trials, ids)
    )
    w = int(window or bundle.window)
    ds = WindowDataset(trials, bundle.spec, bundle.muscles, rows, w, w)
    batch = default_collate([ds[i] for i in range(len(ds))])
    ref = physics.parameters_table.raw
    batch = {k: v.to(ref.device) for k, v in batch.items()}
    net = module.net
    was_training = net.training
    net.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        env = torch.cat(
            [
                net(batch["x"][i : i + 64].to(ref), ~batch["valid"][i : i + 64])
                for i in range(0, len(ds), 64)
            ]
        )
    net.train(was_training)
    if use_measured:
        env = with_measured(env, batch["envelopes"], batch["measured"])
    loss = module.loss
    scales = loss.prior_scales(physics.parameters_table.columns).to(ref)
    opt = torch.optim.Adam(physics.parameters_table.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    history: list[float] = []
    n = len(ds)
    for _ in range(int(steps)):
        idx = (
            torch.randperm(n, generator=g)[:batch_size].to(ref.device)
            if batch_size and batch_size < n
            else torch.arange(n, device=ref.device)
        )
        part = {k: v[idx] for k, v in batch.items()}
        phys = physics(env[idx], part["subject"], part["angle"], part["velocity"])
        terms = loss.of_batch(env[idx], part, phys, physics.prior_deviation(), scales)
        opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        opt.step()
        history.append(float(terms["total"].detach()))
    info = {
        "subjects": ids,
        "steps": int(steps),
        "windows": n,
        "loss_first": history[0] if history else None,
        "loss_last": history[-1] if history else None,
        "wall_s": time.perf_counter() - t0,
    }
    log.info(
        "personalised %s: loss %.3g -> %.3g in %d steps (%.1f s)",
        ", ".join(ids),
        info["loss_first"] or float("nan"),
        info["loss_last"] or float("nan"),
        steps,
        info["wall_s"],
    )
    return physics, ids, info


def personalise_with(
    bundle: Any,
    trials: Sequence[PreparedTrial],
    settings: PersonaliseSettings,
    rate_hz: float,
    seed: int,
) -> tuple[PersonalisedElbow, list[str], dict[str, Any]]:
    """:func:`personalise` with :class:`~nmm.model.settings.PersonaliseSettings`; rate_hz: the
    model's common rate (Hz), to turn ``settings.window_s`` into samples."""
    return personalise(
        bundle,
        trials,
        steps=settings.steps,
        lr=settings.lr,
        batch_size=settings.batch_size,
        seed=seed,
        window=samples(settings.window_s, float(rate_hz)) if settings.window_s else None,
        use_measured=bundle.use_measured,
    )
