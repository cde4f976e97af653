"""``asd run --executor slurm``, ``--dry-run`` and ``--gpus`` (asdlib.executors, asdlib.runner).

The Slurm code path is executed for real with submitit's ``local`` executor (each array task
a process here, no Slurm needed) on tiny notebooks from tests/test_runner.py; the sbatch
scripts submitit writes for Slurm are checked with stand-ins for ``sbatch`` and ``srun``;
``--gpus`` is checked without a GPU through the CUDA_VISIBLE_DEVICES each worker sees.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pytest

from asdlib.chapters import ChapterSpec
from asdlib.runner import main, plan_runs, register

from test_runner import HEADER, PARAMETERS_CELL, NoSettings, listing, write_notebook

ROOT = Path(__file__).resolve().parents[1]

READER_BODY = """
```{code-cell} ipython3
import json, pathlib
found = sorted(pathlib.Path(results_dir).parents[1].glob("b_subsystem/*/record.json"))
assert len(found) == 2, f"the subsystem's records are not all there yet: {found}"
pathlib.Path(results_dir, "record.json").write_text(json.dumps({"read": len(found)}))
```
"""

# killed outright like a task that Slurm cancels: the kernel's parent is the worker, whose
# parent is the array task; KILL is looked up in the notebook's folder
KILL_CELL = """
```{code-cell} ipython3
import os, signal, psutil
if os.path.exists("KILL"):
    os.kill(psutil.Process().parent().ppid(), signal.SIGKILL)
```
"""

GPU_BODY = """
```{code-cell} ipython3
import json, os, pathlib, time
start = time.time()
time.sleep(1.5)
pathlib.Path(results_dir, "record.json").write_text(json.dumps(
    {"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": start, "end": time.time()}))
```
"""


@pytest.fixture()
def two_chapters(tmp_path, monkeypatch):
    """'a_ensemble' requires 'b_subsystem' (it reads its two records), as the ensemble chapter
    requires the AITHU chapters."""
    import asdlib.chapters

    monkeypatch.setitem(asdlib.chapters.CHAPTERS, "a_ensemble",
                        ChapterSpec("a_ensemble", None, NoSettings, requires=("b_subsystem",)))
    folder = tmp_path / "notebooks"
    provider = write_notebook(folder, "b_subsystem", PARAMETERS_CELL + KILL_CELL)
    reader = folder / "a_ensemble.md"
    reader.write_text(HEADER + PARAMETERS_CELL + READER_BODY)
    return reader, provider, tmp_path / "runs"


@pytest.fixture()
def local_submitit(monkeypatch):
    """--executor slurm through submitit's local executor: the array tasks run as processes here."""
    import asdlib.executors

    monkeypatch.setattr(asdlib.executors, "SUBMITIT_CLUSTER", "local")
    monkeypatch.setattr(asdlib.executors, "POLL_S", 0.2)


def _arrays(out: str) -> list[list[str]]:
    """The run lines of each job array of a --dry-run print: [[stem tag, ...], ...]."""
    arrays: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith("array "):
            arrays.append([])
        elif line.startswith("    ") and arrays:
            stem, tag = line.split()[:2]
            arrays[-1].append(f"{stem} {tag}")
    return arrays


# --------------------------------------------------------------------------- dry run


def test_dry_run_of_the_paper_book_puts_the_ensemble_in_a_later_array(tmp_path, capsys):
    """The paper book as Slurm arrays: the ensemble chapter (it requires the AITHU chapters)
    in array 2, which depends on array 1; nothing is written, no Slurm needed."""
    notebooks = sorted(str(p) for p in (ROOT / "notebooks").glob("*.md"))
    out = tmp_path / "runs"
    code = main([*notebooks, "--profile", "paper", "--executor", "slurm", "--dry-run", "--out", str(out),
                 "--partition", "gpu", "--gpus-per-task", "1", "--cpus-per-task", "8", "--mem-gb", "32",
                 "--time-min", "600", "--array-parallelism", "4"])
    assert code == 0
    printed = capsys.readouterr().out
    specs = plan_runs(notebooks, "paper", out=out)
    arrays = _arrays(printed)
    assert len(arrays) == 2 and sum(map(len, arrays)) == len(specs)
    assert {line.split()[0] for line in arrays[1]} == {"aithu_aegan_ensembles"}
    assert not any(line.startswith("aithu_aegan_ensembles") for line in arrays[0])
    assert {"aithu_classifiers", "aithu_probabilistic"} <= {line.split()[0] for line in arrays[0]}
    sbatch = [line.strip() for line in printed.splitlines() if line.strip().startswith("sbatch ")]
    n1, n2 = map(len, arrays)
    assert sbatch[0] == (f"sbatch --job-name=asd-paper-1 --partition=gpu --gpus-per-task=1 --cpus-per-task=8 "
                         f"--mem=32GB --time=600 --array=0-{n1 - 1}%4")
    assert sbatch[1].endswith(f"--array=0-{n2 - 1}%4 --dependency=afterany:<job id of array 1>")
    # one line per run: notebook, tag, run folder
    spec = specs[0]
    assert any(line.split()[:3] == [spec.name, spec.tag, spec.run_dir] for line in printed.splitlines())
    assert str(out / "paper" / ".submitit") in printed
    assert not out.exists()


