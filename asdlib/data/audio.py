"""Loading DCASE clips: soundfile, mono, 16 kHz, one fixed length per batch.

The rules, applied in this order and never silently:

1. **Read** with soundfile as float32 in [-1, 1]. A file soundfile cannot open, a
   WAV whose header promises more data than the file holds (truncated), a clip
   with no samples, a floating-point clip holding NaN or infinite samples, or a
   dangling symbolic link raises :class:`DataError` naming the file as found in
   the data tree. A WAV written to a pipe declares the *streamed* size
   ``0xFFFFFFFF`` in its RIFF and/or ``data`` chunk header because the writer could
   not seek back to fill them in: such a file is read to its end, as soundfile
   reads it, and is not called truncated.
2. **Mono**: ``channel`` picks what a multi-channel file gives: an integer keeps
   that channel (``0`` is the left channel: DCASE published channel 0 of the MIMII
   microphone array, and the DCASE 2026 stereo clips hold the near microphone in
   channel 0, the far one in channel 1, where the official baseline keeps channel
   0), ``"mix"`` the mean of all channels. The default ``None`` keeps channel 0
   with a warning naming the file (:func:`load_clips` warns once per call, with
   the count); an explicit choice is silent, and a channel the file does not have
   is a :class:`DataError` naming the file and its channel count. Mono files are
   read as they are whatever ``channel`` says.
3. **16 kHz**: another rate is resampled with ``torchaudio.functional.resample``
   (band-limited sinc), with a warning naming the file and the rate.
4. **Fixed length**: every clip of a set is brought to ``n_samples`` =
   ``round(duration * sr)``. Longer clips keep their first ``n_samples``; shorter
   ones are extended by repeating the clip from its start (wrap-around), which
   keeps the spectral statistics of a stationary machine sound, where zero
   padding would add silence no machine makes. ``duration=None`` takes the
   longest clip of the set, read from the file headers before any audio is
   loaded (:func:`clip_seconds`): DCASE 2020 ToyCar clips stay 11 s, every other
   DCASE type 10 s, and a synthetic preset keeps its own length. Callers that
   load one machine type in chunks compute the duration once for the whole list
   so every chunk has the same length. When the longest clip is more than
   :data:`LONG_CLIP_RATIO` (1.5) times the median clip length, :func:`clip_seconds`
   warns naming the longest file(s) and the lengths: one stray 30 s recording
   would otherwise turn every 1 s clip into 30 repetitions of itself. (DCASE
   2020 ToyCar's 11 s next to 10 s clips is a ratio of 1.1: no warning.)
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import soundfile as sf

from asdlib.data.errors import DataError
from asdlib.utils import progress_bar

SAMPLE_RATE = 16_000

LONG_CLIP_RATIO = 1.5
""":func:`clip_seconds` warns when the longest clip exceeds this multiple of the median length."""

_STREAMED_SIZE = 0xFFFFFFFF  # the RIFF / data chunk size a WAV writer that cannot seek leaves behind


def _require_file(path: Path) -> None:
    """Raise DataError naming ``path`` (as given) when it is missing or a dangling link."""
    if path.is_file():
        return
    if path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        raise DataError(f"{path}: dangling symbolic link (it points to {target}, which does not exist)")
    raise DataError(f"{path}: audio file not found")


def clip_seconds(paths: Iterable[str | Path], sr: int = SAMPLE_RATE) -> float:
    """Length in seconds (at ``sr``) of the longest clip, from the file headers alone.

    Warns (naming the longest files and the median length) when the longest clip is
    more than :data:`LONG_CLIP_RATIO` times the median: every clip of the set would
    be brought to the outlier's length (rule 4 of the module doc).
    """
    lengths: list[tuple[float, str]] = []
    for p in paths:
        _require_file(Path(p))
        try:
            info = sf.info(str(p))
        except (RuntimeError, sf.LibsndfileError) as err:
            raise DataError(f"{p}: cannot read audio header ({err}); expected a 16-bit PCM WAV file") from err
        lengths.append((info.frames / info.samplerate, str(p)))
    longest = max((s for s, _ in lengths), default=0.0)
    if longest == 0.0:
        raise DataError("clip_seconds: no clips with audio given")
    median = float(np.median([s for s, _ in lengths]))
    if median > 0 and longest > LONG_CLIP_RATIO * median:
        long = sorted((x for x in lengths if x[0] > LONG_CLIP_RATIO * median), reverse=True)
        named = ", ".join(f"{p} ({s:.3g} s)" for s, p in long[:3]) + (
            f" and {len(long) - 3} more" if len(long) > 3 else "")
        warnings.warn(
            f"{named}: longer than {LONG_CLIP_RATIO}x the median clip length {median:.3g} s of "
            f"{len(lengths)} clips; every clip is brought to {longest:.3g} s (shorter ones repeated "
            "from their start). Remove the outlier or pass duration= to fix the length",
            stacklevel=2,
        )
    return round(longest * sr) / sr


def _check_wav_complete(path: Path) -> None:
    """Raise DataError if a RIFF/WAVE file's data chunk is shorter than its header says.

    libsndfile quietly reads what is there when a WAV file was cut short (an
    interrupted copy, a partial download); we want to know. A *streamed* WAV (RIFF
    or ``data`` size ``0xFFFFFFFF``, as written to a pipe) declares no size to
    check: its audio runs to the end of the file, which is what soundfile reads.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return  # not a plain RIFF WAVE file: leave it to soundfile
        if head[:4] == b"RF64":
            return  # 64-bit sizes live in a ds64 chunk; soundfile checks those
        streamed = struct.unpack("<I", head[4:8])[0] == _STREAMED_SIZE
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                if streamed or chunk_size == _STREAMED_SIZE:
                    return  # no size was declared: the data runs to the end of the file
                if pos + 8 + chunk_size > size:
                    raise DataError(
                        f"{path}: truncated WAV file: its header declares "
                        f"{chunk_size} bytes of audio but only {size - pos - 8} are present"
                    )
                return
            pos += 8 + chunk_size + (chunk_size & 1)
        raise DataError(f"{path}: WAV file has no 'data' chunk (expected RIFF/WAVE with audio data)")


