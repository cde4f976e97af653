"""The data layer: DCASE clip indexes, audio loading, and the synthetic generator."""

from asdlib.data.audio import SAMPLE_RATE, clip_seconds, load_clips, read_wav
from asdlib.data.errors import DataError

__all__ = ["SAMPLE_RATE", "DataError", "clip_seconds", "load_clips", "read_wav"]
