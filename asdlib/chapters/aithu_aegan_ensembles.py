"""Chapter ``aithu_aegan_ensembles``: AITHU part 3 (paper 000, sections 3.3 and 4), AEGAN-AD
and the four ensembles of Table 10 over the clip scores kept by parts 1 and 2."""

from __future__ import annotations

from dataclasses import dataclass

from asdlib.chapters.papers import AITHU, AITHU_DEMO_TYPES
from asdlib.chapters.spec import ChapterSpec, Claim, Evidence


@dataclass(frozen=True)
class AEGANEnsembleSettings:
    """AEGAN-AD per machine type, the ensembles over the records of ``aithu_classifiers`` and
    ``aithu_probabilistic`` (same profile and data).

    types: the machine types run (None = all; demo: the AITHU demo's four, those of the records
    it combines); n_mels = patch_size: the patches are n_mels x patch_size (paper: 128 x 128); train_hop,
    score_hop: frames between patch starts (the code: 1); width, latent: the AEGAN-AD
    networks' ndf/ngf and nz; epochs: ours (the paper gives none); mu, gp_lambda: eq. (6)
    and (5); knn_k, lof_neighbors: the critic-embedding detectors; dc_*: submission 1's
    Cnn6 domain classifier (dc_frames: central crop of each clip, None = whole clip;
    dc_source_per_target: source clips per target clip in its training set); grid_step:
    of the ensembles' simplex grid.
    """

    types: tuple[str, ...] | None = None
    n_mels: int = 128
    patch_size: int = 128
    train_hop: int = 1
    score_hop: int = 1
    width: int = 32
    latent: int = 256
    epochs: int = 100
    batch_size: int = 512
    lr: float = 2e-4
    mu: float = 0.1
    gp_lambda: float = 10.0
    score_batch: int = 512
    knn_k: int = 1
    lof_neighbors: int = 20
    dc_n_mels: int = 64
    dc_frames: int | None = None
    dc_source_per_target: int = 2
    dc_epochs: int = 20
    dc_batch_size: int = 32
    dc_lr: float = 1e-3
    grid_step: float = 0.1
    seeds: tuple[int, ...] | None = (0, 1, 2, 3, 4)

EQUAL_WEIGHTS = "equal-weights ensemble"
"""Our control, not the paper's: the six subsystems standardised as submission 2, every weight 1/6,
AEGAN-AD's score function fixed in advance (no label used anywhere)."""
BEST_SINGLE = "best single subsystem (leave-one-section-out)"
"""Our control, not the paper's: per section the one subsystem (AEGAN-AD's function chosen in the
same fold) best on the other development sections' labels (:func:`asdlib.ensembles.best_single_weights`)."""

def require_development_sections(index, machine_types, *, at_least: int = 2) -> None:
    """Fail early, naming the reason, where a machine type of ``machine_types`` has fewer than
    ``at_least`` development sections in ``index`` (columns ``machine_type``, ``section``, ``part``).

    The chapter's honest rule (:func:`asdlib.ensembles.honest_weights`, and the control
    :data:`BEST_SINGLE`) chooses each section's weights and AEGAN-AD's score function on the labels
    of the machine type's OTHER development sections. The DCASE 2022 layout has three per type; the
    DCASE 2023-2025 first-shot layouts have one section per type (``section_00``), and their
    evaluation types none in the development set, so there is no section to choose on: this
    chapter does not run there (its two subsystem chapters do)."""
    counts = {mt: int(index.loc[(index["machine_type"] == mt) & (index["part"] == "dev"), "section"].nunique())
              for mt in machine_types}
    short = {mt: n for mt, n in counts.items() if n < at_least}
    if short:
        raise ValueError(
            f"aithu_aegan_ensembles needs at least {at_least} development sections per machine type: its honest "
            "rule chooses each section's weights and AEGAN-AD's score function on the labels of the type's other "
            "development sections (leave one section out), and "
            + ", ".join(f"{mt} has {n}" for mt, n in short.items())
            + " (the DCASE 2023-2025 first-shot layouts have one section per machine type, their evaluation "
              "types none in the development set); run it on DCASE 2022-layout data, or run aithu_classifiers "
              "and aithu_probabilistic alone on these types")


CLAIMS = (
    Claim("E1", "submission 1 beats submission 2 (the domain classifier's weights help)", "AITHU submission 1",
          "AITHU submission 2", paper=Evidence("Table 10", "submission-1", "submission-2")),
    Claim("E2", "the ensemble beats the AEGAN-AD subsystem", "AITHU submission 1", "AEGAN-AD",
          paper=Evidence("Table 10", "submission-1", "AEGAN-AD", worse_table="Table 9")),
    Claim("E3", "six subsystems beat two (submission 1 against submission 4)", "AITHU submission 1",
          "AITHU submission 4", paper=Evidence("Table 10", "submission-1", "submission-4")),
    Claim("E4", "the ensemble beats its best subsystem, SC", "AITHU submission 1", "SC",
          paper=Evidence("Table 10", "submission-1", "SC", machine_type="mean", worse_table="Table 3")),
    Claim("E5", "the searched weights beat equal weights (same six subsystems, same standardisation)",
          "AITHU submission 2", EQUAL_WEIGHTS,
          where="Section 4 / Table 10: the ensembles' weights are searched on a grid; "
                "the paper reports no equal-weights ensemble"),
    Claim("E6", "the ensemble beats the best single subsystem chosen without the section's own labels",
          "AITHU submission 1", BEST_SINGLE,
          where="Section 4 / Table 10 against Tables 3-5 and 7-9: the paper compares the ensembles with "
                "subsystems tuned on the same development set; it reports no single subsystem chosen "
                "leave-one-section-out"),
)
"""The paper's claims (:mod:`asdlib.claims`); E4 reads SC from the records of ``aithu_classifiers``.
E5 and E6 test the ensembles against our two controls (:data:`EQUAL_WEIGHTS`, :data:`BEST_SINGLE`),
systems the paper does not have: the ledger shows no published difference for them."""


SPEC = ChapterSpec(
    stem="aithu_aegan_ensembles", claims=CLAIMS, paper=AITHU, settings_class=AEGANEnsembleSettings,
    requires=("aithu_classifiers", "aithu_probabilistic"),
    profiles={
        "demo": {"types": AITHU_DEMO_TYPES, "n_mels": 32, "patch_size": 32, "train_hop": 8, "score_hop": 16,
                 "width": 16, "latent": 128, "epochs": 10, "batch_size": 64, "score_batch": 256, "dc_n_mels": 32,
                 "dc_frames": 32, "dc_epochs": 10, "dc_batch_size": 16, "seeds": (0, 1)},
        "ci": {"n_mels": 32, "patch_size": 32, "train_hop": 16, "score_hop": 16, "width": 8, "latent": 32,
               "epochs": 1, "batch_size": 64, "score_batch": 256, "lof_neighbors": 5, "dc_n_mels": 32,
               "dc_frames": 32, "dc_epochs": 1, "dc_batch_size": 16, "grid_step": 0.25, "seeds": (0,)},
    },
)
