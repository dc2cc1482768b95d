"""The schema of every app's config, checked before any work starts (no data read yet).

:func:`check_config` takes a composed config and the app's name (``train``, ``compare``,
``pipeline``, ``demo``, ``painsig``, ``synth``, ``predict``, ``validate``, ``aggregate``,
``check_data``, ``export_onnx``) and raises :class:`ConfigError`, which names the key, the
value and what is allowed, for the first bad value it finds:

- **types, ranges, enumerations**: a table of :class:`Rule` per app (``seed`` an integer in
  [0, 2³² − 1], ``model.window_s > 0``, ``trainer.max_epochs`` −1 or ≥ 1,
  ``painsig.evaluation.scheme`` one of :data:`painsig.schemes.SCHEMES`, ...);
- **cross-field rules**: functions of the whole config (``model.d_model`` a multiple of
  ``model.n_heads``, distinct painsig conditions, filter cut-offs and notch frequencies below
  the Nyquist frequency of the rates the synthetic cohort's config gives, ...);
- **the domain's own validators**, reused and their errors re-raised as ConfigError: training
  budgets (:func:`nmm.model.budget.stage_budget`), SynX settings
  (:meth:`nmm.synergy.settings.SynXSettings.from_mapping`) and the synthetic-cohort config
  (:func:`nmm.synth.config.validate_config`).

Where the sampling rates are not in the config (recorded data), :func:`check_cohort_rates`
checks the cut-offs against the loaded cohort's rates before any preprocessing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.errors import HydraException, InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from nmm.config import compose_config
from nmm.data.preprocess import PreprocessConfigError
from nmm.data.quality import QualitySettings
from nmm.data.schema import Cohort
from nmm.jobs.synthetic_source import SOURCE as SYNTHETIC_SOURCE
from nmm.physics.muscle_models import CONFIG_KEY as MUSCLE_MODEL_KEY
from nmm.physics.muscle_models import UnknownMuscleModelError, get_muscle_model
from nmm.physics.prior_options import UNCALIBRATED_GAIN_PRIORS
from nmm.pipeline.config import painsig_config
from nmm.synergy.settings import SynXSettings
from nmm.synth.config import SynthConfigError, validate_config
from nmm.synth.settings import SynthSettings
from painsig.segment import SEGMENTERS, segmenter_name
from painsig.session import SessionSettings
from painsig.settings import PainsigSettings, SettingsError

__all__ = ["APPS", "ConfigError", "Rule", "check_cohort_rates", "check_config"]

_ABSENT = object()  # a key the config does not have


class ConfigError(ValueError):
    """A config value an app cannot use.

    Attributes:
        key: the dotted config key (``model.window_s``), or the node whose own validator
            refused it (``budget.fit``, ``mse``, ``synth``).
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config key '{key}': {message}")
        self.key = key


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """One key's rule: ``ok(value)`` must hold, ``allowed`` says what passes (for the message).

    ``nullable``: null, or the key absent, also passes (the app then uses its default).
    """

    key: str
    ok: Callable[[Any], bool]
    allowed: str
    nullable: bool = False

    def check(self, node: Mapping[str, Any], where: str = "") -> None:
        """Raise ConfigError unless the value at ``key`` under ``node`` passes."""
        key = f"{where}.{self.key}" if where else self.key
        value = _lookup(node, self.key)
        if value is _ABSENT or value is None:
            if self.nullable:
                return
            raise ConfigError(key, f"missing; expected {self.allowed}")
        if not self.ok(value):
            raise ConfigError(key, f"{value!r} is not allowed; expected {self.allowed}")


def _lookup(node: Any, dotted: str) -> Any:
    """The value at a dotted key of nested mappings, or _ABSENT."""
    for part in dotted.split("."):
        if not (isinstance(node, Mapping) and part in node):
            return _ABSENT
        node = node[part]
    return node


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _bounds_text(ge: float | None, gt: float | None, le: float | None, lt: float | None) -> str:
    pairs = ((">=", ge), (">", gt), ("<=", le), ("<", lt))
    return " and ".join(f"{op} {b}" for op, b in pairs if b is not None)


