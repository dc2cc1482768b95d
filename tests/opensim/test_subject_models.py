"""Per-subject models (issue 20, item 2): each subject's elbow from its own scaled ``.osim``.

Scaled variants of arm26 are written here with OpenSim's own ``Model.scale`` (what the
ScaleTool applies); each subject's torch geometry must follow its model as OpenSim computes it
(``Muscle::computeMomentArm`` at a few angles), its nominal muscle parameters and forearm must
be its model's, subjects sharing a file's content share one sampling, a welded or locked
shoulder needs no override of ``physics.locked``, and a model that lacks a muscle is refused
naming the subject and the file.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nmm.config import CONF_DIR
from nmm.model.physics import PersonalisedElbow
from nmm.model.settings import NMMSettings
from nmm.opensim import torch_elbow
from nmm.opensim.geometry_sampling import OsimModelError
from nmm.opensim.torch_elbow import elbow_from_config, subject_elbows
from nmm.physics.elbow import ArmParameters, inverse_dynamics_torque

osim = pytest.importorskip("opensim", reason="OpenSim 4.6 (pip 'opensim') is not installed")

from nmm.opensim.arm_model import ArmModelSpec, build_arm_model  # noqa: E402  (needs OpenSim)
from nmm.opensim.elbow_twin import (  # noqa: E402
    grip_lever_arms,
    opensim_inverse_dynamics,
    opensim_muscle_torque,
)
from tests.opensim.opensim_reference import opensim_muscle_table  # noqa: E402
from tests.opensim.scaled_models import scaled_arm26  # noqa: E402

ANGLES = (0.2, 0.9, 1.6, 2.1)  # rad, inside arm26's elbow range
SCALES = {"S01": 0.9, "S02": 1.12}  # uniform segment scale factors of the two variants
F0_FACTOR = 1.3  # S02's muscles are also 30 % stronger in its file


@pytest.fixture(scope="module")
def variants(arm26_osim: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("subject_models")
    out = {
        "S01": scaled_arm26(arm26_osim, root / "S01_scaled.osim", SCALES["S01"]),
        "S02": scaled_arm26(arm26_osim, root / "S02_scaled.osim", SCALES["S02"], F0_FACTOR),
    }
    out["S03"] = Path(shutil.copy(out["S02"], root / "S03_copy_of_S02.osim"))
    out["S04"] = Path(shutil.copy(arm26_osim, root / "S04_arm26.osim"))
    return out


@pytest.fixture(scope="module")
def elbows(physics: dict, variants: dict[str, Path]):
    models = {**{s: str(p) for s, p in variants.items()}, "S05": None}
    return subject_elbows(physics, models)


def _opensim_moment_arms(path: Path, muscles: list[str]) -> np.ndarray:
    """``(len(ANGLES), M)`` moment arms (m) by OpenSim at arm26's held shoulder (0 rad)."""
    return opensim_muscle_table(
        path, ANGLES, muscles, lambda m, state, elbow: m.computeMomentArm(state, elbow)
    )


def test_each_subject_has_its_models_geometry(elbows, variants: dict[str, Path]) -> None:
    muscles = list(elbows.muscle_names)
    theta = torch.tensor(ANGLES, dtype=torch.float64)
    torch_arms = {}
    for subject in ("S01", "S02"):
        got = elbows[subject].geometry.moment_arms(theta).numpy()
        want = _opensim_moment_arms(variants[subject], muscles)
        np.testing.assert_allclose(got, want, atol=2e-4)  # the fit's error, well under 1 mm
        torch_arms[subject] = got
    # the two scaled arms differ by far more than that (scales 0.9 and 1.12: ~20 %)
    assert np.max(np.abs(torch_arms["S02"] - torch_arms["S01"])) > 3e-3


def test_subjects_share_models_by_content(elbows, variants: dict[str, Path]) -> None:
    assert elbows["S03"] is elbows["S02"]  # same content at another path: one elbow
    assert elbows["S04"] is elbows.default  # arm26's content: the configured elbow
    assert elbows["S05"] is elbows.default  # no model of its own
    assert elbows["S01"] is not elbows["S02"]
    assert elbows.models == {s: str(variants[s].resolve()) for s in ("S01", "S02", "S03")}
    assert len(elbows.distinct(["S01", "S02", "S03", "S04", "S05"])) == 3


