"""The data layer: DCASE clip indexes, audio loading, and the synthetic generator.

Entry point: :func:`index_dataset` (a data root -> one row per clip), then
:func:`load_clips` for the audio. This package imports nothing from the higher
layers (features, models, backends, metrics).
"""

from asdlib.data.audio import SAMPLE_RATE, clip_seconds, load_central_crops, load_clips, read_wav
from asdlib.data.errors import DataError
from asdlib.data.layout import attribute_table, index_dataset, parse_attributes, parse_clip_name, summarize

__all__ = [
    "SAMPLE_RATE",
    "DataError",
    "attribute_table",
    "clip_seconds",
    "index_dataset",
    "load_central_crops",
    "load_clips",
    "parse_attributes",
    "parse_clip_name",
    "read_wav",
    "summarize",
]
