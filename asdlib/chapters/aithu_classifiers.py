"""Chapter ``aithu_classifiers``: AITHU part 1 (paper 000, sections 2 and 3.1), the DCASE 2022
autoencoder and MobileNetV2 baselines and the classification subsystems SC, MHCR and
SC-wav2vec, one model per machine type and system."""

from __future__ import annotations

from dataclasses import dataclass

from asdlib.chapters.papers import AITHU, AITHU_DEMO_TYPES
from asdlib.chapters.spec import ChapterSpec, Claim, Evidence


@dataclass(frozen=True)
class AITHUClassifierSettings:
    """The chapter says what demo and ci cut.

    types: the machine types run (None = all; the AITHU demo: AITHU_DEMO_TYPES); clip_seconds: first seconds of every clip used (None = whole clip); hop_length: of the
    SC/MHCR spectrograms (not in the paper); stft_pool: neighbouring bins of the 2048-point
    STFT averaged into one (1 = all 1025 bins, Table 3); n_frames: frames per piece (None =
    Table 3's 192); n_pieces: evenly spaced pieces per clip (None = as few as cover the
    clip); epochs ... weight_decay: AdamW of the embedding networks (Sec. 3.1.1); knn_k,
    lof_neighbors, mahalanobis_shrinkage: the backends (None = the empirical covariance);
    default_backend: the fixed backend of SC and MHCR (the paper gives none per type);
    score_folds: folds of the out-of-fold training-clip scores; w2v_*: the wav2vec
    pre-trained here when no checkpoint is given (w2v_pretrain_per_type: training clips per
    type it sees, None = all; w2v_n_frames: frames per piece of the SC-wav2vec input, None
    = the whole clip); ae_*, mnv2_*: the baselines (paper: the official baseline.yaml
    values, except ae_validation_split: the autoencoder's held-out fraction, 0 (ours: every
    vector; the baseline's Keras ``validation_split=0.1`` holds out the last clips in file order
    and only reports a loss on them)); grid_machine_type: the type of the backbone x backend grid (None: no grid);
    wav2vec_checkpoint: a local fairseq wav2vec (v1) checkpoint loaded instead of
    pre-training one (``asd run ... --set wav2vec_checkpoint=/models/wav2vec_large.pt``).
    """

    types: tuple[str, ...] | None = None
    clip_seconds: float | None = None
    hop_length: int = 512
    stft_pool: int = 1
    n_frames: int | None = None
    n_pieces: int | None = None
    embedding_dim: int = 128
    ecapa_channels: int = 512
    epochs: int = 25
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    knn_k: int = 1
    lof_neighbors: int = 20
    mahalanobis_shrinkage: str | None = None
    default_backend: str = "knn"
    score_folds: int = 5
    w2v_channels: int = 512
    w2v_context_layers: int = 9
    w2v_steps: int = 12
    w2v_pretrain_per_type: int | None = 1000
    w2v_epochs: int = 20
    w2v_batch_size: int = 32
    w2v_crop_samples: int = 150_000
    w2v_lr: float = 5e-3
    w2v_warmup_updates: int = 500
    w2v_n_frames: int | None = None
    ae_epochs: int = 100
    ae_vectors_per_clip: int | None = None
    ae_test_stride: int = 1
    ae_batch_size: int = 512
    ae_lr: float = 1e-3
    ae_validation_split: float = 0.0
    mnv2_epochs: int = 20
    mnv2_lr: float = 1e-5
    mnv2_batch_size: int = 32
    mnv2_image_frames: int = 64
    mnv2_train_hop: int = 8
    mnv2_test_hop: int = 1
    mnv2_validation_split: float = 0.1
    grid_machine_type: str | None = "ToyCar"
    wav2vec_checkpoint: str | None = None
    seeds: tuple[int, ...] | None = (0, 1, 2, 3, 4)


_CPU = {"stft_pool": 16, "mahalanobis_shrinkage": "ledoit_wolf", "epochs": 1, "mnv2_epochs": 1, "mnv2_lr": 1e-3,
        "mnv2_validation_split": 0.0, "ae_test_stride": 4}
CLAIMS = (
    Claim("A1", "section classification beats the multi-head classifier-regressor", "SC", "MHCR",
          paper=Evidence("Table 3", "SC", "MHCR", machine_type="mean", worse_table="Table 4")),
    Claim("A2", "SC beats the DCASE 2022 autoencoder baseline", "SC", "DCASE 2022 autoencoder baseline",
          paper=Evidence("Table 3", "SC", "baseline-AE", machine_type="mean", worse_table="Table 1")),
    Claim("A3", "MHCR beats the DCASE 2022 MobileNetV2 baseline", "MHCR", "DCASE 2022 MobileNetV2 baseline",
          paper=Evidence("Table 4", "MHCR", "baseline-MobileNetV2", worse_table="Table 2")),
    Claim("A4", "SC on wav2vec 2.0 features beats the autoencoder baseline", "SC-wav2vec",
          "DCASE 2022 autoencoder baseline",
          paper=Evidence("Table 5", "SC-wav2vec", "baseline-AE", machine_type="mean", worse_table="Table 1")),
    Claim("A5", "MHCR beats SC on gearbox (the exception)", "MHCR", "SC", machine_type="gearbox",
          paper=Evidence("Table 4", "MHCR", "SC", machine_type="gearbox", worse_table="Table 3")),
)
"""The paper's claims (:mod:`asdlib.claims`); A5 needs gearbox, not a demo type."""

SPEC = ChapterSpec(
    stem="aithu_classifiers", claims=CLAIMS, paper=AITHU, settings_class=AITHUClassifierSettings,
    none_means={"clip_seconds": "whole clip", "n_frames": "Table 3 (192)", "n_pieces": "cover the clip",
                "mahalanobis_shrinkage": "none (empirical)", "w2v_n_frames": "whole clip"},
    profiles={
        "demo": {**_CPU, "types": AITHU_DEMO_TYPES, "n_frames": 32, "ecapa_channels": 64, "batch_size": 32,
                 "epochs": 4, "w2v_channels": 64, "w2v_context_layers": 3, "w2v_steps": 4,
                 "w2v_pretrain_per_type": 64, "w2v_epochs": 3, "w2v_batch_size": 16, "w2v_crop_samples": 16000,
                 "w2v_warmup_updates": 10, "ae_epochs": 30, "ae_vectors_per_clip": 32, "mnv2_epochs": 3,
                 "mnv2_test_hop": 8, "grid_machine_type": None, "seeds": (0, 1)},
        "ci": {**_CPU, "n_frames": 16, "n_pieces": 2, "embedding_dim": 32, "ecapa_channels": 32, "batch_size": 16,
               "w2v_channels": 16, "w2v_context_layers": 2, "w2v_steps": 2, "w2v_pretrain_per_type": 4,
               "w2v_epochs": 1, "w2v_batch_size": 8, "w2v_crop_samples": 8000, "w2v_warmup_updates": 1,
               "ae_epochs": 1, "ae_vectors_per_clip": 8, "mnv2_batch_size": 16, "mnv2_image_frames": 32,
               "mnv2_train_hop": 16, "mnv2_test_hop": 16, "seeds": (0,)},
    },
)
