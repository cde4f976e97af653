"""``asd run`` (asdlib.runner): planning, papermill execution, failures, resume.

The notebooks here are tiny Jupytext sources that write a plain JSON record (no
data, no start_run), so each run costs about a kernel start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import jupytext
import pytest

from asdlib.chapters import ChapterSpec
from asdlib.records import NOTEBOOK_PARAMETERS
from asdlib.runner import main, plan_runs, register, run_command

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A tiny chapter
"""

PARAMETERS_CELL = """
```{code-cell} ipython3
:tags: [parameters]

data_root = None
dataset = 2022
machine_types = None
profile = "demo"
device = "auto"
seeds = None
settings = None
results_dir = None
```
"""

BODY_CELL = """
```{code-cell} ipython3
import json, os, pathlib, sys
if machine_types == ["bad"] or os.path.exists("FAIL"):  # FAIL is looked up in the notebook's folder
    raise ValueError("bad machine type, on purpose")
params = dict(data_root=data_root, dataset=dataset, machine_types=machine_types, profile=profile,
              device=device, seeds=seeds, settings=settings, results_dir=results_dir)
pathlib.Path(results_dir, "record.json").write_text(json.dumps(
    {"parameters": params, "cwd": os.getcwd(), "prefix": sys.prefix}))
```
"""


def write_notebook(folder: Path, name: str = "tiny", parameters: str = PARAMETERS_CELL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(HEADER + parameters + BODY_CELL)
    return path


def run_dirs(out: Path, profile: str = "ci", name: str = "tiny") -> dict[str, Path]:
    return {p.name: p for p in sorted((out / profile / name).iterdir()) if p.is_dir()}


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if not p.name.startswith(".")}


