"""Tests of nmm.physics.parameters: bounds, layout, gradients, errors, export to .osim.

The export is checked against OpenSim itself: the written arm26 copy is loaded by OpenSim, its
muscles converted to rigid-tendon DeGrooteFregly2016Muscle, and its elbow torque compared with
the torch torque of the same personalised parameters.
"""

from __future__ import annotations

import copy
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch.func import functional_call

from nmm.config import CONF_DIR
from nmm.opensim.torch_elbow import muscle_geometry_from_osim
from nmm.physics.elbow import muscle_torque
from nmm.physics.geometry import MuscleGeometry
from nmm.physics.muscle import MuscleParameters
from nmm.physics.parameters import (
    ParameterBoundsError,
    PersonalisationError,
    PersonalisedParameters,
    SubjectParameters,
    UnknownMuscleError,
    export_personalised_osim,
    parameter_specs,
)

MUSCLES = ["BIClong", "BICshort", "BRA", "TRIlong", "TRIlat", "TRImed"]
REL_TOL = 0.005  # brief: 0.5 % RMS against OpenSim
DT = 0.01  # s


@pytest.fixture(scope="module")
def cfg() -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        composed = compose(config_name="demo", overrides=["physics=arm26"])
    return OmegaConf.to_container(composed.physics, resolve=False)


NOMINAL = MuscleParameters(  # arm26.osim's values, config muscle order
    max_isometric_force=torch.tensor([624.3, 435.56, 987.26, 798.52, 624.3, 624.3]),
    optimal_fiber_length=torch.tensor([0.1157, 0.1321, 0.0858, 0.134, 0.1138, 0.1138]),
    tendon_slack_length=torch.tensor([0.2723, 0.1923, 0.0535, 0.143, 0.098, 0.0908]),
    pennation_angle_at_optimal=torch.tensor([0.0, 0.0, 0.0, 0.20943951, 0.15707963, 0.15707963]),
)


@pytest.fixture(scope="module")
def toy_geometry() -> MuscleGeometry:
    """Six muscles with constant moment arms (3 flexors, 3 extensors) in config order."""
    lo, hi = 0.0, 2.3
    half = 0.5 * (hi - lo)
    r = [0.035, 0.035, 0.02, -0.02, -0.02, -0.02]
    l0 = [0.39, 0.31, 0.13, 0.30, 0.19, 0.18]
    return MuscleGeometry(
        muscle_names=MUSCLES,
        coordinate="r_elbow_flex",
        domain=(lo, hi),
        degree=1,
        coefficients=[[c, -ri * half] for c, ri in zip(l0, r, strict=True)],
    )


def test_default_layout_is_32_parameters(cfg: dict) -> None:
    module = PersonalisedParameters.from_config(cfg, n_subjects=5, nominal=NOMINAL)
    assert module.n_params == 32 and module.raw.shape == (5, 32)
    assert module.columns[0] == ("max_isometric_force", "BIClong")
    assert module.columns[-2:] == (("tau_act_s", None), ("electromechanical_delay_s", None))
    values = module.values()
    assert values["max_isometric_force"].shape == (5, 6)
    assert values["tau_act_s"].shape == (5,)
    # Starts at the configured initial values; relative parameters at factor 1 (the .osim).
    init = cfg["personalised"]["initial"]
    for name, v in values.items():
        torch.testing.assert_close(v, torch.full_like(v, init[name]), rtol=1e-5, atol=1e-6)
    mp = module.muscle_parameters()
    torch.testing.assert_close(mp.max_isometric_force, NOMINAL.max_isometric_force.expand(5, 6))
    assert module.muscle_parameters(time_axis=True).tendon_slack_length.shape == (5, 1, 6)
    act = module.activation_parameters()
    torch.testing.assert_close(act.tau_deact, 4.0 * act.tau_act)
    assert act.emg_gain.shape == (5, 6) and act.shape_factor.shape == (5, 6)


def test_values_stay_in_bounds(cfg: dict) -> None:
    module = PersonalisedParameters.from_config(cfg, n_subjects=3, nominal=NOMINAL)
    with torch.no_grad():
        module.raw[0] = -1e3
        module.raw[1] = 1e3
        module.raw[2] = torch.randn(module.n_params) * 5
    x = module.bounded()
    assert torch.all(torch.isfinite(x))
    assert torch.all(x >= module.lower) and torch.all(x <= module.upper)
    torch.testing.assert_close(x[0], module.lower)
    torch.testing.assert_close(x[1], module.upper)


