"""Chapter ``gan_adaptations_dcase2020``: de Oliveira Neto & Figueiredo (paper 001), the DCASE
2020 autoencoder, GANomaly, Skip-GANomaly and EGBAD."""

from __future__ import annotations

from dataclasses import dataclass, field

from asdlib.chapters.papers import GANS
from asdlib.chapters.spec import ChapterSpec

SYSTEMS = ("DCASE 2020 autoencoder", "GANomaly", "Skip-GANomaly", "EGBAD")


@dataclass(frozen=True)
class GANSettings:
    """One model per machine type and system, the last epoch's weights.

    vectors_per_clip: 640-d vectors drawn at random from each training clip, per seed
    (None: all); test_vector_stride: every n-th vector of a test clip is scored (1: all);
    batch_size, lr: per system (the DCASE baseline's and the original GAN codes');
    init_output_bias: the output layer's bias starts at the mean training vector;
    curve_epochs, curve_vectors_per_clip, curve_test_vector_stride: the longer training of
    the stability section (first machine type, first seed), whose test AUC per epoch is a
    diagnostic and an oracle, never used by the main results.
    """

    epochs: int = 100
    vectors_per_clip: int | None = None
    test_vector_stride: int = 1
    batch_size: dict[str, int] = field(default_factory=lambda: {
        "DCASE 2020 autoencoder": 512, "GANomaly": 64, "Skip-GANomaly": 64, "EGBAD": 50})
    lr: dict[str, float] = field(default_factory=lambda: {
        "DCASE 2020 autoencoder": 1e-3, "GANomaly": 2e-4, "Skip-GANomaly": 2e-4, "EGBAD": 1e-5})
    init_output_bias: bool = False
    curve_epochs: int = 100
    curve_vectors_per_clip: int | None = None
    curve_test_vector_stride: int = 1
    seeds: tuple[int, ...] | None = (0, 1, 2, 3, 4)


_CPU = {"batch_size": dict.fromkeys(SYSTEMS, 512),
        "lr": {"DCASE 2020 autoencoder": 1e-3, "GANomaly": 2e-4, "Skip-GANomaly": 2e-4, "EGBAD": 2e-4},
        "init_output_bias": True}

SPEC = ChapterSpec(
    stem="gan_adaptations_dcase2020", paper=GANS, settings_class=GANSettings,
    profiles={
        "demo": {**_CPU, "epochs": 5, "vectors_per_clip": 32, "test_vector_stride": 2, "curve_epochs": 30,
                 "curve_vectors_per_clip": 8, "curve_test_vector_stride": 8, "seeds": (0, 1, 2)},
        "ci": {**_CPU, "epochs": 1, "vectors_per_clip": 8, "curve_epochs": 2, "curve_vectors_per_clip": 8,
               "seeds": (0,)},
    },
)
