"""The compiled Euler activation kernel against the autograd loop it replaces and against
finite differences (torch.autograd.gradcheck)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from nmm.physics.activation import (
    activation_nonlinearity,
    apply_electromechanical_delay,
    excitation_to_activation,
    integrate_activation,
)

SHAPES = [
    # excitation, tau_act, tau_deact, initial activation (None: the first excitation sample)
    ((3, 40, 4), (3, 4), (4,), None),
    ((40, 2), (), (2,), (2,)),
    ((2, 1, 30, 3), (5, 3), (), (5, 3)),  # batch broadcast between excitation and parameters
    ((2, 1, 3), (3,), (), None),  # a single sample: the initial activation only
]


def _inputs(shapes, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    e_shape, ta_shape, td_shape, a0_shape = shapes
    e = torch.rand(e_shape, generator=g, dtype=dtype)
    ta = 0.008 + 0.02 * torch.rand(ta_shape, generator=g, dtype=dtype)
    td = 0.03 + 0.05 * torch.rand(td_shape, generator=g, dtype=dtype)
    a0 = None if a0_shape is None else torch.rand(a0_shape, generator=g, dtype=dtype)
    tensors = [x.requires_grad_() for x in (e, ta, td, a0) if x is not None]
    return e, ta, td, a0, tensors


def _run(compiled, e, ta, td, a0, substeps=2, smoothing=10.0):
    return integrate_activation(
        e,
        0.01,
        ta,
        td,
        smoothing,
        initial_activation=a0,
        method="euler",
        substeps=substeps,
        compiled=compiled,
    )


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("substeps", [1, 3])
def test_compiled_equals_the_autograd_loop_values_and_gradients(shapes, substeps) -> None:
    e, ta, td, a0, tensors = _inputs(shapes)
    fast = _run(True, e, ta, td, a0, substeps)
    slow = _run(False, e, ta, td, a0, substeps)
    assert fast.shape == slow.shape
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-14)
    weights = torch.randn(slow.shape, generator=torch.Generator().manual_seed(1), dtype=slow.dtype)
    # a single sample never reaches the time constants: the loop leaves them out of its graph
    unused = {"allow_unused": True, "materialize_grads": True}
    g_fast = torch.autograd.grad((fast * weights).sum(), tensors, **unused)
    g_slow = torch.autograd.grad((slow * weights).sum(), tensors, **unused)
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_compiled_gradients_match_finite_differences() -> None:
    e, ta, td, a0, _ = _inputs(((2, 9, 3), (2, 3), (3,), (2, 3)))

    def fn(e, ta, td, a0):
        return _run(True, e, ta, td, a0, substeps=2, smoothing=4.0)

    assert torch.autograd.gradcheck(fn, (e, ta, td, a0))


def test_float32_kernel_tracks_the_float32_loop() -> None:
    e, ta, td, a0, _ = _inputs(((8, 100, 6), (8, 6), (6,), None), dtype=torch.float32)
    torch.testing.assert_close(_run(True, e, ta, td, a0), _run(False, e, ta, td, a0))
    assert _run(True, e, ta, td, a0).dtype == torch.float32


def test_full_chain_gradients_through_delay_and_shape_factor() -> None:
    """Delay and shape factor stay torch ops around the kernel; the chain's gradients equal
    those of the same chain built on the autograd loop."""
    e, ta, td, _, _ = _inputs(((2, 25, 3), (2, 3), (3,), None))
    delay = torch.tensor([0.012, 0.031, 0.0], dtype=torch.float64, requires_grad=True)
    shape = torch.tensor([-1.2, -0.3, -0.05], dtype=torch.float64, requires_grad=True)
    inputs = (e, ta, td, delay, shape)
    fast = excitation_to_activation(
        e, 0.01, delay, ta, td, 10.0, shape_factor=shape, method="euler", substeps=2
    )
    delayed = apply_electromechanical_delay(e, delay, 0.01)
    slow = activation_nonlinearity(_run(False, delayed, ta, td, None), shape)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-14)
    g_fast = torch.autograd.grad(fast.sum(), inputs)
    g_slow = torch.autograd.grad(slow.sum(), inputs)
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_non_contiguous_excitation() -> None:
    e = torch.rand(3, 4, 20, dtype=torch.float64).transpose(1, 2)  # (3, 20, 4), strided
    assert not e.is_contiguous()
    torch.testing.assert_close(
        _run(True, e, 0.015, 0.06, None), _run(False, e, 0.015, 0.06, None), rtol=0, atol=1e-14
    )


def test_runs_where_numba_finds_no_place_for_its_cache() -> None:
    """With no cache locator (a read-only install and no usable home) numba raises at
    decoration; the kernel then compiles per process instead of failing the import."""
    code = textwrap.dedent(
        """
        import numba.core.caching
        numba.core.caching.CacheImpl._locator_classes = []  # numba finds no writable place
        import torch
        from nmm.physics.activation import integrate_activation
        e = torch.rand(2, 6, 3, dtype=torch.float64)
        a = integrate_activation(e, 0.01, 0.015, 0.06, 10.0, method="euler", substeps=2)
        b = integrate_activation(
            e, 0.01, 0.015, 0.06, 10.0, method="euler", substeps=2, compiled=False
        )
        assert torch.allclose(a, b, rtol=0, atol=1e-14)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