def listing(folder: Path) -> list[str]:
    """The visible files of a run folder (the worker's lock file .lock is hidden)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def complete(tmp_path_factory):
    """Two machine types x two seeds, two at a time."""
    root = tmp_path_factory.mktemp("runner")
    nb = write_notebook(root / "notebooks")
    out = root / "runs"
    argv = [str(nb), "--profile", "ci", "--types", "fan", "valve", "--seeds", "0", "1",
            "--out", str(out), "--jobs", "2"]
    return nb, out, argv


def test_types_x_seeds_give_one_record_and_notebook_each(complete, capsys):
    nb, out, argv = complete
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "4 runs: 4 ok, 0 failed, 0 skipped" in captured.out
    assert captured.err.count("[start") == 4 and captured.err.count("[done") == 4
    dirs = run_dirs(out)
    assert sorted(dirs) == ["fan-seed0", "fan-seed1", "valve-seed0", "valve-seed1"]
    for tag, folder in dirs.items():
        assert listing(folder) == ["notebook.ipynb", "record.json"]
        record = json.loads((folder / "record.json").read_text())
        mtype, seed = tag.split("-seed")
        assert record["parameters"] == {"data_root": None, "dataset": 2022, "machine_types": [mtype],
                                        "profile": "ci", "device": "auto", "seeds": [int(seed)],
                                        "settings": None, "results_dir": str(folder)}
        assert record["cwd"] == str(nb.parent)            # executed in the notebook's folder
        assert record["prefix"] == sys.prefix             # by this environment's kernel
        runner = record["runner"]
        assert runner["notebook"] == str(folder / "notebook.ipynb") and runner["tag"] == tag
        assert runner["wall_time_s"] > 0 and runner["source"] == str(nb) and runner["command"]
        executed = nbformat.read(folder / "notebook.ipynb", as_version=4)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and f'machine_types = ["{mtype}"]' in injected[0].source
        assert all(c.get("execution_count") for c in executed.cells if c.cell_type == "code")
        assert executed.metadata.papermill.input_path == str(nb)
        assert executed.metadata.papermill.output_path == str(folder / "notebook.ipynb")
        assert tag in captured.out and str(Path("fan-seed0") / "notebook.ipynb") in captured.out


def test_resume_executes_only_the_incomplete_run(complete, capsys):
    nb, out, argv = complete
    dirs = run_dirs(out)
    if len(dirs) != 4:
        pytest.skip("needs the batch of the previous test")
    (dirs["valve-seed0"] / "record.json").unlink()
    before = {tag: mtimes(folder) for tag, folder in dirs.items() if tag != "valve-seed0"}
    capsys.readouterr()
    assert main(argv + ["--resume"]) == 0
    captured = capsys.readouterr()
    assert "4 runs: 1 ok, 0 failed, 3 skipped" in captured.out
    assert captured.err.count("[start") == 1 and "valve-seed0" in captured.err.split("[start")[1]
    assert {tag: mtimes(dirs[tag]) for tag in before} == before
    record = json.loads((dirs["valve-seed0"] / "record.json").read_text())
    assert record["parameters"]["machine_types"] == ["valve"] and "runner" in record


def test_a_failing_run_is_reported_and_the_others_survive(tmp_path, capsys):
    nb = write_notebook(tmp_path / "nb")
    out = tmp_path / "runs"
    bad = out / "ci" / "tiny" / "bad-seed0"
    bad.mkdir(parents=True)
    (bad / "record.json").write_text("{}")      # stale results of an earlier run
    (bad / "notebook.ipynb").write_text("{}")
    # 2023 has no fixed list of machine types, so "bad" reaches the notebook
    code = main([str(nb), "--profile", "ci", "--dataset", "2023", "--types", "fan", "bad",
                 "--out", str(out), "--jobs", "2"])
    captured = capsys.readouterr()
    assert code == 1
    assert "2 runs: 1 ok, 1 failed, 0 skipped" in captured.out
    line = next(x for x in captured.out.splitlines() if x.startswith("bad-seed0"))
    assert "failed" in line and "notebook.failed.ipynb" in line
    assert "ValueError: bad machine type, on purpose" in line
    # the earlier result is set aside, not lost, and not shown as this run's
    assert listing(bad) == [
        "error.txt", "notebook.failed.ipynb", "notebook.prev.ipynb", "record.prev.json"]
    error = (bad / "error.txt").read_text()
    assert error.startswith("ValueError: bad machine type, on purpose") and "Traceback" in error
    failed = nbformat.read(bad / "notebook.failed.ipynb", as_version=4)
    assert failed.metadata.papermill.output_path == str(bad / "notebook.failed.ipynb")
    assert any(o.get("output_type") == "error" for c in failed.cells for o in c.get("outputs", []))
    good = out / "ci" / "tiny" / "fan-seed0"
    assert json.loads((good / "record.json").read_text())["parameters"]["machine_types"] == ["fan"]
    assert (good / "notebook.ipynb").is_file()


def test_ipynb_input_reruns_without_resume_and_clears_a_failure(tmp_path, capsys):
    source = write_notebook(tmp_path / "nb")
    nb = source.with_suffix(".ipynb")
    nbformat.write(jupytext.read(source), nb)
    source.unlink()
    out = tmp_path / "runs"
    argv = [str(nb), "--profile", "ci", "--seeds", "3", "--out", str(out)]
    folder = out / "ci" / "tiny" / "all-seed3"
    (nb.parent / "FAIL").touch()
    assert main(argv) == 1
    assert listing(folder) == ["error.txt", "notebook.failed.ipynb"]
    (nb.parent / "FAIL").unlink()
    assert main(argv) == 0
    assert listing(folder) == ["notebook.ipynb", "record.json"]
    record = json.loads((folder / "record.json").read_text())
    assert record["parameters"]["machine_types"] is None and record["parameters"]["seeds"] == [3]
    first = mtimes(folder)
    assert main(argv) == 0  # complete, but no --resume: executed again
    assert all(mtimes(folder)[name] > first[name] for name in first)
    assert "1 run: 1 ok" in capsys.readouterr().out


def test_resume_after_the_batch_is_killed_half_way(tmp_path, capsys):
    nb = write_notebook(tmp_path / "nb")
    out = tmp_path / "runs"
    argv = [str(nb), "--profile", "ci", "--types", "fan", "valve", "gearbox", "--out", str(out)]
    first = out / "ci" / "tiny" / "fan-seed0"
    second = out / "ci" / "tiny" / "valve-seed0" / ".notebook.partial.ipynb"  # papermill is executing it
    with open(tmp_path / "log.txt", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "asdlib.runner", *argv, "--jobs", "1"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not ((first / "notebook.ipynb").is_file() and second.is_file()):
                assert proc.poll() is None, (tmp_path / "log.txt").read_text()
                assert time.monotonic() < deadline, "the first run did not finish in 60 s"
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the runner and its worker, like a lost session
            proc.wait()
    dirs = run_dirs(out)
    assert sorted(dirs) == ["fan-seed0", "valve-seed0"] and not (dirs["valve-seed0"] / "notebook.ipynb").exists()
    before = mtimes(first)
    assert sorted(before) == ["notebook.ipynb", "record.json"]
    capsys.readouterr()
    assert main(argv + ["--resume", "--jobs", "2"]) == 0
    captured = capsys.readouterr()
    assert "3 runs: 2 ok, 0 failed, 1 skipped" in captured.out
    assert mtimes(first) == before
    for tag in ("valve-seed0", "gearbox-seed0"):
        folder = out / "ci" / "tiny" / tag
        assert listing(folder) == ["notebook.ipynb", "record.json"]
    assert not second.exists()  # the killed run's partial notebook was cleared


def test_a_notebook_missing_a_parameter_fails_before_anything_runs(tmp_path, capsys):
    good = write_notebook(tmp_path / "nb", "good")
    bad = write_notebook(tmp_path / "nb", "bad", PARAMETERS_CELL.replace("results_dir = None\n", ""))
    out = tmp_path / "runs"
    assert main([str(good), str(bad), "--profile", "ci", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not declare results_dir" in err
    assert "it declares: data_root, dataset, machine_types, profile, device, seeds, settings" in err
    assert not out.exists()
    untagged = write_notebook(tmp_path / "nb", "untagged", PARAMETERS_CELL.replace(":tags: [parameters]\n", ""))
    assert main([str(untagged), "--profile", "ci", "--out", str(out)]) == 2
    assert "has no cell tagged 'parameters'" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.md"), "--profile", "ci", "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bad_profile_types_or_seeds_fail_at_once_with_the_valid_values(tmp_path, capsys):
    nb = write_notebook(tmp_path / "nb")
    out = tmp_path / "runs"
    assert main([str(nb), "--profile", "fast", "--out", str(out)]) == 2
    assert "valid profiles: ci, demo, paper" in capsys.readouterr().err
    assert main([str(nb), "--profile", "ci", "--types", "fna", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "['fna'] are not DCASE 2020 or 2022 types" in err and "fan" in err
    assert main([str(nb), "--profile", "ci", "--seeds", "-1", "--out", str(out)]) == 2
    assert "non-negative" in capsys.readouterr().err
    assert not out.exists()


def test_plan_runs_groups_types_and_seeds(tmp_path):
    nb = write_notebook(tmp_path / "nb")
    specs = plan_runs([nb], "demo", machine_types=["fan", "valve"], together=True, out=tmp_path / "o",
                      data_root="rel/data", timeout=30)
    assert [s.tag for s in specs] == ["fan+valve-seed0", "fan+valve-seed1"]  # demo's default seeds
    # every notebook parameter but dataset, which is injected only when given
    assert all(tuple(s.parameters) == tuple(p for p in NOTEBOOK_PARAMETERS if p != "dataset") for s in specs)
    assert specs[0].parameters["machine_types"] == ["fan", "valve"] and specs[1].parameters["seeds"] == [1]
    assert specs[0].parameters["data_root"] == str(Path("rel/data").resolve())  # notebooks run elsewhere
    assert specs[0].run_dir == str((tmp_path / "o" / "demo" / "tiny" / "fan+valve-seed0").resolve())
    assert specs[0].timeout == 30
    specs = plan_runs([nb], "paper", seeds=[4], out=tmp_path / "o")
    assert [s.tag for s in specs] == ["all-seed4"] and specs[0].parameters["machine_types"] is None
    specs = plan_runs([nb], "ci", machine_types=["fan", "valve"], out=tmp_path / "o")
    assert [s.tag for s in specs] == ["fan-seed0", "valve-seed0"]


def test_register_adds_the_run_subcommand():
    parser = argparse.ArgumentParser(prog="asd")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["run", "a.md", "b.md", "--profile", "ci", "--types", "fan", "--together",
                              "--seeds", "0", "1", "--jobs", "2", "--resume", "--timeout", "60"])
    assert args.func is run_command and args.notebooks == [Path("a.md"), Path("b.md")]
    assert (args.types, args.together, args.seeds, args.jobs, args.resume, args.timeout) == (
        ["fan"], True, [0, 1], 2, True, 60.0)
    assert (args.device, args.dataset, args.out, args.data_root) == ("auto", None, Path("runs"), None)


def test_resume_reruns_a_run_whose_source_or_parameters_changed(tmp_path, capsys):
    nb = write_notebook(tmp_path / "nb")
    out = tmp_path / "runs"
    argv = [str(nb), "--profile", "ci", "--types", "fan", "--out", str(out)]
    assert main(argv) == 0
    assert main(argv + ["--resume"]) == 0
    assert "1 run: 0 ok, 0 failed, 1 skipped" in capsys.readouterr().out
    nb.write_text(nb.read_text() + "\n<!-- edited -->\n")   # the chapter changed
    assert main(argv + ["--resume"]) == 0
    assert "1 run: 1 ok, 0 failed, 0 skipped" in capsys.readouterr().out
    assert main(argv + ["--resume", "--device", "cpu"]) == 0  # other parameters
    assert "1 run: 1 ok, 0 failed, 0 skipped" in capsys.readouterr().out
    plan = json.loads((out / "ci" / nb.stem / "plan.json").read_text())
    assert plan == {"tags": ["fan-seed0"]}


def test_dataset_is_injected_only_when_given(tmp_path):
    """A chapter on DCASE 2020 keeps its own dataset default unless --dataset says otherwise."""
    nb = write_notebook(tmp_path / "nb")
    plain = plan_runs([nb], "ci", out=tmp_path / "runs")
    assert "dataset" not in plain[0].parameters
    given = plan_runs([nb], "ci", dataset=2020, out=tmp_path / "runs")
    assert given[0].parameters["dataset"] == 2020


def test_a_chapter_that_reads_another_chapters_records_runs_after_it(tmp_path, monkeypatch, capsys):
    """A spec's `requires`: 'a_ensemble' reads the records of 'b_subsystem'; listed first and given
    two jobs, it still starts only after every run of 'b_subsystem' has ended."""
    import asdlib.chapters

    monkeypatch.setitem(asdlib.chapters.CHAPTERS, "a_ensemble",
                        ChapterSpec("a_ensemble", None, NoSettings, requires=("b_subsystem",)))
    folder = tmp_path / "notebooks"
    provider = write_notebook(folder, "b_subsystem",
                              PARAMETERS_CELL + "\n```{code-cell} ipython3\nimport time\ntime.sleep(2)\n```\n")
    reader_body = """
