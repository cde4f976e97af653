"""The book's citations: every {cite} key is in book/references.bib, every entry is cited, and
every chapter cites the paper it reproduces (sphinxcontrib-bibtex would fail the -W build on an
unknown key; these tests say which file and key, before a build)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asdlib.chapters import PAPERS, chapter_spec

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "book" / "references.bib"
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([A-Za-z][\w-]*(?:\s*,\s*[A-Za-z][\w-]*)*)`")
SOURCES = sorted((ROOT / "notebooks").glob("*.md")) + sorted((ROOT / "book").glob("*.md"))


def _bib_keys() -> list[str]:
    return re.findall(r"^@\w+\{([^,\s]+),", BIB.read_text(encoding="utf-8"), re.M)


def _cited(path: Path) -> set[str]:
    return {key.strip() for group in CITE.findall(path.read_text(encoding="utf-8")) for key in group.split(",")}


def test_bib_keys_are_unique_and_every_entry_has_author_title_and_year_or_note():
    keys = _bib_keys()
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"
    for entry in re.split(r"\n(?=@)", BIB.read_text(encoding="utf-8")):
        if entry.startswith("@"):
            assert re.search(r"^\s*author\s*=", entry, re.M) and re.search(r"^\s*title\s*=", entry, re.M), entry[:60]
            assert re.search(r"^\s*(year|note)\s*=", entry, re.M), entry[:60]


def test_every_citation_is_in_the_bibliography_and_every_entry_is_cited():
    keys = set(_bib_keys())
    cited = set()
    for source in SOURCES:
        unknown = _cited(source) - keys
        assert not unknown, f"{source.relative_to(ROOT)} cites {sorted(unknown)}, not in references.bib"
        cited |= _cited(source)
    assert keys - cited == set(), f"entries never cited (cite them or drop them): {sorted(keys - cited)}"


def test_every_paper_has_a_bibliography_key():
    keys = set(_bib_keys())
    assert {p.cite for p in PAPERS.values()} <= keys


@pytest.mark.parametrize("source", sorted((ROOT / "notebooks").glob("*.md")), ids=lambda p: p.stem)
def test_every_chapter_cites_its_paper(source):
    paper = chapter_spec(source.stem).paper
    if paper is None:          # the task-and-metrics chapter reproduces no single paper
        pytest.skip(f"{source.stem} has no paper")
    assert paper.cite in _cited(source), f"{source.name} does not cite {paper.cite} with {{cite}}"
