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

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


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
    # AITHU part 2 (paper 000, section 3.2): WSP-NFCDEE per section, IMDN per machine type, with the
    # per-type features and networks of Tables 7-8 (asdlib/aithu_probabilistic_settings.csv). The
    # paper gives no training schedule: the `paper` values are ours. train_per_section: training
    # clips kept per section (None = all); max_window_frames caps the IMDN window (ci's 2 s clips
    # have only 63 frames); *_stride: hop between IMDN windows in training and in scoring.
    "aithu_probabilistic": {
        "ci": {"train_per_section": 4, "wsp_epochs": 3, "wsp_batch_size": 16, "wsp_lr": 1e-3, "wsp_groups": 2,
               "wsp_transforms": 1, "wsp_hidden": 16, "imdn_epochs": 1, "imdn_batch_size": 64, "imdn_lr": 1e-3,
               "imdn_components": 2, "imdn_train_stride": 8, "imdn_score_stride": 8, "max_window_frames": 31,
               "seeds": (0,)},
        "demo": {"train_per_section": None, "wsp_epochs": 60, "wsp_batch_size": 16, "wsp_lr": 1e-3, "wsp_groups": 4,
                 "wsp_transforms": 2, "wsp_hidden": 32, "imdn_epochs": 2, "imdn_batch_size": 64, "imdn_lr": 1e-3,
                 "imdn_components": 2, "imdn_train_stride": 32, "imdn_score_stride": 32, "max_window_frames": None,
                 "seeds": (0, 1, 2)},
        "paper": {"train_per_section": None, "wsp_epochs": 200, "wsp_batch_size": 64, "wsp_lr": 1e-3,
                  "wsp_groups": 4, "wsp_transforms": 3, "wsp_hidden": 64, "imdn_epochs": 30, "imdn_batch_size": 256,
                  "imdn_lr": 1e-3, "imdn_components": 2, "imdn_train_stride": 1, "imdn_score_stride": 1,
                  "max_window_frames": None, "seeds": (0, 1, 2, 3, 4)},
    },
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name fails with the valid ones."""
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is not a profile; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


def chapter_settings(chapter: str, profile: str) -> Mapping[str, Any]:
    """The read-only settings of ``chapter`` under ``profile``."""
    get_profile(profile)
    if chapter not in CHAPTER_SETTINGS:
        raise ValueError(f"chapter {chapter!r} has no settings; known chapters: {', '.join(CHAPTER_SETTINGS)}")
    return MappingProxyType(dict(CHAPTER_SETTINGS[chapter][profile]))


def default_seeds(chapter: str, profile: str) -> tuple[int, ...]:
    """The seeds a chapter runs with when none are given: its own ``seeds`` setting (a
    chapter with nothing random runs once), else the profile's."""
    prof = get_profile(profile)
    return tuple(CHAPTER_SETTINGS.get(chapter, {}).get(profile, {}).get("seeds", prof.default_seeds))