def test_set_values_round_trip_and_subject(cfg: dict) -> None:
    module = PersonalisedParameters.from_config(cfg, n_subjects=2, nominal=NOMINAL)
    module.set_values(
        1,
        {
            "max_isometric_force": {"BRA": 1.7},
            "tendon_slack_length": [0.9, 1.0, 1.1, 0.95, 1.05, 1.2],  # a bound: moved inside
            "tau_act_s": 0.02,
        },
    )
    values = module.values([1])
    assert values["max_isometric_force"][0, 2].item() == pytest.approx(1.7, rel=1e-5)
    assert values["max_isometric_force"][0, 0].item() == pytest.approx(1.0, rel=1e-5)
    assert values["tendon_slack_length"][0, 5].item() == pytest.approx(1.2, rel=1e-5)
    assert values["tau_act_s"][0].item() == pytest.approx(0.02, rel=1e-5)
    subject = module.subject(1)
    assert subject.values["max_isometric_force"][2] == pytest.approx(1.7, rel=1e-5)
    props = subject.osim_properties()
    assert props["BRA"]["max_isometric_force"] == pytest.approx(1.7 * 987.26, rel=1e-5)
    assert props["BRA"]["activation_time_constant"] == pytest.approx(0.02, rel=1e-5)
    assert "emg_gain" not in props["BRA"]
    # Subject 0 unchanged
    assert module.values([0])["max_isometric_force"][0, 2].item() == pytest.approx(1.0, rel=1e-5)


def test_strength_expected_from_body_mass_centres_the_prior(cfg: dict) -> None:
    """F0 ∝ m^(2/3) (Jaric 2002): a 90 kg subject starts from, and is pulled towards,
    (90/70)^0.667 = 1.182 of arm26's strength; a subject of unknown mass keeps 1."""
    assert cfg["strength_from_body_mass"] is None  # off by default (conf/physics/arm26.yaml)
    cfg = {**cfg, "strength_from_body_mass": {"reference_kg": 70.0, "exponent": 0.667}}
    module = PersonalisedParameters.from_config(cfg, n_subjects=3, nominal=NOMINAL)
    set_to = module.expect_strength([90.0, None, 70.0])
    assert set_to[0] == pytest.approx((90.0 / 70.0) ** 0.667) and set_to[1] is None
    assert set_to[2] == pytest.approx(1.0)
    f0 = module.values()["max_isometric_force"]
    assert f0[0].tolist() == pytest.approx([(90.0 / 70.0) ** 0.667] * 6, rel=1e-4)
    assert f0[1].tolist() == pytest.approx([1.0] * 6, rel=1e-5)
    assert module.values()["emg_gain"][0].tolist() == pytest.approx([1.0] * 6, rel=1e-5)
    strength = [i for i, (n, _) in enumerate(module.columns) if n == "max_isometric_force"]
    torch.testing.assert_close(module.centre, module.bounded().detach())  # no deviation at start
    assert module.centre[0, strength].tolist() == pytest.approx(
        [(90.0 / 70.0) ** 0.667] * 6, rel=1e-4
    )
    # the centre stays where it was set when the values move, and survives a state dict
    module.set_values(0, {"max_isometric_force": 1.5})
    copy = PersonalisedParameters.from_config(cfg, n_subjects=3, nominal=NOMINAL)
    copy.load_state_dict(module.state_dict())
    torch.testing.assert_close(copy.centre, module.centre)
    # a checkpoint of a table without centres loads with the initial values as centres
    old = {k: v for k, v in module.state_dict().items() if k != "centre"}
    fresh = PersonalisedParameters.from_config(cfg, n_subjects=3, nominal=NOMINAL)
    initial = fresh.centre.clone()
    fresh.load_state_dict(old)
    torch.testing.assert_close(fresh.centre, initial)
    one = PersonalisedParameters.from_config(cfg, n_subjects=1, nominal=NOMINAL)
    module.copy_subject(0, one)
    torch.testing.assert_close(one.raw[0], module.raw[0])
    torch.testing.assert_close(one.centre[0], module.centre[0])
    off = PersonalisedParameters.from_config(
        {**cfg, "strength_from_body_mass": None}, n_subjects=1, nominal=NOMINAL
    )
    assert off.expect_strength([90.0]) == [None]
    with pytest.raises(ValueError, match="2 body masses for 1 subject rows"):
        off.expect_strength([90.0, 60.0])


