"""Progress bars: the one helper lives in :mod:`asdlib.utils` (lowest layer); re-exported here."""

from asdlib.utils import progress_bar

__all__ = ["progress_bar"]
