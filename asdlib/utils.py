"""Small helpers shared by every layer: atomic writes, stable hashing, progress bars."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` on success.

    A crash or exception leaves ``path`` as it was (old content or absent), never
    half-written. The temporary file is removed on failure.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a written file gets the usual mode
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def stable_hash(obj) -> str:
    """A short, stable hex digest of a JSON-serialisable object (key order ignored)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


if importlib.util.find_spec("ipywidgets") is not None:  # widget bar in Jupyter, text elsewhere
    from tqdm.auto import tqdm as _tqdm
else:  # tqdm.auto would warn "IProgress not found" in every notebook; use the text bar
    from tqdm.std import tqdm as _tqdm


def progress_bar(
    iterable: Iterable | None = None,
    *,
    desc: str | None = None,
    total: int | None = None,
    enabled: bool = True,
    leave: bool = True,
    unit: str = "step",
) -> _tqdm:
    """A tqdm bar over ``iterable`` (or a manual one when ``iterable`` is None).

    ``enabled=False`` gives a disabled bar (same API, prints nothing). When enabled,
    tqdm's ``TQDM_*`` environment variables apply, e.g. ``TQDM_DISABLE=1`` silences
    every bar of a batch run, ``TQDM_MININTERVAL=5`` redraws less often in logs.
    Update the postfix with ``bar.set_postfix(loss=..., refresh=False)``.
    """
    kwargs = {} if enabled else {"disable": True}
    return _tqdm(iterable, desc=desc, total=total, leave=leave, unit=unit, dynamic_ncols=True, **kwargs)


def as_tensor(x, name: str):
    """``x`` as a torch tensor (a tensor is returned as it is; arrays and lists are converted);
    anything else fails with a :class:`TypeError` naming the parameter ``name``."""
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a tensor or an array; got {type(x).__name__}") from err


def lazy_exports(package: str, namespace: dict, exports: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for a package barrel that imports its names on first use.

    ``exports`` maps a name to its submodule (``"module:attribute"`` where the barrel
    renames it); a resolved name is cached in the package's ``namespace``. Use::

        __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
    """
    import importlib

    def __getattr__(name: str):
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(f"{package}.{module}"), attribute or name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
