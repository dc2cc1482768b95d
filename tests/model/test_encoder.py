"""The transformer encoder: shapes, bounds, padding, positional encodings."""

from __future__ import annotations

import pytest
import torch

from nmm.model.encoder import NMMEncoder, sinusoidal_encoding


def net(**kw) -> NMMEncoder:
    torch.manual_seed(0)
    return NMMEncoder(
        n_inputs=8, n_outputs=6, d_model=16, n_heads=2, n_layers=1, dim_feedforward=32, **kw
    )


def test_outputs_are_bounded_for_any_input():
    x = torch.randn(3, 40, 8) * 1e3  # far outside the scaled input range
    with torch.no_grad():
        y = net()(x)
    assert y.shape == (3, 40, 6)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_output_bias_sets_the_resting_level():
    y = NMMEncoder(8, 6, d_model=16, n_heads=2, n_layers=1, output_bias=-2.0)
    torch.nn.init.zeros_(y.output.weight)
    out = y(torch.randn(2, 10, 8))
    assert torch.allclose(out, torch.sigmoid(torch.tensor(-2.0)).expand_as(out))


def test_padding_does_not_change_the_valid_part():
    m = net().eval()
    x = torch.randn(1, 30, 8)
    padded = torch.cat([x, torch.zeros(1, 10, 8)], dim=1)
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[:, 30:] = True
    with torch.no_grad():
        a = m(x)
        b = m(padded, mask)[:, :30]
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("pe", ["sinusoidal", "learned", "none"])
def test_positional_encodings(pe):
    assert net(positional_encoding=pe)(torch.randn(2, 12, 8)).shape == (2, 12, 6)


def test_sinusoidal_encoding_values():
    pe = sinusoidal_encoding(5, 4)
    assert torch.allclose(pe[:, 0], torch.sin(torch.arange(5.0)))
    assert torch.allclose(pe[:, 1], torch.cos(torch.arange(5.0)))


def test_bad_shapes_and_settings_raise():
    with pytest.raises(ValueError, match="shape"):
        net()(torch.randn(2, 10, 7))
    with pytest.raises(ValueError, match="divisible"):
        NMMEncoder(8, 6, d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="positional_encoding"):
        NMMEncoder(8, 6, positional_encoding="rotary")
