"""Chapter ``aithu_probabilistic``: AITHU part 2 (paper 000, section 3.2), WSP-NFCDEE per
section and IMDN per machine type, with the per-type features and networks of Tables 7-8."""

from __future__ import annotations

from dataclasses import dataclass

from asdlib.chapters.papers import AITHU
from asdlib.chapters.spec import ChapterSpec


@dataclass(frozen=True)
class AITHUProbabilisticSettings:
    """The paper gives no training schedule: these defaults are ours.

    train_per_section: training clips kept per section (None = all); max_window_frames caps
    the IMDN window (ci's 2 s clips have only 63 frames); *_stride: hop between IMDN
    windows in training and in scoring.
    """

    train_per_section: int | None = None
    wsp_epochs: int = 200
    wsp_batch_size: int = 64
    wsp_lr: float = 1e-3
    wsp_groups: int = 4
    wsp_transforms: int = 3
    wsp_hidden: int = 64
    imdn_epochs: int = 30
    imdn_batch_size: int = 256
    imdn_lr: float = 1e-3
    imdn_components: int = 2
    imdn_train_stride: int = 1
    imdn_score_stride: int = 1
    imdn_score_batch: int = 1024
    max_window_frames: int | None = None
    seeds: tuple[int, ...] | None = (0, 1, 2, 3, 4)


SPEC = ChapterSpec(
    stem="aithu_probabilistic", paper=AITHU, settings_class=AITHUProbabilisticSettings,
    profiles={
        "demo": {"wsp_epochs": 30, "wsp_batch_size": 16, "wsp_transforms": 2, "wsp_hidden": 32, "imdn_epochs": 2,
                 "imdn_batch_size": 64, "imdn_train_stride": 128, "imdn_score_stride": 64, "imdn_score_batch": 64,
                 "seeds": (0, 1, 2)},
        "ci": {"train_per_section": 4, "wsp_epochs": 3, "wsp_batch_size": 16, "wsp_groups": 2, "wsp_transforms": 1,
               "wsp_hidden": 16, "imdn_epochs": 1, "imdn_batch_size": 64, "imdn_train_stride": 8,
               "imdn_score_stride": 8, "imdn_score_batch": 64, "max_window_frames": 31, "seeds": (0,)},
    },
)
