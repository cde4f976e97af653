"""asdlib: anomalous sound detection for DCASE Task 2, in PyTorch.

Layers, each importing only the ones before it::

    data -> features -> models/losses -> train -> backends -> metrics -> results

``asdlib.data`` indexes DCASE data roots (real or synthetic) and loads audio;
``asdlib.features`` turns waveforms into batched spectral features;
``asdlib.train`` holds device, seeding and training-loop utilities;
``asdlib.backends`` fits on embeddings and scores clips (scikit-learn style);
``asdlib.metrics`` implements the official DCASE evaluators.
"""

__version__ = "0.1.0"
