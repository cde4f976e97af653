"""Training utilities: device, seeding, mixed precision, batches, the loop, checkpoints.

Typical use (features already on the device)::

    dev = resolve_device("auto")
    seed_everything(0)
    batches = TensorBatches(x.to(dev), y.to(dev), batch_size=64, generator=make_generator(0, dev))
    history = train_epochs(model, batches, lambda m, b: F.cross_entropy(m(b[0]), b[1]),
                           optimizer, epochs=20, device=dev)
    save_checkpoint("model.pt", model, optimizer, epoch=20, history=history)
"""

from asdlib.train.amp import autocast
from asdlib.train.batches import TensorBatches, move_to
from asdlib.train.checkpoint import load_checkpoint, save_checkpoint
from asdlib.train.device import resolve_device
from asdlib.train.errors import CheckpointError, NonFiniteLossError
from asdlib.train.loop import EpochMeter, check_finite, train_epochs
from asdlib.train.progress import progress_bar
from asdlib.train.seeding import make_generator, seed_everything

__all__ = [
    "CheckpointError",
    "EpochMeter",
    "NonFiniteLossError",
    "TensorBatches",
    "autocast",
    "check_finite",
    "load_checkpoint",
    "make_generator",
    "move_to",
    "progress_bar",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
    "train_epochs",
]

# Embedding training on waveforms (Wilkinghoff, paper 003): mixup, the loop, inference.
from asdlib.train.embedding import embed, train_embedder  # noqa: E402
from asdlib.train.mixup import mixup  # noqa: E402

__all__ += ["embed", "mixup", "train_embedder"]

# Vector autoencoders (DCASE baseline) and adversarial training (paper 001).
from asdlib.train.autoencoder import train_autoencoder  # noqa: E402
from asdlib.train.gan import train_adversarial  # noqa: E402

__all__ += ["train_adversarial", "train_autoencoder"]

# Probabilistic subsystems of AITHU (paper 000, section 3.2).
from asdlib.train.imdn import score_imdn, train_imdn  # noqa: E402
from asdlib.train.wsp_nfcdee import score_wsp_nfcdee, train_wsp_nfcdee  # noqa: E402

__all__ += ["score_imdn", "score_wsp_nfcdee", "train_imdn", "train_wsp_nfcdee"]

# The original wav2vec (AITHU's SC-wav2vec, paper 000): self-supervised pre-training, fairseq checkpoints.
from asdlib.train.wav2vec import load_fairseq_wav2vec, pretrain_wav2vec  # noqa: E402

__all__ += ["load_fairseq_wav2vec", "pretrain_wav2vec"]

# wav2vec 2.0 (USTC, paper 002): self-supervised pre-training and checkpoints (torchaudio / Hugging Face).
from asdlib.train.wav2vec2 import load_wav2vec2_checkpoint, pretrain_wav2vec2, save_wav2vec2_checkpoint  # noqa: E402

__all__ += ["load_wav2vec2_checkpoint", "pretrain_wav2vec2", "save_wav2vec2_checkpoint"]

# USTC (paper 002): cross-entropy + batch-hard triplet + auxiliary attribute loss.
from asdlib.train.ustc import embed_ustc, section_codes, train_ustc  # noqa: E402

__all__ += ["embed_ustc", "section_codes", "train_ustc"]

# Classifier-based embedders (AITHU's SC, MHCR, SC-wav2vec; the DCASE 2022 MobileNetV2 baseline).
from asdlib.train.classifier import embed_clips, train_classifier  # noqa: E402

__all__ += ["embed_clips", "train_classifier"]

# AEGAN-AD (AITHU, paper 000, Sec. 3.3): MSE autoencoder, optionally with a WGAN-GP critic.
from asdlib.train.aegan import train_aegan  # noqa: E402

__all__ += ["train_aegan"]