def test_uncalibrated_gains_lose_their_prior_only_when_asked(cfg: dict) -> None:
    """Envelopes without an MVIC reference: the measured muscles' emg_gain prior is uniform over
    its bounds (width inf, so a deviation from the centre costs nothing), every other prior and
    every other subject's stay as configured; ``centred`` keeps them all."""
    assert cfg["uncalibrated_gain_prior"] == "uniform"  # conf/physics/arm26.yaml
    module = PersonalisedParameters.from_config(cfg, n_subjects=2, nominal=NOMINAL)
    measured = [True, True, False, True, True, False]  # BRA and TRImed hidden
    released = module.expect_uncalibrated_gains([measured, None])
    assert released == ["0/BIClong", "0/BICshort", "0/TRIlong", "0/TRIlat"]
    gain = {m: i for i, (n, m) in enumerate(module.columns) if n == "emg_gain"}
    inf = torch.isinf(module.prior_width)
    assert set(torch.nonzero(inf)[:, 1].tolist()) == {gain[m] for m in released_muscles(released)}
    assert not inf[1].any() and (module.prior_width[~inf] == 1.0).all()
    # widths travel with a subject and a state dict; a checkpoint without them loads with 1
    one = PersonalisedParameters.from_config(cfg, n_subjects=1, nominal=NOMINAL)
    module.copy_subject(0, one)
    torch.testing.assert_close(one.prior_width[0], module.prior_width[0])
    old = {k: v for k, v in module.state_dict().items() if k != "prior_width"}
    fresh = PersonalisedParameters.from_config(cfg, n_subjects=2, nominal=NOMINAL)
    fresh.load_state_dict(old)
    assert (fresh.prior_width == 1.0).all()
    centred = PersonalisedParameters.from_config(
        {**cfg, "uncalibrated_gain_prior": "centred"}, n_subjects=2, nominal=NOMINAL
    )
    assert centred.expect_uncalibrated_gains([measured, measured]) == []
    assert (centred.prior_width == 1.0).all()
    with pytest.raises(PersonalisationError, match="uncalibrated_gain_prior must be one of"):
        PersonalisedParameters.from_config(
            {**cfg, "uncalibrated_gain_prior": "flat"}, n_subjects=1, nominal=NOMINAL
        )


def released_muscles(labels: list[str]) -> list[str]:
    """Muscle names of ``"row/muscle"`` labels."""
    return [label.split("/")[1] for label in labels]


def test_out_of_bounds_errors_name_the_parameter(cfg: dict) -> None:
    module = PersonalisedParameters.from_config(cfg, n_subjects=1, nominal=NOMINAL)
    before = module.raw.detach().clone()
    with pytest.raises(ParameterBoundsError, match="max_isometric_force of muscle 'BRA'") as err:
        module.set_values(0, {"tau_act_s": 0.02, "max_isometric_force": {"BRA": 3.0}})
    assert isinstance(err.value, ValueError)
    assert err.value.parameter == "max_isometric_force" and err.value.muscle == "BRA"
    torch.testing.assert_close(module.raw, before)  # nothing changed
    with pytest.raises(ParameterBoundsError, match="tau_act_s"):
        module.set_values(0, {"tau_act_s": 0.5})
    with pytest.raises(UnknownMuscleError, match="'DELT'"):
        module.set_values(0, {"emg_gain": {"DELT": 1.0}})
    with pytest.raises(PersonalisationError, match="not personalised"):
        module.set_values(0, {"fiber_damping": 0.1})


def test_config_errors(cfg: dict) -> None:
    with pytest.raises(UnknownMuscleError, match=r"'BRD'.*BIClong") as err:
        PersonalisedParameters.from_config(cfg, 1, NOMINAL, muscle_names=[*MUSCLES[:5], "BRD"])
    assert isinstance(err.value, ValueError) and err.value.muscle == "BRD"
    bad = copy.deepcopy(cfg)
    bad["personalisation"]["optimal_fiber_length"] = [1.2, 0.8]
    with pytest.raises(ParameterBoundsError, match="optimal_fiber_length"):
        parameter_specs(bad)
    bad = copy.deepcopy(cfg)
    bad["personalised"]["initial"]["emg_gain"] = 5.0
    with pytest.raises(ParameterBoundsError, match=r"emg_gain = 5\.0"):
        parameter_specs(bad)
    bad = copy.deepcopy(cfg)
    bad["personalised"]["per_muscle"].append("stiffness")
    with pytest.raises(PersonalisationError, match="unknown parameter 'stiffness'"):
        parameter_specs(bad)
    bad = copy.deepcopy(cfg)
    bad["personalised"]["global"].append("tau_deact_s")
    with pytest.raises(PersonalisationError, match=r"tau_deact_s.*no bounds"):
        parameter_specs(bad)