```{code-cell} ipython3
import json, pathlib
found = sorted(pathlib.Path(results_dir).parents[1].glob("b_subsystem/*/record.json"))
assert len(found) == 2, f"the subsystem's records are not all there yet: {found}"
pathlib.Path(results_dir, "record.json").write_text(json.dumps({"read": len(found)}))
```
"""
    folder.mkdir(parents=True, exist_ok=True)
    reader = folder / "a_ensemble.md"
    reader.write_text(HEADER + PARAMETERS_CELL + reader_body)
    out = tmp_path / "runs"
    code = main([str(reader), str(provider), "--profile", "ci", "--seeds", "0", "1", "--out", str(out),
                 "--jobs", "2"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "ci" / "a_ensemble" / "all-seed0" / "record.json").read_text())["read"] == 2
    log = capsys.readouterr().err
    last_provider = max(i for i, line in enumerate(log.splitlines()) if line.startswith("[done") and "b_subsystem" in line)
    first_reader = min(i for i, line in enumerate(log.splitlines()) if line.startswith("[start") and "a_ensemble" in line)
    assert first_reader > last_provider


# --------------------------------------------------------------------------- runs that never go stale

@dataclass(frozen=True)
class AlphaSettings:
    epochs: int = 2
    lr: float = 1e-3
    checkpoint: str | None = None
    crop: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class BetaSettings:
    epochs: int = 5
    width: int = 16


@dataclass(frozen=True)
class NoSettings:
    pass


SETTINGS_BODY = """
```{code-cell} ipython3
import json, pathlib
pathlib.Path(results_dir, "record.json").write_text(json.dumps({"overrides": settings}))
```
"""


@pytest.fixture()
def two_chapters(tmp_path, monkeypatch):
    """Two tiny chapters with settings of their own (specs added to asdlib.chapters.CHAPTERS);
    ``table[stem]["ci"]`` is the ci profile's differences, which a test may change."""
    import asdlib.chapters

    table = {"alpha": {"ci": {}}, "beta": {"ci": {}}}
    monkeypatch.setitem(asdlib.chapters.CHAPTERS, "alpha", ChapterSpec("alpha", None, AlphaSettings, table["alpha"]))
    monkeypatch.setitem(asdlib.chapters.CHAPTERS, "beta", ChapterSpec("beta", None, BetaSettings, table["beta"]))
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in table:
        (folder / f"{name}.md").write_text(HEADER + PARAMETERS_CELL + SETTINGS_BODY)
    return table, [folder / "alpha.md", folder / "beta.md"], tmp_path / "runs"


