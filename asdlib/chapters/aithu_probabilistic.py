"""Chapter ``aithu_probabilistic``: AITHU part 2 (paper 000, section 3.2), WSP-NFCDEE per
section and IMDN per machine type, with the per-type features and networks of Tables 7-8."""

from __future__ import annotations

from dataclasses import dataclass

from asdlib.chapters.papers import AITHU, AITHU_DEMO_TYPES
from asdlib.chapters.spec import ChapterSpec, Claim, Evidence


@dataclass(frozen=True)
class AITHUProbabilisticSettings:
    """The paper gives no training schedule: these defaults are ours.

    types: the machine types run (None = all; demo: the AITHU demo's four,
    ``asdlib.chapters.papers.AITHU_DEMO_TYPES``); train_per_section: training clips kept per
    section (None = all); wsp_*: the flows (wsp_batch_size larger than a section's clips =
    full batch), wsp_standardize: ``"pooled"`` pools the raw time mean and std (the paper's
    WSP), ``"each"`` standardises each per bin before pooling (``asdlib.models.WSPNFCDEE``);
    wsp_noise: std of the Gaussian noise added to the standardised pooled training features
    (0 = none; ``train_wsp_nfcdee``); nfcdee_ablation: also train "NF-CDEE", our ablation of
    WSP-NFCDEE without WSP (pooling fixed at the time mean,
    ``asdlib.models.wsp_nfcdee.NFCDEE_ALPHA``; all else as WSP-NFCDEE; claim P5), one more
    WSP-sized training per type and seed; imdn_hidden: width of IGNN / LRCGNN (None = Table
    6's 128); max_window_frames caps the IMDN window (None = Tables 7-8's nFrames); *_stride:
    hop between IMDN windows in training and in scoring.
    """

    types: tuple[str, ...] | None = None
    train_per_section: int | None = None
    wsp_epochs: int = 200
    wsp_batch_size: int = 64
    wsp_lr: float = 1e-3
    wsp_groups: int = 4
    wsp_transforms: int = 3
    wsp_hidden: int = 64
    wsp_standardize: str = "pooled"
    wsp_noise: float = 0.0
    nfcdee_ablation: bool = True
    imdn_epochs: int = 30
    imdn_batch_size: int = 256
    imdn_lr: float = 1e-3
    imdn_components: int = 2
    imdn_hidden: int | None = None
    imdn_train_stride: int = 1
    imdn_score_stride: int = 1
    imdn_score_batch: int = 1024
    max_window_frames: int | None = None
    seeds: tuple[int, ...] | None = (0, 1, 2, 3, 4)

def _per_type(key, statement, better, worse, machine_type):
    tables = {"WSP-NFCDEE": "Table 7", "IMDN": "Table 8"}
    return Claim(key, statement, better, worse, machine_type=machine_type,
                 paper=Evidence(tables[better], better, worse, machine_type=machine_type, worse_table=tables[worse]))


CLAIMS = (
    _per_type("P1", "IMDN is the stronger model on valve", "IMDN", "WSP-NFCDEE", "valve"),
    _per_type("P2", "WSP-NFCDEE is the stronger model on slider", "WSP-NFCDEE", "IMDN", "slider"),
    _per_type("P3", "WSP-NFCDEE is the stronger model on bearing", "WSP-NFCDEE", "IMDN", "bearing"),
    _per_type("P4", "IMDN is the stronger model on ToyCar", "IMDN", "WSP-NFCDEE", "ToyCar"),
    Claim("P5", "weighted statistic pooling improves NF-CDEE on most machine types", "WSP-NFCDEE", "NF-CDEE",
          where="Section 3.2 (in words, no number)"),
    Claim("P6", "... especially on the slider", "WSP-NFCDEE", "NF-CDEE", machine_type="slider",
          where="Section 3.2 (in words, no number)"),
)
"""The paper's claims (:mod:`asdlib.claims`): Tables 7 and 8 per machine type; P5 against "NF-CDEE",
our ablation (WSP-NFCDEE with the pooling fixed at the time mean, ``nfcdee_ablation``)."""


SPEC = ChapterSpec(
    stem="aithu_probabilistic", claims=CLAIMS, paper=AITHU, settings_class=AITHUProbabilisticSettings,
    profiles={
        "demo": {"types": AITHU_DEMO_TYPES,
                 "wsp_epochs": 100, "wsp_batch_size": 128, "wsp_lr": 3e-3, "wsp_transforms": 1, "wsp_hidden": 32,
                 "wsp_standardize": "each", "wsp_noise": 0.6,
                 "imdn_epochs": 10, "imdn_batch_size": 64, "imdn_lr": 2e-3, "imdn_hidden": 32,
                 "imdn_train_stride": 8, "imdn_score_stride": 4, "imdn_score_batch": 1024, "max_window_frames": 16,
                 "seeds": (0, 1, 2)},
        "ci": {"train_per_section": 4, "wsp_epochs": 3, "wsp_batch_size": 16, "wsp_groups": 2, "wsp_transforms": 1,
               "wsp_hidden": 16, "wsp_standardize": "each", "wsp_noise": 0.6, "imdn_epochs": 1,
               "imdn_batch_size": 64, "imdn_hidden": 16, "imdn_train_stride": 8, "imdn_score_stride": 8,
               "imdn_score_batch": 64, "max_window_frames": 31, "seeds": (0,)},
    },
)
