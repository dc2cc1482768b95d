"""The physics-informed loss: terms, allowable errors, masks."""

from __future__ import annotations

import pytest
import torch

from nmm.model.loss import LOSS_TERMS, PhysicsInformedLoss

ALLOW = {
    "emg": 0.05,
    "torque_nm": 2.0,
    "smoothness": 0.01,
    "synergy": 0.1,
    "effort": 0.5,
    "parameters": 0.25,
}


def batch(b=2, t=20, m=6):
    g = torch.Generator().manual_seed(0)
    env = torch.rand(b, t, m, generator=g)
    measured = torch.tensor([[True, True, False, True, True, False]] * b)
    valid = torch.ones(b, t, dtype=torch.bool)
    torque = torch.randn(b, t, generator=g)
    return env, measured, valid, torque


def test_perfect_fit_zeroes_data_and_torque_terms():
    env, measured, valid, torque = batch()
    loss = PhysicsInformedLoss(ALLOW, hidden=[2, 5])
    terms = loss(env, env, measured, valid, torque, torque)
    assert float(terms["emg"]) == 0.0 and float(terms["torque"]) == 0.0
    assert set(LOSS_TERMS) | {"total"} == set(terms)


def test_terms_scale_with_the_allowable_error():
    env, measured, valid, torque = batch()
    target = env + 0.1
    a = PhysicsInformedLoss(ALLOW)(env, target, measured, valid, torque, torque + 1.0)
    b = PhysicsInformedLoss({**ALLOW, "emg": 0.1, "torque_nm": 4.0})(
        env, target, measured, valid, torque, torque + 1.0
    )
    assert torch.isclose(a["emg"], torch.tensor(4.0)) and torch.isclose(b["emg"], torch.tensor(1.0))
    assert torch.isclose(a["torque"], 4 * b["torque"])


def test_unmeasured_muscles_and_padding_are_ignored():
    env, measured, valid, torque = batch()
    target = env.clone()
    target[..., 2] += 5.0  # BRA is not measured
    valid[:, 15:] = False
    target[:, 15:] += 5.0  # padding
    torque_target = torque.clone()
    torque_target[:, 15:] += 100.0
    terms = PhysicsInformedLoss(ALLOW)(env, target, measured, valid, torque, torque_target)
    assert float(terms["emg"]) == 0.0 and float(terms["torque"]) == 0.0


def test_burn_in_skips_the_first_samples_of_the_torque_term():
    env, measured, valid, torque = batch()
    target = torque.clone()
    target[:, :3] += 10.0
    terms = PhysicsInformedLoss(ALLOW, burn_in=3)(env, env, measured, valid, torque, target)
    assert float(terms["torque"]) == 0.0


def test_synergy_prior_pulls_hidden_towards_its_synergists():
    env, measured, valid, torque = batch()
    target = env.clone()
    env = env.clone()
    env[..., 2] = target[..., [0, 1]].mean(-1)  # BRA = mean of the biceps heads
    loss = PhysicsInformedLoss(ALLOW, hidden=[2], synergists={2: [0, 1]})
    assert float(loss(env, target, measured, valid, torque, torque)["synergy"]) == pytest.approx(0)
    env[..., 2] += 0.1
    assert float(loss(env, target, measured, valid, torque, torque)["synergy"]) == pytest.approx(
        1.0, rel=1e-5
    )


def test_charbonnier_synergy_penalty_is_quadratic_near_zero_and_linear_beyond():
    env, measured, valid, torque = batch()
    target = env.clone()
    loss = {
        kind: PhysicsInformedLoss(ALLOW, hidden=[2], synergists={2: [0, 1]}, synergy_penalty=kind)
        for kind in ("quadratic", "charbonnier")
    }

    def term(kind: str, offset: float) -> float:
        e = env.clone()
        e[..., 2] = target[..., [0, 1]].mean(-1) + offset  # deviation z = offset / 0.1
        return float(loss[kind](e, target, measured, valid, torque, torque)["synergy"])

    # by hand: 2(sqrt(1 + z²) - 1) is z² - z⁴/4 + ... near 0 and 2|z| - 2 + 1/|z| + ... far out
    assert term("charbonnier", 0.001) == pytest.approx(term("quadratic", 0.001), rel=1e-4)
    assert term("charbonnier", 0.1) == pytest.approx(2 * (2**0.5 - 1), rel=1e-5)
    assert term("charbonnier", 10.0) == pytest.approx(2 * (10001**0.5 - 1), rel=1e-5)
    assert term("quadratic", 10.0) == pytest.approx(1e4, rel=1e-5)
    with pytest.raises(ValueError, match="unknown synergy_penalty"):
        PhysicsInformedLoss(ALLOW, synergy_penalty="huber")


def test_parameter_prior_sums_over_parameters():
    env, measured, valid, torque = batch()
    dev = torch.full((2, 4), 0.25)
    scales = torch.full((4,), 0.25)
    terms = PhysicsInformedLoss(ALLOW)(env, env, measured, valid, torque, torque, dev, scales)
    assert float(terms["parameters"]) == pytest.approx(4.0)


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="missing"):
        PhysicsInformedLoss({"emg": 0.05})
    with pytest.raises(ValueError, match="> 0"):
        PhysicsInformedLoss({**ALLOW, "torque_nm": 0.0})
    with pytest.raises(ValueError, match="unknown loss terms"):
        PhysicsInformedLoss(ALLOW, weights={"physics": 1.0})