def _pipeline(
    module: PersonalisedParameters, geometry: MuscleGeometry, emg: torch.Tensor
) -> torch.Tensor:
    """EMG -> activation -> rigid-tendon muscle torque with every personalised parameter."""
    n_s, n_t, _ = emg.shape
    act = module.activation(emg, DT)
    theta = torch.linspace(0.3, 1.8, n_t, dtype=emg.dtype).expand(n_s, n_t)
    theta_dot = torch.full_like(theta, 1.5)
    params = module.muscle_parameters(time_axis=True)
    return muscle_torque(theta, theta_dot, act, geometry, params).torque


def _emg(n_s: int, n_t: int, dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(n_t, dtype=dtype).unsqueeze(-1) * DT
    phase = torch.rand(n_s, 1, 6, generator=gen, dtype=dtype) * 6
    return 0.35 + 0.25 * torch.sin(2 * math.pi * 4 * t + phase)


def test_gradients_reach_every_parameter(cfg: dict, toy_geometry: MuscleGeometry) -> None:
    module = PersonalisedParameters.from_config(cfg, n_subjects=2, nominal=NOMINAL)
    emg = _emg(2, 30, torch.float32).requires_grad_(True)
    torque = _pipeline(module, toy_geometry, emg)
    (torque**2).mean().backward()
    grad = module.raw.grad
    assert grad is not None and torch.all(torch.isfinite(grad))
    dead = [module.columns[j] for j in range(module.n_params) if not torch.all(grad[:, j] != 0)]
    assert not dead, f"no gradient for {dead}"
    assert emg.grad is not None and torch.any(emg.grad != 0)


def test_gradcheck_float64(cfg: dict, toy_geometry: MuscleGeometry) -> None:
    module = PersonalisedParameters.from_config(cfg, n_subjects=1, nominal=NOMINAL).double()
    with torch.no_grad():
        module.raw.add_(0.3 * torch.randn(module.raw.shape, dtype=torch.float64))
    raw = module.raw.detach().clone().requires_grad_(True)
    emg = _emg(1, 6, torch.float64).requires_grad_(True)

    def f(raw_: torch.Tensor, emg_: torch.Tensor) -> torch.Tensor:
        return _with_raw(module, raw_, lambda: _pipeline(module, toy_geometry, emg_))

    assert torch.autograd.gradcheck(f, (raw, emg), eps=1e-6, atol=1e-5, rtol=1e-4)


def _with_raw(module: PersonalisedParameters, raw: torch.Tensor, fn):
    """Evaluate ``fn`` with ``module.raw`` replaced by ``raw`` (functional_call)."""

    class _Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self) -> torch.Tensor:
            return fn()

    return functional_call(_Wrapped(), {"inner.raw": raw}, ())


# ------------------------------------------------------------------------------------------
# Export to .osim (OpenSim)
# ------------------------------------------------------------------------------------------


def _random_subject(
    cfg: dict, nominal: MuscleParameters, names: list[str]
) -> PersonalisedParameters:
    module = PersonalisedParameters.from_config(cfg, 2, nominal, muscle_names=names).double()
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        module.raw.copy_(torch.randn(module.raw.shape, generator=gen, dtype=torch.float64))
    return module


def _osim_property(path: Path, muscle: str, prop: str) -> float:
    root = ET.parse(path).getroot()
    for el in root.iter():
        if el.get("name") == muscle and el.find(prop) is not None:
            return float(el.find(prop).text)
    raise KeyError((muscle, prop))