def _within(
    v: float, ge: float | None, gt: float | None, le: float | None, lt: float | None
) -> bool:
    return (
        (ge is None or v >= ge)
        and (gt is None or v > gt)
        and (le is None or v <= le)
        and (lt is None or v < lt)
    )


def number(
    key: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    null: bool = False,
) -> Rule:
    """A finite number within the given bounds."""
    bounds = _bounds_text(ge, gt, le, lt)
    allowed = f"a number {bounds}" if bounds else "a number"
    return Rule(key, lambda v: _is_number(v) and _within(v, ge, gt, le, lt), allowed, null)


def integer(
    key: str,
    *,
    ge: int | None = None,
    le: int | None = None,
    also: Sequence[int] = (),
    null: bool = False,
) -> Rule:
    """An integer within the bounds, or one of ``also`` (e.g. -1 for no limit)."""
    bounds = _bounds_text(ge, None, le, None)
    allowed = f"an integer {bounds}" if bounds else "an integer"
    if also:
        allowed = f"{' or '.join(map(str, also))} or {allowed}"
    return Rule(
        key, lambda v: _is_int(v) and (v in also or _within(v, ge, None, le, None)), allowed, null
    )


def choice(key: str, options: Iterable[str], *, null: bool = False) -> Rule:
    """One of ``options``."""
    opts = tuple(options)
    return Rule(key, lambda v: v in opts, f"one of {list(opts)}", null)


def flag(key: str, *, null: bool = False) -> Rule:
    """true or false."""
    return Rule(key, lambda v: isinstance(v, bool), "true or false", null)


def text(key: str, *, null: bool = False) -> Rule:
    """A non-empty string (a path, a name)."""
    return Rule(key, lambda v: isinstance(v, str) and v != "", "a non-empty string", null)


def texts(
    key: str, options: Iterable[str] | None = None, *, null: bool = False, empty: bool = False
) -> Rule:
    """A list of strings, each one of ``options`` when given; non-empty unless ``empty``."""
    opts = tuple(options) if options is not None else None
    allowed = f"a {'' if empty else 'non-empty '}list of strings" + (
        f" from {list(opts)}" if opts else ""
    )
    return Rule(
        key,
        lambda v: (
            isinstance(v, list)
            and (empty or len(v) > 0)
            and all(isinstance(x, str) and (opts is None or x in opts) for x in v)
        ),
        allowed,
        null,
    )


#: Evaluation protocols of the NMM apps (conf/fold/: ``evaluate.protocols``).
PROTOCOLS = ("per_subject", "loso")

#: numpy's seeds are 32-bit unsigned integers.
_SEED = integer("seed", ge=0, le=2**32 - 1)

#: Parameters of the preprocessing steps (nmm.data.preprocess), by class name, and which of
#: them are frequencies (Hz) that must lie below the Nyquist frequency of the signal.
STEP_RULES: dict[str, tuple[Rule, ...]] = {
    "BandPass": (
        number("low_hz", gt=0),
        number("high_hz", gt=0),
        integer("order", ge=1),
        number("edge_periods", gt=0),
    ),
    "LowPass": (
        number("cutoff_hz", gt=0),
        integer("order", ge=1),
        number("edge_periods", gt=0, null=True),
    ),
    "Notch": (number("freq_hz", gt=0), number("quality", gt=0), integer("harmonics", ge=1)),
    "Envelope": (number("cutoff_hz", gt=0), integer("order", ge=1), number("edge_periods", gt=0)),
    "Resample": (number("rate_hz", gt=0),),
}
STEP_FREQUENCIES: dict[str, tuple[str, ...]] = {
    "BandPass": ("low_hz", "high_hz"),
    "LowPass": ("cutoff_hz",),
    "Notch": ("freq_hz",),
    "Envelope": ("cutoff_hz",),
}


def _personalise(where: str) -> tuple[Rule, ...]:
    """A ``personalise`` node (evaluate.personalise, nmm-predict's personalise)."""
    return (
        integer(f"{where}.steps", ge=0),
        number(f"{where}.lr", gt=0),
        integer(f"{where}.batch_size", ge=1, null=True),
        number(f"{where}.window_s", gt=0, null=True),
        flag(f"{where}.adapt", null=True),
    )


