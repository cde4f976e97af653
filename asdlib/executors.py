"""``asd run --executor slurm`` and ``--dry-run``: the runs of :func:`asdlib.runner.plan_runs`
as Slurm job arrays, through submitit.

    asd run notebooks/*.md --profile paper --device cuda --data-root /data/dcase2022 \\
        --executor slurm --partition gpu --gpus-per-task 1 --cpus-per-task 8 --mem-gb 32 \\
        --time-min 1440 [--array-parallelism 8] [--slurm-folder runs/paper/.submitit] [--dry-run]

What stays as with the local pool (:func:`asdlib.runner.execute_runs`): the planning, the
``plan.json`` files, ``--resume`` (the complete runs are skipped before anything is
submitted), the run folders and their records. Each array task calls
:func:`asdlib.runner.attempt_run`, exactly what a local worker thread calls: it takes the
run folder's lock, cleans it and executes the notebook in a worker process, which writes
``record.json`` and ``notebook.ipynb`` (last) or ``error.txt``. So a task that Slurm kills
or pre-empts leaves its run visibly incomplete, and ``asd run ... --resume`` runs it again,
like a killed local run. (A pre-empted task is requeued by submitit and executes its run
from the start; a task that runs out of ``--time-min`` stops its worker, whose run is
then marked failed; neither is checkpointed half way.)

**Arrays and requirements.** A chapter whose spec ``requires`` other chapters reads their
records, so its runs may start only when theirs have ended. The runs are grouped by
requirement depth (:func:`job_arrays`): array 1 holds the chapters that need no other
chapter, array 2 those that need only chapters of array 1, and so on. All arrays are
submitted at once, each later one with Slurm's ``--dependency=afterany:<earlier array
ids>``: Slurm starts it when every task of the earlier arrays has ended, whatever their
state, as the local pool does (a failed requirement makes the dependent run fail with
its own error rather than wait for ever, as ``afterok`` would). So the whole book runs
even if ``asd run`` itself is stopped after submitting: it only waits for the tasks to
print the summary, and Ctrl-C leaves the jobs queued (``scancel`` stops them). With
submitit's non-Slurm executors, which have no dependencies (``local`` and ``debug``,
used by the tests), the next array is submitted after the earlier ones have ended.

All runs of an array get the same resources (``--gpus-per-task`` etc.): one task per run.
The job's files (the sbatch script, pickles, stdout/stderr of each task) go to
``<slurm-folder>/<job id>/``, by default ``<out>/<profile>/.submitit``; they must lie on a
file system the compute nodes share, as must ``--out``, the notebooks and the
environment (the tasks run this interpreter, ``sys.executable``).
"""

from __future__ import annotations

import datetime as _dt
import os
import shlex
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from asdlib.runner import (ERROR_NAME, FAILED_NAME, LOCK_WAIT_S, NOTEBOOK_NAME, RunBusy, RunOutcome, RunSpec,
                           _display, _fail, _first_line, _log_stderr, _Pool, _requirement_depth, attempt_run,
                           lock_run, start_batch)