def _statuses(out: str) -> dict[str, str]:
    return {line.split()[1]: line.split()[2] for line in out.splitlines() if line.startswith("all-seed")}


def test_changing_one_chapter_setting_reruns_that_chapter_only(two_chapters, capsys):
    table, notebooks, out = two_chapters
    argv = [*map(str, notebooks), "--profile", "ci", "--out", str(out), "--resume", "--jobs", "2"]
    assert main(argv) == 0
    assert _statuses(capsys.readouterr().out) == {"alpha": "ok", "beta": "ok"}
    record = json.loads((out / "ci" / "alpha" / "all-seed0" / "record.json").read_text())
    assert record["runner"]["settings_sha256"] and record["runner"]["asdlib_sha256"]
    assert main(argv) == 0
    assert _statuses(capsys.readouterr().out) == {"alpha": "skipped", "beta": "skipped"}
    table["alpha"]["ci"]["epochs"] = 3            # one setting of one chapter's ci profile changes
    assert main(argv) == 0
    assert _statuses(capsys.readouterr().out) == {"alpha": "ok", "beta": "skipped"}
    assert json.loads((out / "ci" / "alpha" / "all-seed0" / "record.json").read_text())["runner"]["settings"] == {
        "epochs": 3, "lr": 1e-3, "checkpoint": None, "crop": [1, 2]}


