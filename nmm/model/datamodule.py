"""Windows of prepared trials for Lightning, split by subject (never by window).

A trial of T samples gives windows of ``window`` samples every ``stride`` samples, the last one
flush with the trial's end (:func:`~nmm.model.features.window_starts`); a trial shorter than a
window gives one window, padded and masked (``valid``). Each item is a dict of tensors
(L = window samples, F features, M muscles):

==============  ============  ==============================================================
key             shape         content
==============  ============  ==============================================================
``x``           (L, F)        network inputs (:func:`~nmm.model.features.input_features`)
``envelopes``   (L, M)        measured envelopes (0 where not measured)
``measured``    (M,)          bool, muscles with a recorded envelope
``valid``       (L,)          bool, False on padding
``torque``      (L,)          τ_ID (N·m)
``angle``       (L,)          θ (rad)
``velocity``    (L,)          θ̇ (rad/s)
``subject``     ()            row of the subject in the parameter table
``trial``       ()            index of the trial in the data module's list
``start``       ()            first sample of the window in the trial
``mvic_hold``   (L,)          bool, the hold of an MVIC trial (:func:`mvic_hold`)
==============  ============  ==============================================================

Subjects are assigned to the splits as a whole: :class:`NMMDataModule` refuses a subject in both
the training and the validation set. Without validation subjects the validation set is the
training subjects' windows in order (a joint fit monitors its own fit; a held-out subject needs
personalisation first, which the leave-one-subject-out protocol of :mod:`nmm.model.evaluate`
does explicitly).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from nmm.model.features import (
    MVIC_HOLD_FRACTION,
    MVIC_KIND,
    FeatureSpec,
    PreparedTrial,
    input_features,
    window_starts,
)

__all__ = ["EpochShuffleSampler", "NMMDataModule", "WindowDataset", "mvic_hold"]


def mvic_hold(trial: PreparedTrial) -> np.ndarray:
    """``(T,)`` bool: the hold of an MVIC trial (kind :data:`MVIC_KIND`), its samples within
    :data:`MVIC_HOLD_FRACTION` of the trial's peak |τ_ID|; all False for other trials."""
    torque = np.abs(np.nan_to_num(np.asarray(trial.torque, dtype=float)))
    if trial.kind != MVIC_KIND or not torque.size or not torque.max() > 0:
        return np.zeros(trial.n_samples, dtype=bool)
    return torque >= MVIC_HOLD_FRACTION * torque.max()


class EpochShuffleSampler(torch.utils.data.Sampler[int]):
    """A permutation of ``range(n)`` drawn from ``seed + epoch``.

    Lightning calls :meth:`set_epoch` at the start of every epoch, so the order of an epoch does
    not depend on how many epochs ran in this process: a run resumed from a checkpoint sees the
    batches an uninterrupted run would.
    """

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = int(n), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


class WindowDataset(Dataset):
    """Fixed-length windows over prepared trials (see the module doc for an item's keys).

    Args:
        trials: prepared trials.
        spec: the network's inputs.
        muscles: model muscles (column order of the envelopes).
        subject_rows: ``{subject id: row}`` in the parameter table.
        window, stride: samples.
        trial_offset: added to the ``trial`` index of items (position in a larger list).
    """

    def __init__(
        self,
        trials: Sequence[PreparedTrial],
        spec: FeatureSpec,
        muscles: Sequence[str],
        subject_rows: Mapping[str, int],
        window: int,
        stride: int,
        trial_indices: Sequence[int] | None = None,
    ) -> None:
        self.trials = list(trials)
        self.window = int(window)
        self.trial_indices = list(trial_indices) if trial_indices is not None else None
        self._x = [torch.from_numpy(input_features(t, spec, muscles)) for t in self.trials]
        self._env = [torch.from_numpy(t.envelopes.astype(np.float32)) for t in self.trials]
        self._tq = [torch.from_numpy(t.torque.astype(np.float32)) for t in self.trials]
        self._ang = [torch.from_numpy(t.angle.astype(np.float32)) for t in self.trials]
        self._vel = [torch.from_numpy(t.velocity.astype(np.float32)) for t in self.trials]
        self._hold = [torch.from_numpy(mvic_hold(t)) for t in self.trials]
        self._rows = []
        for t in self.trials:
            if t.subject not in subject_rows:
                raise KeyError(f"subject {t.subject!r} has no row in the parameter table")
            self._rows.append(int(subject_rows[t.subject]))
        self.index = [
            (i, s)
            for i, t in enumerate(self.trials)
            for s in window_starts(t.n_samples, window, stride)
        ]

    def __len__(self) -> int:
        return len(self.index)

    def _pad(self, x: torch.Tensor, n: int) -> torch.Tensor:
        if x.shape[0] == n:
            return x
        pad = torch.zeros((n - x.shape[0], *x.shape[1:]), dtype=x.dtype)
        return torch.cat([x, pad], dim=0)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        i, s = self.index[k]
        t = self.trials[i]
        e = min(s + self.window, t.n_samples)
        n = e - s
        valid = torch.zeros(self.window, dtype=torch.bool)
        valid[:n] = True
        return {
            "x": self._pad(self._x[i][s:e], self.window),
            "envelopes": self._pad(self._env[i][s:e], self.window),
            "measured": torch.from_numpy(t.measured.astype(bool)),
            "valid": valid,
            "torque": self._pad(self._tq[i][s:e], self.window),
            "angle": self._pad(self._ang[i][s:e], self.window),
            "velocity": self._pad(self._vel[i][s:e], self.window),
            "subject": torch.tensor(self._rows[i], dtype=torch.long),
            "trial": torch.tensor(
                self.trial_indices[i] if self.trial_indices is not None else i, dtype=torch.long
            ),
            "start": torch.tensor(s, dtype=torch.long),
            "mvic_hold": self._pad(self._hold[i][s:e], self.window),
        }


