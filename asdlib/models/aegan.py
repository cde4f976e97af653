"""AEGAN-AD, AITHU's sixth subsystem (paper 000, Sec. 3.3).

A DCGAN-like convolutional autoencoder reconstructs ``size x size`` patches of a
log-mel spectrogram scaled to ``[-1, 1]`` (:func:`scale_to_unit` with the training
set's minimum and maximum); for gearbox and slider a critic
(:class:`AEGANDiscriminator`) is trained against it with WGAN-GP, the autoencoder
being the generator (:mod:`asdlib.losses.wgan`, :func:`asdlib.train.train_aegan`).

Networks (defaults ``size=128, width=32, latent=256``: the AEGAN-AD code's
``isize, ndf/ngf, nz``; every convolution 4 x 4 without bias, weights ``N(0, 0.02)``)::

    encoder   1x128x128 -conv s2-> 32x64x64 -> 64x32x32 -> 128x16x16 -> 256x8x8 -> 512x4x4
              -conv 4x4 valid-> latent (256)
              each stride-2 conv (4/2/1) followed by LayerNorm((C, H, W)) and LeakyReLU(0.2)
    decoder   latent -convT 4x4-> 512x4x4 -convT s2-> 256x8x8 -> ... -> 32x64x64 -convT s2-> 1x128x128, tanh
              each hidden transposed conv followed by LayerNorm((C, H, W)) and ReLU
    critic    the encoder's body (first LayerNorm always), then a depthwise 4x4 conv
              (GDConv, 512 -> 512, groups 512) = the 512-d features f(x) / embedding,
              then LayerNorm(512), LeakyReLU(0.2), Linear(512, 1) = the critic value

LayerNorm over ``(C, H, W)`` (elementwise affine) stands in for DCGAN's BatchNorm:
the paper's reason is that it normalises each sample on its own, so the many source
clips of a batch cannot bias the statistics against the target domain. The channel
widths double from ``width`` at ``size / 2`` down to 4 x 4 (``width * size / 8`` at
the bottom), so ``size`` must be a power of two >= 8; tests use ``size=32, width=8``.
The AEGAN-AD code leaves out the encoder's first LayerNorm for bearing, fan and
ToyCar (``first_norm=False``); the paper does not say.

**Adaptive LayerNorm** (ToyCar and gearbox): the latent goes through a LayerNorm
without affine transform, then a per-section ``(gamma, beta)``
(:class:`AdaptiveLayerNorm`, AdaIN-style), before the decoder. The latent-space
scores compare encoder outputs (before it).

**Scores** (:func:`aegan_clip_scores`): per patch, in *input* space ``x`` vs
``G(x)`` and in *latent* space ``E(x)`` vs ``E(G(x))`` (the reconstruction re-encoded),
each by

- ``l1``: ``sum |a - b|`` over the patch's (or latent's) elements,
- ``l2``: ``sum (a - b)^2`` (the squared Euclidean distance, as the original code),
- ``cos``: ``1 - cos(a, b)`` of the flattened vectors,

then per clip the ``mean``, ``min`` or ``max`` over its patches: 2 x 3 x 3 = 18
scores named ``"{space}_{distance}_{aggregation}"`` (``"input_l1_mean"`` ...).
Deviations from the code (``dcase22/test.py``): it aggregates with the *sum* over
patches (= ``mean`` times the fixed number of patches per clip: the same ranking)
and has no input-space cosine (its ``cosine_similarity`` runs over the single
channel there); the paper lists L1, L2 and cosine for both spaces, so all 18 are
given. The paper (and the code) then keeps the best of these on the test labels:
that is an oracle choice, and :func:`aegan_clip_scores` chooses nothing.

Critic-embedding scores: :func:`discriminator_embeddings` gives each clip's mean
512-d feature over its patches; compare them with the training clips' using
:mod:`asdlib.backends` (the paper: k-NN, LOF, cosine and Mahalanobis distances).

Patches: :func:`~asdlib.features.frames.patch_clips` cuts clip spectrograms lazily
(:class:`~asdlib.features.frames.ClipPatches`, the same patches as
:func:`asdlib.features.patches`: patch ``i`` is frames ``[i * hop, i * hop + size)``);
the code uses every window (``hop=1``, 186 patches for a 313-frame clip), which copied
out would be 186 x the spectrograms.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ClipPatches, patch_clips and as_clip_patches live in asdlib.features.frames; they are
# re-exported here (__all__) for the notebooks, tests and trainers that import them from here
from asdlib.features.frames import ClipPatches, as_clip_patches, patch_clips
from asdlib.models.inference import eval_no_grad, inference_device, module_device
from asdlib.models.layers import Float32ConvTranspose2d

SCORE_SPACES: tuple[str, ...] = ("input", "latent")
SCORE_DISTANCES: tuple[str, ...] = ("l1", "l2", "cos")
SCORE_AGGREGATIONS: tuple[str, ...] = ("mean", "min", "max")
#: the 18 per-clip score names, ``"{space}_{distance}_{aggregation}"``
SCORE_NAMES: tuple[str, ...] = tuple(
    f"{s}_{d}_{a}" for s in SCORE_SPACES for d in SCORE_DISTANCES for a in SCORE_AGGREGATIONS
)


# ----------------------------------------------------------------------------- scaling, patches


def minmax_range(x: Tensor | np.ndarray) -> tuple[float, float]:
    """``(min, max)`` of the training spectrograms, the range :func:`scale_to_unit` maps to ``[-1, 1]``."""
    if isinstance(x, Tensor):
        if x.numel() == 0:
            raise ValueError("minmax_range: empty input")
        return float(x.min()), float(x.max())
    arr = np.asarray(x)
    if arr.size == 0:
        raise ValueError("minmax_range: empty input")
    return float(arr.min()), float(arr.max())


def scale_to_unit(x: Tensor | np.ndarray, lo: float, hi: float) -> Tensor | np.ndarray:
    """Map ``[lo, hi]`` linearly onto ``[-1, 1]``: ``(x - (hi + lo) / 2) / ((hi - lo) / 2)``.

    ``lo, hi`` are the *training* spectrograms' minimum and maximum
    (:func:`minmax_range`, the AEGAN-AD code's MinMaxScaler); test values outside the
    training range land outside ``[-1, 1]`` (not clipped, as in the code).
    """
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        raise ValueError(f"scale_to_unit: need hi > lo, got lo={lo}, hi={hi}")
    mid, half = (hi + lo) / 2.0, (hi - lo) / 2.0
    return (x - mid) / half


def _as_tensor(x: Tensor | np.ndarray) -> Tensor:
    return x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))


# ----------------------------------------------------------------------------- networks


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size & (size - 1):
        raise ValueError(f"size={size!r} must be a power of two >= 8 (the DCGAN pyramid halves it down to 4)")


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")


def pyramid(size: int, width: int) -> list[tuple[int, int]]:
    """``(channels, spatial size)`` after each stride-2 convolution: ``(width, size/2)`` ... ``(., 4)``."""
    _check_size(size)
    out, channels, spatial = [], width, size // 2
    while True:
        out.append((channels, spatial))
        if spatial <= 4:
            return out
        channels, spatial = channels * 2, spatial // 2


def dcgan_init(module: nn.Module) -> None:
    """The AEGAN-AD code's ``weights_init``: convolution weights ``N(0, 0.02)``; other layers keep torch's."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)


def _as_images(x: Tensor, size: int, who: str) -> Tensor:
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != size or x.shape[3] != size:
        raise ValueError(f"{who}: expected patches (B, 1, {size}, {size}) or (B, {size}, {size}), got {tuple(x.shape)}")
    return x


def _down_body(size: int, width: int, first_norm: bool, slope: float) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    in_ch = 1
    for i, (ch, sp) in enumerate(pyramid(size, width)):
        layers.append(nn.Conv2d(in_ch, ch, 4, 2, 1, bias=False))
        if i > 0 or first_norm:
            layers.append(nn.LayerNorm((ch, sp, sp)))
        layers.append(nn.LeakyReLU(slope))
        in_ch = ch
    return nn.Sequential(*layers), in_ch


class AEGANEncoder(nn.Module):
    """DCGAN encoder: ``(B, 1, size, size)`` -> latent ``(B, latent)``.

    Stride-2 ``Conv 4/2/1`` layers (``width, 2 width, ...`` channels down to 4 x 4),
    each followed by ``LayerNorm((C, H, W))`` (not after the first when
    ``first_norm=False``) and ``LeakyReLU(slope)``, then ``Conv 4x4`` (valid) to the
    latent. Attributes ``body``, ``to_latent``, ``out_channels`` (512 by default).
    """

    def __init__(self, size: int = 128, latent: int = 256, width: int = 32, first_norm: bool = True,
                 slope: float = 0.2) -> None:
        super().__init__()
        _check_size(size)
        _check_positive("latent", latent)
        _check_positive("width", width)
        self.size, self.latent, self.width = size, latent, width
        self.body, self.out_channels = _down_body(size, width, first_norm, slope)
        self.to_latent = nn.Conv2d(self.out_channels, latent, 4, 1, 0, bias=False)
        self.apply(dcgan_init)

    def forward(self, x: Tensor) -> Tensor:
        x = _as_images(x, self.size, "AEGANEncoder")
        return self.to_latent(self.body(x)).flatten(1)


class AEGANDecoder(nn.Module):
    """DCGAN decoder: latent ``(B, latent)`` -> patches ``(B, 1, size, size)`` in ``(-1, 1)``.

    ``ConvTranspose 4x4`` (valid) to ``width * size / 8`` channels at 4 x 4, stride-2
    ``ConvTranspose 4/2/1`` layers halving the channels up to ``width`` at
    ``size / 2``, each followed by ``LayerNorm((C, H, W))`` and ``ReLU``, then a last
    ``ConvTranspose 4/2/1`` to one channel and ``tanh``. The last layer runs in float32
    even under autocast (reconstruction errors are small differences of values in
    ``[-1, 1]``).
    """

    def __init__(self, size: int = 128, latent: int = 256, width: int = 32) -> None:
        super().__init__()
        _check_size(size)
        _check_positive("latent", latent)
        _check_positive("width", width)
        self.size, self.latent, self.width = size, latent, width
        levels = pyramid(size, width)[::-1]  # (C, 4) first ... (width, size/2) last
        layers: list[nn.Module] = []
        ch, sp = levels[0]
        layers += [nn.ConvTranspose2d(latent, ch, 4, 1, 0, bias=False), nn.LayerNorm((ch, sp, sp)), nn.ReLU()]
        for next_ch, next_sp in levels[1:]:
            layers += [
                nn.ConvTranspose2d(ch, next_ch, 4, 2, 1, bias=False),
                nn.LayerNorm((next_ch, next_sp, next_sp)),
                nn.ReLU(),
            ]
            ch = next_ch
        self.body = nn.Sequential(*layers)
        self.out = Float32ConvTranspose2d(ch, 1, 4, 2, 1, bias=False)
        self.apply(dcgan_init)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim == 4 and z.shape[2:] == (1, 1):
            z = z.flatten(1)
        if z.ndim != 2 or z.shape[1] != self.latent:
            raise ValueError(f"AEGANDecoder: expected latents (B, {self.latent}), got {tuple(z.shape)}")
        return torch.tanh(self.out(self.body(z[:, :, None, None])))


class AdaptiveLayerNorm(nn.Module):
    """LayerNorm of the latent with a per-section affine transform (AITHU's ToyCar and gearbox).

    ``y = (z - mean(z)) / sqrt(var(z) + eps) * gamma[s] + beta[s]`` with the statistics
    over the ``n_features`` of each sample and ``(gamma[s], beta[s])`` the trainable
    pair of the sample's section ``s`` (``weight``, ``bias``: ``(n_sections,
    n_features)``, initialised to ones and zeros, so all sections start equal).
    Sections are integer ids ``0 .. n_sections - 1`` (DCASE section numbers).
    """

    def __init__(self, n_features: int, n_sections: int, eps: float = 1e-5) -> None:
        super().__init__()
        _check_positive("n_features", n_features)
        _check_positive("n_sections", n_sections)
        self.n_features, self.n_sections, self.eps = n_features, n_sections, float(eps)
        self.weight = nn.Parameter(torch.ones(n_sections, n_features))
        self.bias = nn.Parameter(torch.zeros(n_sections, n_features))

    def forward(self, z: Tensor, sections: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.n_features:
            raise ValueError(f"AdaptiveLayerNorm: expected (B, {self.n_features}), got {tuple(z.shape)}")
        sections = torch.as_tensor(sections, device=z.device).long().reshape(-1)
        if sections.shape[0] != z.shape[0]:
            raise ValueError(f"AdaptiveLayerNorm: {sections.shape[0]} sections for a batch of {z.shape[0]}")
        if sections.numel() and (int(sections.min()) < 0 or int(sections.max()) >= self.n_sections):
            raise ValueError(
                f"AdaptiveLayerNorm: section ids must be in 0..{self.n_sections - 1}, got "
                f"{sorted(set(sections.tolist()))}"
            )
        normed = F.layer_norm(z, (self.n_features,), eps=self.eps)
        return normed * self.weight[sections].to(normed.dtype) + self.bias[sections].to(normed.dtype)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_sections={self.n_sections}, eps={self.eps}"


class AEGANAutoencoder(nn.Module):
    """AEGAN-AD's autoencoder (the generator G): :class:`AEGANEncoder` + :class:`AEGANDecoder`.

    ``forward(x, sections=None)`` -> ``G(x)`` ``(B, 1, size, size)``.
    With ``n_sections`` the latent passes through an :class:`AdaptiveLayerNorm`
    (``ada_norm``) before the decoder and every call needs the batch's section ids
    (AITHU: ToyCar and gearbox); without, ``sections`` is ignored.

    Args:
        size: patch side (128).
        latent: latent size (256, the AEGAN-AD code's ``nz``).
        width: channels of the first encoder / last decoder layer (32).
        n_sections: number of section ids for the adaptive LayerNorm, or ``None``.
        first_norm: LayerNorm after the encoder's first convolution (the code: not for
            bearing, fan, ToyCar).
    """

    def __init__(self, size: int = 128, latent: int = 256, width: int = 32, n_sections: int | None = None,
                 first_norm: bool = True) -> None:
        super().__init__()
        self.size, self.latent, self.width = size, latent, width
        self.encoder = AEGANEncoder(size, latent, width, first_norm=first_norm)
        self.decoder = AEGANDecoder(size, latent, width)
        self.ada_norm = AdaptiveLayerNorm(latent, n_sections) if n_sections is not None else None

    @property
    def n_sections(self) -> int | None:
        return None if self.ada_norm is None else self.ada_norm.n_sections

    def encode(self, x: Tensor) -> Tensor:
        """``E(x)``: ``(B, 1, size, size)`` -> ``(B, latent)``."""
        return self.encoder(x)

    def decode(self, z: Tensor, sections: Tensor | None = None) -> Tensor:
        """``(B, latent)`` -> ``(B, 1, size, size)``, through the adaptive LayerNorm when there is one."""
        if self.ada_norm is not None:
            if sections is None:
                raise ValueError("this AEGANAutoencoder has an adaptive LayerNorm: pass the section id of each sample")
            z = self.ada_norm(z, sections)
        return self.decoder(z)

    def forward(self, x: Tensor, sections: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(x), sections)

    def reconstruct(self, x: Tensor, sections: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(G(x), E(x), E(G(x)))``: what the input- and latent-space scores compare."""
        z = self.encode(x)
        x_hat = self.decode(z, sections)
        return x_hat, z, self.encode(x_hat)


class AEGANDiscriminator(nn.Module):
    """AEGAN-AD's critic D: the encoder's body, a GDConv embedding and a linear critic head.

    ``forward(x)`` -> ``(values (B,), features (B, C))``; :meth:`features` = the output
    of the last convolution (a depthwise 4 x 4 "GDConv", ``C -> C``), used for
    feature matching (eq. (6)'s ``f``) and as the clip embedding (:meth:`embed`,
    ``C = embedding_dim = 512`` by default); the critic value is
    ``Linear(LeakyReLU(LayerNorm(f)))``, unbounded (WGAN: no sigmoid).
    """

    def __init__(self, size: int = 128, width: int = 32, slope: float = 0.2) -> None:
        super().__init__()
        _check_size(size)
        _check_positive("width", width)
        self.size, self.width = size, width
        self.body, ch = _down_body(size, width, True, slope)
        self.embedding_dim = ch
        self.gdconv = nn.Conv2d(ch, ch, 4, 1, 0, groups=ch, bias=False)
        self.head = nn.Sequential(nn.LayerNorm(ch), nn.LeakyReLU(slope), nn.Linear(ch, 1))
        self.apply(dcgan_init)

    def features(self, x: Tensor) -> Tensor:
        """``f(x)``: ``(B, 1, size, size)`` -> ``(B, embedding_dim)``."""
        x = _as_images(x, self.size, "AEGANDiscriminator")
        return self.gdconv(self.body(x)).flatten(1)

    def embed(self, x: Tensor) -> Tensor:
        """The embedding of each patch: the same as :meth:`features`."""
        return self.features(x)

    def critic(self, features: Tensor) -> Tensor:
        """Critic values ``(B,)`` from features ``(B, embedding_dim)``."""
        return self.head(features).squeeze(1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f = self.features(x)
        return self.critic(f), f


# ----------------------------------------------------------------------------- scores


def patch_distance(a: Tensor, b: Tensor, distance: str) -> Tensor:
    """Per-sample distance of ``(B, ...)`` batches, over all non-batch elements: ``(B,)`` float32.

    ``"l1"``: ``sum |a - b|``; ``"l2"``: ``sum (a - b)^2``; ``"cos"``: ``1 - cos(a, b)``
    of the flattened samples (``F.cosine_similarity``, eps 1e-8).
    """
    if a.shape != b.shape:
        raise ValueError(f"patch_distance: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    a = a.float().reshape(a.shape[0], -1)
    b = b.float().reshape(b.shape[0], -1)
    if distance == "l1":
        return (a - b).abs().sum(dim=1)
    if distance == "l2":
        return (a - b).pow(2).sum(dim=1)
    if distance == "cos":
        return 1.0 - F.cosine_similarity(a, b, dim=1, eps=1e-8)
    raise ValueError(f"patch_distance: distance={distance!r} must be one of {SCORE_DISTANCES}")


def aggregate_patches(values: Tensor | np.ndarray, how: str) -> np.ndarray:
    """Per-clip aggregate of per-patch values ``(n_clips, P)``: ``"mean"``, ``"min"`` or ``"max"`` -> ``(n_clips,)``."""
    arr = values.detach().cpu().double().numpy() if isinstance(values, Tensor) else np.asarray(values, dtype=float)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"aggregate_patches: expected (n_clips, n_patches), got shape {arr.shape}")
    if how == "mean":
        return arr.mean(axis=1)
    if how == "min":
        return arr.min(axis=1)
    if how == "max":
        return arr.max(axis=1)
    raise ValueError(f"aggregate_patches: how={how!r} must be one of {SCORE_AGGREGATIONS}")


def patch_scores(model: nn.Module, x: Tensor, sections: Tensor | None = None) -> dict[str, Tensor]:
    """The six per-patch distances of a batch ``x`` ``(B, 1, H, W)``: ``{"input_l1": (B,), ...}``.

    ``model`` needs ``encode(x)`` and ``decode(z, sections)`` (:class:`AEGANAutoencoder`).
    Input space compares ``x`` with ``G(x) = decode(encode(x))``, latent space
    ``encode(x)`` with ``encode(G(x))``. No mode switch, no ``no_grad``: the caller's.
    """
    z = model.encode(x)
    x_hat = model.decode(z, sections)
    z_hat = model.encode(x_hat)
    out = {}
    for d in SCORE_DISTANCES:
        out[f"input_{d}"] = patch_distance(x, x_hat, d)
        out[f"latent_{d}"] = patch_distance(z, z_hat, d)
    return out


def _pair_batches(patches: ClipPatches, batch_size: int, dev: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    n, p = patches.n_clips, patches.per_clip
    flat = torch.arange(n * p, device=dev)
    for chunk in flat.split(batch_size):
        yield torch.div(chunk, p, rounding_mode="floor"), chunk % p


def _scoring_setup(model: nn.Module, patches, batch_size: int, device) -> tuple[ClipPatches, torch.device]:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    cp = as_clip_patches(patches)
    dev = inference_device(device, module_device(model))
    model.to(dev)
    if cp.lazy:  # the spectrograms are small: put them where the model is
        cp = cp.to(dev)
    size = getattr(model, "size", None)
    if size is not None and cp.patch_shape != (size, size):
        raise ValueError(f"patches are {cp.patch_shape}, the model takes ({size}, {size})")
    return cp, dev


def aegan_clip_scores(
    model: nn.Module,
    patches: ClipPatches | Tensor | np.ndarray,
    sections: Tensor | np.ndarray | None = None,
    *,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> dict[str, np.ndarray]:
    """The 18 per-clip reconstruction scores of AEGAN-AD; higher = more anomalous.

    Args:
        model: an :class:`AEGANAutoencoder` (anything with ``encode`` / ``decode``);
            run in eval mode without gradients in float32, its mode restored.
        patches: the clips' patches: a :class:`ClipPatches` (:func:`patch_clips`) or a
            tensor ``(n_clips, P, H, W)``; scaled as in training.
        sections: section id per clip ``(n_clips,)`` (needed with an adaptive LayerNorm).
        batch_size: patches per forward pass.
        device: where to run (``"auto"``, ``"cpu"``, ``"cuda"``...); default the model's.

    Returns:
        ``{name: (n_clips,) float64}`` for every name in :data:`SCORE_NAMES`
        (``"input_l1_mean"``, ..., ``"latent_cos_max"``; module docstring).
    """
    cp, dev = _scoring_setup(model, patches, batch_size, device)
    sec = None if sections is None else _as_tensor(sections).long().reshape(-1).to(dev)
    if sec is not None and sec.shape[0] != cp.n_clips:
        raise ValueError(f"sections: {sec.shape[0]} ids for {cp.n_clips} clips")
    per_patch: dict[str, list[Tensor]] = {}
    with eval_no_grad(model):
        for clips, index in _pair_batches(cp, batch_size, dev):
            x = cp.take(clips, index).to(dev, torch.float32)
            dists = patch_scores(model, x, None if sec is None else sec[clips])
            for k, v in dists.items():
                per_patch.setdefault(k, []).append(v.float().cpu())
    out: dict[str, np.ndarray] = {}
    for space in SCORE_SPACES:
        for d in SCORE_DISTANCES:
            values = torch.cat(per_patch[f"{space}_{d}"]).reshape(cp.n_clips, cp.per_clip)
            for agg in SCORE_AGGREGATIONS:
                out[f"{space}_{d}_{agg}"] = aggregate_patches(values, agg)
    return out


def discriminator_embeddings(
    model: nn.Module,
    patches: ClipPatches | Tensor | np.ndarray,
    *,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Each clip's mean critic embedding over its patches: ``(n_clips, embedding_dim)`` float64.

    ``model``: an :class:`AEGANDiscriminator` (anything with ``embed(x)``), run in eval
    mode without gradients. Fit an :mod:`asdlib.backends` backend (``KNNBackend``,
    ``LOFBackend``, ``CosineMeanBackend``, ``MahalanobisBackend``) on the training
    clips' embeddings and score the test clips' (the AEGAN-AD code pools all sections).
    """
    cp, dev = _scoring_setup(model, patches, batch_size, device)
    sums = None
    with eval_no_grad(model):
        for clips, index in _pair_batches(cp, batch_size, dev):
            e = model.embed(cp.take(clips, index).to(dev, torch.float32)).double()
            if sums is None:
                sums = torch.zeros(cp.n_clips, e.shape[1], dtype=torch.float64, device=dev)
            sums.index_add_(0, clips, e)
    return (sums / cp.per_clip).cpu().numpy()


__all__ = [
    "SCORE_AGGREGATIONS",
    "SCORE_DISTANCES",
    "SCORE_NAMES",
    "SCORE_SPACES",
    "AEGANAutoencoder",
    "AEGANDecoder",
    "AEGANDiscriminator",
    "AEGANEncoder",
    "AdaptiveLayerNorm",
    "ClipPatches",
    "aegan_clip_scores",
    "aggregate_patches",
    "as_clip_patches",
    "dcgan_init",
    "discriminator_embeddings",
    "minmax_range",
    "patch_clips",
    "patch_distance",
    "patch_scores",
    "pyramid",
    "scale_to_unit",
]