def test_a_change_of_the_asdlib_source_reruns_every_chapter(two_chapters, monkeypatch, capsys):
    import asdlib.runner

    table, notebooks, out = two_chapters
    argv = [*map(str, notebooks), "--profile", "ci", "--out", str(out), "--resume"]
    assert main(argv) == 0
    capsys.readouterr()
    monkeypatch.setattr(asdlib.runner, "package_digest", lambda: "another asdlib")
    assert main(argv) == 0
    assert _statuses(capsys.readouterr().out) == {"alpha": "ok", "beta": "ok"}
    assert main(argv) == 0
    assert _statuses(capsys.readouterr().out) == {"alpha": "skipped", "beta": "skipped"}


def test_package_digest_follows_every_source_file(tmp_path):
    from asdlib.provenance import tree_digest

    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "sub" / "t.csv").write_text("a,b\n")
    first = tree_digest(tmp_path / "pkg")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.py").write_text("cache")  # caches do not count
    (tmp_path / "pkg" / "notes.txt").write_text("not source")
    assert tree_digest(tmp_path / "pkg") == first
    (tmp_path / "pkg" / "sub" / "t.csv").write_text("a,c\n")
    assert tree_digest(tmp_path / "pkg") != first


def test_set_overrides_are_checked_passed_and_recorded(two_chapters, capsys):
    table, notebooks, out = two_chapters
    base = [*map(str, notebooks), "--profile", "ci", "--out", str(out)]
    assert main(base + ["--set", "epochs=7", "--set", "alpha.lr=0.01", "--set", "checkpoint=/m/w.pt",
                        "--set", "crop=[3, 4]"]) == 0
    capsys.readouterr()
    alpha = json.loads((out / "ci" / "alpha" / "all-seed0" / "record.json").read_text())
    beta = json.loads((out / "ci" / "beta" / "all-seed0" / "record.json").read_text())
    assert alpha["runner"]["settings"] == {"epochs": 7, "lr": 0.01, "checkpoint": "/m/w.pt", "crop": [3, 4]}
    assert beta["runner"]["settings"] == {"epochs": 7, "width": 16}      # KEY goes to every chapter that has it
    assert alpha["overrides"] == {"epochs": 7, "lr": 0.01, "checkpoint": "/m/w.pt", "crop": [3, 4]}  # as injected
    assert alpha["runner"]["parameters"]["settings"] == {"epochs": 7, "lr": 0.01, "checkpoint": "/m/w.pt",
                                                         "crop": [3, 4]}
    assert beta["runner"]["parameters"]["settings"] == {"epochs": 7}
    # the same overrides: complete; without them: stale
    again = base + ["--set", "epochs=7", "--set", "alpha.lr=0.01", "--set", "checkpoint=/m/w.pt",
                    "--set", "crop=[3, 4]", "--resume"]
    assert main(again) == 0
    assert _statuses(capsys.readouterr().out) == {"alpha": "skipped", "beta": "skipped"}
    assert main(base + ["--resume"]) == 0
    assert _statuses(capsys.readouterr().out) == {"alpha": "ok", "beta": "ok"}