EXECUTORS = ("local", "slurm")
DEFAULT_TIME_MIN = 24 * 60    # submitit's own default is 5 minutes: far too short for a chapter
SUBMITIT_ARRAY_PARALLELISM = 256  # submitit's default --array=0-N%256
SUBMITIT_CLUSTER = "slurm"    # submitit's executor for --executor slurm; the tests use "local"
POLL_S = 30.0                 # how often asd run asks Slurm (sacct) whether tasks have ended
SLURM_FLAGS = ("partition", "gpus_per_task", "cpus_per_task", "mem_gb", "time_min", "array_parallelism",
               "slurm_folder")


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class SlurmOptions:
    """The resources of every task of the job arrays (``asd run``'s Slurm flags)."""

    folder: str                          # submitit's folder; a job's files go to <folder>/<job id>
    partition: str | None = None         # None: the cluster's default partition (or $SBATCH_PARTITION)
    gpus_per_task: int | None = None     # None: no GPU requested
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    time_min: int = DEFAULT_TIME_MIN     # Slurm's --time, minutes per task
    array_parallelism: int | None = None  # at most this many tasks of one array at once (None: 256)

    def __post_init__(self) -> None:
        def at_least(flag: str, value: Any, minimum: int) -> None:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
                raise ValueError(f"{flag} {value!r}: give an integer >= {minimum}")

        at_least("--gpus-per-task", self.gpus_per_task, 0)
        at_least("--cpus-per-task", self.cpus_per_task, 1)
        at_least("--time-min", self.time_min, 1)
        at_least("--array-parallelism", self.array_parallelism, 1)
        if self.mem_gb is not None and not (isinstance(self.mem_gb, (int, float)) and self.mem_gb > 0):
            raise ValueError(f"--mem-gb {self.mem_gb!r}: give a number of gigabytes > 0")
        if self.partition is not None and (not self.partition.strip() or any(c.isspace() for c in self.partition)):
            raise ValueError(f"--partition {self.partition!r}: give a Slurm partition name")

    def submitit_parameters(self, name: str) -> dict[str, Any]:
        """The ``AutoExecutor.update_parameters`` arguments (Slurm-only ones prefixed ``slurm_``,
        which submitit's local executors ignore)."""
        params: dict[str, Any] = {"name": name, "timeout_min": self.time_min}
        if self.cpus_per_task is not None:
            params["cpus_per_task"] = self.cpus_per_task
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.partition is not None:
            params["slurm_partition"] = self.partition
        if self.gpus_per_task is not None:
            params["slurm_gpus_per_task"] = self.gpus_per_task
        if self.array_parallelism is not None:
            params["slurm_array_parallelism"] = self.array_parallelism
        return params

    def sbatch_options(self, name: str, tasks: int, after: Sequence[str] = ()) -> list[str]:
        """The sbatch options submitit writes for an array of ``tasks`` runs (for ``--dry-run``);
        ``after``: the ids of the arrays it waits for."""
        flags = [f"--job-name={name}"]
        if self.partition is not None:
            flags.append(f"--partition={self.partition}")
        if self.gpus_per_task is not None:
            flags.append(f"--gpus-per-task={self.gpus_per_task}")
        if self.cpus_per_task is not None:
            flags.append(f"--cpus-per-task={self.cpus_per_task}")
        if self.mem_gb is not None:  # as submitit converts it
            mem = f"{int(self.mem_gb)}GB" if self.mem_gb == int(self.mem_gb) else f"{int(self.mem_gb * 1024)}MB"
            flags.append(f"--mem={mem}")
        flags.append(f"--time={self.time_min}")
        if tasks > 1:
            parallel = self.array_parallelism or SUBMITIT_ARRAY_PARALLELISM
            flags.append(f"--array=0-{tasks - 1}%{min(tasks, parallel)}")
        if after:
            flags.append(f"--dependency=afterany:{':'.join(after)}")
        return flags


def slurm_options(args: Any, out: Path, profile: str) -> SlurmOptions:
    """:class:`SlurmOptions` from ``asd run``'s arguments (``--slurm-folder`` defaults to
    ``<out>/<profile>/.submitit``)."""
    folder = args.slurm_folder if args.slurm_folder is not None else Path(out) / profile / ".submitit"
    return SlurmOptions(folder=str(Path(folder).resolve()), partition=args.partition,
                        gpus_per_task=args.gpus_per_task, cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb,
                        time_min=DEFAULT_TIME_MIN if args.time_min is None else args.time_min,
                        array_parallelism=args.array_parallelism)