def test_export_personalised_osim_matches_torch(
    cfg: dict, arm26_osim: Path, tmp_path: Path
) -> None:
    pytest.importorskip("opensim")
    from nmm.opensim.elbow_twin import load_muscle_twin, opensim_muscle_torque

    geometry = muscle_geometry_from_osim(arm26_osim, muscles=MUSCLES, cache_dir=tmp_path)
    module = _random_subject(cfg, geometry.to_muscle_parameters(), list(geometry.muscle_names))
    subject = module.subject(1)
    out = export_personalised_osim(arm26_osim, subject, tmp_path / "S1.osim")
    assert out.is_file()
    factors = subject.values["max_isometric_force"]
    assert _osim_property(out, "BRA", "max_isometric_force") == pytest.approx(
        987.26 * factors[MUSCLES.index("BRA")], rel=1e-12
    )
    assert _osim_property(out, "TRIlong", "activation_time_constant") == pytest.approx(
        subject.values["tau_act_s"], rel=1e-12
    )
    # OpenSim loads it; its rigid-tendon torque equals the torch torque with the same values.
    twin = load_muscle_twin(out, muscles=geometry.muscle_names)
    rng = np.random.default_rng(8)
    n = 150
    q = rng.uniform(0.0, 2.26, n)
    u = rng.uniform(-3.0, 3.0, n)
    a = rng.uniform(0.0, 1.0, (n, 6))
    ref = opensim_muscle_torque(twin, q, u, a)
    params = module.muscle_parameters([1], time_axis=True)  # (1, 1, M)
    ours = (
        muscle_torque(
            torch.tensor(q)[None], torch.tensor(u)[None], torch.tensor(a)[None], geometry, params
        )
        .torque[0]
        .detach()
        .numpy()
    )
    rel = np.sqrt(np.mean((ours - ref) ** 2)) / np.sqrt(np.mean(ref**2))
    assert rel < REL_TOL
    # ... and differs from the unpersonalised model (the test would not see a no-op export).
    plain = opensim_muscle_torque(load_muscle_twin(arm26_osim, muscles=MUSCLES), q, u, a)
    assert np.sqrt(np.mean((plain - ref) ** 2)) / np.sqrt(np.mean(ref**2)) > 0.05


def test_export_errors(cfg: dict, arm26_osim: Path, tmp_path: Path) -> None:
    module = PersonalisedParameters.from_config(cfg, 1, NOMINAL)
    subject = module.subject(0)
    target = tmp_path / "out.osim"
    bad_values = dict(subject.values)
    bad_values["optimal_fiber_length"] = np.array([1.0, 1.0, 1.5, 1.0, 1.0, 1.0])
    bad = SubjectParameters(subject.muscle_names, bad_values, subject.specs, subject.nominal)
    with pytest.raises(ParameterBoundsError, match="optimal_fiber_length of muscle 'BRA'"):
        export_personalised_osim(arm26_osim, bad, target)
    assert not target.exists()
    unknown = SubjectParameters(
        ("BIClong", "BICshort", "BRD", "TRIlong", "TRIlat", "TRImed"),
        subject.values,
        subject.specs,
        subject.nominal,
    )
    with pytest.raises(UnknownMuscleError, match=r"arm26\.osim: unknown muscle 'BRD'"):
        export_personalised_osim(arm26_osim, unknown, target)
    assert not target.exists()
    not_osim = tmp_path / "notes.osim"
    not_osim.write_text("<Notes/>")
    with pytest.raises(ValueError, match="not an OpenSim model"):
        export_personalised_osim(not_osim, subject, target)
    with pytest.raises(ValueError, match="no such file"):
        export_personalised_osim(tmp_path / "missing.osim", subject, target)
    assert not target.exists() and not list(tmp_path.glob(".out.osim*"))


def _opensim_default(osim: Path, coordinate: str) -> float:
    import opensim

    model = opensim.Model(str(osim))
    return model.getCoordinateSet().get(coordinate).getDefaultValue()


def test_export_writes_the_posture_the_subject_was_fitted_in(
    cfg: dict, arm26_osim: Path, tmp_path: Path
) -> None:
    """The held shoulder becomes the coordinate's default value as OpenSim reads it; a
    coordinate the model lacks is skipped, one it locks keeps the model's value."""
    pytest.importorskip("opensim")
    subject = PersonalisedParameters.from_config(cfg, 1, NOMINAL).subject(0)
    posture = {"r_shoulder_elev": 1.4, "pelvis_tilt": 0.2}
    out = export_personalised_osim(arm26_osim, subject, tmp_path / "S1.osim", posture)
    assert _opensim_default(out, "r_shoulder_elev") == pytest.approx(1.4, abs=1e-12)
    assert _opensim_default(out, "r_elbow_flex") == _opensim_default(arm26_osim, "r_elbow_flex")
    text = arm26_osim.read_text(encoding="utf-8")
    start = text.index('<Coordinate name="r_shoulder_elev">')
    end = text.index("<locked>false</locked>", start)
    locked = tmp_path / "locked.osim"
    locked.write_text(text[:end] + "<locked>true</locked>" + text[end + 22 :], encoding="utf-8")
    out = export_personalised_osim(locked, subject, tmp_path / "S2.osim", posture)
    assert _opensim_default(out, "r_shoulder_elev") == _opensim_default(locked, "r_shoulder_elev")
