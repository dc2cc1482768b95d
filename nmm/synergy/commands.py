"""Synergy commands of the trials: steps 1 and 2 of SynX (:mod:`nmm.synergy.fit`).

Each measured channel is normalised by its maximum over the subject's trials
(``getSynergyCommands.m``), and the normalised envelopes of each group of trials (a trial, a
task or a subject: :data:`~nmm.synergy.settings.SCOPES`) are factorised into k commands
(:func:`~nmm.synergy.factorise.nmf` or :func:`~nmm.synergy.factorise.pca`), one
factorisation per group, as SynX extracts commands per category.

Shapes: T_i samples of trial i, M_m measured channels, K commands (k synergies, +1 column of
ones for PCA: the weight of SynX's constant offset).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nmm.model.features import PreparedTrial
from nmm.synergy.factorise import Factorisation, FactorisationError, nmf, pca
from nmm.synergy.settings import SCOPES, SynXSettings

__all__ = [
    "GroupedCommands",
    "extract_commands",
    "group_trials",
    "initial_hidden_weights",
    "normalised_envelopes",
    "subject_vaf",
]


@dataclass(frozen=True)
class GroupedCommands:
    """The commands of every trial, extracted per group of trials.

    Attributes:
        group: the group index of each trial.
        keys: each group's key (:func:`group_trials`).
        commands: ``(T_i, K)`` per trial.
        factorisations: one per group.
    """

    group: list[int]
    keys: list[tuple]
    commands: list[np.ndarray]
    factorisations: list[Factorisation]


def group_trials(trials: Sequence[PreparedTrial], scope: str) -> tuple[list[int], list[tuple]]:
    """Group index of each trial under ``scope`` and the groups' keys, in order of appearance.

    ``trial``: each trial; ``task``: (subject, kind, load kg); ``subject``: the subject.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    keys: dict[tuple, int] = {}
    index = []
    for i, t in enumerate(trials):
        key: tuple = (
            (t.subject, i)
            if scope == "trial"
            else (t.subject, t.kind, float(t.load_kg))
            if scope == "task"
            else (t.subject,)
        )
        index.append(keys.setdefault(key, len(keys)))
    return index, list(keys)


def normalised_envelopes(trials: Sequence[PreparedTrial], measured: np.ndarray) -> list[np.ndarray]:
    """``(T_i, M_m)`` per trial: the measured envelopes divided by each channel's maximum over
    the subject's trials.

    Raises:
        FactorisationError: a channel that is zero in every trial of a subject.
    """
    peaks: dict[str, np.ndarray] = {}
    for t in trials:
        p = t.envelopes[:, measured].max(axis=0)
        peaks[t.subject] = np.maximum(peaks.get(t.subject, p), p)
    for sid, p in peaks.items():
        if not (p > 0).all():
            raise FactorisationError(
                f"subject {sid}: measured channel(s) {np.flatnonzero(p <= 0).tolist()} are zero "
                "in every trial; nothing to extract synergies from"
            )
    return [t.envelopes[:, measured] / peaks[t.subject] for t in trials]


def _factorise(x: np.ndarray, s: SynXSettings, seed: int) -> Factorisation:
    """``x`` (samples × channels) factorised by ``s.method`` into ``s.n_synergies``."""
    if s.method == "pca":
        return pca(x, s.n_synergies)
    return nmf(x, s.n_synergies, replicates=s.replicates, max_iter=s.max_iter, tol=s.tol, seed=seed)


def factorise_groups(
    normalised: Sequence[np.ndarray],
    trials: Sequence[PreparedTrial],
    scope: str,
    s: SynXSettings,
    seed: int,
) -> GroupedCommands:
    """Group the trials under ``scope`` and factorise each group's normalised envelopes (NMF
    replicates of group g seeded with ``seed + g``)."""
    groups, keys = group_trials(trials, scope)
    commands: list[np.ndarray] = [np.empty(0)] * len(normalised)
    facts = []
    for g, key in enumerate(keys):
        members = [i for i, gi in enumerate(groups) if gi == g]
        try:
            f = _factorise(np.concatenate([normalised[i] for i in members]), s, seed + g)
        except FactorisationError as exc:
            raise FactorisationError(f"group {key}: {exc}") from exc
        facts.append(f)
        start = 0
        for i in members:
            n = normalised[i].shape[0]
            c = f.commands[start : start + n]
            if s.method == "pca":
                c = np.column_stack([c, np.ones(n)])
            commands[i] = c
            start += n
    return GroupedCommands(groups, keys, commands, facts)


def extract_commands(
    trials: Sequence[PreparedTrial], measured: np.ndarray, s: SynXSettings, seed: int
) -> tuple[list[np.ndarray], GroupedCommands, GroupedCommands]:
    """The normalised measured envelopes, the synergy commands (groups of ``weight_scope``,
    NMF seeds from ``seed``) and the residual commands (groups of ``residual_scope``: the same
    object when the scopes are equal, else seeds following the synergy groups')."""
    normalised = normalised_envelopes(trials, measured)
    synergy = factorise_groups(normalised, trials, s.weight_scope, s, seed)
    if s.residual_scope == s.weight_scope:
        return normalised, synergy, synergy
    residual = factorise_groups(normalised, trials, s.residual_scope, s, seed + len(synergy.keys))
    return normalised, synergy, residual


def initial_hidden_weights(facts: Sequence[Factorisation], n_hidden: int) -> np.ndarray:
    """``(G, K, H)``: each hidden muscle starts as the mean of the measured channels'
    reconstructions (mean synergy weight; for PCA plus the mean offset), a neutral start that
    favours no measured muscle."""
    out = []
    for f in facts:
        w = f.weights.mean(axis=1)
        if f.method == "pca":
            w = np.append(w, f.offset.mean())
        out.append(np.repeat(w[:, None], n_hidden, axis=1))
    return np.stack(out)


def subject_vaf(
    normalised: Sequence[np.ndarray],
    synergy: GroupedCommands,
    trials: Sequence[PreparedTrial],
) -> dict[str, float]:
    """VAF of each subject's normalised measured envelopes by its groups' factorisations:
    1 - Σ (x - offset - C W)² / Σ x²."""
    sse: dict[str, float] = {}
    sst: dict[str, float] = {}
    for i, t in enumerate(trials):
        f = synergy.factorisations[synergy.group[i]]
        c = synergy.commands[i][:, : f.n_synergies]
        rec = f.offset + c @ f.weights
        sse[t.subject] = sse.get(t.subject, 0.0) + float(np.sum((normalised[i] - rec) ** 2))
        sst[t.subject] = sst.get(t.subject, 0.0) + float(np.sum(normalised[i] ** 2))
    return {sid: 1.0 - sse[sid] / sst[sid] for sid in sse}
