"""Run profiles: every size, epoch count and repetition in one place.

A notebook takes ``profile`` as a parameter and reads its settings from here, so
``ci`` (all code paths in seconds, for the regression tests), ``demo`` (the book on
a 2-core CPU) and ``paper`` (the papers' own settings, on a GPU with the real
data) differ only in this file.

Each chapter has a block of settings per profile in :data:`CHAPTER_SETTINGS`; a
chapter's issue adds its own block. :func:`chapter_settings` returns them and fails
with the list of valid names for an unknown profile or chapter.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Profile:
    """What a profile fixes for every chapter."""

    name: str
    data_preset: str          # synthetic preset generated when data_root is None
    default_seeds: tuple[int, ...]
    description: str
    extra: Mapping[str, Any] = field(default_factory=dict)


PROFILES: dict[str, Profile] = {
    "ci": Profile("ci", data_preset="ci", default_seeds=(0,),
                  description="every code path in seconds on a CPU (regression tests)"),
    "demo": Profile("demo", data_preset="demo", default_seeds=(0, 1),
                    description="the book on a 2-core CPU: small models, few epochs, synthetic data"),
    "paper": Profile("paper", data_preset="full", default_seeds=(0, 1, 2, 3, 4),
                     description="the papers' own settings, meant for a GPU and the real DCASE data"),
}

# chapter -> profile -> settings. Chapters add their block here (their issue says what).
# A chapter whose results do not depend on the seed sets "seeds": (0,) so it runs once.
CHAPTER_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "00_task_data_metrics": {
        "ci": {"clips_per_figure": 2, "roc_types": 2, "seeds": (0,)},
        "demo": {"clips_per_figure": 3, "roc_types": 7, "seeds": (0,)},
        "paper": {"clips_per_figure": 3, "roc_types": 7, "seeds": (0,)},
    },
    # de Oliveira Neto & Figueiredo (paper 001): the DCASE 2020 autoencoder, GANomaly,
    # Skip-GANomaly and EGBAD, one model per machine type and system, the last epoch's
    # weights. vectors_per_clip: 640-d vectors drawn at random from each training clip,
    # per seed (None: all); test_vector_stride: every n-th vector of a test clip is scored
    # (1: all); batch_size, lr: per system (paper: the DCASE baseline's and the original
    # GAN codes'); init_output_bias: the output layer's bias starts at the mean training
    # vector; curve_epochs, curve_vectors_per_clip, curve_test_vector_stride: the longer
    # training of the stability section (first machine type, first seed), whose test AUC
    # per epoch is shown as a diagnostic and an oracle, never used by the main results.
    "gan_adaptations_dcase2020": {
        "ci": {"epochs": 1, "vectors_per_clip": 8, "test_vector_stride": 1,
               "batch_size": {"DCASE 2020 autoencoder": 512, "GANomaly": 512, "Skip-GANomaly": 512, "EGBAD": 512},
               "lr": {"DCASE 2020 autoencoder": 1e-3, "GANomaly": 2e-4, "Skip-GANomaly": 2e-4, "EGBAD": 2e-4},
               "init_output_bias": True, "curve_epochs": 2, "curve_vectors_per_clip": 8,
               "curve_test_vector_stride": 1, "seeds": (0,)},
        "demo": {"epochs": 5, "vectors_per_clip": 32, "test_vector_stride": 2,
                 "batch_size": {"DCASE 2020 autoencoder": 512, "GANomaly": 512, "Skip-GANomaly": 512, "EGBAD": 512},
                 "lr": {"DCASE 2020 autoencoder": 1e-3, "GANomaly": 2e-4, "Skip-GANomaly": 2e-4, "EGBAD": 2e-4},
                 "init_output_bias": True, "curve_epochs": 30, "curve_vectors_per_clip": 8,
                 "curve_test_vector_stride": 8, "seeds": (0, 1, 2)},
        "paper": {"epochs": 100, "vectors_per_clip": None, "test_vector_stride": 1,
                  "batch_size": {"DCASE 2020 autoencoder": 512, "GANomaly": 64, "Skip-GANomaly": 64, "EGBAD": 50},
                  "lr": {"DCASE 2020 autoencoder": 1e-3, "GANomaly": 2e-4, "Skip-GANomaly": 2e-4, "EGBAD": 1e-5},
                  "init_output_bias": False, "curve_epochs": 100, "curve_vectors_per_clip": None,
                  "curve_test_vector_stride": 1, "seeds": (0, 1, 2, 3, 4)},
    },
    # Wilkinghoff (ICASSP 2023, paper 003): one embedder for all machine types, 11 trainings
    # per seed (notebooks/wilkinghoff_design_choices.md says what demo and ci cut).
    # crop_seconds: central crop of every clip (None: the whole clip); source_per_section:
    # source training clips kept per section (a fixed random subset; all target clips are
    # kept); test_per_group: test clips kept per (section, domain, label); None = all.
    # kmeans_n_init: restarts of the backend's k-means; gmm_covariance: the GMM backend's
    # covariance type (the paper: full).
    "wilkinghoff_design_choices": {
        "ci": {"crop_seconds": 0.5, "epochs": 1, "batch_size": 32, "lr": 1e-3,
               "source_per_section": 4, "test_per_group": 2, "n_subclusters": 16, "n_clusters": 16,
               "kmeans_n_init": 1, "gmm_covariance": "diag", "embed_batch_size": 256, "tsne_perplexity": 3.0},
        "demo": {"crop_seconds": 1.0, "epochs": 3, "batch_size": 32, "lr": 1e-3,
                 "source_per_section": 8, "test_per_group": None, "n_subclusters": 16, "n_clusters": 16,
                 "kmeans_n_init": 3, "gmm_covariance": "diag", "embed_batch_size": 256, "tsne_perplexity": 10.0,
                 "seeds": (0, 1, 2)},
        "paper": {"crop_seconds": None, "epochs": 10, "batch_size": 64, "lr": 1e-3,
                  "source_per_section": None, "test_per_group": None, "n_subclusters": 16, "n_clusters": 16,
                  "kmeans_n_init": 10, "gmm_covariance": "full", "embed_batch_size": 256, "tsne_perplexity": 30.0},
    },
    # AITHU part 3 (paper 000, sections 3.3 and 4): AEGAN-AD per machine type and the four ensembles of
    # Table 10 over the clip scores kept by aithu_classifiers and aithu_probabilistic (same profile and
    # data). n_mels = patch_size: the patches are n_mels x patch_size (paper: 128 x 128); train_hop,
    # score_hop: frames between patch starts (the code: 1); width, latent: the AEGAN-AD networks' ndf/ngf
    # and nz; epochs: ours (the paper gives none); mu, gp_lambda: eq. (6) and (5); knn_k, lof_neighbors:
    # the critic-embedding detectors; dc_*: submission 1's Cnn6 domain classifier (dc_frames: central crop
    # of each clip, None = whole clip; dc_source_per_target: source clips per target clip in its training
    # set); grid_step: of the ensembles' simplex grid.
    "aithu_aegan_ensembles": {
        "ci": {"n_mels": 32, "patch_size": 32, "train_hop": 16, "score_hop": 16, "width": 8, "latent": 32,
               "epochs": 1, "batch_size": 64, "lr": 2e-4, "mu": 0.1, "gp_lambda": 10.0, "score_batch": 256,
               "knn_k": 1, "lof_neighbors": 5, "dc_n_mels": 32, "dc_frames": 32, "dc_source_per_target": 2,
               "dc_epochs": 1, "dc_batch_size": 16, "dc_lr": 1e-3, "grid_step": 0.25, "seeds": (0,)},
        "demo": {"n_mels": 64, "patch_size": 64, "train_hop": 64, "score_hop": 64, "width": 16, "latent": 128,
                 "epochs": 3, "batch_size": 64, "lr": 2e-4, "mu": 0.1, "gp_lambda": 10.0, "score_batch": 256,
                 "knn_k": 1, "lof_neighbors": 20, "dc_n_mels": 32, "dc_frames": 32, "dc_source_per_target": 2,
                 "dc_epochs": 3, "dc_batch_size": 16, "dc_lr": 1e-3, "grid_step": 0.1, "seeds": (0, 1)},
        "paper": {"n_mels": 128, "patch_size": 128, "train_hop": 1, "score_hop": 1, "width": 32, "latent": 256,
                  "epochs": 100, "batch_size": 512, "lr": 2e-4, "mu": 0.1, "gp_lambda": 10.0, "score_batch": 512,
                  "knn_k": 1, "lof_neighbors": 20, "dc_n_mels": 64, "dc_frames": None, "dc_source_per_target": 2,
                  "dc_epochs": 20, "dc_batch_size": 32, "dc_lr": 1e-3, "grid_step": 0.1,
                  "seeds": (0, 1, 2, 3, 4)},
    },
    # AITHU part 1 (paper 000, sections 2 and 3.1): the DCASE 2022 autoencoder and MobileNetV2 baselines
    # and the classification subsystems SC, MHCR, SC-wav2vec, one model per machine type and system
    # (notebooks/aithu_classifiers.md says what demo and ci cut). clip_seconds: first seconds of every
    # clip used (None = whole clip); hop_length: of the SC/MHCR spectrograms (not in the paper);
    # stft_pool: neighbouring bins of the 2048-point STFT averaged into one (1 = all 1025 bins, Table 3);
    # n_frames: frames per piece (None = Table 3's 192); n_pieces: evenly spaced pieces per clip (None =
    # as few as cover the clip); epochs ... weight_decay: AdamW of the embedding networks (Sec. 3.1.1);
    # knn_k, lof_neighbors, mahalanobis_shrinkage: the backends (None = the empirical covariance);
    # default_backend: the fixed backend of SC and MHCR (the paper gives none per type); score_folds:
    # folds of the out-of-fold training-clip scores; w2v_*: the wav2vec pre-trained here when no
    # checkpoint is given (w2v_pretrain_per_type: training clips per type it sees, None = all); w2v_n_frames:
    # frames per piece of the SC-wav2vec input (None = the whole clip); ae_*, mnv2_*: the baselines
    # (paper: the official baseline.yaml values); grid_machine_type: the type of the backbone x backend grid;
    # wav2vec_checkpoint: a local fairseq wav2vec (v1) checkpoint to load instead of pre-training one
    # (`asd run ... --set wav2vec_checkpoint=/models/wav2vec_large.pt`).
    "aithu_classifiers": {
        "ci": {"clip_seconds": None, "hop_length": 512, "stft_pool": 16, "n_frames": 16, "n_pieces": 2,
               "embedding_dim": 32, "ecapa_channels": 32, "epochs": 1, "batch_size": 16, "lr": 1e-3,
               "weight_decay": 1e-4, "knn_k": 1, "lof_neighbors": 20, "mahalanobis_shrinkage": "ledoit_wolf",
               "default_backend": "knn", "score_folds": 5,
               "w2v_channels": 16, "w2v_context_layers": 2, "w2v_steps": 2, "w2v_pretrain_per_type": 4,
               "w2v_epochs": 1, "w2v_batch_size": 8, "w2v_crop_samples": 8000, "w2v_lr": 5e-3,
               "w2v_warmup_updates": 1, "w2v_n_frames": None,
               "ae_epochs": 1, "ae_vectors_per_clip": 8, "ae_test_stride": 4, "ae_batch_size": 512, "ae_lr": 1e-3,
               "mnv2_epochs": 1, "mnv2_lr": 1e-3, "mnv2_batch_size": 16, "mnv2_image_frames": 32,
               "mnv2_train_hop": 16, "mnv2_test_hop": 16, "mnv2_validation_split": 0.0,
               "grid_machine_type": "ToyCar", "wav2vec_checkpoint": None, "seeds": (0,)},
        "demo": {"clip_seconds": 2.1, "hop_length": 512, "stft_pool": 16, "n_frames": 32, "n_pieces": 1,
                 "embedding_dim": 128, "ecapa_channels": 64, "epochs": 1, "batch_size": 32, "lr": 1e-3,
                 "weight_decay": 1e-4, "knn_k": 1, "lof_neighbors": 20, "mahalanobis_shrinkage": "ledoit_wolf",
                 "default_backend": "knn", "score_folds": 5,
                 "w2v_channels": 64, "w2v_context_layers": 3, "w2v_steps": 4, "w2v_pretrain_per_type": 64,
                 "w2v_epochs": 3, "w2v_batch_size": 16, "w2v_crop_samples": 16000, "w2v_lr": 5e-3,
                 "w2v_warmup_updates": 10, "w2v_n_frames": None,
                 "ae_epochs": 10, "ae_vectors_per_clip": 32, "ae_test_stride": 4, "ae_batch_size": 512,
                 "ae_lr": 1e-3,
                 "mnv2_epochs": 1, "mnv2_lr": 1e-3, "mnv2_batch_size": 32, "mnv2_image_frames": 64,
                 "mnv2_train_hop": 8, "mnv2_test_hop": 8, "mnv2_validation_split": 0.0,
                 "grid_machine_type": "ToyCar", "wav2vec_checkpoint": None, "seeds": (0, 1)},
        "paper": {"clip_seconds": None, "hop_length": 512, "stft_pool": 1, "n_frames": None, "n_pieces": None,
                  "embedding_dim": 128, "ecapa_channels": 512, "epochs": 25, "batch_size": 64, "lr": 1e-3,
                  "weight_decay": 1e-4, "knn_k": 1, "lof_neighbors": 20, "mahalanobis_shrinkage": None,
                  "default_backend": "knn", "score_folds": 5,
                  "w2v_channels": 512, "w2v_context_layers": 9, "w2v_steps": 12, "w2v_pretrain_per_type": 1000,
                  "w2v_epochs": 20, "w2v_batch_size": 32, "w2v_crop_samples": 150_000, "w2v_lr": 5e-3,
                  "w2v_warmup_updates": 500, "w2v_n_frames": None,
                  "ae_epochs": 100, "ae_vectors_per_clip": None, "ae_test_stride": 1, "ae_batch_size": 512,
                  "ae_lr": 1e-3,
                  "mnv2_epochs": 20, "mnv2_lr": 1e-5, "mnv2_batch_size": 32, "mnv2_image_frames": 64,
                  "mnv2_train_hop": 8, "mnv2_test_hop": 1, "mnv2_validation_split": 0.1,
                  "grid_machine_type": "ToyCar", "wav2vec_checkpoint": None, "seeds": (0, 1, 2, 3, 4)},
    },
    # AITHU part 2 (paper 000, section 3.2): WSP-NFCDEE per section, IMDN per machine type, with the
    # per-type features and networks of Tables 7-8 (asdlib/aithu_probabilistic_settings.csv). The
    # paper gives no training schedule: the `paper` values are ours. train_per_section: training
    # clips kept per section (None = all); max_window_frames caps the IMDN window (ci's 2 s clips
    # have only 63 frames); *_stride: hop between IMDN windows in training and in scoring.
    "aithu_probabilistic": {
        "ci": {"train_per_section": 4, "wsp_epochs": 3, "wsp_batch_size": 16, "wsp_lr": 1e-3, "wsp_groups": 2,
               "wsp_transforms": 1, "wsp_hidden": 16, "imdn_epochs": 1, "imdn_batch_size": 64, "imdn_lr": 1e-3,
               "imdn_components": 2, "imdn_train_stride": 8, "imdn_score_stride": 8, "imdn_score_batch": 64,
               "max_window_frames": 31, "seeds": (0,)},
        "demo": {"train_per_section": None, "wsp_epochs": 30, "wsp_batch_size": 16, "wsp_lr": 1e-3, "wsp_groups": 4,
                 "wsp_transforms": 2, "wsp_hidden": 32, "imdn_epochs": 2, "imdn_batch_size": 64, "imdn_lr": 1e-3,
                 "imdn_components": 2, "imdn_train_stride": 128, "imdn_score_stride": 64, "imdn_score_batch": 64,
                 "max_window_frames": None, "seeds": (0, 1, 2)},
        "paper": {"train_per_section": None, "wsp_epochs": 200, "wsp_batch_size": 64, "wsp_lr": 1e-3,
                  "wsp_groups": 4, "wsp_transforms": 3, "wsp_hidden": 64, "imdn_epochs": 30, "imdn_batch_size": 256,
                  "imdn_lr": 1e-3, "imdn_components": 2, "imdn_train_stride": 1, "imdn_score_stride": 1,
                  "imdn_score_batch": 1024, "max_window_frames": None, "seeds": (0, 1, 2, 3, 4)},
    },
    # USTC (paper 002): log-mel + Tgram + wav2vec 2.0 planes, TDNN, CE + batch-hard triplet (+ attribute CE),
    # one model per machine type and experiment of Table I (notebooks/ustc_tgram_wav2vec.md says what demo
    # and ci cut). types: the machine types run when the notebook's machine_types is None (None = all);
    # crop_seconds: central crop of every clip (None = whole clip); source_per_section: source training
    # clips kept per section (None = all; target clips are always kept); tdnn_channels, segment_dim,
    # embedding_dim: the x-vector TDNN's sizes; w2v_config: small_wav2vec2 overrides for the wav2vec 2.0
    # pre-trained here when no checkpoint is given; w2v_clips_per_type: training clips per type it sees
    # (None = all); w2v_finetune_epochs: self-supervised epochs on a loaded checkpoint; ae_*: the
    # DCASE autoencoder baseline of Table VI; wav2vec2_checkpoint: a local wav2vec 2.0 checkpoint (Hugging Face
    # folder or torchaudio state dict) fine-tuned instead of pre-training one (`--set wav2vec2_checkpoint=...`).
    # The paper gives only Adam, lr 2e-4, 100 epochs: the rest is ours.
    "ustc_tgram_wav2vec": {
        "ci": {"types": ("slider", "valve"), "crop_seconds": 1.0, "source_per_section": None, "epochs": 1,
               "batch_size": 16, "lr": 1e-3, "triplet_margin": 0.3, "tdnn_channels": (32, 32, 32, 32, 64),
               "segment_dim": 32, "embedding_dim": 16,
               "w2v_config": {"conv_channels": 32, "embed_dim": 32, "num_layers": 1, "num_heads": 2, "ff_dim": 64,
                              "pos_conv_kernel": 16, "pos_conv_groups": 4},
               "w2v_clips_per_type": 8, "w2v_epochs": 1, "w2v_finetune_epochs": 1, "w2v_batch_size": 4,
               "w2v_crop_seconds": 0.5, "w2v_lr": 5e-4, "w2v_warmup_fraction": 0.08, "w2v_layer": -1,
               "ae_epochs": 1, "ae_batch_size": 512, "ae_lr": 1e-3, "tsne_perplexity": 3.0, "wav2vec2_checkpoint": None,
               "seeds": (0,)},
        "demo": {"types": None, "crop_seconds": 2.0, "source_per_section": None, "epochs": 3, "batch_size": 32,
                 "lr": 1e-3, "triplet_margin": 0.3, "tdnn_channels": (128, 128, 128, 128, 384), "segment_dim": 128,
                 "embedding_dim": 128,
                 "w2v_config": {"conv_channels": 32, "embed_dim": 128, "num_layers": 2, "num_heads": 4,
                                "ff_dim": 256, "pos_conv_kernel": 32, "pos_conv_groups": 8},
                 "w2v_clips_per_type": 48, "w2v_epochs": 2, "w2v_finetune_epochs": 1, "w2v_batch_size": 8,
                 "w2v_crop_seconds": 1.0, "w2v_lr": 5e-4, "w2v_warmup_fraction": 0.08, "w2v_layer": -1,
                 "ae_epochs": 5, "ae_batch_size": 512, "ae_lr": 1e-3, "tsne_perplexity": 10.0, "wav2vec2_checkpoint": None,
                 "seeds": (0, 1, 2)},
        "paper": {"types": None, "crop_seconds": None, "source_per_section": None, "epochs": 100, "batch_size": 64,
                  "lr": 2e-4, "triplet_margin": 0.3, "tdnn_channels": (512, 512, 512, 512, 1500), "segment_dim": 512,
                  "embedding_dim": 128, "w2v_config": {}, "w2v_clips_per_type": None, "w2v_epochs": 10,
                  "w2v_finetune_epochs": 5, "w2v_batch_size": 8, "w2v_crop_seconds": None, "w2v_lr": 5e-4,
                  "w2v_warmup_fraction": 0.08, "w2v_layer": -1, "ae_epochs": 100, "ae_batch_size": 512,
                  "ae_lr": 1e-3, "tsne_perplexity": 30.0, "wav2vec2_checkpoint": None, "seeds": (0, 1, 2, 3, 4)},
    },
}


# Chapters that read other chapters' results records (their kept clip scores): `asd run` starts
# their runs only after every run of the chapters they require has ended.
CHAPTER_REQUIRES: dict[str, tuple[str, ...]] = {
    "aithu_aegan_ensembles": ("aithu_classifiers", "aithu_probabilistic"),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name fails with the valid ones."""
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is not a profile; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