@pytest.mark.parametrize("item, message", [
    ("epoch=3", "no chapter of this batch has the setting 'epoch'; valid: alpha: epochs, lr, checkpoint, crop; "
                "beta: epochs, width"),
    ("epochs=three", "setting epochs='three' has type str; expected int"),
    ("lr=fast", "setting lr='fast' has type str; expected float"),
    ("width=None", "setting width=None has type NoneType; expected int"),
    ("crop=(1, 'a')", "setting crop=(1, 'a') has type tuple; expected tuple[int, ...]"),
    ("gamma.epochs=3", "'gamma' is not a notebook of this batch"),
    ("alpha.width=3", "'width' is not a setting of this chapter; valid settings: epochs, lr, checkpoint, crop"),
    ("epochs", "give KEY=VALUE"),
])
def test_a_bad_set_fails_before_anything_runs(two_chapters, capsys, item, message):
    table, notebooks, out = two_chapters
    assert main([*map(str, notebooks), "--profile", "ci", "--out", str(out), "--set", item]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_checkpoint_paths_are_chapter_settings():
    """The paper profile can load a checkpoint through asd run: the paths are settings."""
    from asdlib.chapters import chapter_settings

    assert chapter_settings("aithu_classifiers", "paper").wav2vec_checkpoint is None
    got = chapter_settings("aithu_classifiers", "paper", {"wav2vec_checkpoint": "/models/wav2vec_large.pt"})
    assert got.wav2vec_checkpoint == "/models/wav2vec_large.pt"
    got = chapter_settings("ustc_tgram_wav2vec", "paper", {"wav2vec2_checkpoint": "/models/wav2vec2-base"})
    assert got.wav2vec2_checkpoint == "/models/wav2vec2-base"
    for name in ("aithu_classifiers", "ustc_tgram_wav2vec"):
        source = (Path(__file__).parents[1] / "notebooks" / f"{name}.md").read_text()
        key = "wav2vec_checkpoint" if name == "aithu_classifiers" else "wav2vec2_checkpoint"
        assert f'{key} = S.{key}' in source and f"{key} = None" not in source


def test_a_run_locked_by_another_batch_is_left_untouched(tmp_path, capsys, monkeypatch):
    import asdlib.runner
    from asdlib.runner import lock_run

    monkeypatch.setattr(asdlib.runner, "LOCK_WAIT_S", 0.3)
    nb = write_notebook(tmp_path / "nb")
    out = tmp_path / "runs"
    folder = out / "ci" / "tiny" / "fan-seed0"
    folder.mkdir(parents=True)
    (folder / "record.json").write_text('{"good": true}')
    (folder / "notebook.ipynb").write_text("{}")
    fd = lock_run(folder)        # another asd run executes this run now
    try:
        assert main([str(nb), "--profile", "ci", "--types", "fan", "valve", "--out", str(out)]) == 1
    finally:
        os.close(fd)
    captured = capsys.readouterr().out
    assert "being executed by another asd run" in captured and "2 runs: 1 ok, 1 failed" in captured
    assert listing(folder) == ["notebook.ipynb", "record.json"]       # nothing moved, no error.txt
    assert json.loads((folder / "record.json").read_text()) == {"good": True}


def _default_sigint() -> None:
    # a shell without job control starts background commands (CI, nohup ... &) with SIGINT
    # ignored, and Python then keeps it ignored: give the child the terminal's default
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _asd(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "asdlib.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint, **kwargs)


@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_asd_run_stopped_by_a_signal_stops_its_worker_and_leaves_no_stale_error(tmp_path, sig, code, word):
    """SIGTERM or Ctrl-C to the `asd` entry point: the worker and its kernel end before asd does,
    the run is visibly incomplete, one line is printed (no traceback), and a resumed batch
    completes it with no error.txt beside the good record."""
    slow = PARAMETERS_CELL + BODY_CELL + "\n```{code-cell} ipython3\nimport time\ntime.sleep(120)\n```\n"
    folder = tmp_path / "nb"
    folder.mkdir()
    nb = folder / "slow.md"
    nb.write_text(HEADER + slow)
    out = tmp_path / "runs"
    run_dir = out / "ci" / "slow" / "fan-seed0"
    proc = _asd("run", str(nb), "--profile", "ci", "--types", "fan", "--out", str(out))
    deadline = time.monotonic() + 60
    while not (run_dir / "record.json").is_file():    # the body cell ran: the kernel is sleeping
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert f"asd run: {word}" in stderr and "Traceback" not in stderr
    assert listing(run_dir) == ["error.txt", "notebook.failed.ipynb"]
    assert "interrupted" in (run_dir / "error.txt").read_text().splitlines()[0]
    workers = subprocess.run(["pgrep", "-f", str(nb)], capture_output=True, text=True).stdout.split()
    assert workers == [], "a worker or kernel outlived asd run"
    nb.write_text(HEADER + PARAMETERS_CELL + BODY_CELL)
    done = _asd("run", str(nb), "--profile", "ci", "--types", "fan", "--out", str(out), "--resume")
    assert done.wait(timeout=120) == 0, done.communicate()
    assert listing(run_dir) == ["notebook.ipynb", "record.json"]


def test_a_corrupted_record_is_named_by_asd_results(tmp_path, capsys):
    from asdlib.cli import main as asd

    folder = tmp_path / "runs" / "ci" / "tiny" / "all-seed0"
    folder.mkdir(parents=True)
    (folder / "record.json").write_text('{"profile": "ci", "results": [')   # cut short
    assert asd(["results", "--runs", str(tmp_path / "runs"), "--profile", "ci",
                "--out", str(tmp_path / "results.md")]) == 2
    err = capsys.readouterr().err
    assert str(folder / "record.json") in err and "not a readable results record" in err
    assert not (tmp_path / "results.md").exists()


def test_a_run_not_started_before_the_batch_was_interrupted_keeps_its_folder(tmp_path):
    """Runs still queued when a batch is stopped are reported 'not started' and their folders
    (an earlier good result included) are left exactly as they were."""
    from asdlib.runner import NOT_STARTED, _Pool, attempt_run

    nb = write_notebook(tmp_path / "nb")
    (spec,) = plan_runs([nb], "ci", machine_types=["fan"], out=tmp_path / "runs")
    spec.run_path.mkdir(parents=True)
    (spec.run_path / "record.json").write_text('{"good": true}')
    (spec.run_path / "notebook.ipynb").write_text("{}")
    pool = _Pool()
    pool.stop()
    assert attempt_run(spec, pool=pool, resume=False, command="test", lock_wait=0.0) == (False, NOT_STARTED)
    assert listing(spec.run_path) == ["notebook.ipynb", "record.json"]
