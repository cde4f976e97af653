"""Chapter ``gan_adaptations_dcase2020``: de Oliveira Neto & Figueiredo (paper 001), the DCASE
2020 autoencoder, GANomaly, Skip-GANomaly and EGBAD."""

from __future__ import annotations

from dataclasses import dataclass, field

from asdlib.chapters.papers import GANS
from asdlib.chapters.spec import ChapterSpec, Claim, Evidence

SYSTEMS = ("DCASE 2020 autoencoder", "GANomaly", "Skip-GANomaly", "EGBAD")


@dataclass(frozen=True)
class GANSettings:
    """One model per machine type and system, the last epoch's weights.

    types: the machine types run when the notebook's machine_types is None (None = all);
    systems: the systems trained (None = all four);
    epochs: epochs of the autoencoder (and of every system when gan_epochs is None);
    gan_epochs: epochs of the three GANs (None = epochs);
    vectors_per_clip: 640-d vectors drawn at random from each training clip, per seed
    (None: all); test_vector_stride: every n-th vector of a test clip is scored (1: all);
    batch_size, lr: per system (the DCASE baseline's and the original GAN codes');
    init_output_bias: the output layer's bias starts at the mean training vector;
    subtract_clip_mean: each clip's log-mel has its own mean per mel band (over the clip's
    frames) subtracted before the frames are stacked into vectors (a demo deviation; the paper
    feeds the log-mel as it is);
    clip_score: how a clip's score is made from the scores of its vectors, "mean" (the paper's
    "mean of the errors of each audio clip") or "median" (a demo deviation);
    ae_validation_split: the fraction of the autoencoder's training vectors held out (the DCASE
    baseline's Keras ``fit(validation_split=0.1)``, the last clips in file order; 0, ours: all);
    d_check_every: GANomaly's and Skip-GANomaly's D is re-initialised when its loss is below
    1e-5 at a check every this many steps (the original code checks every step: 1; ours 10,
    where the losses are read from the device anyway);
    curve_epochs, curve_vectors_per_clip, curve_test_vector_stride: the training of the
    stability section (first machine type, first seed), whose test AUC per epoch is a
    diagnostic and an oracle, never used by the main results; curve_epochs None: the
    diagnostic is read during the main training of that type and seed (its epochs, vectors
    and test stride), and nothing is trained twice.
    """

    types: tuple[str, ...] | None = None
    systems: tuple[str, ...] | None = None
    epochs: int = 100
    gan_epochs: int | None = None
    vectors_per_clip: int | None = None
    test_vector_stride: int = 1
    batch_size: dict[str, int] = field(default_factory=lambda: {
        "DCASE 2020 autoencoder": 512, "GANomaly": 64, "Skip-GANomaly": 64, "EGBAD": 50})
    lr: dict[str, float] = field(default_factory=lambda: {
        "DCASE 2020 autoencoder": 1e-3, "GANomaly": 2e-4, "Skip-GANomaly": 2e-4, "EGBAD": 1e-5})
    init_output_bias: bool = False
    subtract_clip_mean: bool = False
    clip_score: str = "mean"
    ae_validation_split: float = 0.0
    d_check_every: int = 10
    curve_epochs: int | None = 100
    curve_vectors_per_clip: int | None = None
    curve_test_vector_stride: int = 1
    seeds: tuple[int, ...] | None = (0, 1, 2, 3, 4)


DEMO_TYPES = ("ToyConveyor", "slider", "valve")
"""The demo's machine types, fixed in advance by their fault kinds (``synth.json``), not by
results. Every system here scores 160 ms windows (five log-mel frames) and averages them over
the clip, so it can see a fault that makes short-time spectra no normal clip has: the conveyor's
belt slap and flap and its changed roller passes, the slide rail's knock, stick-slip chatter and
speed wobble, the valve's flow while closed, late snap and coil rattle. These are the three types
whose faults are all (or all but one) such events; the reference detector, which averages the
clip's spectrum first, sees them least. The other three types (ToyCar, fan, pump) have one or
two faults of stationary spectral change each and run under ``paper``. Three of six types is
what the budget pays for."""

DEMO_SYSTEMS = ("DCASE 2020 autoencoder", "GANomaly", "Skip-GANomaly")
"""The demo trains the baseline and the two GANomaly variants, whose generators are autoencoders
trained with a reconstruction term: they learn within a few hundred updates. EGBAD runs under
``paper`` only: nothing in a BiGAN's objective asks for a reconstruction, G(E(x)) approaches x
only near the game's equilibrium, and that needs the paper's 100 epochs, not a CPU demo's."""

DEMO_INPUTS = {"subtract_clip_mean": True, "clip_score": "median"}
"""The demo's inputs and clip scores, chosen on an independent synthetic data set (the generator's
seed 1, never the seed of the demo's own data): every clip of the synthetic set has its own room
response (a smooth equalisation and early reflections) that moves each mel band's level by a few
dB, so a normal clip of an unheard room is reconstructed badly; subtracting each clip's mean per
band removes that offset (and with it any fault that only changes a band's level for the whole
clip). The median of the vector scores lets a clip's score follow its typical window rather
than its few worst-fitting ones."""

_CPU = {"batch_size": dict.fromkeys(SYSTEMS, 256),
        "lr": {"DCASE 2020 autoencoder": 3e-3, "GANomaly": 1e-3, "Skip-GANomaly": 1e-3, "EGBAD": 2e-4},
        "init_output_bias": True}
CLAIMS = (
    Claim("G1", "GANomaly beats the DCASE 2020 autoencoder", "GANomaly", "DCASE 2020 autoencoder",
          paper=Evidence("Fig. 4d (Sec. 4.3.1 text)", "GANomaly", "DCASE", metric="auc_mean")),
    Claim("G2", "Skip-GANomaly is at least level with the autoencoder", "Skip-GANomaly", "DCASE 2020 autoencoder",
          paper=Evidence("Fig. 4d (Sec. 4.3.1 text)", "SGANomaly", "DCASE", metric="auc_mean")),
    Claim("G3", "GANomaly beats Skip-GANomaly", "GANomaly", "Skip-GANomaly",
          paper=Evidence("Fig. 4d (Sec. 4.3.1 text)", "GANomaly", "SGANomaly", metric="auc_mean")),
    Claim("G4", "EGBAD does not beat the autoencoder", "DCASE 2020 autoencoder", "EGBAD",
          paper=Evidence("Tabela 2", "DCASE", "EGBAD", metric="auc_mean", machine_type="mean")),
)
"""The paper's claims (:mod:`asdlib.claims`), on the year's per-type score (DCASE 2020: the mean AUC over
machine IDs; a later year's data: its official score); G4 needs EGBAD (``paper``)."""

SPEC = ChapterSpec(
    stem="gan_adaptations_dcase2020", claims=CLAIMS, paper=GANS, settings_class=GANSettings,
    none_means={"types": "all", "systems": "all four", "gan_epochs": "epochs", "vectors_per_clip": "all",
                "curve_epochs": "the main training's", "curve_vectors_per_clip": "all"},
    profiles={
        "demo": {**_CPU, "types": DEMO_TYPES, "systems": DEMO_SYSTEMS, "epochs": 10, "gan_epochs": 6,
                 **DEMO_INPUTS, "curve_epochs": None, "seeds": (0, 1, 2)},
        "ci": {**_CPU, **DEMO_INPUTS, "epochs": 1, "vectors_per_clip": 8, "curve_epochs": 2, "curve_vectors_per_clip": 8,
               "seeds": (0,)},
    },
)
