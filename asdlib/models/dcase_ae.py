"""The DCASE 2020 Task 2 autoencoder baseline (Koizumi et al. 2020; paper 001, Figure 2).

The baseline reconstructs 640-d vectors, five consecutive 128-band log-mel frames
concatenated (:func:`asdlib.features.stack_frames`, ``(B, T - 4, 640)`` per clip)::

    640 -> 4 x (Dense 128, BN, ReLU) -> Dense 8 (BN, ReLU) -> 4 x (Dense 128, BN, ReLU) -> Dense 640

trained with MSE (Adam 1e-3, batch 512, 100 epochs: :func:`asdlib.train.train_autoencoder`).
A vector's anomaly score is its mean squared reconstruction error and a clip's
score the mean over its vectors (:func:`clip_scores`).

Its layers (:class:`~asdlib.models.layers.DenseBlock`, :func:`~asdlib.models.layers.fc_encoder`,
:func:`~asdlib.models.layers.fc_decoder`, whose output layer is a float32
:class:`~asdlib.models.layers.Float32Linear`) live in :mod:`asdlib.models.layers`:
the GAN adaptations of paper 001 (:mod:`asdlib.models.gan_detectors`) are built from
them too.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from asdlib.models.inference import eval_no_grad, inference_device, map_batches, module_device
from asdlib.models.layers import fc_decoder, fc_encoder

# re-exported for code that imports them from here (their home is asdlib.models.layers)
from asdlib.models.layers import DenseBlock, Float32Linear  # noqa: E402, F401

DeviceLike = str | torch.device


class DCASEAutoencoder(nn.Module):
    """The DCASE 2020 Task 2 baseline autoencoder (Koizumi et al. 2020; paper 001, Figure 2).

    ======================  ===========================  =======
    part                    layers                       output
    ======================  ===========================  =======
    input                   stacked log-mel frames       640
    encoder                 4 x (Dense 128, BN, ReLU)    128
    bottleneck              Dense 8, BN, ReLU            8
    decoder                 4 x (Dense 128, BN, ReLU)    128
    output                  Dense 640 (linear)           640
    ======================  ===========================  =======

    ``forward(x)``: ``(B, 640)`` -> reconstruction ``(B, 640)``.
    :meth:`anomaly_score`: mean squared error per vector.

    Args:
        input_dim: vector size (``n_frames * n_mels`` = 640).
        hidden: width of the hidden layers (128).
        latent: bottleneck size (8).
        n_layers: hidden layers on each side (4).
        bias: biases in the dense layers (Keras default: yes).
    """

    def __init__(self, input_dim: int = 640, hidden: int = 128, latent: int = 8, n_layers: int = 4, bias: bool = True):
        super().__init__()
        self.input_dim, self.hidden, self.latent = input_dim, hidden, latent
        self.encoder = fc_encoder(input_dim, hidden, latent, n_layers, bias=bias)
        self.decoder = fc_decoder(latent, hidden, input_dim, n_layers, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, input_dim)`` -> reconstruction ``(B, input_dim)`` (float32)."""
        return self.decoder(self.encoder(x))

    def anomaly_score(self, x: Tensor) -> Tensor:
        """Mean squared reconstruction error of each vector: ``(B, D)`` -> ``(B,)`` float32.

        Runs in eval mode (BatchNorm running statistics), without gradients and in
        float32; the model's previous mode is restored. ``x`` is moved to the model's
        device; the scores stay there. Higher = more anomalous.
        """
        with eval_no_grad(self):
            x = x.to(module_device(self), torch.float32)
            return (x - self(x)).pow(2).mean(dim=1)


def clip_scores(
    score_fn: Callable[[Tensor], Tensor],
    clip_vectors: Tensor | np.ndarray,
    *,
    batch_size: int = 8192,
    device: DeviceLike | None = None,
) -> Tensor:
    """Clip scores = mean of the per-vector scores over each clip's vectors.

    ``clip_vectors`` ``(N, T, D)`` (e.g. ``stack_frames(log_mels)``, ``(N, 309, 640)``)
    is flattened to ``N * T`` vectors, scored ``batch_size`` vectors at a time with
    ``score_fn`` (``(b, D)`` -> ``(b,)``, e.g. ``model.anomaly_score``) on ``device``,
    then reshaped to ``(N, T)`` and averaged over ``T``: one batched pass, no loop
    over clips.

    Args:
        score_fn: per-vector anomaly score, higher = more anomalous.
        clip_vectors: ``(N, T, D)`` tensor or array, on any device.
        batch_size: vectors per call of ``score_fn``.
        device: where the batches are sent (``"auto"``, ``"cpu"``, ``"cuda"``...).
            ``None``: the device of the module ``score_fn`` is a method of
            (``model.anomaly_score``), else where ``clip_vectors`` already are.

    Returns:
        ``(N,)`` float32 scores on the CPU.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    x = clip_vectors if isinstance(clip_vectors, Tensor) else torch.as_tensor(np.asarray(clip_vectors))
    if x.ndim != 3:
        raise ValueError(f"clip_vectors must be (N, T, D); got shape {tuple(x.shape)}")
    n, t, d = x.shape
    if n == 0 or t == 0:
        raise ValueError(f"clip_vectors holds no vectors (shape {tuple(x.shape)})")
    owner = getattr(score_fn, "__self__", None)
    dev = inference_device(device, module_device(owner) if isinstance(owner, nn.Module) else x.device)

    def checked(xb: Tensor) -> Tensor:
        s = score_fn(xb)
        if s.ndim != 1 or s.shape[0] != len(xb):
            raise ValueError(f"score_fn must return one score per vector, (b,); got shape {tuple(s.shape)}")
        return s

    scores = map_batches(checked, x.reshape(n * t, d), batch_size=batch_size, device=dev, to_cpu=None)
    return scores.reshape(n, t).mean(dim=1).cpu()

# "DenseBlock", "Float32Linear", "eval_no_grad", "fc_decoder", "fc_encoder" and "module_device" are
# re-exports (asdlib.models.layers, asdlib.models.inference), kept for code that imports them from here.
__all__ = [
    "DCASEAutoencoder", "DenseBlock", "Float32Linear", "clip_scores", "eval_no_grad", "fc_decoder", "fc_encoder",
    "module_device",
]
