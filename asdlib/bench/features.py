"""Benchmark: asdlib's batched log-mel against librosa one file at a time.

``bench_features()`` writes ``n_clips`` ten-second 16 kHz 16-bit WAV files of
machine-like audio (harmonics of a wobbling rotation frequency, coloured noise,
amplitude modulation) into a temporary folder, then times, in the same run and
interleaved over ``repeats`` rounds (best round kept for each path, so a burst of
load from other processes hurts neither side more than the other):

- **extraction only**: librosa ``melspectrogram`` + ``10*log10(max(mel, eps))``
  per in-memory clip, against asdlib's :func:`~asdlib.features.log_mel` on batches
  of the same in-memory clips (host-to-device copy included, device synchronised);
- **loading only**: ``librosa.load`` per file against
  :func:`asdlib.data.load_clips` in chunks;
- **load + extract**: the two above per file for librosa, against
  :func:`asdlib.features.extract` (no cache) end to end, which also reads every
  header for the clip length (and on a GPU reads files on background threads
  while it computes).

It also reports the largest absolute difference in dB between the two log-mels
over every clip, bin and frame. Both sides use the same settings (DCASE: n_fft
1024, hop 512, 128 mels, power 2, centred zero padding, Slaney mel) and the same
``eps``; librosa computes in float32 from float32 audio, as ``librosa.load``
returns it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from asdlib.data.audio import load_clips
from asdlib.features import LogMelConfig, extract, log_mel

SR = 16_000
CLIP_SECONDS = 10.0


def machine_like_audio(n_clips: int, n_samples: int, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Machine-like test clips, float32 (n_clips, n_samples), peak about 0.5.

    Per clip: a rotation frequency of 30-200 Hz with slow wobble, 12 harmonics with
    random amplitudes and phases, coloured (lowpass-filtered) background noise at
    a random level, and a slow amplitude modulation.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sr
    out = np.empty((n_clips, n_samples), dtype=np.float32)
    for i in range(n_clips):  # generation is not what is benchmarked
        f0 = rng.uniform(30.0, 200.0)
        wobble = 1.0 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t)
        phase = 2 * np.pi * np.cumsum(f0 * wobble) / sr
        k = np.arange(1, 13)[:, None]
        amps = rng.uniform(0.2, 1.0, size=(12, 1)) / k
        tones = (amps * np.sin(k * phase[None, :] + rng.uniform(0, 2 * np.pi, size=(12, 1)))).sum(0)
        alpha = rng.uniform(0.5, 0.95)
        noise = _one_pole(rng.standard_normal(n_samples), alpha)
        noise *= rng.uniform(0.05, 0.5) * tones.std() / (noise.std() + 1e-12)
        am = 1.0 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.2, 3.0) * t)
        x = tones * am + noise
        out[i] = (0.5 * x / np.abs(x).max()).astype(np.float32)
    return out


def _one_pole(x: np.ndarray, alpha: float) -> np.ndarray:
    """One-pole lowpass: y[n] = (1 - alpha) x[n] + alpha y[n - 1]."""
    from scipy.signal import lfilter

    return lfilter([1.0 - alpha], [1.0, -alpha], x)


def write_clips(folder: str | os.PathLike, audio: np.ndarray, sr: int = SR) -> list[Path]:
    """Write each row of ``audio`` as a 16-bit PCM WAV file; return the paths."""
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, clip in enumerate(audio):
        p = folder / f"section_00_source_train_normal_{i:04d}.wav"
        sf.write(p, clip, sr, subtype="PCM_16")
        paths.append(p)
    return paths


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _settle(seconds: float = 0.2) -> None:
    """Pause between timed phases so the previous phase's idle BLAS/OpenMP worker
    threads stop spinning and do not steal cycles from the next one."""
    time.sleep(seconds)


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def bench_features(
    n_clips: int = 64,
    device: str | torch.device = "cpu",
    seed: int = 0,
    batch_size: int | None = None,
    repeats: int = 3,
    threads: int | None = None,
    verbose: bool = True,
) -> dict:
    """Time asdlib's batched log-mel against librosa one file at a time; return the numbers.

    Returns a dict with ``extract_only``, ``load_only`` and ``load_and_extract``
    (each ``{"librosa_files_per_s", "asdlib_files_per_s", "speedup"}``),
    ``max_abs_diff_db``, and the settings and machine facts the numbers depend on.
    ``threads`` sets torch's intra-op threads for the run (restored afterwards;
    librosa's numpy/OpenBLAS threads are left alone). Prints a report when ``verbose``.
    """
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        result = _bench(n_clips, torch.device(device), seed, batch_size, repeats)
    finally:
        torch.set_num_threads(previous_threads)
    if verbose:
        print(format_report(result))
    return result


def _bench(n_clips: int, device: torch.device, seed: int, batch_size: int | None, repeats: int) -> dict:
    """The measurements of :func:`bench_features`."""
    import librosa

    from asdlib.features.extraction import default_batch_size

    cfg = LogMelConfig()
    bs = int(batch_size or default_batch_size(device))
    n_samples = round(CLIP_SECONDS * SR)
    load_before = os.getloadavg()

    def ref_extract(y: np.ndarray) -> np.ndarray:
        mel = librosa.feature.melspectrogram(
            y=y, sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels, power=cfg.power
        )
        return 10.0 * np.log10(np.maximum(mel, cfg.eps))

    with tempfile.TemporaryDirectory(prefix="asdlib-bench-features-") as tmp:
        paths = write_clips(tmp, machine_like_audio(n_clips, n_samples, SR, seed))
        str_paths = [str(p) for p in paths]

        # warm-up: librosa's first call builds caches, torch's first FFT plans; not timed
        ref_extract(librosa.load(str_paths[0], sr=cfg.sr)[0])
        extract(str_paths[: min(2, n_clips)], cfg, device=device, batch_size=bs, progress=False)
        _sync(device)

        phases = ("ref_load", "ref_ext", "ref_total", "ours_load", "ours_ext", "ours_e2e")
        times: dict[str, list[float]] = {k: [] for k in phases}
        ref_db = ours_db = None
        for _ in range(repeats):
            # librosa, one file at a time
            _settle()
            t_load = t_ext = 0.0
            ref_out = []
            for p in str_paths:
                dt, (y, _sr) = _timed(lambda p=p: librosa.load(p, sr=cfg.sr))
                t_load += dt
                dt, db = _timed(lambda y=y: ref_extract(y))
                t_ext += dt
                ref_out.append(db)
            times["ref_load"].append(t_load)
            times["ref_ext"].append(t_ext)
            times["ref_total"].append(t_load + t_ext)
            ref_db = np.stack(ref_out)

            # asdlib: loading only (chunks), then extraction only (batches of in-memory clips)
            _settle()
            dt, chunks = _timed(
                lambda: [load_clips(str_paths[i : i + bs], cfg.sr, CLIP_SECONDS) for i in range(0, n_clips, bs)]
            )
            times["ours_load"].append(dt)

            def ours_extract() -> list[torch.Tensor]:
                with torch.no_grad():
                    outs = [log_mel(torch.from_numpy(chunk).to(device), cfg) for chunk in chunks]
                _sync(device)
                return outs

            _settle()
            dt, _ = _timed(ours_extract)
            times["ours_ext"].append(dt)

            # asdlib end to end, as a notebook calls it (no cache)
            def ours_e2e() -> torch.Tensor:
                out = extract(str_paths, cfg, device=device, batch_size=bs, progress=False)
                _sync(device)
                return out

            _settle()
            dt, ours = _timed(ours_e2e)
            times["ours_e2e"].append(dt)
            ours_db = ours.double().cpu().numpy()

    best = {k: min(v) for k, v in times.items()}

    def row(ref_s: float, ours_s: float) -> dict:
        return {
            "librosa_files_per_s": n_clips / ref_s,
            "asdlib_files_per_s": n_clips / ours_s,
            "speedup": ref_s / ours_s,
        }

    result = {
        "n_clips": n_clips,
        "clip_seconds": CLIP_SECONDS,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "batch_size": bs,
        "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before[0],
        "loadavg_after": os.getloadavg()[0],
        "librosa_version": librosa.__version__,
        "torch_version": torch.__version__,
        "extract_only": row(best["ref_ext"], best["ours_ext"]),
        "load_only": row(best["ref_load"], best["ours_load"]),
        "load_and_extract": row(best["ref_total"], best["ours_e2e"]),
        "max_abs_diff_db": float(np.abs(ref_db - ours_db).max()),
        "seconds": {k: v for k, v in best.items()},
    }
    return result


def format_report(r: dict) -> str:
    """A human-readable report of :func:`bench_features`'s result."""
    lines = [
        f"log-mel benchmark: {r['n_clips']} clips of {r['clip_seconds']:g} s at 16 kHz, 16-bit WAV",
        f"  asdlib on {r['device']} ({r['device_name']}), batch {r['batch_size']}, "
        f"torch {r['torch_version']} with {r['torch_threads']} threads on {r['cpu_count']} CPUs; "
        f"librosa {r['librosa_version']}, one file at a time",
        f"  best of {r['repeats']} interleaved rounds; load average {r['loadavg_before']:.2f} before, "
        f"{r['loadavg_after']:.2f} after",
        "",
        f"  {'what is timed':<44}{'librosa':>12}{'asdlib':>12}{'ratio':>9}",
    ]
    for key, label in (
        ("extract_only", "extraction only (audio in memory)"),
        ("load_only", "loading only (WAV -> float32)"),
        ("load_and_extract", "load + extract (asdlib: extract(), no cache)"),
    ):
        row = r[key]
        lines.append(
            f"  {label:<44}{row['librosa_files_per_s']:>8.1f} f/s{row['asdlib_files_per_s']:>8.1f} f/s"
            f"{row['speedup']:>8.1f}x"
        )
    lines += ["", f"  largest |difference| between the two log-mels: {r['max_abs_diff_db']:.2e} dB"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m asdlib.bench.features [--n-clips N] [--device D] [--batch-size B]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    bench_features(args.n_clips, args.device, args.seed, args.batch_size, args.repeats, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