TRAIN_RULES: tuple[Rule, ...] = (
    _SEED,
    text("run_dir"),
    integer("threads", ge=1, null=True),
    text("ckpt_path", null=True),
    text("geometry_cache", null=True),
    number("model.window_s", gt=0),
    number("model.stride_s", gt=0),
    integer("model.d_model", ge=1),
    integer("model.n_heads", ge=1),
    integer("model.n_layers", ge=1),
    integer("model.dim_feedforward", ge=1),
    number("model.dropout", ge=0, lt=1),
    number("model.burn_in_s", ge=0, null=True),
    number("model.parameter_lr", gt=0, null=True),
    flag("model.causal"),
    number("model.hop_s", gt=0),
    integer("trainer.max_epochs", ge=1, also=(-1,), null=True),
    integer("trainer.log_every_n_steps", ge=1, null=True),
    number("preprocess.resample_hz", gt=0),
    integer("datamodule.batch_size", ge=1),
    integer("datamodule.num_workers", ge=0),
    texts("evaluate.protocols", PROTOCOLS),
    integer("evaluate.workers", ge=1, null=True),
    integer("evaluate.max_figures", ge=0, null=True),
    number("evaluate.reference_cutoff_hz", gt=0, null=True),
    *_personalise("evaluate.personalise"),
    flag("specialise.enabled", null=True),
    choice("physics.uncalibrated_gain_prior", UNCALIBRATED_GAIN_PRIORS, null=True),
)
COMPARE_RULES: tuple[Rule, ...] = (  # its own keys first: evaluate.protocols derives from them
    choice("compare.protocol", PROTOCOLS),
    integer("compare.n_boot", ge=1),
    number("compare.ci", gt=0, lt=1),
    number("compare.goal_ratio", gt=0),
    integer("compare.max_overlays", ge=0),
    *TRAIN_RULES,
)
PIPELINE_RULES: tuple[Rule, ...] = (
    choice("pipeline.reconstructed", ("nmm", "mse")),
    integer("pipeline.data_figures", ge=0),
    text("pipeline.painsig.config"),
    integer("validate.max_figures", ge=0, null=True),
    *COMPARE_RULES,
)
PAINSIG_RULES: tuple[Rule, ...] = (
    _SEED,
    text("run_dir"),
    number("preprocess.resample_hz", gt=0, null=True),
    text("painsig.positive"),
    text("painsig.negative"),
    text("painsig.third", null=True),
    texts("painsig.channels", null=True),
    integer("painsig.features.apen_m", ge=1),
    number("painsig.features.apen_r_factor", gt=0),
    integer("painsig.classifier.n_estimators", ge=1),
    integer("painsig.classifier.max_depth", ge=0),
    number("painsig.classifier.learning_rate", gt=0),
    number("painsig.classifier.subsample", gt=0, le=1),
    number("painsig.classifier.colsample_bytree", gt=0, le=1),
    integer("painsig.evaluation.n_splits", ge=2),
    integer("painsig.evaluation.n_boot", ge=1),
    integer("painsig.evaluation.n_permutations", ge=0),
    number("painsig.evaluation.ci", gt=0, lt=1),
    flag("painsig.evaluation.report_random_split_inflation"),
    flag("painsig.statistics.paired"),
)
#: The options of each segmenter (conf/painsig/segmenter/), by its name in
#: :data:`painsig.segment.SEGMENTERS`; keys under ``painsig.segmenter``.
SEGMENTER_RULES: dict[str, tuple[Rule, ...]] = {
    "emg_onset": (
        text("agonist"),
        number("k_sd", gt=0),
        number("baseline_quantile", gt=0, lt=1),
        number("min_on_s", ge=0),
        number("acc_offset_fraction", ge=0, lt=1),
        number("min_duration_s", gt=0),
        number("max_duration_s", gt=0),
    ),
    "kinematic": (
        choice("direction", (1, -1)),
        number("velocity_fraction", gt=0, lt=1),
        number("min_duration_s", gt=0),
        choice("stream", ("envelope", "emg")),
    ),
    "emg_bursts": (
        text("agonist"),
        number("detector.k_sd", gt=0),
        number("detector.rest_s", gt=0, null=True),
        number("detector.noise_window_s", gt=0),
        number("detector.noise_quantile", gt=0, le=0.5),
        number("detector.min_on_s", gt=0),
        number("detector.min_off_s", gt=0),
        number("min_duration_s", gt=0),
        choice("stream", ("envelope", "emg")),
    ),
}
PREDICT_RULES: tuple[Rule, ...] = (
    _SEED,
    text("run_dir"),
    integer("threads", ge=1, null=True),
    text("model_dir"),
    text("checkpoint", null=True),
    *_personalise("personalise"),
    flag("repersonalise"),
    text("truth_dir", null=True),
    flag("use_measured", null=True),
    integer("max_figures", ge=0, null=True),
)
VALIDATE_RULES: tuple[Rule, ...] = (
    text("run_dir"),
    text("validate.predictions", null=True),
    text("validate.osim", null=True),
    text("validate.activations", null=True),
    text("validate.kinematics", null=True),
    texts("validate.kinematics_columns", null=True),
    flag("validate.use_recorded_derivatives"),
    number("validate.load_kg", ge=0),
    number("validate.lever_arm_m", gt=0),
    texts("validate.kinds"),
    number("validate.torch_tolerance", gt=0),
    integer("validate.max_figures", ge=0, null=True),
    flag("validate.id_model.synthetic_bodies"),
)
SYNTH_RULES: tuple[Rule, ...] = (_SEED, text("run_dir"))
CHECK_DATA_RULES: tuple[Rule, ...] = (text("run_dir"), number("model.window_s", gt=0))
EXPORT_ONNX_RULES: tuple[Rule, ...] = (
    text("run"),
    text("subject_id", null=True),
    text("out"),
    text("run_dir"),
    integer("threads", ge=1, null=True),
    flag("physics_graphs"),
    flag("check.parity"),
    number("check.envelope_tolerance", gt=0),
    number("check.torque_tolerance", gt=0),
    integer("check.latency_windows", ge=0),
)
STREAM_RULES: tuple[Rule, ...] = (
    *PAINSIG_RULES,
    text("run"),
    text("subject_id"),
    choice("source", ("replay", "xdf", "lsl")),
    number("stream.update_s", gt=0),
    number("stream.stall_s", gt=0),
    number("stream.duration_s", gt=0, null=True),
    number("stream.history_s", gt=0),
    number("stream.load_kg", ge=0),
    text("stream.classifier", null=True),
    number("stream.cocontraction.window_s", gt=0),
    texts("stream.cocontraction.flexors"),
    texts("stream.cocontraction.extensors"),
    texts("replay.trials", null=True),
    texts("replay.exclude_conditions", null=True),
    number("replay.speed", gt=0, null=True),
    number("replay.chunk_s", gt=0),
    text("xdf.path", null=True),
    text("xdf.emg_stream"),
    text("xdf.kinematics_stream"),
    text("lsl.emg_stream"),
    text("lsl.kinematics_stream"),
    number("lsl.resolve_timeout_s", gt=0),
    flag("outputs.page"),
    integer("outputs.port", ge=0, le=65535),
    number("outputs.window_s", gt=0),
    flag("outputs.lsl"),
    text("outputs.lsl_prefix"),
)
MONITOR_RULES: tuple[Rule, ...] = (
    *PAINSIG_RULES,
    texts("monitor.exclude_conditions"),
    texts("monitor.baseline_ratio_features", empty=True),
    integer("monitor.baseline_sessions", ge=2),
    number("monitor.band_sd", gt=0),
    number("monitor.ci", gt=0, lt=1),
    text("monitor.reconstructed", null=True),
    text("monitor.model", null=True),
    number("monitor.session.ci", gt=0, lt=1),
    number("monitor.session.max_lag_s", gt=0),
    number("monitor.session.cocontraction_phases.velocity_fraction", gt=0, lt=1, null=True),
    number("monitor.session.cocontraction_phases.min_duration_s", ge=0, null=True),
)
STUDY_RULES: tuple[Rule, ...] = (
    text("study.model"),
    text("study.model_coordinate"),
    number("study.mains_hz", gt=0, null=True),
)
AGGREGATE_RULES: tuple[Rule, ...] = (
    text("sweep_dir"),
    text("out_dir", null=True),
    texts("metrics", null=True),
    text("seed_key"),
    number("ci", gt=0, lt=1),
    flag("figures"),
)


