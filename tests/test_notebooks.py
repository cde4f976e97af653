"""The committed, executed ci-profile notebooks (tests/notebooks/*.ipynb) match their sources.

``make test`` re-executes those copies with nbval (``--nbval-lax``: every cell must run
without error; outputs are compared only in cells tagged ``nbval-check-output``). This
module checks that they are copies of the current sources: same code cells once
papermill's injected-parameters cell is set aside, executed under the ``ci`` profile.
``make refresh-notebooks`` regenerates them.
"""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import nbformat
import pytest

from asdlib.experiment import NOTEBOOK_PARAMETERS

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.md"))


def _code(nb) -> list[str]:
    return [c.source.strip() for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


def test_every_chapter_source_has_an_executed_ci_copy():
    copies = {p.stem for p in (ROOT / "tests" / "notebooks").glob("*.ipynb")}
    assert {p.stem for p in SOURCES} == copies, "run `make refresh-notebooks`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_executed_copy_has_the_source_code_cells(source):
    copy = nbformat.read(ROOT / "tests" / "notebooks" / f"{source.stem}.ipynb", as_version=4)
    assert _code(copy) == _code(jupytext.read(source)), f"{source.name} changed: run `make refresh-notebooks`"
    injected = [c for c in copy.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'profile = "ci"' in injected[0].source


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_parameters_cell_declares_exactly_the_notebook_parameters(source):
    nb = jupytext.read(source)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{source.name}: one cell tagged 'parameters' expected"
    names = [line.split("=")[0].strip() for line in cells[0].source.splitlines()
             if "=" in line and not line.lstrip().startswith("#")]
    assert names == list(NOTEBOOK_PARAMETERS)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_fixture_records_of_required_chapters_are_fresh():
    """The ensemble chapter's nbval copy reads committed ci records of the chapters it requires
    (tests/notebooks/records, via $ASD_RECORDS) instead of re-executing them: each must come
    from the current chapter source and ci settings, with its kept scores."""
    from asdlib.chapters import as_dict, chapter_requires, chapter_settings
    from asdlib.provenance import file_digest, settings_digest

    required = sorted({name for s in SOURCES for name in chapter_requires(s.stem)})
    assert required, "no chapter requires another: drop this test and tests/notebooks/records"
    for name in required:
        records = sorted((ROOT / "tests" / "notebooks" / "records" / "ci" / name).glob("*/record.json"))
        assert records, f"no fixture records of {name}: run `make refresh-notebooks`"
        for path in records:
            record = json.loads(path.read_text())
            runner = record["runner"]
            assert runner["source_sha256"] == file_digest(ROOT / "notebooks" / f"{name}.md"), (
                f"{path} was made by an older {name}.md: run `make refresh-notebooks`")
            assert runner["settings_sha256"] == settings_digest(as_dict(chapter_settings(name, "ci"))), (
                f"{path} was made with other ci settings of {name}: run `make refresh-notebooks`")
            assert record["profile"] == "ci" and record["synthetic"]["preset"] == "ci"
            assert (path.parent / record["scores_file"]).is_file()


def test_refreshing_a_required_chapter_also_refreshes_the_chapters_that_read_its_records(tmp_path):
    """`asd refresh-notebooks notebooks/aithu_classifiers.md` alone must also regenerate the
    ensembles chapter's fixture records and copy (it reads them), else both go stale."""
    from asdlib.chapters import chapter_requires
    from asdlib.notebooks import with_dependents

    reader = next(s for s in SOURCES if chapter_requires(s.stem))
    provider = SOURCES[0].parent / f"{chapter_requires(reader.stem)[0]}.md"
    assert with_dependents([provider]) == [provider, reader]
    assert with_dependents([provider, reader]) == [provider, reader]          # listed once
    assert with_dependents([reader]) == [reader]                              # a reader has no readers
    lonely = tmp_path / provider.name                                         # no reader beside it
    lonely.write_text(provider.read_text())
    assert with_dependents([lonely]) == [lonely]
