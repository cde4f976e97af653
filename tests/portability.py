"""``make test-portability``: the learning tests under several CPU kernel sets and thread counts.

A training trajectory depends on the floating-point path: PyTorch's ATen kernels
(``ATEN_CPU_CAPABILITY``: default / avx2 / avx512), oneDNN's instruction set
(``DNNL_MAX_CPU_ISA``), MKL's (``MKL_ENABLE_INSTRUCTIONS``) and the number of threads.
The tests marked ``learning`` (tests/conftest.py, :func:`across_seeds`) must pass under
every combination this CPU can run; this script runs them once per combination, each in
a fresh pytest process, and prints one row per combination and a row per test that
failed anywhere. Exit status 1 if any combination failed.

    python tests/portability.py [--threads 1 2] [--isa default avx2 avx512] [pytest args ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ISA name -> the environment that makes ATen, oneDNN and MKL use at most that instruction set
KERNEL_SETS = {
    "default": {"ATEN_CPU_CAPABILITY": "default", "DNNL_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "DNNL_MAX_CPU_ISA": "AVX512_CORE",
               "MKL_ENABLE_INSTRUCTIONS": "AVX512"},
}
CPU_FLAG = {"default": None, "avx2": "avx2", "avx512": "avx512f"}


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def run_one(isa: str, threads: int, extra: list[str]) -> dict:
    """The learning tests in a fresh process under one kernel set and thread count."""
    env = {**os.environ, **KERNEL_SETS[isa], "ASD_TORCH_THREADS": str(threads),
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory(prefix="asd-portability-") as tmp:
        report = Path(tmp) / "junit.xml"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-m", "learning", "-q", "-p", "no:cacheprovider",
                               f"--junitxml={report}", *extra],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        failed, passed = [], 0
        if report.is_file():
            for case in ET.parse(report).getroot().iter("testcase"):
                name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
                problem = case.find("failure") if case.find("failure") is not None else case.find("error")
                if problem is not None:
                    failed.append((name, (problem.get("message") or "").splitlines()[0][:160]))
                elif case.find("skipped") is None:
                    passed += 1
    if done.returncode not in (0, 1) and not failed:
        failed.append(("(pytest)", f"exit status {done.returncode}: {done.stdout[-300:]} {done.stderr[-300:]}"))
    return {"isa": isa, "threads": threads, "passed": passed, "failed": failed, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--isa", nargs="+", choices=list(KERNEL_SETS), default=list(KERNEL_SETS))
    args, extra = parser.parse_known_args(argv)
    flags = cpu_flags()
    rows = []
    for isa in args.isa:
        if CPU_FLAG[isa] and flags and CPU_FLAG[isa] not in flags:
            print(f"{isa}: this CPU lacks {CPU_FLAG[isa]}, skipped", flush=True)
            continue
        for threads in args.threads:
            print(f"running the learning tests with {isa} kernels, {threads} thread(s) ...", flush=True)
            rows.append(run_one(isa, threads, extra))
            r = rows[-1]
            print(f"  {r['passed']} passed, {len(r['failed'])} failed in {r['seconds']:.0f} s", flush=True)
    print("\nlearning tests per kernel set (ATEN_CPU_CAPABILITY, DNNL_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS) "
          "and torch threads")
    print(f"{'kernels':<8} {'threads':>7} {'passed':>6} {'failed':>6} {'seconds':>7}")
    for r in rows:
        print(f"{r['isa']:<8} {r['threads']:>7} {r['passed']:>6} {len(r['failed']):>6} {r['seconds']:>7.0f}")
    failures = [(r, name, why) for r in rows for name, why in r["failed"]]
    for r, name, why in failures:
        print(f"FAILED under {r['isa']}, {r['threads']} thread(s): {name}: {why}")
    if not rows:
        print("no kernel set could run here")
        return 1
    ok = not failures and all(r["passed"] > 0 for r in rows)
    print("portability: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
