"""Fixtures shared by the test modules, and the rule for tests of learning.

A test of learning (a toy problem that a model must learn) is marked ``learning`` and
asserts what holds across seeds and CPU kernel sets, never one training trajectory:
floating-point paths differ between AVX2 and AVX-512 kernels, oneDNN and MKL builds and
thread counts, so a threshold that one trajectory passes may fail on another machine.
:func:`across_seeds` runs the test body for several seeds and passes when enough of
them succeed. ``make test-portability`` runs the learning tests under several kernel
sets and thread counts (tests/portability.py).
"""

from __future__ import annotations

import functools
import inspect
import os
from pathlib import Path

import pytest
import torch

# the nbval copy of a chapter that reads other chapters' records finds the committed ci fixtures
# (asdlib.notebooks, make refresh-notebooks); the notebooks' kernels inherit this environment
os.environ.setdefault("ASD_RECORDS", str(Path(__file__).resolve().parent / "notebooks" / "records"))

# ASD_TORCH_THREADS: the torch threads of the whole session (make test-portability sets it)
THREADS = int(os.environ["ASD_TORCH_THREADS"]) if os.environ.get("ASD_TORCH_THREADS") else None
if THREADS:
    torch.set_num_threads(THREADS)


def pytest_configure(config):
    config.addinivalue_line("markers", "learning: a test of learning on a toy problem (make test-portability)")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module's tests: on a busy 2-core machine two threads
    spin-wait on each other and small networks run many times slower. Under
    ``ASD_TORCH_THREADS`` (the portability run) that many threads instead."""
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS or 1)
    yield
    torch.set_num_threads(previous)


def across_seeds(seeds: tuple[int, ...] = (0, 1, 2), need: int = 2):
    """Decorator for a test of learning whose body takes ``seed``: the body runs for
    ``seeds`` in order until ``need`` of them pass (an AssertionError is a failed seed);
    the test fails when too few can pass, listing every seed's failure.

    The test is marked ``learning``. Other parameters (fixtures, parametrize) pass
    through; ``seed`` is hidden from pytest.
    """
    if not 1 <= need <= len(seeds):
        raise ValueError(f"need={need} must be between 1 and len(seeds)={len(seeds)}")

    def decorate(test):
        signature = inspect.signature(test)
        if "seed" not in signature.parameters:
            raise TypeError(f"{test.__name__} must take a 'seed' argument to run across seeds")

        @functools.wraps(test)
        def wrapper(*args, **kwargs):
            passed, failures = 0, []
            for k, seed in enumerate(seeds):
                try:
                    test(*args, seed=seed, **kwargs)
                    passed += 1
                except AssertionError as err:
                    failures.append(f"seed {seed}: {str(err).splitlines()[0] if str(err) else 'assertion failed'}")
                if passed >= need:
                    return
                if passed + len(seeds) - k - 1 < need:
                    break
            pytest.fail(f"{test.__name__}: {passed} of the seeds tried passed, {need} of {list(seeds)} needed; "
                        + "; ".join(failures), pytrace=False)

        wrapper.__signature__ = signature.replace(
            parameters=[p for name, p in signature.parameters.items() if name != "seed"])
        return pytest.mark.learning(wrapper)

    return decorate
