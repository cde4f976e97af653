"""Batched torch features on CPU or GPU, cached on disk.

Typical use, once per machine type::

    from asdlib.features import extract, LogMelConfig, stack_frames

    mels = extract(train_paths, LogMelConfig(), device="cuda", cache_dir="cache/features")
    vectors = stack_frames(mels)          # (n_clips, 309, 640) for the DCASE AE

Waveform -> feature functions (``(B, n_samples)`` in, any device):

- :func:`log_mel` / :class:`LogMelConfig` -- DCASE log-mel, matches librosa (< 1e-3 dB);
- :func:`magnitude_stft` / :class:`StftConfig` -- |STFT| (Wilkinghoff's 311 x 513);
- :func:`clip_spectrum` / :class:`SpectrumConfig` -- |FFT| of the whole clip, first half.

Spectrogram reshaping (``(B, F, T)`` in): :func:`stack_frames`, :func:`patches`,
:func:`temporal_mean_norm`; :func:`patch_clips` / :class:`ClipPatches` (the patches of
:func:`patches`, cut batch by batch when taken).
"""

from asdlib.features.extraction import extract
from asdlib.features.frames import ClipPatches, patch_clips, patches, stack_frames, temporal_mean_norm
from asdlib.features.spectral import (
    LogMelConfig,
    SpectrumConfig,
    StftConfig,
    clip_spectrum,
    log_mel,
    magnitude_stft,
    mel_power,
    slaney_mel_filterbank,
)

__all__ = [
    "ClipPatches",
    "LogMelConfig",
    "SpectrumConfig",
    "StftConfig",
    "clip_spectrum",
    "extract",
    "log_mel",
    "magnitude_stft",
    "mel_power",
    "patch_clips",
    "patches",
    "slaney_mel_filterbank",
    "stack_frames",
    "temporal_mean_norm",
]