def test_mvic_term_scores_the_agonists_excitation_against_maximal_drive():
    """((u - u_max) / σ_mvic)² over the agonist samples of MVIC holds only; no mask, no term."""
    env, measured, valid, torque = batch()
    loss = PhysicsInformedLoss({**ALLOW, "mvic": 0.05}, mvic_excitation=0.95)
    excitation = torch.full_like(env, 0.9)  # one allowable error below u_max
    agonists = torch.zeros_like(env, dtype=torch.bool)
    agonists[0, 5:10, :3] = True
    excitation[1] = 0.0  # not agonists: ignored
    terms = loss(
        env, env, measured, valid, torque, torque, excitation=excitation, mvic_agonists=agonists
    )
    assert float(terms["mvic"]) == pytest.approx(1.0)
    valid[0, 5:10] = False  # padding is never scored
    terms = loss(
        env, env, measured, valid, torque, torque, excitation=excitation, mvic_agonists=agonists
    )
    assert float(terms["mvic"]) == 0.0
    assert float(loss(env, env, measured, valid, torque, torque)["mvic"]) == 0.0
    with pytest.raises(ValueError, match="mvic_excitation"):
        PhysicsInformedLoss(ALLOW, mvic_excitation=1.5)


def test_mvic_agonists_are_the_muscles_moving_the_joint_the_measured_way():
    from nmm.model.physics import mvic_agonists

    muscle_torques = torch.tensor([[[2.0, 1.0, -3.0]] * 4])  # two flexors, one extensor
    target = torch.tensor([[10.0, 10.0, -5.0, 10.0]])
    hold = torch.tensor([[True, True, True, False]])
    mask = mvic_agonists(muscle_torques, target, hold)
    assert mask[0, 0].tolist() == [True, True, False]
    assert mask[0, 2].tolist() == [False, False, True]  # an extension moment: the extensor
    assert not mask[0, 3].any()  # outside the hold


def test_synergy_prior_in_excitation_space_compares_gain_times_envelope():
    env, measured, valid, torque = batch()
    gain = torch.tensor([1.2, 1.2, 1.0, 1.0, 1.0, 1.0])
    env = env.clone()
    env[..., 2] = 1.2 * env[..., [0, 1]].mean(-1)  # BRA's excitation = the biceps' excitation
    loss = PhysicsInformedLoss(
        ALLOW, hidden=[2], synergists={2: [0, 1]}, synergy_space="excitation"
    )
    terms = loss(env, env, measured, valid, torque, torque, excitation=env * gain)
    assert float(terms["synergy"]) == pytest.approx(0.0, abs=1e-10)
    assert float(loss(env, env, measured, valid, torque, torque, excitation=env)["synergy"]) > 0.1
    with pytest.raises(ValueError, match="excitation"):
        loss(env, env, measured, valid, torque, torque)


def test_synergy_allowable_error_is_tighter_in_mvic_holds():
    env, measured, valid, torque = batch()
    target = env.clone()
    env = env.clone()
    env[..., 2] = target[..., [0, 1]].mean(-1) + 0.1
    loss = PhysicsInformedLoss({**ALLOW, "synergy_mvic": 0.05}, hidden=[2], synergists={2: [0, 1]})
    hold = torch.zeros_like(valid)
    free = loss(env, target, measured, valid, torque, torque, mvic_hold=hold)["synergy"]
    hold[:] = True
    held = loss(env, target, measured, valid, torque, torque, mvic_hold=hold)["synergy"]
    assert float(free) == pytest.approx(1.0, rel=1e-5) and float(held) == pytest.approx(
        4.0, rel=1e-5
    )


def test_the_synergy_shape_term_is_zero_for_a_constant_share_and_counts_its_changes():
    """A hidden envelope that is its synergists' mean times a constant (in the log-ratio's
    units, (ê_h + f) = g (s + f)) pays nothing; a ratio that steps by log 2 once in T samples
    pays (log 2 / σ_shape)² / (T - 1) per pair of consecutive samples."""
    t, f, sigma = 50, 0.05, 0.02
    s = 0.2 + 0.1 * torch.sin(torch.linspace(0, 6, t))
    env = torch.zeros(1, t, 3)
    env[0, :, 0] = s  # the measured synergist
    measured = torch.tensor([[True, False, False]])
    valid = torch.ones(1, t, dtype=torch.bool)
    torque = torch.zeros(1, t)
    allow = {**ALLOW, "synergy_shape": sigma}
    loss = PhysicsInformedLoss(allow, hidden=[1], synergists={1: [0]}, synergy_log_floor=f)
    env[0, :, 1] = 1.5 * (s + f) - f
    constant = loss(env, env, measured, valid, torque, torque)
    assert float(constant["synergy_shape"]) == pytest.approx(0.0, abs=1e-9)
    assert float(constant["synergy"]) > 0  # the level is the synergy term's business
    ratio = torch.where(torch.arange(t) < t // 2, 1.0, 2.0)
    env[0, :, 1] = ratio * (s + f) - f
    step = loss(env, env, measured, valid, torque, torque)
    expected = (torch.log(torch.tensor(2.0)) / sigma) ** 2 / (t - 1)
    assert float(step["synergy_shape"]) == pytest.approx(float(expected), rel=1e-4)
    off = PhysicsInformedLoss(ALLOW, hidden=[1], synergists={1: [0]}, synergy_log_floor=f)
    assert float(off(env, env, measured, valid, torque, torque)["synergy_shape"]) == 0.0
