"""The synthetic cohort end to end, on the `tiny` config generated once for this module.

Stated tolerances (checked against OpenSim itself, from the files the generator wrote):

- forward simulation: an open-loop OpenSim simulation of the stored truth excitations, restarted
  from the stored truth states, stays within FORWARD_TOL_DEG of the stored kinematics after
  FORWARD_HORIZON_S (the open-loop elbow is unstable, so the whole trial is not a fair test; the
  run reports its whole-trial drift in metrics.json);
- inverse dynamics: the stored ID moment equals Σ r·F of the stored tendon forces, with moment
  arms computed by OpenSim on the stored subject model, to ID_TOL_NM RMS and ID_TOL_REL of the
  moment's RMS (the truth is stored at 50 Hz, interpolated between the 0.04 s solver grid);
- condition effects: pain lowers the injected muscle's peak, VAR and MAD in every subject, with
  a cohort-mean Cohen's d between EFFECT_SIZE_RANGE times the configured target (4 contractions
  per condition and subject in `tiny`: d is a noisy estimate), and placebo lies between.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from nmm.data.io.dataset import read_dataset
from nmm.jobs.cohorts import ensure_cohort
from nmm.synth.cohort import generate_cohort
from nmm.synth.conditions import contraction_features, effect_sizes, mvic_peak
from nmm.synth.ground_truth import QUANTITIES, read_cohort_truth, read_trial_truth
from nmm.synth.tasks import Phase
from painsig.features import mean_absolute_deviation, variance
from tests.synth.conftest import plain_synth, synth_config, synth_settings

FORWARD_HORIZON_S = 0.2
FORWARD_TOL_DEG = 1.5
ID_TOL_NM = 0.25
ID_TOL_REL = 0.03
EFFECT_SIZE_RANGE = (0.5, 3.0)
MUSCLES = ["BIClong", "BICshort", "BRA", "TRIlong", "TRIlat", "TRImed"]
MEASURED = ["BIClong", "BICshort", "TRIlong", "TRIlat"]


@pytest.fixture(scope="module")
def tiny(arm26_osim, tmp_path_factory):
    cfg = synth_config(arm26_osim)
    root = tmp_path_factory.mktemp("synth") / "cohort"
    t0 = time.perf_counter()
    path = ensure_cohort(plain_synth(cfg), int(cfg.seed), root)
    return SimpleNamespace(
        root=path,
        cfg=cfg,
        seconds=time.perf_counter() - t0,
        cohort=read_dataset(path / "dataset"),
        truth=path / "ground_truth",
        metrics=json.loads((path / "metrics.json").read_text()),
    )


def _opensim():
    import opensim

    opensim.Logger.setLevelString("Error")
    return opensim


def test_read_back_gives_every_trial_condition_and_subject(tiny):
    c = tiny.cohort
    assert c.subject_ids == ["S01", "S02"]
    assert c.conditions == ["baseline", "mvic", "pain", "placebo"]
    assert len(c) == 2 * (3 * 2 + 2)
    for sid in c.subject_ids:
        for cond in ("baseline", "pain", "placebo"):
            loads = sorted(t.load.mass_kg for t in c.select(subject=sid, condition=cond))
            assert loads == [0.0, 2.0]
        assert {t.trial_id for t in c.select(subject=sid, condition="mvic")} == {
            "mvic_flexion",
            "mvic_extension",
        }
        subj = c.subjects[sid]
        assert sorted(subj.mvic) == sorted(MEASURED) and min(subj.mvic.values()) > 0
        assert 50 <= subj.body_mass_kg <= 100
    for t in c:
        assert list(t.emg.channels) == MEASURED  # deep muscles are not in the dataset
        assert set(t.emg.units) == {"mV"} and t.emg.rate == 2000.0
        assert t.kinematics.rate == 100.0 and t.kinematics.channels == (
            "elbow_flexion",
            "elbow_flexion_speed",
            "elbow_flexion_acceleration",
        )
        assert t.torque is not None and t.load.lever_arm_m > 0.25
        assert t.metadata["synthetic"] is True and t.metadata["phases"]
        assert t.emg.time[-1] == pytest.approx(t.kinematics.time[-1], abs=1e-3)
    truth_trials = {(x["subject"], x["trial_id"]) for x in read_cohort_truth(tiny.truth)["trials"]}
    assert truth_trials == {(t.subject, t.trial_id) for t in c}


def test_ground_truth_is_a_separate_documented_folder(tiny):
    dataset = tiny.root / "dataset"
    assert not tiny.truth.is_relative_to(dataset)
    readme = (tiny.truth / "README.md").read_text()
    for word in ("cohort.json", "model.osim", "excitation", "tendon_force", "parameters.yaml"):
        assert word in readme
    assert "ground_truth" not in (dataset / "manifest.yaml").read_text()
    summary = read_cohort_truth(tiny.truth)
    assert summary["hidden"] == ["BRA", "TRImed"] and summary["muscles"] == MUSCLES
    for t in tiny.cohort:
        truth = read_trial_truth(tiny.truth, t.subject, t.trial_id)
        assert set(truth) == {*QUANTITIES, "muscle_moment"}
        for name in QUANTITIES:
            assert list(truth[name].channels) == MUSCLES
            assert np.allclose(truth[name].time, t.kinematics.time[::2])  # 50 Hz
        assert truth["excitation"].values.min() >= 0 and truth["excitation"].values.max() <= 1
    for sid in tiny.cohort.subject_ids:
        params = yaml.safe_load((tiny.truth / sid / "parameters.yaml").read_text())
        assert set(params["muscles"]) == set(MUSCLES)
        osim = _opensim()
        model = osim.Model(str(tiny.truth / sid / "model.osim"))
        model.initSystem()
        bra = model.getMuscles().get("BRA")
        assert bra.getMaxIsometricForce() == pytest.approx(
            params["muscles"]["BRA"]["max_isometric_force"]
        )


def _truth_model(tiny, sid):
    osim = _opensim()
    model = osim.Model(str(tiny.truth / sid / "model.osim"))
    model.finalizeFromProperties()
    return osim, model


def test_forward_simulation_of_truth_reproduces_kinematics(tiny):
    # the generator's own check, over every window of every movement trial
    fw = tiny.metrics["checks"]["forward_window"]
    assert fw["horizon_s"] == FORWARD_HORIZON_S
    assert fw["max_error_deg"] < FORWARD_TOL_DEG
    # and an independent one, from the stored files only (0 kg: the stored model has no load)
    sid, tid = "S01", "baseline_0kg_1"
    trial = next(t for t in tiny.cohort if t.subject == sid and t.trial_id == tid)
    truth = read_trial_truth(tiny.truth, sid, tid)
    osim, model = _truth_model(tiny, sid)
    mset = model.updMuscles()
    controller = osim.PrescribedController()
    exc = truth["excitation"]
    for j, name in enumerate(exc.channels):
        muscle = osim.DeGrooteFregly2016Muscle.safeDownCast(mset.get(name))
        muscle.set_tendon_compliance_dynamics_mode("explicit")
        controller.addActuator(muscle)
        fn = osim.PiecewiseLinearFunction()
        for tt, v in zip(exc.time, exc.values[:, j], strict=True):
            fn.addPoint(float(tt), float(v))
        controller.prescribeControlForActuator(name, fn)
    model.addController(controller)
    model.finalizeConnections()
    state = model.initSystem()
    coord = model.getCoordinateSet().get("r_elbow_flex")
    errors = []
    for start in (0.6, 1.4, 2.2):
        k = round(start * 100)  # kinematics at 100 Hz
        kt = round(start * 50)  # truth at 50 Hz
        state.setTime(float(trial.kinematics.time[k]))
        coord.setValue(state, float(trial.angle[k]), False)
        coord.setSpeedValue(state, float(trial.velocity[k]))
        for j, name in enumerate(exc.channels):
            m = osim.DeGrooteFregly2016Muscle.safeDownCast(model.getMuscles().get(name))
            m.setActivation(state, float(truth["activation"].values[kt, j]))
            m.setNormalizedTendonForce(
                state, float(truth["tendon_force"].values[kt, j] / m.get_max_isometric_force())
            )
        manager = osim.Manager(model)
        manager.setIntegratorAccuracy(1e-5)
        manager.initialize(state)
        end = manager.integrate(float(trial.kinematics.time[k]) + FORWARD_HORIZON_S)
        errors.append(coord.getValue(end) - trial.angle[k + int(FORWARD_HORIZON_S * 100)])
    assert np.max(np.abs(np.degrees(errors))) < FORWARD_TOL_DEG


def test_inverse_dynamics_torque_equals_truth_muscle_moment(tiny):
    # the generator's own check on the solver grid
    idm = tiny.metrics["checks"]["id_vs_muscle_moment"]
    assert idm["rms_nm_max"] < 0.05
    # independently: moment arms from OpenSim on the stored model, forces from the stored truth
    _, model = _truth_model(tiny, "S01")
    state = model.initSystem()
    coord = model.getCoordinateSet().get("r_elbow_flex")
    muscles = [model.getMuscles().get(m) for m in MUSCLES]
    for trial in tiny.cohort.select(subject="S01", condition=["baseline", "pain", "placebo"]):
        truth = read_trial_truth(tiny.truth, "S01", trial.trial_id)
        t_truth = truth["tendon_force"].time
        angle = np.interp(t_truth, trial.kinematics.time, trial.angle)
        arms = np.empty((angle.size, len(MUSCLES)))
        for i, q in enumerate(angle):
            coord.setValue(state, float(q))
            model.realizePosition(state)
            arms[i] = [m.computeMomentArm(state, coord) for m in muscles]
        force = truth["tendon_force"].select(MUSCLES).values
        moment = np.sum(arms * force, axis=1)
        id_moment = np.interp(t_truth, trial.torque.time, trial.moment)
        rms = float(np.sqrt(np.mean((moment - id_moment) ** 2)))
        assert rms < ID_TOL_NM
        assert rms < ID_TOL_REL * float(np.sqrt(np.mean(id_moment**2)))
        # the stored muscle moment is Σ r·F on the solver grid (every 0.04 s), interpolated
        on_grid = slice(None, None, 2)
        assert np.allclose(truth["muscle_moment"].values[on_grid, 0], moment[on_grid], atol=0.02)


def _features_from_dataset(tiny) -> pd.DataFrame:
    rows = []
    inj = tiny.cfg.synth.pain_model.injected_muscle
    for sid in tiny.cohort.subject_ids:
        mvic = max(mvic_peak(t.emg, inj) for t in tiny.cohort.select(subject=sid, condition="mvic"))
        for t in tiny.cohort.select(subject=sid, condition=["baseline", "pain", "placebo"]):
            phases = [Phase(*p) for p in t.metadata["phases"]]
            df = contraction_features(t.emg, inj, phases, mvic)
            df["subject"], df["condition"], df["load_kg"] = sid, t.condition, t.load.mass_kg
            rows.append(df)
            # VAR and MAD against an independent implementation (painsig.features)
            from nmm.data.preprocess import BandPass, Notch

            x = Notch(50.0)(BandPass(20.0, 400.0, 4)(t.emg.select([inj])))
            for r in df.itertuples():
                keep = (x.time >= r.start_s) & (x.time <= r.end_s)
                assert r.var == pytest.approx(variance(x.values[keep, 0]), rel=1e-9)
                assert r.mad == pytest.approx(mean_absolute_deviation(x.values[keep, 0]), rel=1e-9)
    return pd.concat(rows, ignore_index=True)


def test_condition_effects_have_configured_sign_and_size(tiny):
    features = _features_from_dataset(tiny)
    target = tiny.cfg.synth.pain_model.pain.target_d
    pain = effect_sizes(features, "pain")
    placebo = effect_sizes(features, "placebo")
    for feat in ("peak", "var", "mad"):
        p = pain[pain.feature == feat]
        assert (p["relative_change"] < 0).all(), p  # every subject
        mean_d = p["d"].mean()
        lo, hi = EFFECT_SIZE_RANGE
        assert lo * abs(target[feat]) <= -mean_d <= hi * abs(target[feat]), (feat, mean_d)
        # placebo: weaker than pain
        assert placebo[placebo.feature == feat]["d"].mean() > mean_d
    # the run's metrics report the same numbers
    reported = tiny.metrics["condition_effects"]["pain"]["mean_d"]
    for feat in ("peak", "var", "mad", "int"):
        assert reported[feat] == pytest.approx(pain[pain.feature == feat]["d"].mean(), rel=1e-6)


def test_cohort_is_not_trivially_solvable(tiny):
    tb = tiny.metrics["trivial_baselines"]["pooled"]
    assert set(tb) == {"BRA", "TRImed"}
    for h in ("BRA", "TRImed"):
        assert tb[h]["rmse"] > 0.01 and tb[h]["r"] < 0.995
    sharing = tiny.metrics["force_sharing"]["per_subject_load"]
    bra = {k: v["BRA_share"] for k, v in sharing.items()}
    assert max(bra.values()) - min(bra.values()) > 0.02
    assert abs(bra["S01/0kg"] - bra["S02/0kg"]) > 0.01  # by subject
    assert abs(bra["S01/0kg"] - bra["S01/2kg"]) > 0.005  # by load


def test_every_muscle_works_within_physiological_fibre_lengths(tiny):
    for m, v in tiny.metrics["fiber_length"].items():
        assert v["movement_peak_excitation"] > 0.1, m
        assert v["min"] > 0.4 and v["max"] < 1.6, m
    assert tiny.metrics["checks"]["solver"]["all_converged"]


def test_metrics_sizes_and_cache(tiny):
    m = tiny.metrics
    for key in ("checks", "trivial_baselines", "force_sharing", "condition_effects", "timing"):
        assert key in m
    assert m["size_bytes"]["dataset"] + m["size_bytes"]["ground_truth"] < 10e6
    manifest = tiny.root / "dataset" / "manifest.yaml"
    before = manifest.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert ensure_cohort(plain_synth(tiny.cfg), int(tiny.cfg.seed), tiny.root) == tiny.root
    assert time.perf_counter() - t0 < 10
    assert manifest.stat().st_mtime_ns == before


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_identical_files(tiny, tmp_path):
    """Regenerate subject S01's MVIC and 0 kg baseline trials alone with the same seed: every
    random draw is keyed by (seed, subject, trial), so their files must be identical."""
    settings = synth_settings(
        Path(tiny.cfg.synth.osim),
        ["synth.n_subjects=1", "synth.conditions=[baseline]", "synth.loads_kg=[0.0]"],
    )
    generate_cohort(settings, tmp_path, seed=int(tiny.cfg.seed))
    again = read_dataset(tmp_path / "dataset")
    first = {(t.subject, t.trial_id): t for t in tiny.cohort}
    compared = 0
    for t in again:
        old = first[(t.subject, t.trial_id)]
        for kind in ("emg", "kinematics", "torque"):
            a = Path(getattr(t, kind).source)
            b = Path(getattr(old, kind).source)
            assert _sha(a) == _sha(b), (t.trial_id, kind)
            compared += 1
        for q in (*QUANTITIES, "muscle_moment"):
            name = f"1_{t.trial_id}_{q}.sto"
            assert _sha(tmp_path / "ground_truth" / "S01" / name) == _sha(tiny.truth / "S01" / name)
            compared += 1
        assert t.metadata == old.metadata
    for name in ("model.osim", "parameters.yaml"):
        assert _sha(tmp_path / "ground_truth" / "S01" / name) == _sha(tiny.truth / "S01" / name)
    assert again.subjects["S01"].mvic == tiny.cohort.subjects["S01"].mvic
    assert compared == 3 * 8


def test_generation_time_is_reported(tiny):
    assert tiny.metrics["timing"]["total_s"] > 0
    assert math.isfinite(tiny.seconds)
