"""Raw surface EMG synthesised from muscle excitations.

The usual phenomenological model of surface EMG as amplitude-modulated band-limited Gaussian
noise (e.g. Hogan & Mann 1980; Clancy et al. 2002): per channel,

    emg(t) = g · e(t) · n(t) + noise(t) + powerline(t) + drift(t)

- ``e(t)``: the muscle's excitation (0-1), linearly interpolated to the EMG rate;
- ``g``: the subject's RMS amplitude at full excitation for that electrode (mV), which lumps
  electrode placement, skin and fat;
- ``n(t)``: unit-variance Gaussian noise shaped by the surface-EMG power spectrum of Shwedyk,
  Balasubramanian & Scott (1977), ``P(f) ∝ f_h⁴ f² / ((f² + f_l²)(f² + f_h²)²)`` (with
  f_l = 80 and f_h = 150 Hz it peaks at 84 Hz, median ~120 Hz), band-limited to 20-450 Hz by
  8th-order Butterworth magnitude responses applied in the frequency domain;
- ``noise``: white amplifier/electrode noise (µV RMS);
- ``powerline``: a 50 Hz sinusoid whose amplitude wanders slowly (±20 % at 0.1-0.3 Hz);
- ``drift``: baseline wander, a sum of sinusoids below ``drift_max_hz`` (electrode polarisation,
  movement), scaled to the given peak amplitude (µV);
- finally quantised to the ADC resolution.

Muscle fatigue (the longitudinal cohort, :mod:`nmm.synth.sessions`): as the muscle fibre
conduction velocity falls, the MUAPs stretch in time and the whole spectrum compresses,
``P_k(f) = P(f/k)/k`` with ``k = CV(t)/CV0`` (Lindström & Magnusson 1977, Proc IEEE 65:653;
Merletti, Knaflitz & De Luca 1990, J Appl Physiol 69:1810). :func:`fatigued_carrier` makes it
by time-warping the carrier: ``n_k(t) = n(φ(t))`` with ``φ(t) = ∫₀ᵗ k dt``, whose local
spectrum is ``P(f/k(t))/k(t)``; its power, and so the EMG amplitude, is unchanged, while the
median frequency scales by ``k``.

So the whole preprocessing chain (band-pass, notch, rectification, envelope, MVIC normalisation)
has something to remove. Deterministic for a given generator. Values in mV.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nmm.data.schema import Signal
from nmm.synth.config import rng
from nmm.synth.settings import EmgSettings, SynthSettings
from nmm.synth.subjects import SubjectTruth

__all__ = ["emg_carrier", "fatigued_carrier", "shwedyk_psd", "synthesize_emg", "trial_emg"]

UV_PER_MV = 1000.0
#: The fatigued carrier is drawn at this multiple of the EMG rate before the time warp, so that
#: linear interpolation attenuates its 450 Hz edge by under 1 % (sinc² at 450 / 8000 Hz).
WARP_OVERSAMPLING = 4


def shwedyk_psd(f: np.ndarray, f_low: float, f_high: float) -> np.ndarray:
    """Surface-EMG power spectrum shape of Shwedyk et al. (1977) at frequencies f (Hz), peak 1."""
    f = np.asarray(f, dtype=float)
    p = f_high**4 * f**2 / ((f**2 + f_low**2) * (f**2 + f_high**2) ** 2)
    grid = np.linspace(0.0, 10 * f_high, 4001)
    peak = np.max(f_high**4 * grid**2 / ((grid**2 + f_low**2) * (grid**2 + f_high**2) ** 2))
    return p / peak


def _butter_band_gain(f: np.ndarray, low: float, high: float, order: int = 8) -> np.ndarray:
    """Magnitude of a Butterworth band-pass (high-pass at low, low-pass at high) of `order`."""
    with np.errstate(divide="ignore"):
        hp = 1.0 / np.sqrt(1.0 + (low / np.maximum(f, 1e-12)) ** (2 * order))
    lp = 1.0 / np.sqrt(1.0 + (f / high) ** (2 * order))
    return hp * lp


def emg_carrier(
    g: np.random.Generator,
    n: int,
    rate_hz: float,
    *,
    f_low: float,
    f_high: float,
    band_hz: Sequence[float],
) -> np.ndarray:
    """(n,) unit-variance Gaussian noise with the Shwedyk spectrum, band-limited to band_hz."""
    white = g.standard_normal(n)
    spec = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1.0 / rate_hz)
    shape = np.sqrt(shwedyk_psd(f, f_low, f_high)) * _butter_band_gain(f, *band_hz)
    x = np.fft.irfft(spec * shape, n)
    return x / x.std()


def fatigued_carrier(g: np.random.Generator, k: np.ndarray, emg: EmgSettings) -> np.ndarray:
    """(n,) unit-variance carrier whose spectrum is compressed by the fatigue scale k (n,), on
    the EMG grid (``emg.rate_hz``): :func:`emg_carrier` drawn at :data:`WARP_OVERSAMPLING` times
    the rate and read at ``φ(t) = ∫₀ᵗ k dt`` (trapezoidal), so ``P_k(f) = P(f/k)/k``."""
    rate = emg.rate_hz
    phi = np.concatenate([[0.0], np.cumsum(0.5 * (k[1:] + k[:-1]))]) / rate  # s
    fine_rate = rate * WARP_OVERSAMPLING
    m = int(np.ceil(phi[-1] * fine_rate)) + 2
    base = emg_carrier(
        g,
        m,
        fine_rate,
        f_low=emg.spectrum_low_hz,
        f_high=emg.spectrum_high_hz,
        band_hz=emg.band_hz,
    )
    x = np.interp(phi, np.arange(m) / fine_rate, base)
    return x / x.std()


def synthesize_emg(
    g: np.random.Generator,
    time: np.ndarray,
    excitation: np.ndarray,
    channels: Sequence[str],
    subject: Any,
    emg: EmgSettings,
    fatigue_k: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw EMG of the measured channels.

    time: (N,) s of the excitations; excitation: (N, C) for ``channels`` (in [0, 1]);
    subject: has ``emg_gain_mv[channel]`` (mV), ``emg_noise_uv``, ``powerline_uv``, ``drift_uv``
    (µV); emg: the synthesis settings; fatigue_k: (N, C) fatigue scale ``k = CV/CV0`` on
    ``time`` (None: no fatigue, :func:`emg_carrier`; else :func:`fatigued_carrier`). Returns
    ``emg_time`` (T,) s from time[0] at ``emg.rate_hz`` up to time[-1], and the EMG (T, C) mV.
    """
    rate = emg.rate_hz
    n = int(np.floor((time[-1] - time[0]) * rate + 1e-9)) + 1
    t = time[0] + np.arange(n) / rate
    out = np.empty((n, len(channels)))
    for j, ch in enumerate(channels):
        e = np.interp(t, time, excitation[:, j])
        if fatigue_k is None:
            carrier = emg_carrier(
                g,
                n,
                rate,
                f_low=emg.spectrum_low_hz,
                f_high=emg.spectrum_high_hz,
                band_hz=emg.band_hz,
            )
        else:
            carrier = fatigued_carrier(g, np.interp(t, time, fatigue_k[:, j]), emg)
        signal = subject.emg_gain_mv[ch] * e * carrier
        noise = g.standard_normal(n) * subject.emg_noise_uv / UV_PER_MV
        pl_amp = subject.powerline_uv * g.uniform(0.5, 1.5) / UV_PER_MV
        wander = 1 + 0.2 * np.sin(2 * np.pi * g.uniform(0.1, 0.3) * t + g.uniform(0, 2 * np.pi))
        powerline = (
            pl_amp * wander * np.sin(2 * np.pi * emg.powerline_hz * t + g.uniform(0, 2 * np.pi))
        )
        drift = np.zeros(n)
        for _ in range(3):
            f_d = g.uniform(0.05, emg.drift_max_hz)
            drift += g.uniform(0.3, 1.0) * np.sin(2 * np.pi * f_d * t + g.uniform(0, 2 * np.pi))
        drift *= subject.drift_uv / UV_PER_MV / max(np.max(np.abs(drift)), 1e-12)
        out[:, j] = signal + noise + powerline + drift
    step = emg.resolution_uv / UV_PER_MV
    return t, np.round(out / step) * step


def trial_emg(
    settings: SynthSettings,
    seed: int,
    subject: SubjectTruth,
    trial_id: str,
    time: np.ndarray,
    excitation: np.ndarray,
    *,
    session: str | None = None,
    fatigue_k: np.ndarray | None = None,
) -> Signal:
    """The raw EMG (mV, at ``emg.rate_hz``) of a trial's measured muscles, from its stream
    ``(seed, 'emg', subject index, trial id)`` (``(..., trial id, 'session', session)`` for a
    session of the longitudinal cohort). time: (N,) s; excitation, fatigue_k (None: no
    fatigue): (N, M) of every muscle in ``settings.muscles``' order."""
    measured = list(settings.measured)
    idx = [settings.muscles.index(m) for m in measured]
    keys = () if session is None else ("session", session)
    g = rng(seed, "emg", subject.index, trial_id, *keys)
    k = None if fatigue_k is None else fatigue_k[:, idx]
    _, values = synthesize_emg(g, time, excitation[:, idx], measured, subject, settings.emg, k)
    return Signal.uniform(values, settings.emg.rate_hz, measured, "mV", kind="emg")
