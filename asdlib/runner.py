"""``asd run``: execute chapter notebooks with papermill, over machine types and seeds.

    asd run NOTEBOOK [NOTEBOOK ...] --profile {ci,demo,paper} [--device auto] [--data-root DIR]
            [--dataset 2022] [--types T1 T2 ...] [--together] [--seeds 0 1] [--out runs]
            [--set KEY=VALUE ...] [--jobs N | --gpus 0 1 ...] [--resume] [--timeout SECONDS]
            [--executor {local,slurm} [--partition P --gpus-per-task N ...]] [--dry-run]

Runs are notebooks x machine-type groups x seeds. With ``--types fan valve`` each type
is a run of its own (``machine_types=["fan"]``) unless ``--together`` (one run with
``machine_types=["fan", "valve"]``); without ``--types`` one run covers every type
(``machine_types=None``). Each seed is a run (``seeds=[k]``); the default seeds are the
profile's. ``--set KEY=VALUE`` (repeatable) overrides a chapter setting for this batch:
every chapter of the batch that has the setting gets it (``--set STEM.KEY=VALUE``: only
chapter STEM); an unknown key or a value of the wrong type fails before anything runs.
Each run gets exactly :data:`asdlib.experiment.NOTEBOOK_PARAMETERS` and writes into its
own folder ::

    <out>/<profile>/<notebook stem>/<tag>/     tag: all-seed0, fan-seed1, fan+valve-seed0
        notebook.ipynb          the executed notebook (written last: it marks the run done)
        record.json             written by the notebook (results_dir is this folder); the
                                runner adds a "runner" entry (wall time, paths, command)
        error.txt               a failed run only: the error, then the traceback tail
        notebook.failed.ipynb   a failed run only: the partially executed notebook

Programmatic use::

    specs = plan_runs(["notebooks/00_task_data_metrics.md"], profile="ci", machine_types=["fan"])
    outcomes = execute_runs(specs, jobs=2, resume=True)
    print(format_summary(outcomes))

Every notebook's ``parameters`` cell is checked before anything executes. Each
execution runs papermill in a separate Python process (its own kernel, started with
the ``python3`` kernel of this interpreter) in the notebook's own folder, so one
crashing run cannot take the others down; ``--jobs N`` runs N of them at a time, and
``--gpus 0 1`` one per GPU at a time, each worker with one id in ``CUDA_VISIBLE_DEVICES``.
``--executor slurm`` submits the same runs as Slurm job arrays instead
(:mod:`asdlib.executors`, through submitit): each array task executes its run exactly as
a local worker does (:func:`attempt_run`), so folders, locks, records and ``--resume``
are the same. ``--dry-run`` prints the runs (and the job arrays) without executing.
Outputs are written to temporary files and renamed, so an interrupted batch leaves
each run either complete or visibly incomplete, and ``--resume`` re-executes only
the incomplete ones. A run is complete only when its notebook source, its parameters,
its resolved chapter settings and the asdlib source all match the ones it was made
with (:mod:`asdlib.provenance`): editing a chapter, its settings or any asdlib module
makes its runs stale. A worker holds a lock on its run folder, so two batches never
execute the same run at once; an interrupted batch (Ctrl-C, SIGTERM) stops its workers
and their kernels before it exits.
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import json
import math
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from asdlib.provenance import canonical, file_digest, package_digest, settings_digest
from asdlib.utils import atomic_write_text

from asdlib.records import RECORD_NAME

NOTEBOOK_NAME = "notebook.ipynb"
FAILED_NAME = "notebook.failed.ipynb"
PARTIAL_NAME = ".notebook.partial.ipynb"  # papermill writes here while executing
ERROR_NAME = "error.txt"
PREV_RECORD_NAME = "record.prev.json"      # the last good result while a rerun executes
PREV_NOTEBOOK_NAME = "notebook.prev.ipynb"
PLAN_NAME = "plan.json"  # <out>/<profile>/<notebook>/plan.json: the tags of the latest asd run
LOCK_NAME = ".lock"      # held (flock) by the worker executing the run
LOCK_WAIT_S = 15.0       # how long a batch waits for a run another batch holds
NOT_STARTED = "not started: the batch was interrupted"
KERNEL_NAME = "python3"
NOTEBOOK_SUFFIXES = (".md", ".ipynb")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class RunSpec:
    """One execution: a notebook with one machine-type group and one seed."""

    notebook: str            # absolute path of the source (.md or .ipynb)
    tag: str                 # all-seed0, fan-seed1, fan+valve-seed0
    run_dir: str             # absolute: <out>/<profile>/<stem>/<tag>
    parameters: dict         # exactly NOTEBOOK_PARAMETERS
    timeout: int | None = None     # papermill execution_timeout (seconds per cell), None: no limit
    settings: dict = field(default_factory=dict)  # the resolved chapter settings ({}: no chapter)
    settings_sha256: str = ""      # digest of the resolved chapter settings (asdlib.provenance)
    asdlib_sha256: str = ""        # digest of the asdlib source the run is planned with

    @property
    def name(self) -> str:
        """The notebook's stem, e.g. ``00_task_data_metrics``."""
        return Path(self.notebook).stem

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir)

    def is_complete(self) -> bool:
        """What ``--resume`` skips: ``record.json`` and ``notebook.ipynb`` exist, and the record
        was made by this notebook source (same SHA-256) with these parameters, these
        resolved chapter settings and this asdlib source. A run made before the chapter,
        its settings or the library were edited, or on other data, device or dataset, is
        run again."""
        return not self.stale_because()

    def stale_because(self) -> str:
        """Why this run is not complete ("" when it is)."""
        record_path = self.run_path / RECORD_NAME
        if not (record_path.is_file() and (self.run_path / NOTEBOOK_NAME).is_file()):
            return "not run"
        try:
            runner = json.loads(record_path.read_text()).get("runner") or {}
        except (OSError, ValueError):
            return f"{record_path} cannot be read"
        if runner.get("source_sha256") != source_digest(self.notebook):
            return "the notebook changed"
        if runner.get("parameters") != dict(self.parameters):
            return "other parameters"
        if runner.get("settings_sha256", "") != self.settings_sha256:
            return "the chapter settings changed"
        if runner.get("asdlib_sha256", "") != self.asdlib_sha256:
            return "the asdlib source changed"
        return ""


