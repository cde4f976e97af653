"""Progress bars (tqdm): one place decides text or notebook widget."""

from __future__ import annotations

import importlib.util
from typing import Iterable

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
