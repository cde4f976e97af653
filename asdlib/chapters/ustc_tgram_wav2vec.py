"""Chapter ``ustc_tgram_wav2vec``: USTC (paper 002), log-mel + Tgram + wav2vec 2.0 planes, a TDNN,
cross-entropy + batch-hard triplet (+ attribute) loss, one model per machine type and
experiment of Table I."""

from __future__ import annotations

from dataclasses import dataclass, field

from asdlib.chapters.papers import USTC
from asdlib.chapters.spec import ChapterSpec


@dataclass(frozen=True)
class USTCSettings:
    """The paper gives only Adam, lr 2e-4, 100 epochs: the rest is ours (the chapter says what
    demo and ci cut).

    types: the machine types run when the notebook's machine_types is None (None = all);
    crop_seconds: central crop of every clip (None = whole clip); source_per_section:
    source training clips kept per section (None = all; target clips are always kept);
    tdnn_channels, segment_dim, embedding_dim: the x-vector TDNN's sizes; w2v_config:
    small_wav2vec2 overrides for the wav2vec 2.0 pre-trained here when no checkpoint is
    given; w2v_clips_per_type: training clips per type it sees (None = all);
    w2v_finetune_epochs: self-supervised epochs on a loaded checkpoint; ae_*: the DCASE
    autoencoder baseline of Table VI; wav2vec2_checkpoint: a local wav2vec 2.0 checkpoint
    (Hugging Face folder or torchaudio state dict) fine-tuned instead of pre-training one
    (``asd run ... --set wav2vec2_checkpoint=/models/wav2vec2-base``).
    """

    types: tuple[str, ...] | None = None
    crop_seconds: float | None = None
    source_per_section: int | None = None
    epochs: int = 100
    batch_size: int = 64
    lr: float = 2e-4
    triplet_margin: float = 0.3
    tdnn_channels: tuple[int, ...] = (512, 512, 512, 512, 1500)
    segment_dim: int = 512
    embedding_dim: int = 128
    w2v_config: dict[str, int] = field(default_factory=dict)
    w2v_clips_per_type: int | None = None
    w2v_epochs: int = 10
    w2v_finetune_epochs: int = 5
    w2v_batch_size: int = 8
    w2v_crop_seconds: float | None = None
    w2v_lr: float = 5e-4
    w2v_warmup_fraction: float = 0.08
    w2v_layer: int = -1
    ae_epochs: int = 100
    ae_batch_size: int = 512
    ae_lr: float = 1e-3
    tsne_perplexity: float = 30.0
    wav2vec2_checkpoint: str | None = None
    seeds: tuple[int, ...] | None = (0, 1, 2, 3, 4)


SPEC = ChapterSpec(
    stem="ustc_tgram_wav2vec", paper=USTC, settings_class=USTCSettings,
    none_means={"crop_seconds": "whole clip", "w2v_crop_seconds": "whole clip"},
    profiles={
        "demo": {"crop_seconds": 2.0, "epochs": 3, "batch_size": 32, "lr": 1e-3,
                 "tdnn_channels": (128, 128, 128, 128, 384), "segment_dim": 128,
                 "w2v_config": {"conv_channels": 32, "embed_dim": 128, "num_layers": 2, "num_heads": 4, "ff_dim": 256,
                                "pos_conv_kernel": 32, "pos_conv_groups": 8},
                 "w2v_clips_per_type": 48, "w2v_epochs": 2, "w2v_finetune_epochs": 1, "w2v_crop_seconds": 1.0,
                 "ae_epochs": 5, "tsne_perplexity": 10.0, "seeds": (0, 1, 2)},
        "ci": {"types": ("slider", "valve"), "crop_seconds": 1.0, "epochs": 1, "batch_size": 16, "lr": 1e-3,
               "tdnn_channels": (32, 32, 32, 32, 64), "segment_dim": 32, "embedding_dim": 16,
               "w2v_config": {"conv_channels": 32, "embed_dim": 32, "num_layers": 1, "num_heads": 2, "ff_dim": 64,
                              "pos_conv_kernel": 16, "pos_conv_groups": 4},
               "w2v_clips_per_type": 8, "w2v_epochs": 1, "w2v_finetune_epochs": 1, "w2v_batch_size": 4,
               "w2v_crop_seconds": 0.5, "ae_epochs": 1, "tsne_perplexity": 3.0, "seeds": (0,)},
    },
)
