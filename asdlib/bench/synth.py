"""``asd bench synth``: how fast the synthetic generator writes a preset.

Generates the whole preset into a temporary folder (the real code path: planning,
rendering in worker processes, 16-bit WAV writes, CSVs) and prints clips per second
and the real-time factor. As a reference measured in the same run, it times the
generator's harmonic synthesis (one inverse-FFT wavetable read by interpolation)
against the naive sum of one sine per harmonic on the same clips.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from asdlib.data.synth import PRESETS, generate
from asdlib.data.synth import signals as S

TARGET_DEMO_SECONDS = 120.0


def _naive_harmonics(phase: np.ndarray, amps: np.ndarray, theta: np.ndarray) -> np.ndarray:
    k = np.arange(1, len(amps) + 1)
    return sum(a * np.sin(2 * np.pi * kk * phase + t) for a, kk, t in zip(amps, k, theta))


def bench_harmonics(n_clips: int = 8, seconds: float = 10.0, n_harmonics: int = 200, seed: int = 0) -> dict:
    """Wavetable harmonics vs a sum of sines: seconds per clip and the largest difference."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16_000)
    amps = 1.0 / np.arange(1, n_harmonics + 1)
    theta = rng.uniform(0, 2 * np.pi, n_harmonics)
    phase = S.phase_of(S.speed_profile(rng, n, 16_000, 30.0), 16_000, rng)
    t0 = time.perf_counter()
    for _ in range(n_clips):
        ours = S.harmonics(phase, amps, rng, theta)
    t_ours = (time.perf_counter() - t0) / n_clips
    t0 = time.perf_counter()
    for _ in range(max(1, n_clips // 4)):
        ref = _naive_harmonics(phase, amps, theta)
    t_ref = (time.perf_counter() - t0) / max(1, n_clips // 4)
    return {"ours_s": t_ours, "naive_s": t_ref, "speedup": t_ref / t_ours,
            "max_abs_diff": float(np.abs(ours - ref).max()), "n_harmonics": n_harmonics}


def bench_synth(preset: str = "demo", seed: int = 0, jobs: int | None = None, year: int = 2022) -> dict:
    """Generate ``preset`` into a temporary folder and print the throughput."""
    p = PRESETS[preset]
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="asd-bench-synth-") as tmp:
        t0 = time.perf_counter()
        root = generate(tmp + "/data", year=year, preset=preset, seed=seed, jobs=jobs, progress=True)
        wall = time.perf_counter() - t0
        n_clips = sum(1 for _ in root.rglob("*.wav"))
    harm = bench_harmonics(seed=seed)
    result = {
        "preset": preset, "year": year, "jobs": jobs, "clips": n_clips, "wall_s": wall,
        "clips_per_s": n_clips / wall, "realtime_factor": n_clips * p.duration / wall, "harmonics": harm,
    }
    print(f"\nasd bench synth: preset '{preset}' ({year} layout), {n_clips} clips of {p.duration:g} s, "
          f"{jobs} worker processes, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"  generator          {n_clips / wall:8.1f} clips/s   {wall:7.1f} s in all   "
          f"{result['realtime_factor']:.0f}x real time")
    if preset == "demo":
        verdict = "meets" if wall <= TARGET_DEMO_SECONDS else "misses"
        print(f"  target: demo preset in under {TARGET_DEMO_SECONDS:.0f} s -> {verdict} it "
              f"({wall / TARGET_DEMO_SECONDS:.2f} of the budget)")
    print(f"  harmonic synthesis ({harm['n_harmonics']} harmonics, 10 s): wavetable {harm['ours_s'] * 1e3:.1f} ms "
          f"vs sum of sines {harm['naive_s'] * 1e3:.1f} ms per clip -> {harm['speedup']:.1f}x, "
          f"max difference {harm['max_abs_diff']:.1e}")
    return result