def check_executor_arguments(args: Any) -> None:
    """The executor flags that go together: the Slurm flags only with ``--executor slurm``,
    ``--gpus`` and ``--jobs`` only with the local pool. Raises ValueError naming the flag."""
    executor = getattr(args, "executor", "local") or "local"
    if executor not in EXECUTORS:
        raise ValueError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    given = [f"--{name.replace('_', '-')}" for name in SLURM_FLAGS if getattr(args, name, None) is not None]
    if executor == "local" and given:
        one = len(given) == 1
        raise ValueError(f"{', '.join(given)}: {'a Slurm option' if one else 'Slurm options'}; add --executor slurm, "
                         f"or leave {'it' if one else 'them'} out to run here")
    if executor == "slurm":
        if getattr(args, "gpus", None) is not None:
            raise ValueError("--gpus is for --executor local (the GPUs of this machine); on Slurm give "
                             "--gpus-per-task N and Slurm sets each task's CUDA_VISIBLE_DEVICES")
        if getattr(args, "jobs", None) is not None:
            raise ValueError("--jobs is for --executor local; on Slurm every run is a task of a job array "
                             "and --array-parallelism N limits how many run at once")


# --------------------------------------------------------------------------- planning


def job_arrays(specs: Sequence[RunSpec]) -> list[list[RunSpec]]:
    """The runs grouped by requirement depth, shallowest first, empty depths left out: the
    job arrays of one batch, each to start after the ones before it (see the module doc)."""
    from asdlib.chapters import chapter_requires

    by_depth: dict[int, list[RunSpec]] = {}
    for spec in specs:
        by_depth.setdefault(_requirement_depth(spec.name, chapter_requires), []).append(spec)
    return [by_depth[d] for d in sorted(by_depth)]


def _run_lines(specs: Sequence[RunSpec], note: Callable[[RunSpec], str] = lambda s: "",
               indent: str = "  ") -> list[str]:
    """One line per run: notebook, tag, run folder (and a note)."""
    rows = [(s.name, s.tag, _display(s.run_path), note(s)) for s in specs]
    if not rows:
        return []
    w0, w1 = (max(len(r[k]) for r in rows) for k in (0, 1))
    return [f"{indent}{a.ljust(w0)}  {b.ljust(w1)}  {c}{'  ' + d if d else ''}".rstrip() for a, b, c, d in rows]


def format_dry_run(specs: Sequence[RunSpec], *, executor: str = "local", resume: bool = False,
                   jobs: int | None = None, gpus: Sequence[int] | None = None,
                   options: SlurmOptions | None = None) -> str:
    """What ``asd run ... --dry-run`` prints: one line per run (notebook, tag, run folder),
    grouped into the job arrays for ``slurm``; complete runs marked when ``resume``. Reads
    the run folders (for ``resume``) and writes nothing."""
    skip = [s for s in specs if resume and s.is_complete()]
    todo = [s for s in specs if s not in skip]
    lines: list[str] = []
    if skip:
        lines.append(f"complete, skipped (--resume): {len(skip)} run{'' if len(skip) == 1 else 's'}")
        lines += _run_lines(skip)
    if executor == "local":
        how = (f"one at a time per GPU on GPUs {' '.join(map(str, gpus))} (CUDA_VISIBLE_DEVICES)" if gpus
               else f"{jobs or 1} at a time")
        lines.append(f"local: {len(todo)} run{'' if len(todo) == 1 else 's'}, {how}; a chapter that requires "
                     "others starts after their runs")
        lines += _run_lines(todo)
        return "\n".join(lines)
    assert options is not None
    arrays = job_arrays(todo)
    lines.append(f"slurm: {len(todo)} run{'' if len(todo) == 1 else 's'} in {len(arrays)} job "
                 f"arra{'y' if len(arrays) == 1 else 'ys'}; logs in {_display(Path(options.folder))}/<job id>/")
    for k, array in enumerate(arrays):
        name = _array_name(array, k)
        after = [f"<job id of array {j + 1}>" for j in range(k)]
        stems = ", ".join(dict.fromkeys(s.name for s in array))
        lines.append(f"array {k + 1}/{len(arrays)}: {len(array)} run{'' if len(array) == 1 else 's'} of {stems}"
                     + (f"; starts when {_arrays_named(k)} ended (Slurm dependency afterany)" if k else ""))
        lines.append("  sbatch " + " ".join(options.sbatch_options(name, len(array), after)))
        lines += _run_lines(array, indent="    ")
    return "\n".join(lines)


def _arrays_named(k: int) -> str:
    """'array 1 has', 'arrays 1, 2 have': the arrays before array ``k + 1``."""
    return "array 1 has" if k == 1 else f"arrays {', '.join(str(j + 1) for j in range(k))} have"