Channel = int | str | None
"""What to keep of a multi-channel file: a channel index, ``"mix"`` (mean), or None (channel 0, warned)."""

NEAR_MIC, FAR_MIC = 0, 1
"""The channels of a DCASE 2026 stereo clip (near and far microphone)."""


def read_wav(path: str | Path, sr: int = SAMPLE_RATE, channel: Channel = None) -> np.ndarray:
    """Read one clip as a float32 mono array at ``sr`` Hz (rules 1-3 of the module doc)."""
    audio, n_channels = _read_wav(path, sr, channel)
    if n_channels > 1 and channel is None:
        warnings.warn(f"{path}: {n_channels} channels; keeping channel 0 (pass channel= to choose, "
                      "or channel='mix')", stacklevel=2)
    return audio


def _read_wav(path: str | Path, sr: int, channel: Channel) -> tuple[np.ndarray, int]:
    """The clip as read by the rules, and its channel count."""
    if channel is not None and channel != "mix" and not (isinstance(channel, (int, np.integer))
                                                         and not isinstance(channel, bool) and channel >= 0):
        raise ValueError(f"channel={channel!r}: give a channel index (0 near, 1 far microphone in DCASE 2026), "
                         "'mix' (the mean of the channels) or None")
    path = Path(path)
    _require_file(path)
    _check_wav_complete(path)
    try:
        with sf.SoundFile(str(path)) as fh:
            file_sr = fh.samplerate
            if fh.subtype == "PCM_16":  # DCASE's format: read int16 and scale, 6x faster than
                raw = fh.read(dtype="int16", always_2d=True)  # libsndfile's float path, same values
                audio = raw.astype(np.float32) * np.float32(1 / 32768)
            else:
                audio = fh.read(dtype="float32", always_2d=True)
                _check_finite(path, audio, file_sr)
    except (RuntimeError, sf.LibsndfileError) as err:  # LibsndfileError subclasses RuntimeError
        raise DataError(f"{path}: cannot read audio ({err}); expected a 16-bit PCM WAV file") from err
    if audio.shape[0] == 0:
        raise DataError(f"{path}: audio file holds no samples")
    n_channels = audio.shape[1]
    if n_channels > 1 and channel == "mix":
        audio = audio.mean(axis=1, dtype=np.float32)
    elif n_channels > 1:
        index = 0 if channel is None else int(channel)
        if index >= n_channels:
            raise DataError(f"{path}: channel={channel} asked for, but the file has {n_channels} channels")
        audio = np.ascontiguousarray(audio[:, index])
    else:
        audio = np.ascontiguousarray(audio[:, 0])
    if file_sr != sr:
        import torch
        import torchaudio.functional as AF

        warnings.warn(f"{path}: sample rate {file_sr} Hz; resampling to {sr} Hz", stacklevel=2)
        audio = AF.resample(torch.from_numpy(audio), file_sr, sr).numpy()
    return audio, n_channels


