"""The cohort family (docs/cohort_family.md): every generator variant of `conf/synth/`, tiny.

Each variant is generated once for this module through :func:`ensure_variant_cohort` with
tiny-sized overrides (one subject unless the variant needs two, short trials, baseline only
unless the variant needs more), and checked for what defines it: no MVIC trials; the
shoulder posture recorded per subject and TRIlong's fibres in a physiological range; more
co-contraction than the committed default cohort; three movement trials per subject; 60 Hz
mains in the EMG; the configured speeds and range of motion.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from scipy import signal as sps

from nmm.config import CONF_DIR, compose_config
from nmm.data.io.dataset import read_dataset
from nmm.jobs.cohorts import (
    DEFAULT_ROOT,
    FINGERPRINT,
    VARIANT_ROOT,
    ensure_variant_cohort,
    fingerprint,
    variant_names,
    variant_root,
)
from nmm.synth.cohort import generate_cohort
from nmm.synth.config import SynthConfigError, validate_config
from nmm.synth.ground_truth import read_cohort_truth, read_trial_truth
from nmm.synth.model_inputs import variant_physics_overrides, variant_preprocess_overrides
from nmm.synth.output import GENERIC_MODEL
from nmm.synth.settings import SynthSettings
from nmm.synth.tasks import ANGLE_LIMITS_DEG
from tests.synth.conftest import plain_synth as _plain

VARIANTS = (
    "no_mvic",
    "shoulder_elevated",
    "cocontraction",
    "few_trials",
    "low_snr",
    "speeds_rom",
)

#: Tiny size: one subject, baseline only, one 0 kg trial of two short cycles, short MVIC.
TINY = {
    "n_subjects": 1,
    "conditions": "[baseline]",
    "loads_kg": "[0.0]",
    "trials_per_cell": 1,
    "task.cycles_per_trial": 2,
    "task.flexion_duration_s": "[0.7]",
    "task.hold_s": 0.15,
    "mvic.hold_s": 0.6,
    "checks.forward_windows": 2,
    "output.figures": "false",
}
#: Per variant, what it keeps of its own (removed from TINY) or needs on top of it.
TINY_CHANGES: dict[str, dict[str, object]] = {
    "no_mvic": {"conditions": "[baseline,pain]"},  # the pain calibration without MVIC trials
    "shoulder_elevated": {"n_subjects": 2, "loads_kg": "[2.0]"},  # postures drawn per subject
    "cocontraction": {"loads_kg": "[0.0,2.0]"},  # strong co-contraction at every load
    "few_trials": {"loads_kg": None},  # its own three loads
    "low_snr": {},
    # its own speed classes, one trial each, one cycle per trial
    "speeds_rom": {
        "task.flexion_duration_s": None,
        "trials_per_cell": 2,
        "task.cycles_per_trial": 1,
    },
}


def tiny_overrides(name: str, osim: Path) -> list[str]:
    """Overrides of the ``synth`` node that shrink variant ``name`` to its tiny test size."""
    sizes = {**TINY, **TINY_CHANGES[name]}
    return [f"osim={osim}"] + [f"{k}={v}" for k, v in sizes.items() if v is not None]


#: ``python -c`` code generating one variant's cohort: name, cache folder, overrides in argv.
_GENERATE = (
    "import sys; from nmm.jobs.cohorts import ensure_variant_cohort; "
    "ensure_variant_cohort(sys.argv[1], root=sys.argv[2], overrides=sys.argv[3:], workers=1)"
)


class _Generations:
    """Variant cohorts generated in background processes, two at a time: a generation is one
    single-threaded OpenSim process (``workers=1``), so on two cores two of them run together.
    :meth:`submit` queues a variant; :meth:`wait` waits for its process and fails the test with
    its error output if the generation failed; :meth:`stop` kills what still runs."""

    def __init__(self, root: Path, osim: Path) -> None:
        self.root, self.osim = root, osim
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.futures: dict[str, Future] = {}
        self.procs: dict[str, subprocess.Popen] = {}

    def _generate(self, name: str) -> tuple[int, str]:
        log = self.root / f"{name}.log"
        command = [sys.executable, "-c", _GENERATE, name, str(self.root / name)]
        with log.open("w") as out:
            proc = subprocess.Popen(
                [*command, *tiny_overrides(name, self.osim)],
                cwd=Path(CONF_DIR).parent,
                stdout=out,
                stderr=out,
            )
            self.procs[name] = proc
            proc.wait()
        return proc.returncode, log.read_text(errors="replace")

    def submit(self, name: str) -> None:
        if name not in self.futures:
            self.futures[name] = self.pool.submit(self._generate, name)

    def wait(self, name: str) -> None:
        self.submit(name)
        status, output = self.futures[name].result()
        assert status == 0, f"generating the tiny {name} cohort failed:\n{output[-3000:]}"

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        self.pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def variant(arm26_osim, tmp_path_factory, request) -> Iterator[Callable[[str], SimpleNamespace]]:
    """``variant(name)``: the tiny cohort of a variant. Where every test of this module that
    uses this fixture is selected (a whole run), every variant's generation is queued at once,
    in the order of :data:`VARIANTS`; otherwise each is generated on first use."""
    root = tmp_path_factory.mktemp("variants")
    generations = _Generations(root, arm26_osim)
    selected = {
        getattr(i, "originalname", i.name)
        for i in request.session.items
        if i.module is request.module and "variant" in getattr(i, "fixturenames", ())
    }
    if selected == {name for name in dir(request.module) if _uses_variant(request.module, name)}:
        for name in VARIANTS:
            generations.submit(name)
    made: dict[str, SimpleNamespace] = {}

    def get(name: str) -> SimpleNamespace:
        if name not in made:
            generations.wait(name)
            overrides = tiny_overrides(name, arm26_osim)
            # the cohort the background process wrote: found by its fingerprint, not regenerated
            path = ensure_variant_cohort(name, root=root / name, overrides=overrides, workers=1)
            made[name] = SimpleNamespace(
                root=path,
                overrides=overrides,
                cfg=compose_config(
                    "synth", [f"synth={name}", *(f"synth.{o}" for o in overrides)]
                ).synth,
                cohort=read_dataset(path / "dataset"),
                truth=path / "ground_truth",
                summary=read_cohort_truth(path / "ground_truth"),
                metrics=json.loads((path / "metrics.json").read_text()),
            )
        return made[name]

    try:
        yield get
    finally:
        generations.stop()


def _uses_variant(module, name: str) -> bool:
    """Whether ``module.<name>`` is a test function that takes the ``variant`` fixture."""
    func = getattr(module, name)
    if not (name.startswith("test_") and callable(func)):
        return False
    return "variant" in func.__code__.co_varnames[: func.__code__.co_argcount]


def _movement(cohort):
    return [t for t in cohort if t.metadata["kind"] == "movement"]


# --------------------------------------------------------------------------- configs


def test_the_family_is_every_synth_option_but_the_tiny_size_and_the_sessions():
    # longitudinal: generated and checked in tests/synth/test_longitudinal.py
    options = {p.stem for p in (Path(CONF_DIR) / "synth").glob("*.yaml")}
    assert set(variant_names()) == options - {"tiny", "longitudinal"}
    assert variant_names() == ["default", *VARIANTS]


def test_each_config_and_seed_gets_its_own_cache_folder():
    assert variant_root("low_snr") == VARIANT_ROOT / "low_snr"
    small = variant_root("low_snr", ["n_subjects=2"])
    assert small.parent == VARIANT_ROOT and small.name.startswith("low_snr-")
    assert len({small, variant_root("low_snr", seed=1), variant_root("low_snr")}) == 3
    assert variant_root("low_snr", ["n_subjects=2"]) == small


def test_every_variant_composes_on_default_and_validates():
    default = validate_config(_plain(compose_config("synth")))
    for name in VARIANTS:
        plain = validate_config(_plain(compose_config("synth", [f"synth={name}"])))
        assert plain["name"] == f"synthetic_elbow_{name}"
        assert plain["muscles"] == default["muscles"] and plain["hidden"] == default["hidden"]


def test_full_size_variants_are_as_documented():
    def full(name):
        return validate_config(_plain(compose_config("synth", [f"synth={name}"])))

    assert full("no_mvic")["mvic"]["include"] is False
    assert full("shoulder_elevated")["posture"]["shoulder_elevation_deg"] == {
        "min": 80.0,
        "max": 100.0,
    }
    assert full("cocontraction")["recruitment"]["cocontraction"]["base"]["min"] >= 0.10
    few = full("few_trials")
    assert few["n_subjects"] == 3 and few["conditions"] == ["baseline"]
    assert len(few["loads_kg"]) * few["trials_per_cell"] == 3
    assert full("low_snr")["emg"]["powerline_hz"] == 60.0
    # 3 kg at most where the weakest subject had no Moco solution at 4 kg
    for name in ("shoulder_elevated", "cocontraction", "speeds_rom"):
        assert full(name)["loads_kg"] == [0.0, 2.0, 3.0]


def test_default_cohort_fingerprint_is_unchanged(arm26_osim):
    """New config keys live only in the variants: the committed default cohort stays valid."""
    cfg = compose_config("synth", [f"synth.osim={arm26_osim}"])
    plain = validate_config(_plain(cfg))
    committed = (DEFAULT_ROOT / FINGERPRINT).read_text().strip()
    assert fingerprint(plain, int(cfg.seed)) == committed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+synth.posture.tendon_slack_scale.FCU=1.2"], r"tendon_slack_scale: 'FCU'"),
        (["synth.posture.tendon_slack_scale.TRIlong=0"], r"tendon_slack_scale.TRIlong"),
        (["synth.posture.shoulder_elevation_deg.min=120"], r"shoulder_elevation_deg: min 120"),
        (["+synth.mvic.include=maybe"], r"mvic.include"),
    ],
)
def test_bad_variant_values_name_the_key(overrides, message):
    cfg = compose_config("synth", ["synth=shoulder_elevated", *overrides])
    with pytest.raises(SynthConfigError, match=message):
        validate_config(_plain(cfg))


def test_shoulder_range_outside_the_model_fails_before_any_simulation(arm26_osim, tmp_path):
    cfg = compose_config(
        "synth",
        [
            "synth=shoulder_elevated",
            f"synth.osim={arm26_osim}",
            "synth.posture.shoulder_elevation_deg.max=200",
        ],
    )
    with pytest.raises(
        SynthConfigError, match=r"shoulder_elevation_deg: 80-200° is outside .*\(-90 to 180°\)"
    ):
        generate_cohort(SynthSettings.from_mapping(_plain(cfg)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_variant_names_the_known_ones():
    with pytest.raises(SynthConfigError, match=r"unknown synth variant 'huge'.*few_trials"):
        ensure_variant_cohort("huge")


# --------------------------------------------------------------------------- generated variants


def test_no_mvic_has_no_mvic_trials_and_still_calibrates_pain(variant):
    v = variant("no_mvic")
    kinds = {t.metadata["kind"] for t in v.cohort}
    assert kinds == {"movement"} and "mvic" not in v.cohort.conditions
    assert not any(t.trial_id.startswith("mvic") for t in v.cohort)
    assert {t.condition for t in v.cohort} == {"baseline", "pain"}
    subj = v.cohort.subjects["S01"]
    assert subj.mvic == {} and subj.metadata["mvic_reference"].startswith("none")
    assert v.metrics["n_trials"]["mvic"] == 0
    cal = v.summary["calibration"]["S01"]["pain"]
    assert 0.3 <= cal["ratio"] < 1.0  # ρ from the baseline features (peak in mV, not % MVIC)


def test_shoulder_elevated_records_posture_and_keeps_trilong_physiological(variant):
    v = variant("shoulder_elevated")
    angles = []
    for sid, subj in v.cohort.subjects.items():
        deg = subj.metadata["shoulder_elevation_deg"]
        assert 80.0 <= deg <= 100.0
        assert subj.metadata["locked"]["r_shoulder_elev"] == pytest.approx(math.radians(deg))
        assert subj.metadata["base_tilt_deg"] == 25.0
        assert subj.metadata["generic_model"] == GENERIC_MODEL
        truth = next(s for s in v.summary["subjects"] if s["subject_id"] == sid)
        assert truth["shoulder_elevation_deg"] == pytest.approx(deg, abs=1e-4)
        angles.append(deg)
    assert len(set(angles)) == 2  # drawn per subject
    # what the NMM is told: the mean posture and the generic model, from the dataset alone
    mean = np.mean([s.metadata["locked"]["r_shoulder_elev"] for s in v.cohort.subjects.values()])
    assert variant_physics_overrides(v.root) == [
        f"physics.locked.r_shoulder_elev={float(mean)!r}",
        f"physics.osim={(v.root / 'dataset' / GENERIC_MODEL).resolve()}",
    ]
    assert variant_preprocess_overrides(v.root) == []
    # TRIlong's normalised fibre length over every movement trial (OpenSim truth)
    trilong = np.concatenate(
        [
            read_trial_truth(v.truth, t.subject, t.trial_id)["fiber_length"]["TRIlong"]
            for t in _movement(v.cohort)
        ]
    )
    assert trilong.min() > 0.5 and trilong.max() < 1.5, (trilong.min(), trilong.max())
    assert v.metrics["checks"]["solver"]["all_converged"]


def test_shoulder_elevated_writes_the_generic_model_it_drew_subjects_on(variant, arm26_osim):
    import opensim

    v = variant("shoulder_elevated")
    change = v.summary["generic_model"]["changed"]
    assert list(change) == ["TRIlong"]
    lts = change["TRIlong"]["tendon_slack_length"]
    assert lts["generic"] == pytest.approx(1.53 * lts["source"])
    source = opensim.Model(str(arm26_osim))
    generic = opensim.Model(str(v.root / "dataset" / GENERIC_MODEL))
    for name in v.summary["muscles"]:
        want = source.getMuscles().get(name).getTendonSlackLength()
        if name == "TRIlong":
            want *= 1.53
        assert generic.getMuscles().get(name).getTendonSlackLength() == pytest.approx(want)
    # each subject's factor is on the generic value (ground-truth parameters.yaml)
    for sid in v.cohort.subject_ids:
        params = yaml.safe_load((v.truth / sid / "parameters.yaml").read_text())
        factor = params["factors"]["TRIlong"]["tendon_slack_length"]
        value = params["muscles"]["TRIlong"]["tendon_slack_length"]
        assert value == pytest.approx(factor * lts["generic"], rel=1e-6)


def _cocontraction_floor(truth_dir: Path, trials) -> float:
    """Mean over muscles and trials of each muscle's 10th-percentile true excitation: the
    activity every muscle keeps throughout a movement trial (co-contraction)."""
    floors = [
        np.percentile(
            read_trial_truth(truth_dir, t.subject, t.trial_id)["excitation"].values, 10, 0
        )
        for t in trials
    ]
    return float(np.mean(floors))


def test_cocontraction_is_stronger_than_the_default_cohorts_at_every_load(variant):
    v = variant("cocontraction")
    default = read_dataset(DEFAULT_ROOT / "dataset")
    for load in (0.0, 2.0):
        ref = [
            t for t in _movement(default) if t.condition == "baseline" and t.load.mass_kg == load
        ]
        mine = [t for t in _movement(v.cohort) if t.load.mass_kg == load]
        assert mine and ref
        floor_default = _cocontraction_floor(DEFAULT_ROOT / "ground_truth", ref)
        floor_variant = _cocontraction_floor(v.truth, mine)
        assert floor_variant > max(0.08, 2.0 * floor_default), (load, floor_variant, floor_default)
    for trial in v.summary["trials"]:
        if trial["kind"] == "movement":
            assert trial["recruitment"]["cocontraction_level"] >= 0.10


def test_few_trials_has_three_movement_trials_per_subject(variant):
    v = variant("few_trials")
    for sid in v.cohort.subject_ids:
        moves = [t for t in _movement(v.cohort) if t.subject == sid]
        assert len(moves) == 3
        assert sorted(t.load.mass_kg for t in moves) == [0.0, 2.0, 4.0]
        assert {t.condition for t in moves} == {"baseline"}
    assert v.metrics["condition_effects"]["calibration"] == {}


def _line_ratio(freq: np.ndarray, psd: np.ndarray, at_hz: float) -> float:
    """PSD at ``at_hz`` over the median PSD 3-8 Hz either side of it."""
    k = int(np.argmin(np.abs(freq - at_hz)))
    side = (np.abs(freq - at_hz) >= 3) & (np.abs(freq - at_hz) <= 8)
    return float(psd[k] / np.median(psd[side]))


def test_low_snr_has_60_hz_mains_and_noisier_smaller_emg(variant):
    v = variant("low_snr")
    pooled = []
    for t in v.cohort:
        # Welch PSD at 1 Hz resolution, each channel scaled to its median over 40-70 Hz
        freq, psd = sps.welch(t.emg.values, fs=t.emg.rate, nperseg=int(t.emg.rate), axis=0)
        pooled.append(psd / np.median(psd[(freq >= 40) & (freq <= 70)], axis=0))
    # pooled over trials and channels: one short, non-stationary trial's PSD is noisy, and in
    # an MVIC the EMG itself can bury the line
    mean_psd = np.concatenate(pooled, axis=1).mean(axis=1)
    assert _line_ratio(freq, mean_psd, 60.0) > 50
    assert _line_ratio(freq, mean_psd, 50.0) < 2
    emg = v.cfg.emg
    for s in v.summary["subjects"]:
        assert all(emg.gain_mv.min <= g <= emg.gain_mv.max for g in s["emg_gain_mv"].values())
        assert emg.noise_uv.min <= s["emg_noise_uv"] <= emg.noise_uv.max
        assert emg.powerline_uv.min <= s["powerline_uv"] <= emg.powerline_uv.max
        assert emg.drift_uv.min <= s["drift_uv"] <= emg.drift_uv.max
    assert emg.gain_mv.max < 0.5 and emg.noise_uv.min > 6.0 and emg.drift_uv.min > 60.0
    assert variant_preprocess_overrides(v.root) == ["preprocess.emg.steps.notch.freq_hz=60.0"]
    assert variant_physics_overrides(v.root) == []


def test_the_default_cohort_needs_no_overrides():
    assert variant_physics_overrides(DEFAULT_ROOT) == []
    assert variant_preprocess_overrides(DEFAULT_ROOT / "dataset") == []


def test_speeds_rom_has_the_configured_speeds_and_wider_range(variant):
    v = variant("speeds_rom")
    task = v.cfg.task
    moves = _movement(v.cohort)
    assert sorted(t.metadata["flexion_duration_s"] for t in moves) == sorted(
        task.flexion_duration_s
    )
    lo_lim, hi_lim = ANGLE_LIMITS_DEG
    for t in moves:
        deg = np.degrees(t.angle)
        assert lo_lim - 1e-6 <= deg.min() <= task.low_target_deg.mean + 8
        assert task.high_target_deg.mean - 8 <= deg.max() <= hi_lim + 1e-6
        assert deg.max() - deg.min() > 105  # default: ~98° (20-118°)
        flexions = [p for p in t.metadata["phases"] if p[0] == "flexion"]
        for _, start, end, _ in flexions:
            # minimum-jerk duration: the trial's speed class with the 6 % cycle-to-cycle jitter
            assert end - start == pytest.approx(t.metadata["flexion_duration_s"], rel=0.25)
    assert v.metrics["checks"]["solver"]["all_converged"]


def test_variant_cache_is_reused_and_records_generation_time(variant):
    v = variant("low_snr")
    assert v.metrics["generation_s"] > 0
    manifest = v.root / "dataset" / "manifest.yaml"
    before = manifest.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = ensure_variant_cohort("low_snr", root=v.root, overrides=v.overrides, workers=2)
    assert again == v.root and time.perf_counter() - t0 < 10
    assert manifest.stat().st_mtime_ns == before