def _array_name(array: Sequence[RunSpec], k: int) -> str:
    profile = array[0].parameters.get("profile", "run") if array else "run"
    return f"asd-{profile}-{k + 1}"


# --------------------------------------------------------------------------- one task


def run_task(spec: RunSpec, command: str, resume: bool) -> dict[str, Any]:
    """One array task: execute ``spec`` as a local worker would (:func:`asdlib.runner.attempt_run`:
    lock, clean, worker process, record). Returns what ``asd run`` reports; if the task is
    stopped (time limit, pre-emption, scancel) the worker is stopped first, so its run is
    left visibly incomplete for ``--resume``."""
    pool = _Pool()
    start = time.perf_counter()
    try:
        ok, error = attempt_run(spec, pool=pool, resume=resume, command=command, lock_wait=LOCK_WAIT_S)
    except BaseException:
        pool.stop()
        raise
    seconds = time.perf_counter() - start
    where = {"host": socket.gethostname(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
             "slurm_job_id": _slurm_job_id()}
    print(f"asd run task: {spec.name} {spec.tag}: {'ok' if ok else 'failed'} in {seconds:.1f} s"
          f"{': ' + error if error else ''}", file=sys.stderr, flush=True)
    return {"ok": ok, "error": error, "seconds": seconds, **where}


def _slurm_job_id() -> str | None:
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    return os.environ.get("SLURM_JOB_ID")


# --------------------------------------------------------------------------- submitting


def _submitit():
    try:
        import submitit
    except ImportError:
        raise ValueError("--executor slurm needs the submitit package: pip install 'submitit>=1.5' "
                         "(or leave out --executor to run here)") from None
    return submitit


def check_submitit(cluster: str | None = None) -> None:
    """Fail (ValueError naming ``--executor slurm``) unless submitit is installed and, for the
    ``slurm`` cluster, Slurm's sbatch and srun are on PATH: before anything is planned or written."""
    _submitit()
    if (cluster or SUBMITIT_CLUSTER) == "slurm":
        missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
        if missing:
            raise ValueError(f"--executor slurm: {' and '.join(missing)} not on PATH (no Slurm here); run asd run "
                             "on a Slurm login node, or add --dry-run to see the job arrays, or use --executor local")


def submit_array(runs: Sequence[RunSpec], options: SlurmOptions, *, name: str, after: Sequence[str] = (),
                 command: str, resume: bool, cluster: str | None = None) -> list:
    """Submit ``runs`` as one job array (one task per run, :func:`run_task`); its jobs, in order.
    ``after``: job ids it starts after (``--dependency=afterany:...``, Slurm only)."""
    submitit = _submitit()
    cluster = cluster or SUBMITIT_CLUSTER
    executor = submitit.AutoExecutor(folder=Path(options.folder) / "%j", cluster=cluster)
    params = options.submitit_parameters(name)
    if after:
        params["slurm_dependency"] = f"afterany:{':'.join(after)}"
    executor.update_parameters(**params)
    n = len(runs)
    return executor.map_array(run_task, list(runs), [command] * n, [resume] * n)


def array_id(job) -> str:
    """The id an array is known by (``1234`` for the tasks ``1234_0``, ``1234_1``, ...)."""
    return str(job.job_id).split("_")[0]


def execute_on_slurm(specs: Sequence[RunSpec], options: SlurmOptions, *, resume: bool = False,
                     command: str | None = None, log: Callable[[str], None] | None = None,
                     cluster: str | None = None) -> list[RunOutcome]:
    """Execute ``specs`` as Slurm job arrays (:func:`job_arrays`), wait for their tasks and
    return one outcome per spec, in order, as :func:`asdlib.runner.execute_runs` does.

    ``cluster``: submitit's executor (default :data:`SUBMITIT_CLUSTER`, ``slurm``; ``local``
    runs the tasks as processes here, without dependencies: each array is submitted when
    the earlier ones have ended)."""
    cluster = cluster or SUBMITIT_CLUSTER
    check_submitit(cluster)
    log = log or _log_stderr
    command = command if command is not None else shlex.join(sys.argv)
    outcomes, todo = start_batch(specs, resume=resume, log=log)
    index = {id(specs[i]): i for i in todo}
    arrays = job_arrays([specs[i] for i in todo])
    pending: dict[int, Any] = {}   # spec index -> its job
    submitted: list[str] = []      # array ids
    finished = [0]

    def collect(until_empty_of: Sequence[int]) -> None:
        """Wait for the jobs of ``until_empty_of`` (spec indexes), turning each ended job into its outcome."""
        waiting = [i for i in until_empty_of if i in pending]
        while waiting:
            for i in list(waiting):
                if pending[i].done():
                    outcomes[i] = _outcome(specs[i], pending.pop(i))
                    waiting.remove(i)
                    finished[0] += 1
                    o = outcomes[i]
                    tail = f": {o.error}" if o.error else ""
                    secs = "" if o.seconds is None else f" in {o.seconds:.1f} s"
                    log(f"[done {finished[0]}/{len(todo)}] {o.spec.name} {o.spec.tag}: {o.status}{secs}{tail}")
            if waiting:
                time.sleep(POLL_S)

    try:
        for k, array in enumerate(arrays):
            if k and cluster != "slurm":   # no scheduler dependencies: wait for the earlier arrays here
                collect(list(pending))
            name = _array_name(array, k)
            after = list(submitted) if cluster == "slurm" else []
            jobs = submit_array(array, options, name=name, after=after, command=command, resume=resume,
                                cluster=cluster)
            for spec, job in zip(array, jobs):
                pending[index[id(spec)]] = job
            ids = list(dict.fromkeys(array_id(job) for job in jobs))  # one on Slurm; a job per run elsewhere
            log(f"[submit {k + 1}/{len(arrays)}] {name}: {len(array)} run{'' if len(array) == 1 else 's'} as "
                f"{cluster} job{'' if len(ids) == 1 else 's'} {' '.join(ids)}"
                + (f", after {', '.join(after)} (afterany)" if after else "")
                + f"; logs in {_display(Path(options.folder))}/{ids[0] if len(ids) == 1 else '<job id>'}/")
            submitted += ids
        collect(list(pending))
    except BaseException:
        if pending and cluster == "slurm":
            ids = " ".join(dict.fromkeys(array_id(job) for job in pending.values()))
            log(f"asd run: the Slurm jobs keep running (stop them with: scancel {ids}); "
                "asd run ... --resume later runs what they left incomplete")
        else:
            for job in pending.values():
                job.cancel(check=False)
        raise
    return [o for o in outcomes if o is not None]


def _outcome(spec: RunSpec, job) -> RunOutcome:
    """The outcome of an ended task; a task that ended without a result (killed, node failure)
    gets an ``error.txt`` saying so, unless its run is complete or another process holds it."""
    run_dir = spec.run_path
    try:
        result = job.result()
        ok, error, seconds = bool(result["ok"]), result["error"] or None, result["seconds"]
    except Exception as err:  # the task ended without returning (submitit raises its stderr tail)
        ok, seconds = False, None
        error = f"task {job.job_id} ended without a result"
        if (run_dir / ERROR_NAME).is_file():  # the worker said why before the task ended
            error = f"{error}: {_first_line((run_dir / ERROR_NAME).read_text())}"
        elif not spec.is_complete():
            try:
                fd = lock_run(run_dir)
            except (RunBusy, OSError):  # requeued and running again: leave it to that task
                fd = None
            if fd is not None:
                try:
                    _fail(run_dir, f"{error} ({_dt.datetime.now().isoformat(timespec='seconds')})", str(err),
                          spec.notebook)
                finally:
                    os.close(fd)
    if ok:
        return RunOutcome(spec, "ok", seconds, str(run_dir / NOTEBOOK_NAME))
    failed = run_dir / FAILED_NAME
    return RunOutcome(spec, "failed", seconds, str(failed if failed.is_file() else run_dir / ERROR_NAME), error)
