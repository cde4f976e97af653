"""What decides a run's numbers, as digests a record can store and ``asd run --resume`` compare.

A run is complete only when its notebook source, its parameters, its resolved chapter
settings and the asdlib source it ran with all match the current ones (see
:meth:`asdlib.runner.RunSpec.is_complete`). Torch-free.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

PACKAGE_ROOT = Path(__file__).resolve().parent
# what asdlib's behaviour is made of: code and the settings / published tables it reads
PACKAGE_SUFFIXES = (".py", ".csv", ".json", ".yml")


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_digest(root: str | os.PathLike, suffixes: tuple[str, ...] = PACKAGE_SUFFIXES) -> str:
    """SHA-256 over the relative paths and bytes of every file under ``root`` with one of
    ``suffixes`` (sorted; caches such as ``__pycache__`` are left out)."""
    root = Path(root)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in suffixes
                       and "__pycache__" not in p.parts):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def package_digest() -> str:
    """The digest of the installed asdlib source (computed once per process)."""
    return tree_digest(PACKAGE_ROOT)


def canonical(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples -> lists, keys -> strings), so a setting
    compares equal before and after a record's round trip."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def settings_digest(settings: Mapping[str, Any]) -> str:
    """SHA-256 of resolved chapter settings in canonical JSON."""
    return hashlib.sha256(json.dumps(canonical(dict(settings)), sort_keys=True).encode()).hexdigest()