def test_dry_run_here_lists_the_runs_and_marks_complete_ones_with_resume(two_chapters, capsys):
    reader, provider, out = two_chapters
    done = out / "ci" / "b_subsystem" / "all-seed0"
    argv = [str(reader), str(provider), "--profile", "ci", "--seeds", "0", "1", "--out", str(out)]
    assert main(argv + ["--dry-run", "--gpus", "2", "0"]) == 0
    printed = capsys.readouterr().out
    assert "4 runs, one at a time per GPU on GPUs 2 0" in printed
    assert sum(line.startswith("  ") for line in printed.splitlines()) == 4
    assert not out.exists()
    assert main([str(provider), "--profile", "ci", "--seeds", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(argv + ["--dry-run", "--resume", "--executor", "slurm"]) == 0
    printed = capsys.readouterr().out
    assert "complete, skipped (--resume): 1 run" in printed
    assert f"  b_subsystem  all-seed0  {done}" in printed
    assert _arrays(printed) == [["b_subsystem all-seed1"], ["a_ensemble all-seed0", "a_ensemble all-seed1"]]
    assert "--array" not in printed.split("array 1/2")[1].split("\n")[1]   # one run: a single job, no array
    assert not (out / "ci" / ".submitit").exists() and not (out / "ci" / "a_ensemble").exists()


# --------------------------------------------------------------------------- the Slurm path, run here


def test_slurm_path_runs_the_arrays_in_order_and_resume_skips_them(two_chapters, local_submitit, capsys):
    reader, provider, out = two_chapters
    argv = [str(reader), str(provider), "--profile", "ci", "--seeds", "0", "1", "--out", str(out),
            "--executor", "slurm", "--cpus-per-task", "1", "--time-min", "10"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "4 runs: 4 ok, 0 failed, 0 skipped" in captured.out
    for tag in ("all-seed0", "all-seed1"):
        assert listing(out / "ci" / "b_subsystem" / tag) == ["notebook.ipynb", "record.json"]
        record = json.loads((out / "ci" / "a_ensemble" / tag / "record.json").read_text())
        assert record["read"] == 2 and record["runner"]["tag"] == tag   # written by execute_one, as here
    log = captured.err.splitlines()
    submits = [i for i, line in enumerate(log) if line.startswith("[submit")]
    assert len(submits) == 2 and "2 runs" in log[submits[0]] and "2 runs" in log[submits[1]]
    last_provider = max(i for i, line in enumerate(log) if line.startswith("[done") and "b_subsystem" in line)
    assert submits[0] < last_provider < submits[1]      # array 2 only after array 1 ended
    assert json.loads((out / "ci" / "a_ensemble" / "plan.json").read_text()) == {"tags": ["all-seed0", "all-seed1"]}
    jobs = [p for p in (out / "ci" / ".submitit").iterdir() if p.is_dir()]
    assert jobs and any(p.name.endswith("_log.err") for job in jobs for p in job.iterdir())
    assert main(argv + ["--resume"]) == 0
    captured = capsys.readouterr()
    assert "4 runs: 0 ok, 0 failed, 4 skipped" in captured.out and "[submit" not in captured.err


def test_a_killed_task_leaves_its_run_incomplete_and_resume_reruns_it(two_chapters, local_submitit, capsys):
    reader, provider, out = two_chapters
    argv = [str(provider), "--profile", "ci", "--seeds", "0", "--out", str(out), "--executor", "slurm"]
    run_dir = out / "ci" / "b_subsystem" / "all-seed0"
    (provider.parent / "KILL").touch()
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "1 run: 0 ok, 1 failed" in captured.out
    line = next(x for x in captured.out.splitlines() if x.startswith("all-seed0"))
    assert "ended without a result" in line and "interrupted" in line
    assert "notebook.ipynb" not in listing(run_dir) and "error.txt" in listing(run_dir)
    (provider.parent / "KILL").unlink()
    assert main(argv + ["--resume"]) == 0
    assert "1 run: 1 ok, 0 failed, 0 skipped" in capsys.readouterr().out
    assert listing(run_dir) == ["notebook.ipynb", "record.json"]


def test_sbatch_scripts_of_the_arrays_carry_the_options_and_the_dependency(tmp_path, monkeypatch):
    """submitit's SlurmExecutor with stand-ins for sbatch (records the script, answers a job id)
    and srun: what a cluster would be given, without running it."""
    from asdlib.executors import SlurmOptions, array_id, submit_array

    bin_dir, scripts = tmp_path / "bin", tmp_path / "scripts"
    bin_dir.mkdir()
    scripts.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        '#!/bin/sh\nn=$(( $(cat "$FAKE_COUNTER" 2>/dev/null || echo 1000) + 1 ))\necho $n > "$FAKE_COUNTER"\n'
        'cp "$1" "$FAKE_SCRIPTS/$n.sh"\necho "Submitted batch job $n"\n')
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_COUNTER", str(tmp_path / "counter"))
    monkeypatch.setenv("FAKE_SCRIPTS", str(scripts))
    nb = write_notebook(tmp_path / "nb")
    specs = plan_runs([nb], "ci", seeds=[0, 1, 2], out=tmp_path / "runs")
    options = SlurmOptions(folder=str(tmp_path / "runs" / "ci" / ".submitit"), partition="gpu", gpus_per_task=1,
                           cpus_per_task=4, mem_gb=16, time_min=90, array_parallelism=2)
    first = submit_array(specs[:2], options, name="asd-ci-1", command="asd run", resume=True, cluster="slurm")
    assert [job.job_id for job in first] == ["1001_0", "1001_1"] and array_id(first[0]) == "1001"
    second = submit_array(specs[2:], options, name="asd-ci-2", after=["1001"], command="asd run", resume=True,
                          cluster="slurm")
    assert array_id(second[0]) == "1002"
    one, two = ((scripts / f"{n}.sh").read_text().splitlines() for n in (1001, 1002))
    for flag in ("--partition=gpu", "--gpus-per-task=1", "--cpus-per-task=4", "--mem=16GB", "--time=90"):
        assert f"#SBATCH {flag}" in one and f"#SBATCH {flag}" in two
    assert "#SBATCH --array=0-1%2" in one and "#SBATCH --job-name=asd-ci-1" in one
    assert not any(line.startswith("#SBATCH --dependency") for line in one)
    assert "#SBATCH --dependency=afterany:1001" in two and not any("--array" in line for line in two)
    assert any(str(options.folder) in line for line in one if line.startswith("#SBATCH --output"))
    # the dry run prints the same options
    assert options.sbatch_options("asd-ci-1", 2) == [
        "--job-name=asd-ci-1", "--partition=gpu", "--gpus-per-task=1", "--cpus-per-task=4", "--mem=16GB",
        "--time=90", "--array=0-1%2"]


# --------------------------------------------------------------------------- --gpus


def test_gpus_give_each_worker_one_gpu_and_no_two_runs_share_one(tmp_path, capsys):
    folder = tmp_path / "nb"
    folder.mkdir()
    nb = folder / "gpu.md"
    nb.write_text(HEADER + PARAMETERS_CELL + GPU_BODY)
    out = tmp_path / "runs"
    assert main([str(nb), "--profile", "ci", "--seeds", "0", "1", "2", "3", "--out", str(out),
                 "--gpus", "3", "5"]) == 0
    captured = capsys.readouterr()
    assert "4 runs: 4 ok" in captured.out
    records = [json.loads((out / "ci" / "gpu" / f"all-seed{k}" / "record.json").read_text()) for k in range(4)]
    # which GPU a run gets depends on which run ends first, so the split of four runs over two GPUs
    # is not fixed (a 3-1 split is as correct as 2-2); what holds: every run got one of the listed
    # GPUs, both were used, and no two runs held one GPU at once
    assert {r["gpu"] for r in records} == {"3", "5"}
    for gpu in ("3", "5"):
        spans = sorted((r["start"], r["end"]) for r in records if r["gpu"] == gpu)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), f"two runs held GPU {gpu} at once: {spans}"
    starts = [line for line in captured.err.splitlines() if line.startswith("[start")]
    # the first two runs took one GPU each (the threads may print in either order)
    assert {starts[0][-1], starts[1][-1]} == {"3", "5"} and all(" on GPU " in line for line in starts)
    # and the two GPUs were busy at the same time: two runs in parallel
    assert any(a["start"] < b["end"] and b["start"] < a["end"]
               for a in records if a["gpu"] == "3" for b in records if b["gpu"] == "5")


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("extra, message", [
    (["--gpus", "0", "1", "--jobs", "3"], "--jobs 3 with --gpus 0 1: one run per GPU at a time"),
    (["--gpus", "0", "0"], "--gpus 0 0: GPU 0 is listed twice"),
    (["--gpus", "-1"], "--gpus -1: GPU ids are non-negative"),
    (["--partition", "gpu"], "--partition: a Slurm option; add --executor slurm"),
    (["--mem-gb", "4", "--time-min", "9"], "--mem-gb, --time-min: Slurm options; add --executor slurm"),
    (["--executor", "slurm", "--gpus", "0"], "--gpus is for --executor local"),
    (["--executor", "slurm", "--jobs", "2"], "--jobs is for --executor local"),
    (["--executor", "slurm", "--dry-run", "--mem-gb", "0"], "--mem-gb 0.0: give a number of gigabytes > 0"),
    (["--executor", "slurm", "--dry-run", "--time-min", "0"], "--time-min 0: give an integer >= 1"),
    (["--executor", "slurm", "--dry-run", "--cpus-per-task", "0"], "--cpus-per-task 0: give an integer >= 1"),
    (["--executor", "slurm", "--dry-run", "--partition", "a b"], "--partition 'a b': give a Slurm partition name"),
])
def test_bad_executor_arguments_fail_before_anything_runs(tmp_path, capsys, extra, message):
    nb = write_notebook(tmp_path / "nb")
    out = tmp_path / "runs"
    assert main([str(nb), "--profile", "ci", "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_gpu_id_must_be_an_integer(tmp_path, capsys):
    nb = write_notebook(tmp_path / "nb")
    with pytest.raises(SystemExit) as exit_:
        main([str(nb), "--profile", "ci", "--gpus", "0", "a"])
    assert exit_.value.code == 2 and "argument --gpus: invalid int value: 'a'" in capsys.readouterr().err
    from asdlib.runner import check_gpus, execute_runs

    assert check_gpus(["1", 0]) == [1, 0]
    with pytest.raises(ValueError, match=r"--gpus 'cuda:0': give GPU ids as integers"):
        execute_runs([], gpus=["cuda:0"])


def test_slurm_needs_slurm_and_submitit_unless_it_is_a_dry_run(tmp_path, capsys, monkeypatch):
    nb = write_notebook(tmp_path / "nb")
    out = tmp_path / "runs"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))        # no sbatch, no srun
    assert main([str(nb), "--profile", "ci", "--out", str(out), "--executor", "slurm"]) == 2
    assert "--executor slurm: sbatch and srun not on PATH" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "submitit", None)          # not installed
    assert main([str(nb), "--profile", "ci", "--out", str(out), "--executor", "slurm"]) == 2
    assert "--executor slurm needs the submitit package: pip install 'submitit>=1.5'" in capsys.readouterr().err
    assert not out.exists()
    assert main([str(nb), "--profile", "ci", "--out", str(out), "--executor", "slurm", "--dry-run"]) == 0
    assert "slurm: 1 run in 1 job array" in capsys.readouterr().out


def test_register_parses_the_executor_options():
    parser = argparse.ArgumentParser(prog="asd")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["run", "a.md", "--profile", "paper", "--executor", "slurm", "--partition", "gpu",
                              "--gpus-per-task", "1", "--cpus-per-task", "8", "--mem-gb", "32.5", "--time-min", "60",
                              "--array-parallelism", "4", "--slurm-folder", "logs", "--dry-run"])
    assert (args.executor, args.partition, args.gpus_per_task, args.cpus_per_task, args.mem_gb, args.time_min,
            args.array_parallelism, args.slurm_folder, args.dry_run) == (
        "slurm", "gpu", 1, 8, 32.5, 60, 4, Path("logs"), True)
    plain = parser.parse_args(["run", "a.md", "--profile", "ci", "--gpus", "0", "1"])
    assert (plain.executor, plain.gpus, plain.jobs, plain.dry_run, plain.partition) == ("local", [0, 1], None, False, None)
