"""Chapter ``ustc_tgram_wav2vec``: USTC (paper 002), log-mel + Tgram + wav2vec 2.0 planes, a TDNN,
cross-entropy + batch-hard triplet (+ attribute) loss, one model per machine type and
experiment of Table I."""

from __future__ import annotations

from dataclasses import dataclass, field

from asdlib.chapters.papers import USTC
from asdlib.chapters.spec import ChapterSpec, Claim, Evidence


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
    (``asd run ... --set wav2vec2_checkpoint=/models/wav2vec2-base``); experiments: the
    models of Table I trained (None = all five, 1 to 5; experiment 6 re-scores experiment
    5's model, so it runs whenever 5 does); bf16: bf16 autocast when training on CUDA (ours: the
    paper states no precision; False trains in float32, as the paper presumably did);
    ae_validation_split: the fraction of the autoencoder's training vectors held out (the DCASE
    baseline's Keras ``fit(validation_split=0.1)``, the last section's clips; 0, ours: all of them).
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
    ae_validation_split: float = 0.0
    bf16: bool = True
    tsne_perplexity: float = 30.0
    wav2vec2_checkpoint: str | None = None
    experiments: tuple[int, ...] | None = None
    seeds: tuple[int, ...] | None = (0, 1, 2, 3, 4)


DEMO_TYPES = ("ToyCar", "fan", "slider", "valve")
"""The demo's machine types, fixed in advance by the kind of sound and fault, not by results: two
steady rotating machines whose faults move energy between the orders of the rotation or modulate
it once per turn (the toy car's motor and the fan), and two machines whose sound is a sequence of
events whose faults change that timing (the slide rail's strokes, which Figure 2 needs, and the
valve's open/close pattern). Four of the seven types is what the budget pays for."""

DEMO_EXPERIMENTS = (1, 5)
"""The demo trains the baseline (experiment 1, Table II) and the full system (experiment 5, whose
model experiment 6 re-scores: the headline). Experiments 2 to 4 (the feature ablation of Table III)
run under ``paper`` only: their models cost as much as experiment 5's."""

EXP = {1: "USTC Exp. 1: log-mel, CE+triplet, posterior",
       2: "USTC Exp. 2: log-mel+Tgram, CE+triplet, posterior",
       3: "USTC Exp. 3: log-mel+wav2vec 2.0, CE+triplet, posterior",
       4: "USTC Exp. 4: log-mel+Tgram+wav2vec 2.0, CE+triplet, posterior",
       5: "USTC Exp. 5: log-mel+Tgram+wav2vec 2.0, CE+triplet+aux, posterior",
       6: "USTC Exp. 6: log-mel+Tgram+wav2vec 2.0, CE+triplet+aux, distance"}
"""The record names of Table I's experiments (the notebook's ``system_name``; a test keeps them equal)."""
AE_SYSTEM = "DCASE autoencoder baseline (ours)"
PAPER_EXP = {1: "Exp. 1 (Baseline): LogMel", 2: "Exp. 2: LogMel+Tgram", 3: "Exp. 3: LogMel+Pre-trained",
             4: "Exp. 4: LogMel+Tgram+Pre-trained", 5: "Exp. 5: Exp. 4 + auxiliary loss",
             6: "Exp. 6: Exp. 5 + distance metric"}

CLAIMS = (
    Claim("U1", "the distance score beats the posterior on the same model", EXP[6], EXP[5],
          paper=Evidence("TABLE V", PAPER_EXP[6], PAPER_EXP[5])),
    Claim("U2", "the three inputs with the auxiliary loss beat the log-mel baseline", EXP[5], EXP[1],
          paper=Evidence("TABLE IV", PAPER_EXP[5], PAPER_EXP[1], worse_table="TABLE III")),
    Claim("U3", "the proposed system beats the DCASE autoencoder baseline", EXP[6], AE_SYSTEM,
          paper=Evidence("TABLE VI", "Our Method (Exp. 6)", "baseline-AE")),
    Claim("U4", "Tgram and wav2vec 2.0 together beat Tgram alone", EXP[4], EXP[2],
          paper=Evidence("TABLE III", PAPER_EXP[4], PAPER_EXP[2])),
    Claim("U5", "... and beat wav2vec 2.0 alone", EXP[4], EXP[3],
          paper=Evidence("TABLE III", PAPER_EXP[4], PAPER_EXP[3])),
    Claim("U6", "the auxiliary loss helps", EXP[5], EXP[4], paper=Evidence("TABLE IV", PAPER_EXP[5], PAPER_EXP[4])),
)
"""The paper's claims (:mod:`asdlib.claims`); U4 to U6 need experiments 2 to 4 (``paper`` profile)."""


SPEC = ChapterSpec(
    stem="ustc_tgram_wav2vec", claims=CLAIMS, paper=USTC, settings_class=USTCSettings,
    none_means={"crop_seconds": "whole clip", "w2v_crop_seconds": "whole clip",
                "experiments": "all five (1 to 5)"},
    profiles={
        "demo": {"types": DEMO_TYPES, "experiments": DEMO_EXPERIMENTS, "epochs": 16, "batch_size": 32, "lr": 1e-3,
                 "tdnn_channels": (64, 64, 64, 64, 192), "segment_dim": 64,
                 "w2v_config": {"conv_channels": 32, "embed_dim": 128, "num_layers": 2, "num_heads": 4, "ff_dim": 256,
                                "pos_conv_kernel": 32, "pos_conv_groups": 8},
                 "w2v_clips_per_type": 48, "w2v_epochs": 1, "w2v_finetune_epochs": 1, "w2v_crop_seconds": 1.0,
                 "ae_epochs": 5, "tsne_perplexity": 10.0, "seeds": (0, 1, 2)},
        "ci": {"types": ("slider", "valve"), "crop_seconds": 1.0, "epochs": 1, "batch_size": 16, "lr": 1e-3,
               "tdnn_channels": (32, 32, 32, 32, 64), "segment_dim": 32, "embedding_dim": 16,
               "w2v_config": {"conv_channels": 32, "embed_dim": 32, "num_layers": 1, "num_heads": 2, "ff_dim": 64,
                              "pos_conv_kernel": 16, "pos_conv_groups": 4},
               "w2v_clips_per_type": 8, "w2v_epochs": 1, "w2v_finetune_epochs": 1, "w2v_batch_size": 4,
               "w2v_crop_seconds": 0.5, "ae_epochs": 1, "tsne_perplexity": 3.0, "seeds": (0,)},
    },
)
