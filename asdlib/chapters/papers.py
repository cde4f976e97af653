"""The four reproduced papers (their text copies are ``shared/papers/<key>_*.txt``)."""

from __future__ import annotations

from asdlib.chapters.spec import Paper

AITHU = Paper("000", "Liu et al. 2022 (AITHU)", "Liu, Deng, Jiang et al.",
              "AITHU system for unsupervised anomalous detection of machine working status via sounding",
              "DCASE 2022 Task 2 technical report", 2022, cite="liu2022aithu")
GANS = Paper("001", "de Oliveira Neto & Figueiredo (GANs, DCASE 2020)", "de Oliveira Neto, Figueiredo",
             "Análise de redes GANs para detecção de anomalias em atividade sonoras",
             "Portuguese-language conference paper (DCASE 2020 Task 2 data)", None,
             cite="deoliveira2021gans")
USTC = Paper("002", "Wang, Du & Wang 2022 (APSIPA)", "Wang, Du, Wang",
             "Machine anomalous sound detection based on self-supervised classification", "APSIPA ASC 2022", 2022,
             cite="wang2022ustc")
WILKINGHOFF = Paper("003", "Wilkinghoff 2023 (ICASSP)", "Wilkinghoff",
                    "Design choices for learning embeddings from auxiliary tasks for domain generalization in "
                    "anomalous sound detection", "ICASSP 2023", 2023, cite="wilkinghoff2023design")

PAPERS: dict[str, Paper] = {p.key: p for p in (AITHU, GANS, USTC, WILKINGHOFF)}
"""Paper key -> :class:`Paper`; ``PAPERS[k].short`` is the ``paper`` column of the published file."""

AITHU_DEMO_TYPES = ("ToyCar", "bearing", "slider", "valve")
"""The machine types of the three AITHU chapters' demo (the ensembles combine the same types),
chosen in advance for their fault kinds: gear, tyre and brush faults of a toy on log-mel input;
impulsive periodic bearing faults; friction squeal, stick-slip and belt faults of the slider (one
of AEGAN-AD's critic types); transient on/off timing faults of the valve. Left to ``paper``:
ToyTrain (its Table 3 backbone, Cnn6, costs about three times the others per update), fan and
gearbox (budget)."""
