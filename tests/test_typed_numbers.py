"""No typed results: every decimal number and every percentage in the prose of the chapters
and the book's pages is a number the paper prints (as printed, rounded, as a fraction, or
the difference of two numbers of one of its tables) or a constant of the method named below.

Numbers about a run are computed by the code cells (printed, glued or generated text), so
they never go stale; this test reads the Markdown cells only, with inline and display math
and inline code left out."""

import itertools
import re
from pathlib import Path

import jupytext
import pandas as pd
import pytest

from asdlib.certify import PAIRED_MIN
from asdlib.results import PUBLISHED_CSV

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.md")) + sorted((ROOT / "book").glob("*.md")) + [ROOT / "README.md"]

CONSTANTS: dict[str, dict[str, str]] = {
    "00_task_data_metrics": {
        "0.567": "the worked example's official AUC(target), on the toy scores the chapter defines",
        "0.649": "the worked example's standardised pAUC, on the same toy scores",
        "10": "the pAUC's false-positive-rate limit, 10 %",
        f"{100 * PAIRED_MIN:.0f}": "asdlib.certify.PAIRED_MIN, the paired-fault test's bound",
    },
    "gan_adaptations_dcase2020": {"90": "GANomaly's and Skip-GANomaly's score weight, 0.9 (Akcay et al.)"},
    "wilkinghoff_design_choices": {"1": "10 target clips among the 1000 of a DCASE 2022 section"},
    "README": {f"{100 * PAIRED_MIN:.0f}": "asdlib.certify.PAIRED_MIN",
               "95": "the confidence level of the ± half-widths of the benchmarks"},
}
"""Per source: numbers that are constants of the method or of a worked example, with the reason."""

NUMBER = re.compile(r"(?<![\w.\\{-])(\d+\.\d+|\d+(?=\s?%))")
HIDDEN = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|```.*?```|`[^`]*`", flags=re.S)


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


def prose(path: Path) -> list[str]:
    if path.parent.name == "notebooks":
        return [c.source for c in jupytext.read(path).cells if c.cell_type == "markdown"]
    return [path.read_text()]


def typed_numbers(path: Path, forms: set[str]) -> list[str]:
    allowed = CONSTANTS.get(path.stem, {})
    found = []
    for text in prose(path):
        for line in HIDDEN.sub(" ", text).splitlines():
            for match in NUMBER.finditer(line):
                if match.group(1) not in forms and match.group(1) not in allowed:
                    found.append(f"{match.group(1)!r} in '...{line[max(0, match.start() - 50):match.end() + 20]}...'")
    return found


def test_the_scanner_finds_a_typed_result_and_passes_a_published_one(tmp_path):
    forms = published_forms()
    page = tmp_path / "page.md"
    page.write_text("Our presented system scores 31.4159 % here, the paper's 81.36 on Table 7, and $x = 0.25$.\n")
    found = typed_numbers(page, forms)
    assert len(found) == 1 and "'31.4159'" in found[0]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_no_typed_numbers_in_prose(path):
    found = typed_numbers(path, published_forms())
    assert not found, (f"{path.relative_to(ROOT)}: numbers in prose that are neither published nor a named "
                       f"constant (compute them in a code cell, or add the constant with its reason to "
                       f"CONSTANTS):\n" + "\n".join(found))
