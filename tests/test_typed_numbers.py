"""No typed results: every number in the prose of the chapters, the book's pages and the README
is a number the paper prints (as printed, rounded, as a fraction, or the difference of two
numbers of one of its tables), a value of the chapter's settings, a reference (``Table 7``,
``sections 00 to 02``, a year) or a constant of the method or the data named below with its
reason.

Numbers about a run are computed by the code cells (printed, glued or generated text), so
they never go stale; this test reads the Markdown cells only, with inline and display math
and inline code left out."""

import itertools
import json
import re
from pathlib import Path

import jupytext
import pandas as pd
import pytest

from asdlib.certify import PAIRED_MIN
from asdlib.chapters import CHAPTERS
from asdlib.chapters.spec import as_dict
from asdlib.results import PUBLISHED_CSV

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.md")) + sorted((ROOT / "book").glob("*.md")) + [ROOT / "README.md"]

METHOD_CONSTANTS: dict[str, str] = {
    "16": "the 16 kHz sampling rate of DCASE audio",
    "1024": "the DCASE log-mel's FFT and window length (samples)",
    "512": "the DCASE log-mel's hop (samples)",
    "128": "the DCASE log-mel's mel bands, and the baseline's layer width",
    "640": "five stacked 128-band log-mel frames, the DCASE autoencoder's input",
    "313": "log-mel frames of a 10 s clip at hop 512", "311": "STFT frames of a 10 s clip, uncentred",
    "340": "vectors of an 11 s DCASE 2020 ToyCar clip", "344": "log-mel frames of an 11 s clip",
    "499": "wav2vec 2.0 frames of a 10 s clip", "513": "frequency bins of a 1024-point FFT",
    "2048": "AITHU's STFT length (Table 3)", "1025": "frequency bins of a 2048-point FFT",
    "192": "AITHU's input pieces of 192 frames (Table 3)",
    "990": "source training clips per DCASE 2022 section", "160": "five frames of 32 ms hop: 160 ms",
    "000": "a thousands group (160 000 samples)",
    **{f"0{i}": "a DCASE section number" for i in range(6)}, "003": "the paper's file key in shared/papers",
}
"""Constants of the method and of the DCASE data, for every source."""

CONSTANTS: dict[str, dict[str, str]] = {
    "00_task_data_metrics": {
        "0.567": "the worked example's official AUC(target), on the toy scores the chapter defines",
        "0.649": "the worked example's standardised pAUC, on the same toy scores",
        "14": "the worked example: pairs ranked right", "15": "the worked example: pairs",
        "6": "the worked example: anomalies", "10": "target training clips per DCASE 2022 section; the pAUC's 10 %",
        f"{100 * PAIRED_MIN:.0f}": "asdlib.certify.PAIRED_MIN, the paired-fault test's bound",
        "30": "the demo preset's source training clips per class", "5": "seconds of audio each player plays",
    },
    "aithu_aegan_ensembles": {"18": "AEGAN-AD's reconstruction and critic scores", "22": "with the four critic scores"},
    "aithu_classifiers": {"6": "the 6-layer CNN of PANNs (Cnn6)", "210": "wav2vec's receptive field, ms",
                          "7": "a DCASE 2022 type's clips in thousands (7 200)", "200": "(7 200)",
                          "125": "64 linear bands of 8 kHz: 125 Hz"},
    "aithu_probabilistic": {"94": "log-mel frames of a 3 s clip"},
    "gan_adaptations_dcase2020": {"90": "GANomaly's and Skip-GANomaly's score weight, 0.9 (Akcay et al.)",
                                  "18": "AEGAN-AD's scores (the next chapter)", "22": "(the next chapter)",
                                  "11": "the 11 s DCASE 2020 ToyCar clips", "200": "the image GANs' latent sizes"},
    "ustc_tgram_wav2vec": {"23": "the paper's reference number [23]", "20": "wav2vec 2.0's frame rate, ms",
                           "25": "wav2vec 2.0's receptive field, ms", "12": "the paper's attribute classes (fan)",
                           "11": "the 11 s ToyCar clips"},
    "wilkinghoff_design_choices": {"1": "10 target clips among the 1000 of a DCASE 2022 section",
                                   "342": "the paper's number of auxiliary classes",
                                   "7": "Tables 3 to 7"},
    "develop": {"5": "a list item's number"},
    "reproduce": {"1440": "submitit's default time limit, minutes", "256": "the default array parallelism"},
    "README": {f"{100 * PAIRED_MIN:.0f}": "asdlib.certify.PAIRED_MIN",
               "95": "the confidence level of the ± half-widths of the benchmarks",
               "11": "the 11 s DCASE 2020 ToyCar clips", "6": "the demo preset's target clips per section",
               "20": "the demo preset's test clips per domain", "10": "DCASE 2022's target clips; 10 s clips",
               "30": "the demo preset's source training clips per class"},
}
"""Per source: the other numbers its prose may print, with the reason."""

