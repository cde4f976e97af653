"""The committed, executed ci-profile copies of the chapters (tests/notebooks/*.ipynb).

``make refresh-notebooks`` (``asd refresh-notebooks``) executes every
``notebooks/*.md`` source with papermill under the ``ci`` profile on the CPU, strips
run-dependent metadata (papermill timings, execution counts' timestamps), and writes
the copy atomically. ``make test`` re-executes the copies with nbval and checks that
their code cells are the sources' (tests/test_notebooks.py).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import jupytext
import nbformat

from asdlib.utils import atomic_path

CI_PARAMETERS = {"profile": "ci", "device": "cpu"}


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


def refresh_ci_copies(sources: list[Path], out_dir: Path) -> list[Path]:
    """Refresh every copy; print one line per notebook with its time."""
    written = []
    for source in sources:
        start = time.perf_counter()
        written.append(refresh_ci_copy(source, out_dir))
        print(f"{source} -> {written[-1]} ({time.perf_counter() - start:.0f} s)")
    return written