def chapter_settings(chapter: str, profile: str, overrides: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """The read-only settings of ``chapter`` under ``profile``, with ``overrides`` (``asd run
    --set KEY=VALUE``) applied after :func:`check_overrides`."""
    get_profile(profile)
    if chapter not in CHAPTER_SETTINGS:
        raise ValueError(f"chapter {chapter!r} has no settings; known chapters: {', '.join(CHAPTER_SETTINGS)}")
    settings = dict(CHAPTER_SETTINGS[chapter][profile])
    settings.update(check_overrides(chapter, overrides or {}))
    return MappingProxyType(settings)


def _kinds(value: Any) -> set[type]:
    """The types a setting may take, judged from one profile's value (int is a float too)."""
    kind = type(value)
    if kind is int:
        return {int}
    if kind is float:
        return {float, int}
    if kind in (tuple, list):
        return {tuple, list}
    return {kind}


def check_overrides(chapter: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` checked against ``chapter``'s settings and converted to their types.

    A key the chapter does not have fails with the valid keys; a value whose type no
    profile of the chapter uses (``epochs="three"``) fails with the expected type.
    ``None`` is accepted where a profile uses it; a setting that is ``None`` in every
    profile (a checkpoint path) takes a string. Lists become tuples where the settings
    hold tuples; integers become floats where they hold floats.
    """
    if chapter not in CHAPTER_SETTINGS:
        raise ValueError(f"chapter {chapter!r} has no settings; known chapters: {', '.join(CHAPTER_SETTINGS)}")
    profiles = CHAPTER_SETTINGS[chapter]
    valid = sorted({key for block in profiles.values() for key in block})
    checked: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in valid:
            raise ValueError(f"{chapter}: {key!r} is not a setting of this chapter; valid settings: {', '.join(valid)}")
        values = [block[key] for block in profiles.values() if key in block]
        kinds = set().union(*(_kinds(v) for v in values))
        if all(v is None for v in values):
            kinds = {type(None), str}
        if type(value) not in kinds:
            names = " or ".join(sorted(k.__name__ for k in kinds))
            raise ValueError(f"{chapter}: setting {key}={value!r} has type {type(value).__name__}; "
                             f"expected {names} (the profiles use {', '.join(repr(v) for v in values)})")
        if isinstance(value, list) and any(isinstance(v, tuple) for v in values):
            value = tuple(value)
        elif type(value) is int and any(type(v) is float for v in values) and not any(type(v) is int for v in values):
            value = float(value)
        checked[key] = value
    return checked


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``["epochs=3", "lr=1e-4", "wav2vec_checkpoint=/models/w.pt"]`` -> a dict (a key may be
    ``STEM.KEY``, a setting of one chapter): each value is read as a Python literal (numbers, None, True, tuples, dicts) and else kept as a
    string. A malformed item fails naming it."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        stem, _, name = key.rpartition(".")  # STEM.KEY: the setting of one chapter
        if not sep or not name.isidentifier() or (stem and not stem.replace("-", "_").isidentifier()
                                                   and not stem.replace("-", "_").isalnum()
                                                   and not stem.replace("_", "").isalnum()):
            raise ValueError(f"--set {item!r}: give KEY=VALUE, e.g. --set epochs=3")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        if key in parsed:
            raise ValueError(f"--set {key} is given twice")
        parsed[key] = value
    return parsed


def default_seeds(chapter: str, profile: str, overrides: Mapping[str, Any] | None = None) -> tuple[int, ...]:
    """The seeds a chapter runs with when none are given: its own ``seeds`` setting (a
    chapter with nothing random runs once; ``overrides`` may set it), else the profile's."""
    prof = get_profile(profile)
    settings = {**CHAPTER_SETTINGS.get(chapter, {}).get(profile, {}), **(overrides or {})}
    return tuple(settings.get("seeds", prof.default_seeds))
