"""The cross-validation schemes by name (:func:`painsig.cv.grouped_cross_validate`): ``logo``
leave-one-subject-out, ``group_kfold`` stratified grouped K-fold, ``random`` the contraction-level
70/30 split of Becker et al. (2026), which leaks subjects. Kept apart from :mod:`painsig.cv` so a
config check can name them without loading scikit-learn."""

from __future__ import annotations

from typing import Literal

__all__ = ["SCHEMES", "Scheme"]

Scheme = Literal["logo", "group_kfold", "random"]
SCHEMES: tuple[str, ...] = ("logo", "group_kfold", "random")
