"""What a pain-signature analysis compares and how: frozen settings, built from plain mappings.

The apps build these from the ``painsig`` config group (``conf/painsig/``) converted to plain
Python (``OmegaConf.to_container``) and pass them down; nothing in :mod:`painsig` reads a
config. Each ``from_mapping`` rejects unknown keys and names the key it found wrong
(:class:`SettingsError`), so a typo fails before any work starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, get_args

from painsig.features import FEATURES
from painsig.multiple_testing import Correction
from painsig.registry import FeatureError, UnknownFeatureError
from painsig.schemes import SCHEMES

__all__ = [
    "EvaluationSettings",
    "FeatureSettings",
    "PainsigSettings",
    "SettingsError",
    "StatisticsSettings",
]


class SettingsError(ValueError):
    """A setting that cannot be used; ``key`` is its dotted path inside the mapping read
    (``features.names``), so an app can prefix its config group (``painsig.features.names``)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


def _unknown_keys(cls: type, given: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(given) - {f.name for f in fields(cls)})
    if unknown:
        known = [f.name for f in fields(cls)]
        raise SettingsError(f"{where}{unknown[0]}", f"unknown key {unknown}; known keys: {known}")


@dataclass(frozen=True)
class FeatureSettings:
    """Which registered features to compute and their parameters.

    names: feature names of :data:`painsig.features.FEATURES`, in column order; None: all.
    params: parameters by key (``apen_m``, ``apen_r_factor``, ...); defaults for the rest.
    """

    names: tuple[str, ...] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> FeatureSettings:
        """From ``{"names": [...], <param key>: value, ...}`` (``conf/painsig`` ``features:``).

        Raises :class:`SettingsError` naming ``features.names`` for a name no feature is
        registered under, or ``features.<key>`` for a parameter no feature reads or a bad
        value; the message lists the known names.
        """
        names = d.get("names")
        params = {k: v for k, v in d.items() if k != "names"}
        try:
            if names is not None:
                FEATURES.select(names, has_reference=True)
        except FeatureError as exc:
            raise SettingsError("features.names", str(exc)) from exc
        try:
            FEATURES.checked_params(params)
        except UnknownFeatureError as exc:
            raise SettingsError(f"features.{exc.unknown[0]}", str(exc)) from exc
        except FeatureError as exc:
            raise SettingsError("features", str(exc)) from exc
        return cls(None if names is None else tuple(names), dict(params))


@dataclass(frozen=True)
class EvaluationSettings:
    """How the classifier is evaluated (:func:`painsig.evaluation.evaluate`).

    scheme: ``logo`` | ``group_kfold`` | ``random`` (the paper's leaky split); n_splits: folds
    of ``group_kfold``; n_boot: subject-cluster bootstrap replicates; n_permutations: label
    permutations of the chance level (0: none); ci: interval coverage in (0, 1);
    report_random_split_inflation: also run the random split and report the difference.
    """

    scheme: str = "logo"
    n_splits: int = 5
    n_boot: int = 1000
    n_permutations: int = 100
    ci: float = 0.95
    report_random_split_inflation: bool = True

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> EvaluationSettings:
        """From the ``evaluation:`` mapping; unknown keys or schemes raise SettingsError."""
        _unknown_keys(cls, d, "evaluation.")
        out = cls(**d)
        if out.scheme not in SCHEMES:
            raise SettingsError(
                "evaluation.scheme", f"{out.scheme!r} is not one of {list(SCHEMES)}"
            )
        return out


@dataclass(frozen=True)
class StatisticsSettings:
    """Feature statistics between conditions (:func:`painsig.statistics.compare_conditions`).

    paired: same subjects in both conditions; correction: multiple-comparison adjustment.
    """

    paired: bool = True
    correction: str = "holm"

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> StatisticsSettings:
        """From the ``statistics:`` mapping; unknown keys or corrections raise SettingsError."""
        _unknown_keys(cls, d, "statistics.")
        out = cls(**d)
        if out.correction not in get_args(Correction):
            raise SettingsError(
                "statistics.correction",
                f"{out.correction!r} is not one of {list(get_args(Correction))}",
            )
        return out


@dataclass(frozen=True)
class PainsigSettings:
    """What the analysis compares and how.

    positive / negative: the condition labelled painful / not painful; third: a condition the
    final model classifies but never trains on (None: none); channels: envelope channels to
    describe (None: all measured); classifier: :class:`painsig.classifier.PainClassifier`
    hyperparameters.
    """

    positive: str = "pain"
    negative: str = "baseline"
    third: str | None = "placebo"
    channels: Sequence[str] | None = None
    features: FeatureSettings = field(default_factory=FeatureSettings)
    classifier: Mapping[str, Any] = field(default_factory=dict)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    statistics: StatisticsSettings = field(default_factory=StatisticsSettings)

    @classmethod
    def from_mapping(
        cls, d: Mapping[str, Any], ignore: Sequence[str] = ("segmenter",)
    ) -> PainsigSettings:
        """From the plain ``painsig`` mapping (``conf/painsig/xgboost.yaml``); the keys in
        ``ignore`` (the segmenter, which the app instantiates) are skipped."""
        d = {k: v for k, v in d.items() if k not in ignore}
        _unknown_keys(cls, d, "")
        return cls(
            positive=d.get("positive", cls.positive),
            negative=d.get("negative", cls.negative),
            third=d.get("third", cls.third),
            channels=None if d.get("channels") is None else tuple(d["channels"]),
            features=FeatureSettings.from_mapping(d.get("features") or {}),
            classifier=dict(d.get("classifier") or {}),
            evaluation=EvaluationSettings.from_mapping(d.get("evaluation") or {}),
            statistics=StatisticsSettings.from_mapping(d.get("statistics") or {}),
        )
