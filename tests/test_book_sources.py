"""The chapters' cross references, checked on the sources before a build: every display equation
is labelled (no paper numbers by ``\\tag``), every ``{eq}`` names a label of its chapter, every
``{numref}`` a figure of its chapter (``mystnb: figure: name`` in a cell's metadata), every
``{doc}`` a page of the table of contents, and every plotting cell of a chapter is folded."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.md"))
ROLE = re.compile(r"\{(eq|numref|doc)\}`([^`<]+?)(?:\s*<([^>]+)>)?`")


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _display_math(markdown: str) -> list[tuple[str, str | None]]:
    """(body, label) of every $$ ... $$ block; the label is the ``(eq-...)`` after the closing $$."""
    blocks = re.findall(r"^[ \t]*\$\$\n(.*?)^[ \t]*\$\$[ \t]*(?:\(([\w-]+)\))?[ \t]*$", markdown, re.S | re.M)
    return [(body, label or None) for body, label in blocks]


def _figure_names(nb) -> set[str]:
    return {c.metadata["mystnb"]["figure"]["name"] for c in nb.cells
            if c.cell_type == "code" and "figure" in c.metadata.get("mystnb", {})}


def test_the_display_math_parser_sees_labels_and_their_absence():
    text = "a\n$$\nx = 1\n$$ (eq-a)\n\n  $$\n  y\n  $$\nb\n"
    assert _display_math(text) == [("x = 1\n", "eq-a"), ("  y\n", None)]


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_every_display_equation_is_labelled_and_none_keeps_a_tag(source):
    markdown = _markdown(jupytext.read(source))
    blocks = _display_math(markdown)
    unlabelled = [body.strip()[:60] for body, label in blocks if label is None]
    assert not unlabelled, f"{source.name}: display equations without a label: {unlabelled}"
    assert "\\tag{" not in markdown, f"{source.name}: \\tag{{n}} left; label the equation and refer with {{eq}}"
    labels = [label for _, label in blocks]
    assert len(labels) == len(set(labels)), f"{source.name}: an equation label used twice"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_every_eq_and_numref_names_a_label_or_figure_of_the_chapter(source):
    nb = jupytext.read(source)
    markdown = _markdown(nb)
    labels = {label for _, label in _display_math(markdown)}
    figures = _figure_names(nb)
    for role, text, target in ROLE.findall(markdown):
        name = (target or text).strip()
        if role == "eq":
            assert name in labels, f"{source.name}: {{eq}}`{name}` is no equation label of the chapter"
        elif role == "numref":
            assert name in figures, f"{source.name}: {{numref}}`{name}` is no figure name of the chapter"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_every_doc_link_names_a_page_of_the_book(source):
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    pages = {Path(f).name for f in re.findall(r"file:\s*(\S+)", toc)}
    for role, text, target in ROLE.findall(_markdown(jupytext.read(source))):
        if role == "doc":
            name = Path((target or text).strip()).name
            assert name in pages, f"{source.name}: {{doc}}`{name}` is not in _toc.yml"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_cell_is_folded_named_and_its_figures_are_unique(source):
    nb = jupytext.read(source)
    for cell in nb.cells:
        if cell.cell_type == "code" and "plt.show()" in cell.source:
            tags = cell.metadata.get("tags", [])
            assert "hide-input" in tags, f"{source.name}: a plotting cell is not tagged hide-input:\n{cell.source[:80]}"
            assert "figure" in cell.metadata.get("mystnb", {}), \
                f"{source.name}: a plotting cell has no figure name (mystnb: figure: name):\n{cell.source[:80]}"
    for cell in nb.cells:
        if "figure" in cell.metadata.get("mystnb", {}):   # myst-nb makes every rich output a figure of that name
            assert not re.search(r"^\s*display\(", cell.source, re.M), \
                f"{source.name}: the figure cell {cell.metadata['mystnb']['figure']['name']} also displays; split it"
    names = [c.metadata["mystnb"]["figure"]["name"] for c in nb.cells if "figure" in c.metadata.get("mystnb", {})]
    assert len(names) == len(set(names))
