"""The DCASE 2020 Task 2 autoencoder baseline (Koizumi et al. 2020) and its building blocks.

The baseline (DESIGN.md section 9; paper 001, Figure 2) reconstructs 640-d vectors,
five consecutive 128-band log-mel frames concatenated
(:func:`asdlib.features.stack_frames`, ``(B, T - 4, 640)`` per clip)::

    640 -> 4 x (Dense 128, BN, ReLU) -> Dense 8 (BN, ReLU) -> 4 x (Dense 128, BN, ReLU) -> Dense 640

trained with MSE (Adam 1e-3, batch 512, 100 epochs: :func:`asdlib.train.train_autoencoder`).
A vector's anomaly score is its mean squared reconstruction error and a clip's
score the mean over its vectors (:func:`clip_scores`).

The same fully connected pieces build the GAN adaptations of paper 001
(:mod:`asdlib.models.gan_detectors`): :class:`DenseBlock`, :func:`fc_encoder`,
:func:`fc_decoder`. The decoder's output layer is a :class:`Float32Linear`: it runs in
float32 even under bf16 autocast, so reconstructions (and the reconstruction errors
the scores are made of) keep float32 precision; log-mel values of tens of dB would
otherwise be rounded to ~0.1 dB, the size of a good reconstruction error.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

DeviceLike = str | torch.device


class DenseBlock(nn.Module):
    """``Linear(in_dim, out_dim)`` -> ``BatchNorm1d(out_dim)`` -> ``ReLU``: one layer of Figure 2.

    ``(B, in_dim)`` -> ``(B, out_dim)``. Attributes ``linear`` and ``bn``.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim, bias=bias)
        self.bn = nn.BatchNorm1d(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.bn(self.linear(x)))


class Float32Linear(nn.Linear):
    """An :class:`nn.Linear` that always computes in float32 (autocast disabled inside).

    Used for output layers whose values are compared with float32 targets
    (reconstructions of log-mel vectors). Outside autocast it is a plain ``Linear``.
    """

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return super().forward(x.float())


def fc_encoder(
    input_dim: int, hidden: int, out_dim: int, n_layers: int, *, out_bn_relu: bool = True, bias: bool = True
) -> nn.Sequential:
    """``n_layers`` x ``DenseBlock(hidden)`` then the output layer ``out_dim``.

    The output layer is a :class:`DenseBlock` (BN, ReLU: the DCASE baseline's
    bottleneck) or, with ``out_bn_relu=False``, a plain ``Linear``. Indexable:
    ``enc[i]`` is the ``i``-th hidden block, ``enc[-1]`` the output layer.
    """
    if n_layers < 1:
        raise ValueError(f"n_layers={n_layers!r} must be >= 1")
    layers: list[nn.Module] = [DenseBlock(input_dim if i == 0 else hidden, hidden, bias) for i in range(n_layers)]
    layers.append(DenseBlock(hidden, out_dim, bias) if out_bn_relu else nn.Linear(hidden, out_dim, bias=bias))
    return nn.Sequential(*layers)


def fc_decoder(latent: int, hidden: int, output_dim: int, n_layers: int, *, bias: bool = True) -> nn.Sequential:
    """``n_layers`` x ``DenseBlock(hidden)`` from ``latent``, then a linear output layer ``output_dim``.

    The output layer (a :class:`Float32Linear`) has no BN and no activation (Figure 2).
    """
    if n_layers < 1:
        raise ValueError(f"n_layers={n_layers!r} must be >= 1")
    layers: list[nn.Module] = [DenseBlock(latent if i == 0 else hidden, hidden, bias) for i in range(n_layers)]
    layers.append(Float32Linear(hidden, output_dim, bias=bias))
    return nn.Sequential(*layers)


@contextlib.contextmanager
def eval_no_grad(module: nn.Module) -> Iterator[None]:
    """Context: ``module.eval()`` under ``torch.no_grad()``; the previous mode is restored."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter or buffer (CPU when it has none)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


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
    if device is None:
        owner = getattr(score_fn, "__self__", None)
        dev = module_device(owner) if isinstance(owner, nn.Module) else x.device
    elif isinstance(device, str) and device.strip().lower() == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(device)
    flat = x.reshape(n * t, d)
    out = []
    for start in range(0, n * t, batch_size):
        s = score_fn(flat[start : start + batch_size].to(dev, torch.float32, non_blocking=True))
        if s.ndim != 1 or s.shape[0] != min(batch_size, n * t - start):
            raise ValueError(f"score_fn must return one score per vector, (b,); got shape {tuple(s.shape)}")
        out.append(s.float())
    return torch.cat(out).reshape(n, t).mean(dim=1).cpu()


__all__ = [
    "DCASEAutoencoder", "DenseBlock", "Float32Linear", "clip_scores", "eval_no_grad", "fc_decoder", "fc_encoder",
    "module_device",
]
