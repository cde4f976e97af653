"""Benchmarks run from the project (``asd bench ...``).

Each benchmark measures asdlib against a reference in the same run (librosa, a
naive loop, a peer's code path), prints the ratio and returns the numbers as a
dict. Benchmarks may print; library code does not.
"""
