"""Vectorised signal primitives for the synthetic machine sounds.

Every function takes the number of samples ``n`` and the rate ``sr`` and returns a
float64 array of shape (n,). Randomness comes only from the ``rng`` passed in, so a
clip is a pure function of its seed.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

TABLE_SIZE = 16384


def speed_profile(rng: np.random.Generator, n: int, sr: int, f0: float, wobble: float = 0.01,
                  wobble_hz: float = 0.3) -> np.ndarray:
    """Instantaneous frequency (Hz) of a rotating part: ``f0`` with a slow random drift.

    The drift is low-pass noise of relative size ``wobble`` (a motor under a
    varying load never turns at exactly one speed).
    """
    n_knots = max(4, int(n / sr * wobble_hz * 2) + 2)
    knots = rng.normal(0.0, wobble, n_knots)
    drift = np.interp(np.linspace(0, n_knots - 1, n), np.arange(n_knots), knots)
    return f0 * (1.0 + drift)


def phase_of(freq: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Running phase in cycles (not radians) of an instantaneous frequency, random start."""
    return np.cumsum(freq) / sr + rng.random()


def harmonics(phase: np.ndarray, amps: np.ndarray, rng: np.random.Generator,
              shape_phases: np.ndarray | None = None) -> np.ndarray:
    """Sum of harmonics ``sum_k amps[k] sin(2 pi (k+1) phase + theta_k)``.

    Computed through a one-period wavetable built by an inverse FFT and read with
    linear interpolation, so the cost does not grow with the number of harmonics
    (the caller keeps ``len(amps) * f0`` below Nyquist).
    """
    amps = np.asarray(amps, dtype=float)
    theta = rng.uniform(0, 2 * np.pi, len(amps)) if shape_phases is None else shape_phases
    spec = np.zeros(TABLE_SIZE // 2 + 1, dtype=complex)
    spec[1:len(amps) + 1] = (TABLE_SIZE / 2) * amps * (-1j) * np.exp(1j * theta)
    table = np.fft.irfft(spec, TABLE_SIZE)
    table = np.append(table, table[0])
    pos = (phase % 1.0) * TABLE_SIZE
    idx = pos.astype(np.int64)
    frac = pos - idx
    return table[idx] * (1.0 - frac) + table[idx + 1] * frac


def coloured_noise(rng: np.random.Generator, n: int, exponent: float = 1.0) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    f = np.arange(n // 2 + 1, dtype=float)
    f[0] = 1.0
    spec *= f ** (-exponent / 2)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12)


def band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float, order: int = 4) -> np.ndarray:
    """White noise band-passed to [lo, hi] Hz (Butterworth), unit RMS."""
    hi = min(hi, 0.45 * sr)
    sos = sps.butter(order, [lo, hi], btype="bandpass", fs=sr, output="sos")
    x = sps.sosfilt(sos, rng.normal(size=n))
    return x / (np.std(x) + 1e-12)


def resonance_kernel(sr: int, freq: float, decay_s: float, length_s: float | None = None) -> np.ndarray:
    """Impulse response of a struck structure: an exponentially decaying sinusoid."""
    length_s = length_s or 5 * decay_s
    t = np.arange(int(length_s * sr)) / sr
    return np.exp(-t / decay_s) * np.sin(2 * np.pi * freq * t)


def impulse_train(n: int, sr: int, times: np.ndarray, amps: np.ndarray | float, kernel: np.ndarray) -> np.ndarray:
    """Impacts at ``times`` (s) with amplitudes ``amps``, each ringing with ``kernel``."""
    impulses = np.zeros(n)
    idx = np.round(np.asarray(times) * sr).astype(np.int64)
    keep = (idx >= 0) & (idx < n)
    np.add.at(impulses, idx[keep], np.broadcast_to(amps, idx.shape)[keep])
    return sps.oaconvolve(impulses, kernel)[:n]


def periodic_times(rng: np.random.Generator, duration: float, period: float, jitter: float = 0.0) -> np.ndarray:
    """Event times every ``period`` s from a random start, each jittered by ``jitter`` * period."""
    start = rng.uniform(0, period)
    times = np.arange(start, duration, period)
    return times + rng.normal(0.0, jitter * period, len(times))


def poisson_times(rng: np.random.Generator, duration: float, rate_hz: float) -> np.ndarray:
    """Random event times of a Poisson process with ``rate_hz`` events per second."""
    count = rng.poisson(rate_hz * duration)
    return np.sort(rng.uniform(0, duration, count))


def envelope(n: int, sr: int, segments: list[tuple[float, float, float]], ramp_s: float = 0.02) -> np.ndarray:
    """A 0..1 gate that is on over each (start_s, end_s, level) segment, with short ramps."""
    env = np.zeros(n)
    for start, end, level in segments:
        i0, i1 = max(0, int(start * sr)), min(n, int(np.ceil(end * sr)) + 1)
        if i1 <= i0:
            continue
        t = np.arange(i0, i1) / sr
        gate = level * np.minimum(np.clip((t - start) / ramp_s, 0, 1), np.clip((end - t) / ramp_s, 0, 1))
        env[i0:i1] = np.maximum(env[i0:i1], gate)
    return env


def lowpass(x: np.ndarray, sr: int, cutoff: float, order: int = 2) -> np.ndarray:
    """Butterworth low-pass (a microphone further away hears fewer highs)."""
    sos = sps.butter(order, min(cutoff, 0.45 * sr), btype="lowpass", fs=sr, output="sos")
    return sps.sosfilt(sos, x)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


def db_to_gain(db: float) -> float:
    return float(10 ** (db / 20))
