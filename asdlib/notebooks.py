"""The committed, executed ci-profile copies of the chapters (tests/notebooks/*.ipynb).

``make refresh-notebooks`` (``asd refresh-notebooks``) executes every
``notebooks/*.md`` source with papermill under the ``ci`` profile on the CPU, strips
run-dependent metadata (papermill timings, execution counts' timestamps), and writes
the copy atomically. ``make test`` re-executes the copies with nbval and checks that
their code cells are the sources' (tests/test_notebooks.py).

A chapter that reads other chapters' records (its spec's ``requires``: the AITHU ensembles)
does not re-execute them under nbval: the refresh runs the required chapters once under
``ci`` with ``asd run`` and commits their records and kept scores as small fixtures
(``tests/notebooks/records/ci/<chapter>/<tag>/``); the tests point ``$ASD_RECORDS`` at
that folder and check that each fixture was made by the current chapter source and ci
settings.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat

from asdlib.utils import atomic_path

CI_PARAMETERS = {"profile": "ci", "device": "cpu"}
RECORDS_DIR = "records"  # <out_dir>/records/ci/<chapter>/<tag>/{record.json,scores.csv}


CHECKED = "nbval-check-output"


def strip_run_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes from run to run without meaning anything (timings, durations), and
    the outputs nbval does not compare (cells not tagged ``nbval-check-output``: figures,
    audio), which keeps the committed copies small and their diffs readable."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code" and CHECKED not in cell.metadata.get("tags", []):
            cell.outputs = []
    return nb


def refresh_ci_copy(source: Path, out_dir: Path, kernel: str = "python3") -> Path:
    """Execute one chapter source under the ci profile; write ``out_dir/<stem>.ipynb``."""
    import papermill as pm

    source = Path(source)
    out = Path(out_dir) / f"{source.stem}.ipynb"
    with tempfile.TemporaryDirectory(prefix="asd-refresh-") as tmp:
        raw = Path(tmp) / f"{source.stem}.ipynb"
        nbformat.write(jupytext.read(source), raw)
        executed = Path(tmp) / f"{source.stem}.out.ipynb"
        pm.execute_notebook(str(raw), str(executed), parameters=CI_PARAMETERS, kernel_name=kernel,
                            cwd=str(source.parent), progress_bar=False)
        nb = strip_run_metadata(nbformat.read(executed, as_version=4))
    with atomic_path(out) as tmp_out:
        nbformat.write(nb, tmp_out)
    return out


def refresh_fixture_records(chapters: list[Path], out_dir: Path, jobs: int = 2) -> Path:
    """Run ``chapters`` under ``ci`` (``asd run``) and keep their records and kept scores
    in ``out_dir/records/ci/<chapter>/<tag>/``, replacing the previous fixtures of those
    chapters; the folder to put in ``$ASD_RECORDS``."""
    from asdlib.records import RECORD_NAME, SCORES_NAME
    from asdlib.runner import execute_runs, plan_runs

    records = Path(out_dir) / RECORDS_DIR
    with tempfile.TemporaryDirectory(prefix="asd-fixture-runs-") as tmp:
        specs = plan_runs(chapters, "ci", device="cpu", out=tmp)
        outcomes = execute_runs(specs, jobs=jobs, command="asd refresh-notebooks")
        failed = [o for o in outcomes if o.status != "ok"]
        if failed:
            raise RuntimeError("the required chapters failed under ci: "
                               + "; ".join(f"{o.spec.name} {o.spec.tag}: {o.error} ({o.path})" for o in failed))
        for stem in {spec.name for spec in specs}:
            target = records / "ci" / stem
            staged = target.with_name(f".{stem}.new")
            shutil.rmtree(staged, ignore_errors=True)
            for spec in (s for s in specs if s.name == stem):
                (staged / spec.tag).mkdir(parents=True)
                for path in spec.run_path.iterdir():
                    if path.name in (RECORD_NAME, SCORES_NAME):
                        shutil.copy2(path, staged / spec.tag / path.name)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staged, target)
    return records


def with_dependents(sources: list[Path]) -> list[Path]:
    """``sources`` and, after them, every chapter beside them that reads the records of one
    of them (``requires``): a required chapter's fixture records are regenerated only when a
    chapter that reads them is refreshed, and that chapter's copy shows what it read, so
    refreshing the required chapter alone would leave both stale."""
    from asdlib.chapters import CHAPTERS

    stems = {s.stem for s in sources}
    out = list(sources)
    for source in sources:
        for name, spec in sorted(CHAPTERS.items()):
            path = source.parent / f"{name}.md"
            if source.stem in spec.requires and name not in stems and path.is_file():
                stems.add(name)
                out.append(path)
    return out


def refresh_ci_copies(sources: list[Path], out_dir: Path) -> list[Path]:
    """Refresh every copy (first the fixture records of the chapters they require), with the
    copies of the chapters that read their records (:func:`with_dependents`); print one line
    per notebook with its time."""
    from asdlib.records import RECORDS_ENV
    from asdlib.chapters import chapter_requires

    sources = with_dependents([Path(s) for s in sources])
    required = sorted({name for s in sources for name in chapter_requires(s.stem)})
    if required:
        folder = Path(sources[0]).parent
        missing = [name for name in required if not (folder / f"{name}.md").is_file()]
        if missing:
            raise FileNotFoundError(f"the required chapters {missing} are not in {folder}")
        start = time.perf_counter()
        records = refresh_fixture_records([folder / f"{name}.md" for name in required], out_dir)
        print(f"fixture records of {', '.join(required)} -> {records} ({time.perf_counter() - start:.0f} s)")
        os.environ[RECORDS_ENV] = str(Path(records).resolve())  # the kernels below inherit it
    written = []
    for source in sources:
        start = time.perf_counter()
        written.append(refresh_ci_copy(source, out_dir))
        print(f"{source} -> {written[-1]} ({time.perf_counter() - start:.0f} s)")
    return written