source_digest = file_digest  # SHA-256 of a notebook source file's bytes


@dataclass
class RunOutcome:
    """What became of one :class:`RunSpec`."""

    spec: RunSpec
    status: str              # "ok", "failed" or "skipped"
    seconds: float | None    # wall time of the whole run (None when skipped)
    path: str                # notebook.ipynb, or notebook.failed.ipynb / error.txt on failure
    error: str | None = None  # first line of the error on failure


def read_notebook(path: str | os.PathLike):
    """An nbformat notebook from a Jupytext source (``.md``) or an ``.ipynb`` file."""
    import nbformat

    path = Path(path)
    if path.suffix == ".ipynb":
        return nbformat.read(str(path), as_version=4)
    import jupytext

    return jupytext.read(str(path))


def declared_parameters(nb) -> list[str] | None:
    """Names assigned in the notebook's cell tagged ``parameters``; None without such a cell."""
    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return None
    source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
    try:
        tree = ast.parse(source)
    except SyntaxError:  # e.g. IPython magics: fall back to papermill's own (regex) reading
        from papermill.translators import PythonTranslator

        return [p.name for p in PythonTranslator.inspect(cell)]
    names: list[str] = []

    def add(target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                add(elt)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add(target)
        elif isinstance(node, ast.AnnAssign):
            add(node.target)
    return list(dict.fromkeys(names))


def check_notebook(path: str | os.PathLike) -> list[str]:
    """Fail unless ``path`` is a notebook whose parameters cell declares every
    :data:`~asdlib.experiment.NOTEBOOK_PARAMETERS`; returns the declared names."""
    from asdlib.records import NOTEBOOK_PARAMETERS

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {path} does not exist")
    if path.suffix not in NOTEBOOK_SUFFIXES:
        raise ValueError(f"notebook {path}: expected a Jupytext .md source or an .ipynb file")
    declared = declared_parameters(read_notebook(path))
    if declared is None:
        raise ValueError(f"notebook {path} has no cell tagged 'parameters'; it must declare "
                         f"{', '.join(NOTEBOOK_PARAMETERS)}")
    missing = [p for p in NOTEBOOK_PARAMETERS if p not in declared]
    if missing:
        raise ValueError(f"notebook {path}: its parameters cell does not declare {', '.join(missing)}; "
                         f"it declares: {', '.join(declared) or '(nothing)'}; "
                         f"asd run passes: {', '.join(NOTEBOOK_PARAMETERS)}")
    return declared


def run_tag(machine_types: Sequence[str] | None, seed: int) -> str:
    """``all-seed0``, ``fan-seed1``, ``fan+valve-seed0``."""
    return f"{'+'.join(machine_types) if machine_types else 'all'}-seed{seed}"


def plan_runs(
    notebooks: Sequence[str | os.PathLike],
    profile: str,
    *,
    device: str = "auto",
    data_root: str | os.PathLike | None = None,
    dataset: int | None = None,
    machine_types: Sequence[str] | None = None,
    together: bool = False,
    seeds: Sequence[int] | None = None,
    out: str | os.PathLike = "runs",
    timeout: float | None = None,
    settings: Mapping[str, Any] | None = None,
) -> list[RunSpec]:
    """The runs of notebooks x machine-type groups x seeds, after checking everything
    that can be checked without executing: the profile, dataset, machine types and
    seeds, the setting overrides, and every notebook's parameters cell. Paths are made
    absolute (notebooks execute in their own folder).

    ``settings`` overrides chapter settings (``asd run --set``): a key ``KEY`` applies to
    every chapter of the batch that has it, ``STEM.KEY`` to chapter STEM only."""
    from asdlib.chapters import default_seeds
    from asdlib.profiles import get_profile
    from asdlib.records import check_parameters

    prof = get_profile(profile)
    if not notebooks:
        raise ValueError("give at least one notebook")
    # dataset None: each notebook's own dataset decides, so the types of either edition pass
    machine_types, seeds = check_parameters(dataset=dataset, machine_types=machine_types, seeds=seeds)
    if timeout is not None:
        if timeout <= 0:
            raise ValueError(f"timeout={timeout!r}: give a positive number of seconds")
        timeout = math.ceil(timeout)  # nbclient takes whole seconds
    if machine_types is None:
        groups: list[list[str] | None] = [None]
    elif together:
        groups = [machine_types]
    else:
        groups = [[t] for t in machine_types]

    paths = [Path(nb).resolve() for nb in notebooks]
    stems: dict[str, Path] = {}
    for path in paths:
        check_notebook(path)
        if path.stem in stems and stems[path.stem] != path:
            raise ValueError(f"notebooks {stems[path.stem]} and {path} share the name {path.stem!r}; "
                             "their results would share a folder")
        stems[path.stem] = path
    out = Path(out).resolve()
    root = None if data_root is None else str(Path(data_root).resolve())
    overrides = split_overrides(settings or {}, [p.stem for p in dict.fromkeys(paths)])
    library = package_digest()

    specs: list[RunSpec] = []
    for path in dict.fromkeys(paths):
        chosen = overrides[path.stem]
        resolved = resolved_settings(path.stem, prof.name, chosen)
        for group in groups:
            for seed in seeds if seeds is not None else default_seeds(path.stem, prof.name, chosen):
                tag = run_tag(group, seed)
                run_dir = out / prof.name / path.stem / tag
                params = {"data_root": root, "dataset": dataset, "machine_types": group,
                          "profile": prof.name, "device": device, "seeds": [seed],
                          "settings": canonical(chosen) or None, "results_dir": str(run_dir)}
                if dataset is None:  # not injected: the notebook keeps its own default
                    del params["dataset"]
                specs.append(RunSpec(notebook=str(path), tag=tag, run_dir=str(run_dir),
                                     parameters=params, timeout=timeout, settings=canonical(resolved),
                                     settings_sha256=settings_digest(resolved), asdlib_sha256=library))
    return specs


def resolved_settings(stem: str, profile: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The chapter settings a run of ``stem`` will use ({} for a notebook that is no chapter)."""
    from asdlib.chapters import CHAPTERS, as_dict

    if stem not in CHAPTERS:
        return {}
    return as_dict(CHAPTERS[stem].settings(profile, overrides))


def split_overrides(settings: Mapping[str, Any], stems: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set`` overrides per chapter of the batch, checked against each chapter's settings.

    ``KEY`` goes to every chapter that has the setting (an error when none has it, listing
    each chapter's settings); ``STEM.KEY`` to chapter STEM (an error when STEM is not in the
    batch, or has no such setting). Types are checked by the chapter's spec."""
    from asdlib.chapters import CHAPTERS

    def keys(stem: str) -> list[str]:
        return CHAPTERS[stem].keys if stem in CHAPTERS else []

    per: dict[str, dict[str, Any]] = {stem: {} for stem in stems}
    for key, value in settings.items():
        stem, dot, name = key.rpartition(".")
        if dot:
            if stem not in per:
                raise ValueError(f"--set {key}: {stem!r} is not a notebook of this batch "
                                 f"({', '.join(stems)})")
            if stem not in CHAPTERS:
                raise ValueError(f"--set {key}: {stem!r} has no chapter spec, so no settings")
            targets = [stem]
        else:
            targets = [s for s in stems if name in keys(s)]
            if not targets:
                valid = "; ".join(f"{s}: {', '.join(keys(s)) or '(no settings)'}" for s in stems)
                raise ValueError(f"--set {name}: no chapter of this batch has the setting {name!r}; valid: {valid}")
        for stem in targets:
            per[stem][name] = value
    return {stem: CHAPTERS[stem].check(chosen) if chosen else {} for stem, chosen in per.items()}


# --------------------------------------------------------------------------- executing


def _clean(run_dir: Path) -> None:
    """Set aside what an earlier execution of this run left behind.

    A previous result is not deleted: ``record.json`` and ``notebook.ipynb`` become
    ``record.prev.json`` and ``notebook.prev.ipynb`` until the new run succeeds, so a
    rerun that fails loses nothing (the results page reads only ``record.json``).
    """
    for live, prev in ((RECORD_NAME, PREV_RECORD_NAME), (NOTEBOOK_NAME, PREV_NOTEBOOK_NAME)):
        if (run_dir / live).exists():
            os.replace(run_dir / live, run_dir / prev)
    for name in (FAILED_NAME, ERROR_NAME, PARTIAL_NAME):
        (run_dir / name).unlink(missing_ok=True)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _write_error(run_dir: Path, summary: str, detail: str, max_lines: int = 200) -> None:
    lines = _ANSI.sub("", detail).rstrip().splitlines()
    if len(lines) > max_lines:
        lines = [f"[... {len(lines) - max_lines} lines left out ...]"] + lines[-max_lines:]
    atomic_write_text(run_dir / ERROR_NAME, _first_line(summary) + "\n\n" + "\n".join(lines) + "\n")


def _move_notebook(run_dir: Path, name: str, source: str | None) -> None:
    """Rename the partial notebook to ``name``, first pointing papermill's metadata at
    the source and the final path (papermill ran from a notebook object it stores whole,
    into the temporary file)."""
    partial = run_dir / PARTIAL_NAME
    if source is not None:
        import nbformat

        try:
            nb = nbformat.read(str(partial), as_version=4)
            meta = nb.metadata.setdefault("papermill", {})
            meta["input_path"] = source
            meta["output_path"] = str(run_dir / name)
            nbformat.write(nb, str(partial))
        except Exception:  # a notebook cut short by a kill: keep it as it is
            pass
    os.replace(partial, run_dir / name)


def _fail(run_dir: Path, summary: str, detail: str, source: str | None = None) -> None:
    if (run_dir / PARTIAL_NAME).exists():
        _move_notebook(run_dir, FAILED_NAME, source)
    (run_dir / RECORD_NAME).unlink(missing_ok=True)  # a failed run leaves no record
    _write_error(run_dir, summary, detail)


def execute_one(spec: RunSpec, command: str | None = None) -> bool:
    """Execute one run in this process (papermill starts its kernel); True on success.

    :func:`execute_runs` calls this in a separate process per run. On success the
    record gets its ``runner`` entry and the executed notebook is renamed into place
    last; on failure ``error.txt`` and ``notebook.failed.ipynb`` are left instead.
    """
    import papermill as pm

    run_dir = spec.run_path
    run_dir.mkdir(parents=True, exist_ok=True)
    _clean(run_dir)
    partial = run_dir / PARTIAL_NAME
    start = time.perf_counter()
    try:
        nb = read_notebook(spec.notebook)
        pm.execute_notebook(nb, str(partial), parameters=dict(spec.parameters), kernel_name=KERNEL_NAME,
                            cwd=str(Path(spec.notebook).parent), progress_bar=False, log_output=False,
                            execution_timeout=spec.timeout)
    except pm.PapermillExecutionError as err:
        summary = f"Interrupted: {_stop_reason[0]}" if _stop_reason else f"{err.ename}: {err.evalue}"
        _fail(run_dir, summary, str(err), spec.notebook)
        return False
    except BaseException as err:  # kernel death, timeout, bad notebook, Ctrl-C ...
        summary = f"Interrupted: {_stop_reason[0]}" if _stop_reason else f"{type(err).__name__}: {err}"
        _fail(run_dir, summary, traceback.format_exc(), spec.notebook)
        if not isinstance(err, Exception):
            raise
        return False
    wall = time.perf_counter() - start
    try:
        record_path = run_dir / RECORD_NAME
        if not record_path.is_file():
            raise RuntimeError(f"the notebook ran but wrote no {RECORD_NAME} into results_dir ({run_dir})")
        record = json.loads(record_path.read_text())
        if not isinstance(record, dict):
            raise RuntimeError(f"{RECORD_NAME} does not hold a JSON object")
        record["runner"] = {
            "wall_time_s": round(wall, 3),
            "notebook": str(run_dir / NOTEBOOK_NAME),
            "source": spec.notebook,
            "tag": spec.tag,
            "command": command if command is not None else shlex.join(sys.argv),
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "parameters": dict(spec.parameters),
            "source_sha256": source_digest(spec.notebook),
            "settings": spec.settings,
            "settings_sha256": spec.settings_sha256,
            "asdlib_sha256": spec.asdlib_sha256,
        }
        atomic_write_text(record_path, json.dumps(record, indent=1, default=str))
        _move_notebook(run_dir, NOTEBOOK_NAME, spec.notebook)  # last: marks the run complete
        for name in (PREV_RECORD_NAME, PREV_NOTEBOOK_NAME, ERROR_NAME, FAILED_NAME):
            (run_dir / name).unlink(missing_ok=True)
    except Exception as err:
        _fail(run_dir, f"{type(err).__name__}: {err}", traceback.format_exc(), spec.notebook)
        return False
    return True


class RunBusy(RuntimeError):
    """Another process executes this run now (it holds the run folder's lock)."""


def lock_run(run_dir: Path, wait: float = 0.0) -> int:
    """Open and lock ``run_dir/.lock`` (exclusive); the file descriptor.

    The lock lives as long as any process holds the descriptor: the worker inherits it,
    so a second batch stays off the run until the worker has ended. Waits up to ``wait``
    seconds (a worker of a stopped batch is still writing its error), then raises
    :class:`RunBusy`."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RunBusy(f"{run_dir} is being executed by another asd run (its lock {LOCK_NAME} is held); "
                              "left untouched") from None
            time.sleep(0.1)


class _Pool:
    """Worker processes of one :func:`execute_runs` call, so an interrupt can stop them.

    Each worker runs in a session of its own (with its papermill kernel), so a Ctrl-C in
    the terminal reaches only ``asd run``, which then stops every worker's process group:
    SIGTERM (the worker records the run as interrupted), then SIGKILL after ``grace`` s."""

    def __init__(self, grace: float = 10.0) -> None:
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen] = set()
        self.stopping = False
        self.grace = grace

    def run(self, cmd: list[str], pass_fds: Sequence[int] = (),
            env: Mapping[str, str] | None = None) -> tuple[int, str]:
        """Run ``cmd`` to its end (``env``: variables added to this process's environment);
        its exit status and output."""
        with self.lock:
            if self.stopping:
                return -signal.SIGTERM, NOT_STARTED
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace",
                                    start_new_session=True, pass_fds=tuple(pass_fds),
                                    env=None if env is None else {**os.environ, **env})
            self.procs.add(proc)
        try:
            output, _ = proc.communicate()
        finally:
            with self.lock:
                self.procs.discard(proc)
        return proc.returncode, output

    def stop(self) -> None:
        """Stop every worker and its kernel; returns when they have ended."""
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)  # the kernel too, should it outlive its worker


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def write_plans(specs: Sequence[RunSpec]) -> None:
    """Write, per notebook folder, the run tags this invocation plans (``plan.json``).

    The results page shows only records of planned runs, so a run left over from an
    earlier plan (other seeds, other machine types) never stands in for a current one.
    """
    plans: dict[Path, list[str]] = {}
    for spec in specs:
        plans.setdefault(spec.run_path.parent, []).append(spec.tag)
    for folder, tags in plans.items():
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / PLAN_NAME, json.dumps({"tags": tags}, indent=1))


def attempt_run(spec: RunSpec, *, pool: _Pool, resume: bool, command: str, lock_wait: float,
                env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """Lock the run's folder, clean it and execute the run in a worker process of ``pool``
    (``env``: variables added to the worker's environment, e.g. ``CUDA_VISIBLE_DEVICES``);
    (success, first line of the error).

    What every executor does for one run: the local pool of :func:`execute_runs` calls it
    in a thread per run, a Slurm array task (:func:`asdlib.executors.run_task`) in the
    job itself, so the run folder, its lock and its record are the same whoever executes it."""
    run_dir = spec.run_path
    if pool.stopping:  # the batch was interrupted before this run started: leave its folder as it is
        return False, NOT_STARTED
    try:
        fd = lock_run(run_dir, wait=lock_wait)
    except RunBusy as err:
        return False, str(err)
    except Exception as err:  # e.g. the folder cannot be written: this run fails, not the batch
        return False, f"{type(err).__name__}: {err}"
    try:
        if resume and spec.is_complete():  # completed by another batch while this one waited
            return True, ""
        if pool.stopping:
            return False, NOT_STARTED
        _clean(run_dir)  # no stale record/notebook even if the worker never starts
        payload = json.dumps({"spec": asdict(spec), "command": command, "parent": os.getpid()})
        code, output = pool.run([sys.executable, "-m", "asdlib.runner", _WORKER_FLAG, payload],
                                pass_fds=(fd,), env=env)
        if code == 0 and spec.is_complete():
            return True, ""
        if not (run_dir / ERROR_NAME).is_file():  # the worker died before it could say why
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            _fail(run_dir, f"the worker process ended without a result ({how})", output)
        return False, _first_line((run_dir / ERROR_NAME).read_text())
    except Exception as err:
        return False, f"{type(err).__name__}: {err}"
    finally:
        os.close(fd)


def _log_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_batch(specs: Sequence[RunSpec], *, resume: bool,
                log: Callable[[str], None]) -> tuple[list[RunOutcome | None], list[int]]:
    """What every executor does first: write the ``plan.json`` files and, with ``resume``,
    mark the complete runs skipped. The outcomes so far (None: to execute) and the
    indexes of the runs to execute."""
    write_plans(specs)
    outcomes: list[RunOutcome | None] = [None] * len(specs)
    todo: list[int] = []
    for i, spec in enumerate(specs):
        if resume and spec.is_complete():
            outcomes[i] = RunOutcome(spec, "skipped", None, str(spec.run_path / NOTEBOOK_NAME))
            log(f"[skip {i + 1}/{len(specs)}] {spec.name} {spec.tag}: complete ({_display(spec.run_path)})")
        else:
            todo.append(i)
    return outcomes, todo


def execute_runs(
    specs: Sequence[RunSpec],
    *,
    jobs: int | None = None,
    resume: bool = False,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
    lock_wait: float | None = None,
    gpus: Sequence[int] | None = None,
) -> list[RunOutcome]:
    """Execute ``specs``, ``jobs`` at a time (default 1), each in its own Python process;
    one outcome per spec, in order. A failing run never stops the others.

    ``gpus`` (``asd run --gpus 0 1``): one run per GPU at a time. Each worker gets one id in
    ``CUDA_VISIBLE_DEVICES`` (so the notebook's ``cuda`` is that GPU), ``jobs`` becomes the
    number of GPUs (a different ``jobs`` is an error) and the runs take the GPUs in turn:
    the first ones in the order given, each later run the GPU that has been free longest.

    ``resume`` skips runs that are complete (``record.json`` and ``notebook.ipynb``);
    otherwise every run is re-executed from a clean folder. ``command`` is stored in
    each record (default: this process's command line). ``log`` receives one line per
    started / finished / skipped run (default: print to stderr). A run whose folder another
    batch holds (its lock) is waited for ``lock_wait`` seconds (default :data:`LOCK_WAIT_S`),
    then reported as failed with its files untouched.
    """
    lock_wait = LOCK_WAIT_S if lock_wait is None else lock_wait
    jobs, gpus = parallel_runs(jobs, gpus)
    log = log or _log_stderr
    command = command if command is not None else shlex.join(sys.argv)
    outcomes, todo = start_batch(specs, resume=resume, log=log)

    # chapters that read other chapters' records (their spec's `requires`) start after those runs
    # end: dependencies are submitted first, and a dependent run waits for them in its worker
    from asdlib.chapters import chapter_requires

    depth = {spec.name: _requirement_depth(spec.name, chapter_requires) for spec in specs}
    todo.sort(key=lambda i: depth[specs[i].name])
    done_events = {i: threading.Event() for i in todo}
    waits_for = {i: [j for j in todo if specs[j].name in chapter_requires(specs[i].name)] for i in todo}

    pool = _Pool()
    counter = threading.Lock()
    finished = [0]
    free_gpus: queue.SimpleQueue[int] = queue.SimpleQueue()  # first in, first out: the GPUs in turn
    for gpu in gpus or ():
        free_gpus.put(gpu)

    def work(i: int) -> RunOutcome:
        try:
            for j in waits_for[i]:
                done_events[j].wait()
            return run_one(i)
        finally:
            done_events[i].set()

    def run_one(i: int) -> RunOutcome:
        spec = specs[i]
        run_dir = spec.run_path
        gpu = free_gpus.get() if gpus else None  # never waits: a thread holds at most one GPU
        try:
            log(f"[start {i + 1}/{len(specs)}] {spec.name} {spec.tag}" + ("" if gpu is None else f" on GPU {gpu}"))
            start = time.perf_counter()
            ok, error = attempt_run(spec, pool=pool, resume=resume, command=command, lock_wait=lock_wait,
                                    env=None if gpu is None else {"CUDA_VISIBLE_DEVICES": str(gpu)})
            seconds = time.perf_counter() - start
        finally:
            if gpu is not None:
                free_gpus.put(gpu)
        if ok:
            outcome = RunOutcome(spec, "ok", seconds, str(run_dir / NOTEBOOK_NAME))
        else:
            failed = run_dir / FAILED_NAME
            outcome = RunOutcome(spec, "failed", seconds,
                                 str(failed if failed.is_file() else run_dir / ERROR_NAME), error)
        with counter:
            finished[0] += 1
            n = finished[0]
        tail = f": {outcome.error}" if outcome.error else ""
        log(f"[done {n}/{len(todo)}] {spec.name} {spec.tag}: {outcome.status} in {seconds:.1f} s{tail}")
        return outcome

    executor = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(todo) or 1)))
    try:
        futures = {i: executor.submit(work, i) for i in todo}
        for i, future in futures.items():
            outcomes[i] = future.result()
    except BaseException:
        pool.stop()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    return [o for o in outcomes if o is not None]


def _requirement_depth(name: str, requires: Callable[[str], tuple[str, ...]], seen: tuple[str, ...] = ()) -> int:
    """0 for a chapter that needs no other chapter's records, else 1 + the deepest requirement's."""
    if name in seen:
        raise ValueError(f"the chapters' requirements have a cycle: {' -> '.join((*seen, name))}")
    needs = requires(name)
    return 0 if not needs else 1 + max(_requirement_depth(n, requires, (*seen, name)) for n in needs)


def parallel_runs(jobs: int | None, gpus: Sequence[int] | None) -> tuple[int, list[int] | None]:
    """How many runs execute at once here, and on which GPUs: ``--jobs`` (default 1), or with
    ``--gpus`` one run per GPU, so ``--jobs`` is then the number of GPUs (another ``--jobs``
    is an error rather than a silent choice between the two)."""
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"--jobs {jobs}: give at least 1")
    if gpus is None:
        return (1 if jobs is None else jobs), None
    gpus = check_gpus(gpus)
    if jobs is not None and jobs != len(gpus):
        raise ValueError(f"--jobs {jobs} with --gpus {' '.join(map(str, gpus))}: one run per GPU at a time, "
                         f"so --gpus sets the runs in parallel ({len(gpus)}); leave out --jobs")
    return len(gpus), gpus


def check_gpus(gpus: Sequence[Any]) -> list[int]:
    """``--gpus``: distinct non-negative integer GPU ids (as ``nvidia-smi`` numbers them)."""
    ids = []
    for gpu in gpus:
        if isinstance(gpu, bool) or not isinstance(gpu, int):
            try:
                gpu = int(str(gpu).strip())
            except ValueError:
                raise ValueError(f"--gpus {gpu!r}: give GPU ids as integers, e.g. --gpus 0 1") from None
        if gpu < 0:
            raise ValueError(f"--gpus {gpu}: GPU ids are non-negative integers")
        if gpu in ids:
            raise ValueError(f"--gpus {' '.join(map(str, gpus))}: GPU {gpu} is listed twice; "
                             "one run per GPU at a time")
        ids.append(gpu)
    if not ids:
        raise ValueError("--gpus: give at least one GPU id, e.g. --gpus 0 1")
    return ids


def format_summary(outcomes: Sequence[RunOutcome]) -> str:
    """A plain-text table: run, notebook, status, seconds, path (and the error)."""
    rows = [("run", "notebook", "status", "seconds", "path")]
    errors = []
    for o in outcomes:
        rows.append((o.spec.tag, o.spec.name, o.status, "-" if o.seconds is None else f"{o.seconds:.1f}",
                     _display(Path(o.path))))
        errors.append(o.error)
    widths = [max(len(r[k]) for r in rows) for k in range(5)]
    lines = []
    for r, error in zip(rows, [None] + errors):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                 r[3].rjust(widths[3]), r[4]]
        line = "  ".join(cells)
        if error:
            line += f"  {error}"
        lines.append(line.rstrip())
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "failed", "skipped")}
    lines.append(f"{len(outcomes)} run{'' if len(outcomes) == 1 else 's'}: {counts['ok']} ok, {counts['failed']} failed, "
                 f"{counts['skipped']} skipped")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line

_WORKER_FLAG = "--asd-run-worker"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``asd run``."""
    p.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK",
                   help="Jupytext .md sources (or .ipynb) with a cell tagged 'parameters'")
    p.add_argument("--profile", required=True, help="ci, demo or paper (asdlib.profiles)")
    p.add_argument("--device", default="auto", help="passed to the notebook (auto, cpu, cuda, ...)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="a DCASE data root (default: the profile's synthetic data set)")
    p.add_argument("--dataset", type=int, default=None,
                   help="DCASE year (default: each notebook's own, e.g. 2020 for the DCASE 2020 chapter)")
    p.add_argument("--types", nargs="+", default=None, metavar="TYPE",
                   help="machine types, one run each (default: one run over all types)")
    p.add_argument("--together", action="store_true", help="one run over all --types instead of one per type")
    p.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED",
                   help="one run per seed (default: the profile's seeds)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="output folder (default: runs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set",
                   help="override a chapter setting for this batch (repeatable; STEM.KEY=VALUE for one chapter); "
                        "VALUE is a Python literal or a string, e.g. --set epochs=3 --set wav2vec_checkpoint=/m/w.pt")
    p.add_argument("--jobs", type=int, default=None,
                   help="executions in parallel here (default 1; with --gpus: the number of GPUs)")
    p.add_argument("--resume", action="store_true",
                   help="skip runs that are complete: made by this notebook source with these parameters, "
                        "settings and asdlib source")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="papermill execution_timeout: the most one cell may take (default: none)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the runs (and for slurm the job arrays) and exit: nothing executes or is written")
    p.add_argument("--gpus", nargs="+", type=int, default=None, metavar="ID",
                   help="GPUs of this machine: one run per GPU at a time, each worker with one id in "
                        "CUDA_VISIBLE_DEVICES (sets --jobs to the number of GPUs)")
    p.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="local: a process pool here (default); slurm: Slurm job arrays through submitit, "
                        "a chapter that requires others in a later array that depends on theirs")
    slurm = p.add_argument_group("Slurm (with --executor slurm; every run is one task of a job array)")
    slurm.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's default)")
    slurm.add_argument("--gpus-per-task", type=int, default=None, metavar="N", help="GPUs per run (default: none)")
    slurm.add_argument("--cpus-per-task", type=int, default=None, metavar="N", help="CPU cores per run")
    slurm.add_argument("--mem-gb", type=float, default=None, metavar="GB", help="memory per run")
    slurm.add_argument("--time-min", type=int, default=None, metavar="MIN",
                       help="time limit per run in minutes (default 1440); a run cut off is rerun by --resume")
    slurm.add_argument("--array-parallelism", type=int, default=None, metavar="N",
                       help="at most N runs of one array at once (default: submitit's 256)")
    slurm.add_argument("--slurm-folder", type=Path, default=None, metavar="DIR",
                       help="submitit's scripts and logs, one folder per job (default: <out>/<profile>/.submitit)")


def run_command(args: argparse.Namespace) -> int:
    """``asd run``: plan, execute, print the summary; 1 if any run failed.

    Errors in the arguments or notebooks raise ValueError/FileNotFoundError before
    anything executes (``asd`` turns them into exit status 2)."""
    from asdlib.executors import (check_executor_arguments, check_submitit, execute_on_slurm, format_dry_run,
                                  slurm_options)
    from asdlib.profiles import parse_assignments

    check_executor_arguments(args)
    executor = getattr(args, "executor", "local") or "local"
    if executor == "slurm" and not getattr(args, "dry_run", False):
        check_submitit()
    jobs, gpus = parallel_runs(getattr(args, "jobs", None), getattr(args, "gpus", None))
    specs = plan_runs(args.notebooks, args.profile, device=args.device, data_root=args.data_root,
                      dataset=args.dataset, machine_types=args.types, together=args.together,
                      seeds=args.seeds, out=args.out, timeout=args.timeout,
                      settings=parse_assignments(getattr(args, "set", None) or []))
    options = slurm_options(args, args.out, specs[0].parameters["profile"]) if executor == "slurm" else None
    print(f"asd run: {len(specs)} run{'' if len(specs) == 1 else 's'} into {_display(Path(args.out).resolve() / args.profile)}"
          f"{' (resume)' if args.resume else ''}{' (dry run: nothing executes)' if getattr(args, 'dry_run', False) else ''}",
          file=sys.stderr, flush=True)
    if getattr(args, "dry_run", False):
        print(format_dry_run(specs, executor=executor, resume=args.resume, jobs=jobs, gpus=gpus, options=options),
              flush=True)
        return 0
    if executor == "slurm":
        outcomes = execute_on_slurm(specs, options, resume=args.resume)
    else:
        outcomes = execute_runs(specs, jobs=jobs, resume=args.resume, gpus=gpus)
    print(format_summary(outcomes), flush=True)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand to ``asd``'s subparsers (``func`` = :func:`run_command`)."""
    p = subparsers.add_parser("run", help="execute notebooks with papermill over machine types and seeds",
                              description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=run_command)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asd run", description="Execute chapter notebooks with papermill.")
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``asd run`` on its own: ``main(["notebooks/x.md", "--profile", "ci"])``."""
    from asdlib.cli import run_guarded

    args = build_parser().parse_args(argv)
    return run_guarded("run", run_command, args)


class Interrupted(BaseException):
    """The worker was told to stop (SIGTERM or SIGINT from ``asd run``, or ``asd run`` died)."""


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send this process SIGTERM when ``asd run`` ends, however it ends (even
    SIGKILL), so no worker outlives its batch; elsewhere a no-op."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


_stop_reason: list[str] = []  # set in a worker when it is told to stop


def _worker(payload: str) -> int:
    def on_signal(signum, frame):
        _stop_reason.append(f"interrupted by {signal.Signals(signum).name}: the batch was stopped")
        try:  # the kernel and anything it started
            import psutil

            for child in psutil.Process().children(recursive=True):
                child.terminate()
        except Exception:
            pass
        raise Interrupted(_stop_reason[0])

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    data = json.loads(payload)
    _die_with_parent(data["parent"])
    try:
        return 0 if execute_one(RunSpec(**data["spec"]), command=data["command"]) else 1
    except Interrupted:
        return 128 + signal.SIGTERM


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == _WORKER_FLAG:
        sys.exit(_worker(sys.argv[2]))
    sys.exit(main())
