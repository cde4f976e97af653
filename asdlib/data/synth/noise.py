"""Factory background noise: coloured noise, mains hum, distant machinery and clanks."""

from __future__ import annotations

import numpy as np

from asdlib.data.synth import signals as S


def factory_noise(rng: np.random.Generator, env: dict, n: int, sr: int) -> np.ndarray:
    """One clip of factory noise with unit RMS.

    ``env`` describes the hall (fixed per section): ``colour`` (spectral exponent
    of the broadband part), ``hum_hz`` (50 or 60 Hz mains), ``machinery_hz``
    (fundamental of a distant machine), ``clank_rate`` (random impacts per second).
    """
    broad = S.coloured_noise(rng, n, env["colour"])
    hum = S.harmonics(S.phase_of(np.full(n, env["hum_hz"]), sr, rng), np.array([1.0, 0.6, 0.3, 0.2]), rng)
    far = S.harmonics(
        S.phase_of(S.speed_profile(rng, n, sr, env["machinery_hz"], 0.01), sr, rng),
        1.0 / np.arange(1, 13), rng,
    )
    clanks = S.impulse_train(
        n, sr, S.poisson_times(rng, n / sr, env["clank_rate"]),
        1.0,
        S.resonance_kernel(sr, env["clank_hz"], 0.02),
    )
    x = broad + 0.25 * hum / S.rms(hum) + 0.35 * far / S.rms(far) + 1.5 * clanks
    return x / S.rms(x)


def make_environment(rng: np.random.Generator) -> dict:
    """Random but fixed properties of one factory hall."""
    return {
        "colour": float(rng.uniform(0.7, 1.6)),
        "hum_hz": float(rng.choice([50.0, 60.0])),
        "machinery_hz": float(rng.uniform(70, 260)),
        "clank_rate": float(rng.uniform(0.2, 1.0)),
        "clank_hz": float(rng.uniform(600, 2500)),
    }
