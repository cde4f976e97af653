"""Synthetic DCASE data in the exact 2020 and 2022 layouts (see :mod:`.dataset`)."""

from asdlib.data.synth.dataset import PRESETS, Preset, generate, read_manifest, render_clip
from asdlib.data.synth.machines import MACHINES

__all__ = ["MACHINES", "PRESETS", "Preset", "generate", "read_manifest", "render_clip"]