class NMMDataModule(LightningDataModule):
    """Training and validation windows of prepared trials, split by subject.

    Args:
        trials: every prepared trial (all subjects).
        spec: network inputs.
        muscles: model muscles.
        subject_ids: the parameter table's rows, in order.
        train_subjects: subjects whose windows train (default: all in ``subject_ids``).
        val_subjects: held-out subjects for validation (disjoint from training); None validates
            on the training subjects (see the module doc).
        window, stride: samples; ``val_stride`` defaults to ``window`` (no overlap).
        batch_size: windows per batch.
        num_workers: DataLoader workers (0: in the main process; the data are in memory).
        seed: seeds the shuffling generator (reproducible batches).
        kinds: trial kinds used (``metadata['kind']``; None: all).
    """

    def __init__(
        self,
        trials: Sequence[PreparedTrial],
        spec: FeatureSpec,
        muscles: Sequence[str],
        subject_ids: Sequence[str],
        train_subjects: Sequence[str] | None = None,
        val_subjects: Sequence[str] | None = None,
        window: int = 200,
        stride: int = 50,
        val_stride: int | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        kinds: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.trials = [t for t in trials if kinds is None or t.kind in set(kinds)]
        self.spec, self.muscles = spec, tuple(muscles)
        self.subject_ids = list(subject_ids)
        self.subject_rows = {s: i for i, s in enumerate(self.subject_ids)}
        self.train_subjects = (
            list(train_subjects) if train_subjects is not None else list(self.subject_ids)
        )
        self.val_subjects = list(val_subjects) if val_subjects else None
        overlap = set(self.train_subjects) & set(self.val_subjects or [])
        if overlap:
            raise ValueError(
                f"subjects {sorted(overlap)} are in both the training and the validation split; "
                "splits are by subject, never by window"
            )
        for s in [*self.train_subjects, *(self.val_subjects or [])]:
            if s not in self.subject_rows:
                raise ValueError(f"subject {s!r} is not in the parameter table {self.subject_ids}")
        missing = [s for s in self.train_subjects if not any(t.subject == s for t in self.trials)]
        if missing:
            raise ValueError(f"no trials of training subject(s) {missing}")
        self.window, self.stride = int(window), int(stride)
        self.val_stride = int(val_stride) if val_stride else self.window
        self.batch_size, self.num_workers, self.seed = int(batch_size), int(num_workers), int(seed)
        self.train_set: WindowDataset | None = None
        self.val_set: WindowDataset | None = None

    def _subset(self, subjects: Sequence[str], stride: int) -> WindowDataset:
        idx = [i for i, t in enumerate(self.trials) if t.subject in set(subjects)]
        return WindowDataset(
            [self.trials[i] for i in idx],
            self.spec,
            self.muscles,
            self.subject_rows,
            self.window,
            stride,
            trial_indices=idx,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = self._subset(self.train_subjects, self.stride)
            self.val_set = self._subset(self.val_subjects or self.train_subjects, self.val_stride)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=EpochShuffleSampler(len(self.train_set), self.seed),
            num_workers=self.num_workers,
            drop_last=len(self.train_set) > self.batch_size,
        )

    def val_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(
            self.val_set, batch_size=max(self.batch_size, 64), num_workers=self.num_workers
        )