def test_a_shared_model_is_sampled_once(
    physics: dict, variants: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = torch_elbow.sample_elbow_geometry

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(torch_elbow, "sample_elbow_geometry", counting)
    shared = {f"P{k:02d}": str(variants["S02"]) for k in range(6)}
    out = subject_elbows(physics, shared)
    assert len(out.distinct(shared)) == 1
    assert calls == ["arm26.osim", "S02_scaled.osim"]  # the configured one and the shared one


def test_nominal_parameters_and_forearm_are_the_models(
    elbows, variants: dict[str, Path], arm26_osim: Path, physics: dict
) -> None:
    model = osim.Model(str(variants["S02"]))
    model.initSystem()
    muscles = model.getMuscles()
    names = list(elbows.muscle_names)
    f0 = [muscles.get(m).getMaxIsometricForce() for m in names]
    l_opt = [muscles.get(m).getOptimalFiberLength() for m in names]
    nominal = elbows["S02"].muscle_parameters
    np.testing.assert_allclose(torch.as_tensor(nominal.max_isometric_force).numpy(), f0)
    np.testing.assert_allclose(torch.as_tensor(nominal.optimal_fiber_length).numpy(), l_opt)
    default_f0 = torch.as_tensor(elbows.default.muscle_parameters.max_isometric_force).numpy()
    np.testing.assert_allclose(np.asarray(f0) / default_f0, F0_FACTOR)
    arm = elbows["S02"].arm
    assert float(arm.forearm_mass) == pytest.approx(
        model.getBodySet().get("r_ulna_radius_hand").getMass()
    )
    # the COM moves with the scaled segment, and the grip with it (0.30 m in arm26)
    reference = float(elbows["S01"].arm.forearm_com_distance) / SCALES["S01"]
    assert float(arm.forearm_com_distance) == pytest.approx(reference * SCALES["S02"], rel=1e-9)
    assert reference == pytest.approx(0.181479, rel=1e-3)  # arm26, physics.forearm.com_m
    assert elbows["S02"].load_lever_arm == pytest.approx(0.30 * SCALES["S02"], rel=1e-9)
    assert elbows.default.load_lever_arm is None  # the configured physics.load.lever_arm_m
    # nmm-validate's torch-free reading gives the same grip
    models = {"S02": str(variants["S02"]), "S05": None}
    levers = grip_lever_arms(arm26_osim, 0.30, models, locked=physics["locked"])
    assert levers == {"S02": pytest.approx(elbows["S02"].load_lever_arm, rel=1e-12)}


def test_personalised_elbow_uses_each_rows_model(physics: dict, elbows) -> None:
    settings = NMMSettings.from_mapping(
        {"physics": physics, "preprocess": {"resample_hz": 100.0}, "model": _model_node()}
    )
    ids = ["S01", "S05", "S02"]
    torch.manual_seed(0)
    model = PersonalisedElbow.from_settings(settings, elbows, ids).double()
    table = model.parameters_table
    with torch.no_grad():
        table.raw.add_(0.3 * torch.randn_like(table.raw))  # factors away from 1
    with torch.no_grad():
        f0 = table.muscle_parameters().max_isometric_force  # (S, M) = factor × each row's F0
        factors = table.values()["max_isometric_force"]
    for row, s in enumerate(ids):
        nominal = torch.as_tensor(elbows[s].muscle_parameters.max_isometric_force).double()
        torch.testing.assert_close(f0[row], factors[row] * nominal)
        exported = table.subject(row).osim_properties()  # what the personalised .osim gets
        assert exported["BIClong"]["max_isometric_force"] == pytest.approx(float(f0[row, 0]))

    t = torch.linspace(0.0, 1.0, 50, dtype=torch.float64)
    angle = (1.0 + 0.5 * torch.sin(3 * t)).expand(4, -1)
    velocity = (1.5 * torch.cos(3 * t)).expand(4, -1)
    envelopes = 0.2 + 0.1 * torch.rand(4, 50, len(elbows.muscle_names), dtype=torch.float64)
    rows = [2, 0, 1, 2]  # a mixed batch, out of order
    with torch.no_grad():
        out = model(envelopes, rows, angle, velocity)
        for b, row in enumerate(rows):
            alone = model(envelopes[b : b + 1], [row], angle[b : b + 1], velocity[b : b + 1])
            mp = table.muscle_parameters([row], time_axis=True)
            own = elbows[ids[row]]
            mine = own.muscle_torque(angle[b : b + 1], velocity[b : b + 1], alone[1], mp)
            torch.testing.assert_close(out.torque[b], mine.torque[0])
            torch.testing.assert_close(out.muscle_torques[b], mine.muscle_torques[0])
    assert not torch.allclose(out.torque[0], out.torque[2])  # S02's and S01's arms differ


def _model_node() -> dict:
    node = OmegaConf.load(Path(CONF_DIR) / "model" / "nmm.yaml")
    return OmegaConf.to_container(node, resolve=False)


def _welded(arm26: Path, path: Path, elevation: float) -> Path:
    """arm26 with its shoulder welded at ``elevation`` (rad): no ``r_shoulder_elev``."""
    spec = ArmModelSpec(osim_path=str(arm26), shoulder_elevation=elevation, base_tilt=0.0)
    build_arm_model(spec).printToXML(str(path))
    return path


def test_a_welded_shoulder_needs_no_override(
    physics: dict, arm26_osim: Path, tmp_path: Path
) -> None:
    welded = _welded(arm26_osim, tmp_path / "welded.osim", elevation=0.5)
    assert physics["locked"] == {"r_shoulder_elev": 0.0}  # the default config, unchanged
    elbows = subject_elbows(physics, {"W01": str(welded)})
    own = elbows["W01"]
    # the torch inverse dynamics of its arm is OpenSim's, the upper arm at its welded pose
    q = np.array([0.3, 1.0, 1.8])
    zeros = np.zeros_like(q)
    want = opensim_inverse_dynamics(
        welded, zeros, q, zeros, zeros, locked=physics["locked"], include_passive=False
    )

    def torch_id(arm) -> np.ndarray:
        th = torch.tensor(q)
        return inverse_dynamics_torque(
            th, torch.zeros(3), torch.zeros(3), arm, include_passive=False
        ).numpy()

    np.testing.assert_allclose(torch_id(own.arm), want, rtol=1e-6, atol=1e-6)
    # as the configured model too: its pose, not physics.locked's 0 rad, orients gravity (the
    # forearm's numbers are the config's, arm26's, as in this model: within the planar
    # idealisation's 0.3 %)
    configured = elbow_from_config({**physics, "osim": str(welded)})
    np.testing.assert_allclose(torch_id(configured.arm), want, rtol=5e-3)
    hanging = torch_id(ArmParameters.from_mapping(physics))  # what ψ = 0 would have given
    assert np.max(np.abs(hanging - want) / np.abs(want)) > 0.1


def _edited(src: Path, dst: Path, edit) -> Path:
    tree = ET.parse(src)
    edit(tree.getroot())
    tree.write(dst)
    return dst


def test_a_shoulder_locked_in_the_model_stays_there(
    physics: dict, arm26_osim: Path, tmp_path: Path
) -> None:
    def lock(root: ET.Element) -> None:
        coord = next(c for c in root.iter("Coordinate") if c.get("name") == "r_shoulder_elev")
        coord.find("default_value").text = "0.4"
        coord.find("locked").text = "true"

    locked = _edited(arm26_osim, tmp_path / "locked.osim", lock)
    elbows = subject_elbows(physics, {"L01": str(locked)})
    own = elbows["L01"]
    assert own.geometry.source["locked"] == {"r_shoulder_elev": 0.4}
    assert float(own.arm.shoulder_elevation) == pytest.approx(0.4)
    # the geometry at the model's 0.4 rad, not the config's 0: OpenSim's moment arms there
    model = osim.Model(str(locked))
    state = model.initSystem()
    elbow = model.getCoordinateSet().get("r_elbow_flex")
    elbow.setValue(state, 1.2)
    model.realizePosition(state)
    want = model.getMuscles().get("TRIlong").computeMomentArm(state, elbow)
    got = own.geometry.moment_arms(1.2)[list(own.muscle_names).index("TRIlong")]
    assert float(got) == pytest.approx(want, abs=2e-4)


def test_a_subject_model_without_a_muscle_names_subject_and_file(
    physics: dict, arm26_osim: Path, tmp_path: Path
) -> None:
    def drop_bra(root: ET.Element) -> None:
        for objects in root.iter("objects"):
            for el in list(objects):
                if el.get("name") == "BRA":
                    objects.remove(el)

    lacking = _edited(arm26_osim, tmp_path / "S07_no_bra.osim", drop_bra)
    with pytest.raises(OsimModelError, match=r"subject S07.*no muscle named 'BRA'") as info:
        subject_elbows(physics, {"S06": None, "S07": str(lacking)})
    assert "S07_no_bra.osim" in str(info.value)
    missing = tmp_path / "absent.osim"
    with pytest.raises(OsimModelError, match=r"absent\.osim: model of subject S08: no such file"):
        subject_elbows(physics, {"S08": str(missing)})


def test_a_model_already_of_the_twins_muscle_class_validates(
    physics: dict, arm26_osim: Path, tmp_path: Path
) -> None:
    """A subject's model built for Moco (DeGrooteFregly2016 muscles, fibre damping 0.01) is its
    own OpenSim twin: the muscles are kept (OpenSim refuses to replace them), with the
    properties the torch model does not read at their defaults, so both torques agree."""
    moco = _welded(arm26_osim, tmp_path / "moco.osim", elevation=0.0)
    own = subject_elbows(physics, {"M01": str(moco)})["M01"]
    muscles = list(own.muscle_names)
    q = np.linspace(0.2, 2.0, 12)
    qd = 6.0 * np.cos(3 * q)  # fast, lightly active: where fibre damping shows
    act = 0.02 + 0.05 * np.abs(np.sin(np.outer(q, np.arange(1, len(muscles) + 1))))
    want = opensim_muscle_torque(moco, q, qd, act, muscles=muscles, locked=physics["locked"])
    got = own.muscle_torque(torch.tensor(q), torch.tensor(qd), torch.tensor(act)).torque.numpy()
    rel = np.sqrt(np.mean((got - want) ** 2) / np.mean(want**2))
    assert rel < 2e-3, rel  # the geometry fit's error; the model's 0.01 fibre damping: > 1 %
