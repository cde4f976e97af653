"""Synthetic DCASE data in the exact 2020, 2022 and 2023-2025 layouts (see :mod:`.dataset`)."""

from asdlib.data.synth.dataset import PRESETS, Preset, generate, read_manifest, render_clip
from asdlib.data.synth.machines import MACHINES

__all__ = ["MACHINES", "PRESETS", "Preset", "generate", "read_manifest", "render_clip"]