# ----------------------------------------------------------------------------- cross-field rules


def _check_chain(node: Any, where: str, rate_hz: float | None, source: str) -> None:
    """The steps of one preprocessing chain (``preprocess.emg``): their parameters, a band-pass's
    low below its high cut-off and, with the signal's rate known, every cut-off and notch below
    its Nyquist frequency (a ``Resample`` step sets the rate of the steps after it)."""
    try:  # the steps are small dataclasses: building them does no work and fills in defaults
        chain = instantiate(node)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, PreprocessConfigError):  # an unknown step or option, a bad type
            raise ConfigError(f"{where}.{cause.key}", cause.reason) from exc
        raise ConfigError(where, f"cannot be built: {exc}") from exc
    rate = rate_hz
    for step_name, step in chain.named_steps():
        if not dataclasses.is_dataclass(step):
            continue
        name, values = type(step).__name__, dataclasses.asdict(step)
        key = f"{where}.steps.{step_name}"
        for rule in STEP_RULES.get(name, ()):
            rule.check(values, key)
        if name == "BandPass" and values["low_hz"] >= values["high_hz"]:
            raise ConfigError(
                f"{key}.low_hz",
                f"{values['low_hz']:g} Hz is not below high_hz = {values['high_hz']:g} Hz; "
                "expected low_hz < high_hz",
            )
        for param in STEP_FREQUENCIES.get(name, ()) if rate is not None else ():
            if values[param] >= rate / 2:
                raise ConfigError(
                    f"{key}.{param}",
                    f"{values[param]:g} Hz is at or above the Nyquist frequency {rate / 2:g} Hz "
                    f"of {source} ({rate:g} Hz); expected a number < {rate / 2:g}",
                )
        if name == "Resample":
            rate = values["rate_hz"]