NUMBER = re.compile(r"(?<![\w.\\{-])(\d+(?:\.\d+)?)(?![\w}])")
HIDDEN = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|```.*?```|`[^`]*`", flags=re.S)
REFERENCE = re.compile(r"(Tables?|Tabela|TABLE|Figs?\.|Figures?|Sections?|Sec\.|eqs?\.|Eq\.|equations?|Exp\.|"
                       r"[Ee]xperiments?|sections?|submissions?|p\.|pp\.|pages?|ICASSP|DCASE|IDs?|Task|[Ss]tages?|"
                       r"subsystems?|[Dd]esign choice)\s[\d, andto-]*$")


def published_forms() -> set[str]:
    """Every way the prose may write a published number: as printed, rounded to 1 or 0 decimals,
    as a fraction, and the difference of two numbers of one (paper, table, metric)."""
    pub = pd.read_csv(PUBLISHED_CSV, dtype=str, keep_default_na=False)
    forms = set(pub["value"])
    for value in pub["value"].astype(float):
        forms |= {f"{value:.1f}", f"{value:.0f}", f"{value / 100:.2f}", f"{value / 100:.4f}"}
    for _, group in pub.groupby(["paper", "table", "metric"]):
        for a, b in itertools.permutations(group["value"].astype(float), 2):
            forms |= {f"{abs(a - b):.1f}", f"{abs(a - b):.2f}"}
    return forms


def setting_values(stem: str) -> set[str]:
    """The numbers of a chapter's settings under every profile (the paper's and the demo's values)."""
    if stem not in CHAPTERS:
        return set()
    spec = CHAPTERS[stem]
    text = " ".join(json.dumps(as_dict(spec.settings(p)), default=str) for p in ("paper", *spec.profiles))
    return set(re.findall(r"\d+(?:\.\d+)?", text))


def prose(path: Path) -> list[str]:
    if path.parent.name == "notebooks":
        return [c.source for c in jupytext.read(path).cells if c.cell_type == "markdown"]
    return [path.read_text()]


def typed_numbers(path: Path, forms: set[str]) -> list[str]:
    allowed = forms | setting_values(path.stem) | set(METHOD_CONSTANTS) | set(CONSTANTS.get(path.stem, {}))
    found = []
    for text in prose(path):
        for line in HIDDEN.sub(" ", text).splitlines():
            for match in NUMBER.finditer(line):
                value = match.group(1)
                if value in allowed or REFERENCE.search(line[:match.start()]):
                    continue
                if re.fullmatch(r"20[0-3]\d", value):   # a year
                    continue
                found.append(f"{value!r} in '...{line[max(0, match.start() - 50):match.end() + 20]}...'")
    return found


def test_the_scanner_finds_a_typed_result_and_passes_published_ones_and_references(tmp_path):
    forms = published_forms()
    page = tmp_path / "page.md"
    page.write_text("Our presented system scores 31.4159 % here and beats it on 37 types, the paper's 81.36 "
                    "in Table 7, sections 00 to 02, $x = 0.25$ and `n = 3`.\n")
    found = typed_numbers(page, forms)
    assert len(found) == 2 and "'31.4159'" in found[0] and "'37'" in found[1]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_no_typed_numbers_in_prose(path):
    found = typed_numbers(path, published_forms())
    assert not found, (f"{path.relative_to(ROOT)}: numbers in prose that are neither published, a setting, a "
                       f"reference nor a named constant (compute them in a code cell, or add the constant with "
                       f"its reason to CONSTANTS):\n" + "\n".join(found))
