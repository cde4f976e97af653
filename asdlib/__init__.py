"""asdlib: anomalous sound detection for DCASE Task 2, in PyTorch.

Layers, each importing only the ones before it::

    data -> features -> models/losses -> train -> backends -> metrics -> results

``asdlib.data`` indexes DCASE data roots (real or synthetic) and loads audio;
``asdlib.features`` turns waveforms into batched spectral features;
``asdlib.train`` holds device, seeding and training-loop utilities;
``asdlib.backends`` fits on embeddings and scores clips (scikit-learn style);
``asdlib.metrics`` implements the official DCASE evaluators;
``asdlib.reference`` is the reference detector that calibrates the synthetic data;
``asdlib.profiles`` and ``asdlib.experiment`` are what a chapter notebook starts with
(profiles, parameters, data, results records); ``asdlib.runner`` (``asd run``),
``asdlib.results`` (the book's results page) and ``asdlib.notebooks`` (the nbval
copies) sit on top, used by the command line.
"""

__version__ = "0.1.0"