def _synthetic_rates(cfg: DictConfig) -> tuple[float | None, float | None]:
    """EMG and kinematics rates (Hz) of the synthetic cohort the app will read
    (``data=synthetic``), from the synth config it is generated from (``conf/<data.config>.yaml``
    with ``data.overrides``, as :func:`nmm.jobs.synthetic_source.synthetic_cohort` composes it).
    (None, None) for another data source and for an existing cohort folder that ``data.root``
    names (read as it is)."""
    data = cfg.get("data")
    if data is None or data.get("_target_") != SYNTHETIC_SOURCE:
        return None, None
    root = data.get("root")
    if root and (Path(root) / "dataset" / "manifest.yaml").is_file():
        return None, None
    name, overrides = str(data.get("config", "synth")), list(data.get("overrides") or [])
    try:
        synth = compose_config(name, overrides).synth
        settings = SynthSettings.from_mapping(OmegaConf.to_container(synth, resolve=True))
    except (SynthConfigError, HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(
            "data", f"the synthetic cohort's config ({name}, {overrides}): {exc}"
        ) from exc
    return settings.emg.rate_hz, settings.task.rate_hz


def _check_preprocess(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """Both preprocessing chains, against the synthetic cohort's rates where the config gives
    them (recorded data: :func:`check_cohort_rates` once the cohort is loaded)."""
    rates = _synthetic_rates(cfg)
    for stream, rate in zip(("emg", "kinematics"), rates, strict=True):
        node = (cfg.get("preprocess") or {}).get(stream)
        if node is not None:
            where = f"the synthetic cohort's {stream}"
            _check_chain(node, f"preprocess.{stream}", rate, where)


def check_cohort_rates(cfg: DictConfig, cohort: Cohort) -> None:
    """The preprocessing chains' cut-offs against the lowest EMG and kinematics rates of a loaded
    cohort, before any trial is preprocessed; ConfigError names the key and the trial."""
    for stream in ("emg", "kinematics"):
        node = (cfg.get("preprocess") or {}).get(stream)
        trials = [t for t in cohort if getattr(t, stream) is not None]
        if node is None or not trials:
            continue
        slowest = min(trials, key=lambda t: getattr(t, stream).rate)
        source = f"the {stream} of trial {slowest.subject}/{slowest.trial_id}"
        _check_chain(node, f"preprocess.{stream}", getattr(slowest, stream).rate, source)


def _check_model_shape(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """The transformer's width splits evenly over its attention heads."""
    d_model, heads = plain["model"]["d_model"], plain["model"]["n_heads"]
    if d_model % heads:
        raise ConfigError(
            "model.n_heads",
            f"{heads} does not divide model.d_model = {d_model}; expected a divisor",
        )


def _check_scoring(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """What of a hidden muscle is scored (refused otherwise only after training)."""
    # nmm.model.evaluate imports torch: only the apps that train load it
    from nmm.model.evaluate import HIDDEN_SIGNALS

    choice("evaluate.hidden_signal", HIDDEN_SIGNALS, null=True).check(plain)


def _check_budgets(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """Every stage of ``budget`` (conf/budget/default.yaml) by :func:`stage_budget`'s rules."""
    # nmm.model.budget imports torch and Lightning: only the apps that train load it
    from nmm.model.budget import stage_budget

    node = plain.get("budget") or {}
    for stage in node:
        if stage == "plateau":
            continue
        try:
            stage_budget(node, stage)
        except ValueError as exc:
            key = f"budget.{stage}"
            raise ConfigError(key, str(exc).removeprefix(f"{key}: ")) from exc


def _check_mse(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """The synergy extrapolation's settings by :meth:`SynXSettings.from_mapping`."""
    try:
        SynXSettings.from_mapping(plain["mse"])
    except (TypeError, ValueError) as exc:
        raise ConfigError("mse", str(exc)) from exc


def _check_painsig(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """Known scheme, features and correction (:meth:`PainsigSettings.from_mapping`); distinct
    conditions; a segment duration range."""
    p = plain["painsig"]
    texts("features.names", null=True).check(p, "painsig")
    try:
        PainsigSettings.from_mapping(p)
    except SettingsError as exc:
        raise ConfigError(f"painsig.{exc.key}", exc.message) from exc
    if p["negative"] == p["positive"]:
        raise ConfigError("painsig.negative", f"{p['negative']!r} is also painsig.positive")
    if p.get("third") in (p["positive"], p["negative"]):
        raise ConfigError("painsig.third", f"{p['third']!r} is already a trained condition")
    seg = _checked_segmenter(p["segmenter"])
    if "max_duration_s" in seg and seg["min_duration_s"] >= seg["max_duration_s"]:
        raise ConfigError(
            "painsig.segmenter.min_duration_s",
            f"{seg['min_duration_s']:g} s is not below max_duration_s = {seg['max_duration_s']:g}",
        )


def _checked_segmenter(seg: Any) -> Mapping[str, Any]:
    """``painsig.segmenter``: a segmenter of :data:`painsig.segment.SEGMENTERS` whose options
    pass :data:`SEGMENTER_RULES`."""
    if not isinstance(seg, Mapping):
        raise ConfigError(
            "painsig.segmenter",
            f"{seg!r} is not a segmenter's options; choose one with painsig/segmenter=<name> "
            f"(a slash, not a dot), <name> one of {list(SEGMENTERS)}",
        )
    name = segmenter_name(str(seg.get("_target_")))
    if name is None:
        targets = [f"{c.__module__}.{c.__qualname__}" for c in SEGMENTERS.values()]
        raise ConfigError(
            "painsig.segmenter._target_", f"{seg.get('_target_')!r} is not one of {targets}"
        )
    for rule in SEGMENTER_RULES[name]:
        rule.check(seg, "painsig.segmenter")
    return seg


def _check_pipeline_painsig(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """The pipeline's pain-signature config (``pipeline.painsig``) as the painsig app's."""
    node = plain["pipeline"]["painsig"]
    try:
        check_config(painsig_config(cfg), "painsig")
    except (ConfigError, HydraException) as exc:
        raise ConfigError(
            "pipeline.painsig", f"{node['config']} with overrides {node.get('overrides')}: {exc}"
        ) from exc


def _check_muscle_model(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """``physics.muscle_model`` names a registered muscle model (nmm.physics.muscle_models)."""
    name = _lookup(plain, MUSCLE_MODEL_KEY)
    try:
        get_muscle_model(None if name is _ABSENT else name)
    except UnknownMuscleModelError as exc:
        raise ConfigError(
            MUSCLE_MODEL_KEY,
            f"{name if name is not _ABSENT else 'missing'!r} is not a registered muscle model; "
            f"expected one of {list(exc.known)}",
        ) from exc


def _check_thresholds(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """The ``check`` node's thresholds by :meth:`QualitySettings.from_mapping`."""
    try:
        QualitySettings.from_mapping(plain.get("check"))
    except (TypeError, ValueError) as exc:
        raise ConfigError("check", str(exc)) from exc


def _check_monitor_session(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """``monitor.session`` by :meth:`painsig.session.SessionSettings.from_mapping`."""
    try:
        SessionSettings.from_mapping(plain["monitor"]["session"])
    except (TypeError, ValueError) as exc:
        raise ConfigError("monitor.session", str(exc)) from exc


def _check_synth(cfg: DictConfig, plain: Mapping[str, Any]) -> None:
    """The ``synth`` node by :func:`nmm.synth.config.validate_config`."""
    try:
        validate_config(plain["synth"])
    except SynthConfigError as exc:
        raise ConfigError("synth", str(exc)) from exc


# ----------------------------------------------------------------------------- the apps


@dataclass(frozen=True)
class Schema:
    """An app's rules (key by key) and cross-field checks ``check(cfg, plain)``."""

    rules: tuple[Rule, ...]
    checks: tuple[Callable[[DictConfig, Mapping[str, Any]], None], ...] = ()


_TRAIN_CHECKS = (
    _check_model_shape,
    _check_scoring,
    _check_budgets,
    _check_preprocess,
    _check_muscle_model,
)
_PIPELINE = Schema(PIPELINE_RULES, (*_TRAIN_CHECKS, _check_mse, _check_pipeline_painsig))

#: Each app's schema, by the name its entry point passes (scripts/*.py).
APPS: dict[str, Schema] = {
    "train": Schema(TRAIN_RULES, _TRAIN_CHECKS),
    "compare": Schema(COMPARE_RULES, (*_TRAIN_CHECKS, _check_mse)),
    "pipeline": _PIPELINE,
    "demo": _PIPELINE,
    "painsig": Schema(PAINSIG_RULES, (_check_painsig, _check_preprocess)),
    "synth": Schema(SYNTH_RULES, (_check_synth,)),
    "predict": Schema(PREDICT_RULES, (_check_budgets,)),
    "validate": Schema(VALIDATE_RULES, (_check_preprocess, _check_muscle_model)),
    "aggregate": Schema(AGGREGATE_RULES),
    "check_data": Schema(CHECK_DATA_RULES, (_check_preprocess, _check_thresholds)),
    "export_onnx": Schema(EXPORT_ONNX_RULES),
    "study": Schema(STUDY_RULES),
    "monitor": Schema(MONITOR_RULES, (_check_painsig, _check_preprocess, _check_monitor_session)),
    "stream": Schema(STREAM_RULES, (_check_painsig,)),
}


def _resolved(cfg: DictConfig) -> dict[str, Any]:
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
    except MissingMandatoryValue as exc:
        raise ConfigError(str(exc.full_key), "required; give it a value") from exc
    except OmegaConfBaseException as exc:
        raise ConfigError(str(exc.full_key), f"cannot be resolved: {exc.msg}") from exc


def check_config(cfg: DictConfig, app: str) -> dict[str, Any]:
    """Check ``cfg`` against ``app``'s schema (:data:`APPS`); returns it resolved, as plain
    containers.

    Raises:
        ConfigError: the first bad value, naming its key and what is allowed.
        ValueError: no such app.
    """
    if app not in APPS:
        raise ValueError(f"no config schema for app {app!r} (known: {sorted(APPS)})")
    schema = APPS[app]
    plain = _resolved(cfg)
    for rule in schema.rules:
        rule.check(plain)
    for check in schema.checks:
        check(cfg, plain)
    return plain