def _check_finite(path: Path, audio: np.ndarray, file_sr: int) -> None:
    """Raise DataError naming ``path`` if a floating-point clip holds NaN or infinite samples."""
    finite = np.isfinite(audio)
    if finite.all():
        return
    bad_frames = np.flatnonzero(~finite.all(axis=1))
    n_nan, n_inf = int(np.isnan(audio).sum()), int(np.isinf(audio).sum())
    raise DataError(
        f"{path}: {n_nan} NaN and {n_inf} infinite sample(s) in {len(bad_frames)} of {audio.shape[0]} "
        f"frames (first at {bad_frames[0] / file_sr:.3f} s); expected finite audio in [-1, 1]"
    )


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop to the first ``n_samples`` or extend by wrap-around (rule 4)."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    reps = -(-n_samples // len(audio))
    return np.tile(audio, reps)[:n_samples]


def load_clips(
    paths: Sequence[str | Path] | Iterable[str | Path],
    sr: int = SAMPLE_RATE,
    duration: float | None = None,
    progress: bool = False,
    channel: Channel = None,
) -> np.ndarray:
    """Load clips into one float32 array of shape (n_clips, n_samples).

    ``duration`` in seconds fixes the length (rule 4); ``None`` takes the longest
    clip of ``paths`` (:func:`clip_seconds`). ``channel``: rule 2 (one warning per call
    when None and some clips have several channels).
    """
    paths = list(paths)
    if not paths:
        raise DataError("load_clips: no files given")
    if duration is None:
        duration = clip_seconds(paths, sr)
    iterator = paths
    if progress:
        iterator = progress_bar(paths, desc="loading audio", unit="clip", leave=False)
    n = round(duration * sr)
    out = np.empty((len(paths), n), dtype=np.float32)
    multi = []
    for i, path in enumerate(iterator):  # one clip in memory at a time: its buffer is reused
        audio, n_channels = _read_wav(path, sr, channel)
        out[i] = fit_length(audio, n)
        if n_channels > 1:
            multi.append(str(path))
    if multi and channel is None:
        warnings.warn(f"{len(multi)} of {len(paths)} clips have several channels (e.g. {multi[0]}); keeping "
                      "channel 0 (the near microphone of DCASE 2026); pass channel= to choose, or channel='mix'",
                      stacklevel=2)
    return out


def load_central_crops(paths: Sequence[str | Path], seconds: float | None, sr: int = SAMPLE_RATE,
                       chunk: int = 512, channel: Channel = None) -> np.ndarray:
    """Clips as one float32 array (n_clips, n_samples), each cut to its central ``seconds``
    (None: the whole clip), after the set's length rule (:func:`clip_seconds`); at most
    ``chunk`` whole clips are held at a time."""
    paths = list(paths)
    full = clip_seconds(paths, sr)
    n = int(round((seconds or full) * sr))
    offset = (int(round(full * sr)) - n) // 2
    if n > int(round(full * sr)):
        raise ValueError(f"load_central_crops: a {seconds} s crop is longer than the clips ({full:g} s)")
    out = np.empty((len(paths), n), dtype=np.float32)
    for start in range(0, len(paths), chunk):
        block = load_clips(paths[start:start + chunk], sr=sr, duration=full, channel=channel)
        out[start:start + len(block)] = block[:, offset:offset + n]
    return out
