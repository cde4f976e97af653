"""The exceptions the training layer raises."""


class NonFiniteLossError(RuntimeError):
    """A loss (or another tracked scalar) became NaN or infinite.

    The message names the epoch, the step within it and the value. The attributes
    ``epoch`` and ``step`` (both 1-based), ``name`` (``"loss"`` or the extra
    scalar's key) and ``value`` carry the same facts for code.
    """

    def __init__(self, message: str, *, epoch: int | None, step: int | None, name: str, value: float):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.name = name
        self.value = value


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, not an asdlib checkpoint, or does not fit the model.

    The message names the file. (A missing file raises :class:`FileNotFoundError`.)
    """
