"""asdlib.features: agreement with librosa, shapes, frame layouts, the disk cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asdlib.data.audio import load_clips
from asdlib.bench.features import write_clips
from asdlib.features import (
    LogMelConfig,
    SpectrumConfig,
    StftConfig,
    clip_spectrum,
    extract,
    log_mel,
    magnitude_stft,
    patches,
    slaney_mel_filterbank,
    stack_frames,
    temporal_mean_norm,
)
from asdlib.features import cache as feature_cache

SR = 16_000


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def machine_signal(n_clips: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonics of a rotation frequency plus coloured noise, float32 (n_clips, n), peak 0.5."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    t = np.arange(n) / SR
    out = np.empty((n_clips, n), dtype=np.float32)
    for i in range(n_clips):
        f0 = rng.uniform(40, 180)
        k = np.arange(1, 16)[:, None]
        amps, phases = rng.uniform(0.2, 1, (15, 1)) / k, rng.uniform(0, 6.3, (15, 1))
        tones = (amps * np.sin(2 * np.pi * f0 * k * t + phases)).sum(0)
        noise = np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same") * rng.uniform(0.05, 0.3)
        x = tones + noise
        out[i] = 0.5 * x / np.abs(x).max()
    return out


def librosa_log_mel(y: np.ndarray, n_fft: int = 1024, hop: int = 512, n_mels: int = 128) -> np.ndarray:
    librosa = pytest.importorskip("librosa")
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=2.0)
    return 10.0 * np.log10(np.maximum(mel, LogMelConfig().eps))


# ----------------------------------------------------------------------------- librosa agreement


@pytest.mark.parametrize("n_fft", [1024, 2048])
def test_log_mel_matches_librosa_within_1e3_db(n_fft):
    audio = machine_signal(3, 2.0)
    ours = log_mel(torch.from_numpy(audio), LogMelConfig(n_fft=n_fft)).numpy()
    ref = np.stack([librosa_log_mel(y, n_fft=n_fft) for y in audio])
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-3


def test_torchaudio_module_matches_librosa():
    audio = machine_signal(2, 1.0, seed=1)
    cfg = LogMelConfig()
    mel = cfg.torchaudio_module()(torch.from_numpy(audio))
    ours = 10 * torch.log10(mel.clamp(min=cfg.eps)).numpy()
    ref = np.stack([librosa_log_mel(y) for y in audio])
    assert np.abs(ours - ref).max() < 1e-3


def test_filterbank_is_librosas():
    librosa = pytest.importorskip("librosa")
    for n_fft, n_mels, fmax in [(1024, 128, None), (2048, 64, 7000.0)]:
        ref = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels, fmax=fmax, dtype=np.float64)
        ours = slaney_mel_filterbank(SR, n_fft, n_mels, f_max=fmax).numpy()
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_log_mel_of_silence_is_the_eps_floor():
    out = log_mel(torch.zeros(1, 4096))
    assert torch.allclose(out, torch.full_like(out, 10 * np.log10(LogMelConfig().eps)))


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("n_samples", [16_000, 16_001, 160_000])
def test_shapes(n_samples):
    x = torch.randn(2, n_samples)
    assert log_mel(x).shape == (2, 128, 1 + n_samples // 512)
    assert LogMelConfig().n_frames(n_samples) == 1 + n_samples // 512
    assert magnitude_stft(x, StftConfig(center=True)).shape == (2, 513, 1 + n_samples // 512)
    assert magnitude_stft(x).shape == (2, 513, 1 + (n_samples - 1024) // 512)
    assert clip_spectrum(x).shape == (2, n_samples // 2)
    assert SpectrumConfig()(x).shape == (2, n_samples // 2)


def test_wilkinghoff_and_dcase_shapes_for_ten_seconds():
    x = torch.randn(1, 160_000)
    assert magnitude_stft(x).shape == (1, 513, 311)  # tf.signal.stft, pad_end=False
    assert log_mel(x).shape == (1, 128, 313)
    assert stack_frames(log_mel(x)).shape == (1, 309, 640)


def test_leading_dims_are_kept():
    x = torch.randn(2, 3, 8000)
    assert log_mel(x).shape == (2, 3, 128, 16)
    assert log_mel(x[0, 0]).shape == (128, 16)
    assert torch.allclose(log_mel(x)[1, 2], log_mel(x[1, 2]), atol=1e-4)


@pytest.mark.parametrize("n_fft,hop", [(1024, 512), (1024, 256), (2048, 512), (1024, 300), (511, 128), (64, 100)])
@pytest.mark.parametrize("n_samples", [300, 1023, 1500, 16_001])
def test_centred_frames_equal_padding_the_whole_signal(n_fft, hop, n_samples):
    from asdlib.features.spectral import _frames

    x = torch.randn(2, n_samples)
    window = torch.rand(n_fft)
    ref = torch.nn.functional.pad(x, (n_fft // 2, n_fft // 2)).unfold(-1, n_fft, hop) * window
    out = _frames(x, n_fft, hop, True, "constant", window)
    assert out.shape == ref.shape
    assert torch.equal(out, ref)


def test_reflect_padding_matches_librosa():
    librosa = pytest.importorskip("librosa")
    y = machine_signal(1, 0.5, seed=5)[0]
    cfg = LogMelConfig(pad_mode="reflect")
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=512, n_mels=128, pad_mode="reflect")
    ref = 10 * np.log10(np.maximum(mel, cfg.eps))
    assert np.abs(log_mel(torch.from_numpy(y), cfg).numpy() - ref).max() < 1e-3


def test_magnitude_mel_power_one_matches_librosa():
    librosa = pytest.importorskip("librosa")
    y = machine_signal(1, 0.5, seed=6)[0]
    cfg = LogMelConfig(power=1.0)
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=512, n_mels=128, power=1.0)
    ref = 20 * np.log10(np.maximum(mel, cfg.eps))
    assert np.abs(log_mel(torch.from_numpy(y), cfg).numpy() - ref).max() < 1e-3


def test_too_short_clip_raises():
    with pytest.raises(ValueError, match="shorter than n_fft"):
        magnitude_stft(torch.randn(1, 1000))


# ----------------------------------------------------------------------------- pure tones


def test_tone_peak_in_expected_stft_bin():
    k = 64  # bin k of a 1024-point FFT at 16 kHz is k * 15.625 Hz = 1000 Hz
    t = torch.arange(16_000, dtype=torch.float64) / SR
    x = torch.sin(2 * torch.pi * k * SR / 1024 * t).float()[None]
    for cfg in (StftConfig(), StftConfig(center=True)):
        spec = magnitude_stft(x, cfg)
        interior = spec[0, :, 2:-2]  # centred edge frames are half zeros
        assert (interior.argmax(dim=0) == k).all()
        # periodic Hann, bin-centred tone: peak magnitude = n_fft / 4 (amplitude 1)
        assert torch.allclose(interior[k], torch.full_like(interior[k], 1024 / 4), rtol=1e-3)


def test_tone_peak_in_expected_spectrum_bin():
    n = 16_000
    t = torch.arange(n, dtype=torch.float64) / SR
    x = torch.stack([torch.sin(2 * torch.pi * f * t) for f in (440.0, 1000.0)]).float()
    spec = clip_spectrum(x)
    assert spec.argmax(dim=-1).tolist() == [440, 1000]  # bin k at k * sr / n Hz = k Hz
    assert abs(spec[0, 440].item() - n / 2) < 1.0


def test_log_mel_tone_lands_in_the_right_mel_band():
    x = torch.sin(2 * torch.pi * 1000.0 * torch.arange(16_000) / SR)[None]
    band = log_mel(x)[0, :, 5].argmax().item()
    fb = slaney_mel_filterbank(SR, 1024, 128)
    assert band == fb[:, 64].argmax().item()


# ----------------------------------------------------------------------------- frames, patches, normalisation


def test_stack_frames_order_by_hand():
    x = torch.arange(2 * 2 * 6, dtype=torch.float32).reshape(2, 2, 6)  # (B=2, F=2, T=6)
    out = stack_frames(x, n_frames=3)
    assert out.shape == (2, 4, 6)
    # sample 0: frame t is (x[0, 0, t], x[0, 1, t]) = (t, 6 + t)
    assert out[0, 0].tolist() == [0, 6, 1, 7, 2, 8]
    assert out[0, 3].tolist() == [3, 9, 4, 10, 5, 11]
    assert out[1, 1].tolist() == [13, 19, 14, 20, 15, 21]


def test_stack_frames_matches_dcase_baseline_loop():
    rng = np.random.default_rng(0)
    mel = rng.standard_normal((128, 20)).astype(np.float32)
    frames, n_mels = 5, 128
    size = mel.shape[1] - frames + 1
    ref = np.zeros((size, n_mels * frames), dtype=np.float32)
    for t in range(frames):  # the baseline's construction
        ref[:, n_mels * t : n_mels * (t + 1)] = mel[:, t : t + size].T
    np.testing.assert_array_equal(stack_frames(torch.from_numpy(mel)[None])[0].numpy(), ref)


def test_patches_shape_and_content():
    x = torch.randn(2, 128, 313)
    out = patches(x, hop=64)
    assert out.shape == (2, 3, 128, 128)  # 1 + (313 - 128) // 64
    for i in range(3):
        assert torch.equal(out[:, i], x[:, :, i * 64 : i * 64 + 128])
    assert patches(x, hop=128).shape == (2, 2, 128, 128)
    with pytest.raises(ValueError, match="fewer than one patch"):
        patches(torch.randn(1, 128, 100), hop=64)


def test_temporal_mean_norm_zero_mean_per_sample():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 513, 311, generator=gen, dtype=torch.float64) * 5 + torch.arange(513.0)[None, :, None]
    out = temporal_mean_norm(x)
    assert out.abs().mean(-1).min() > 1  # the variation over time is kept
    assert out.mean(dim=-1).abs().max() < 1e-10
    # per sample: changing one sample leaves the others unchanged
    x2 = x.clone()
    x2[0] += 100
    assert torch.equal(temporal_mean_norm(x2)[1:], out[1:])


# ----------------------------------------------------------------------------- extract and cache


@pytest.fixture()
def wavs(tmp_path) -> list[Path]:
    return write_clips(tmp_path / "audio", machine_signal(5, 1.0, seed=3))


def test_extract_equals_direct_computation(wavs):
    out = extract(wavs, batch_size=2)  # 5 clips: batches of 2, 2, 1
    direct = log_mel(torch.from_numpy(load_clips(wavs)))
    assert out.shape == (5, 128, 32)
    assert torch.allclose(out, direct, atol=1e-4)


def test_extract_with_parallel_loaders_keeps_order(wavs, monkeypatch):
    from asdlib.features import extraction as extract_module

    monkeypatch.setattr(extract_module, "loader_threads", lambda device: 3)
    out = extract(wavs, batch_size=1)
    assert torch.allclose(out, log_mel(torch.from_numpy(load_clips(wavs))), atol=1e-4)


def test_extract_bad_file_raises_data_error(wavs):
    from asdlib.data.errors import DataError

    bad = wavs[0].parent / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEnot really")
    with pytest.raises(DataError, match="broken.wav"):
        extract([*wavs, bad], duration=1.0, batch_size=2)


def test_extract_rejects_bad_input(wavs):
    from asdlib.data.errors import DataError

    with pytest.raises(DataError, match="no files"):
        extract([])
    with pytest.raises(ValueError, match="batch_size"):
        extract(wavs, batch_size=0)


def test_extract_other_features_and_duration(wavs):
    spec = extract(wavs, StftConfig(), batch_size=3)
    assert spec.shape == (5, 513, 1 + (16_000 - 1024) // 512)
    assert extract(wavs, SpectrumConfig(), duration=0.5).shape == (5, 4000)


@pytest.fixture()
def counting(monkeypatch):
    """Count calls of the log-mel computation."""
    calls = {"n": 0}
    original = LogMelConfig.__call__

    def counted(self, x):
        calls["n"] += 1
        return original(self, x)

    monkeypatch.setattr(LogMelConfig, "__call__", counted)
    return calls


def test_cache_hit_does_not_recompute(wavs, tmp_path, counting):
    cache = tmp_path / "cache"
    first = extract(wavs, cache_dir=cache, batch_size=2)
    assert counting["n"] == 3
    assert len(list(cache.glob("logmel-*.pt"))) == 1
    second = extract(wavs, cache_dir=cache, batch_size=2)
    assert counting["n"] == 3
    assert torch.equal(first, second)
    # the order of the files is part of the key
    extract(list(reversed(wavs)), cache_dir=cache)
    assert counting["n"] == 4


def test_cache_recomputes_when_a_file_changes(wavs, tmp_path, counting):
    cache = tmp_path / "cache"
    first = extract(wavs, cache_dir=cache)
    assert counting["n"] == 1
    # same size, new content, new mtime
    sf.write(wavs[2], machine_signal(1, 1.0, seed=99)[0], SR, subtype="PCM_16")
    st = os.stat(wavs[2])
    os.utime(wavs[2], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    second = extract(wavs, cache_dir=cache)
    assert counting["n"] == 2
    assert not torch.equal(first[2], second[2])
    assert torch.equal(first[[0, 1, 3, 4]], second[[0, 1, 3, 4]])
    assert len(list(cache.glob("*.pt"))) == 1  # the slot was overwritten, not duplicated
    # touching alone (mtime) invalidates too
    os.utime(wavs[0], ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    extract(wavs, cache_dir=cache)
    assert counting["n"] == 3


def test_cache_recomputes_when_config_changes(wavs, tmp_path, counting):
    cache = tmp_path / "cache"
    a = extract(wavs, LogMelConfig(), cache_dir=cache)
    b = extract(wavs, LogMelConfig(n_mels=64), cache_dir=cache)
    assert counting["n"] == 2
    assert a.shape[1] == 128 and b.shape[1] == 64
    extract(wavs, LogMelConfig(), cache_dir=cache, duration=0.5)  # loading parameters count too
    assert counting["n"] == 3
    extract(wavs, LogMelConfig(n_mels=64), cache_dir=cache)
    assert counting["n"] == 3


def test_failed_cache_write_leaves_no_file(wavs, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def broken_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(feature_cache.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        extract(wavs, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_corrupt_cache_is_a_miss(wavs, tmp_path, counting):
    cache = tmp_path / "cache"
    first = extract(wavs, cache_dir=cache)
    (slot,) = cache.glob("*.pt")
    slot.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable feature cache"):
        second = extract(wavs, cache_dir=cache)
    assert counting["n"] == 2
    assert torch.equal(first, second)
    assert extract(wavs, cache_dir=cache).shape == first.shape  # rewritten: a hit again
    assert counting["n"] == 2


def test_unkeyable_feature_with_cache_raises(wavs, tmp_path):
    with pytest.raises(TypeError, match="cannot key"):
        extract(wavs, lambda x: x[:, :10], cache_dir=tmp_path / "cache")
    assert extract(wavs, lambda x: x[:, :10]).shape == (5, 10)  # fine without a cache


def test_features_are_differentiable():
    x = torch.randn(2, 4000, requires_grad=True)
    (log_mel(x).sum() + magnitude_stft(x).sum() + clip_spectrum(x).sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with torch.no_grad():
        assert torch.allclose(log_mel(x), log_mel(x.detach()), atol=1e-4)


def test_features_ignore_autocast():
    x = torch.randn(2, 8000)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = log_mel(x)
    assert out.dtype == torch.float32
    assert torch.allclose(out, log_mel(x), atol=1e-4)


def test_log_mel_keeps_precision_under_reduced_matmul_precision():
    audio = machine_signal(1, 0.5, seed=7)
    ref = librosa_log_mel(audio[0])
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        out = log_mel(torch.from_numpy(audio))[0].numpy()
    finally:
        torch.set_float32_matmul_precision(previous)
    assert np.abs(out - ref).max() < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(wavs):
    cpu = extract(wavs)
    gpu = extract(wavs, device="cuda")
    assert gpu.device.type == "cuda"
    assert (gpu.cpu() - cpu).abs().max() < 1e-3
    x = torch.from_numpy(machine_signal(2, 1.0))
    assert (magnitude_stft(x.cuda()).cpu() - magnitude_stft(x)).abs().max() < 1e-3 * magnitude_stft(x).max()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # audioread, imported by librosa.load
def test_bench_features_runs_and_agrees(capsys):
    pytest.importorskip("librosa")
    from asdlib.bench.features import bench_features

    result = bench_features(n_clips=2, repeats=1, verbose=True)
    assert result["max_abs_diff_db"] < 1e-3
    for key in ("extract_only", "load_only", "load_and_extract"):
        assert set(result[key]) == {"librosa_files_per_s", "asdlib_files_per_s", "speedup"}
    assert "extraction only" in capsys.readouterr().out
