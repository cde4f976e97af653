"""Training utilities: device, seeding, mixed precision, batches, the loop, checkpoints.

Typical use (features already on the device)::

    dev = resolve_device("auto")
    seed_everything(0)
    batches = TensorBatches(x.to(dev), y.to(dev), batch_size=64, generator=make_generator(0, dev))
    history = train_epochs(model, batches, lambda m, b: F.cross_entropy(m(b[0]), b[1]),
                           optimizer, epochs=20, device=dev)
    save_checkpoint("model.pt", model, optimizer, epoch=20, history=history)
"""

from __future__ import annotations

from asdlib.utils import lazy_exports

from asdlib.train.mixup import mixup  # noqa: F401 eager: the name is also its module's, which a lazy import would shadow

# name -> its module ("module:attribute" where the barrel renames it), imported on first use:
# `import asdlib.train` stays cheap, and the torch-free commands never load these modules.
_EXPORTS: dict[str, str] = {
    "autocast": "amp",
    "TensorBatches": "batches", "move_to": "batches",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "resolve_device": "device",
    "CheckpointError": "errors", "NonFiniteLossError": "errors",
    "EpochMeter": "loop", "check_finite": "loop", "train_epochs": "loop",
    "progress_bar": "progress",
    "make_generator": "seeding", "seed_everything": "seeding",
    "embed": "embedding", "train_embedder": "embedding",
    "mixup": "mixup",
    "train_autoencoder": "autoencoder",
    "train_adversarial": "gan",
    "score_imdn": "imdn", "train_imdn": "imdn",
    "score_wsp_nfcdee": "wsp_nfcdee", "train_wsp_nfcdee": "wsp_nfcdee",
    "load_fairseq_wav2vec": "wav2vec", "pretrain_wav2vec": "wav2vec",
    "load_wav2vec2_checkpoint": "wav2vec2", "pretrain_wav2vec2": "wav2vec2", "save_wav2vec2_checkpoint": "wav2vec2",
    "embed_ustc": "ustc", "section_codes": "ustc", "train_ustc": "ustc",
    "embed_clips": "classifier", "train_classifier": "classifier",
    "train_aegan": "aegan",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
