"""The one exception the data layer raises for bad input."""


class DataError(ValueError):
    """Bad or missing input data. The message names the file or folder and what was expected."""
