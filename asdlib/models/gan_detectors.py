"""GAN-based anomaly detectors adapted to audio (paper 001, Sec. 3.3; Figures 2 and 3).

Paper 001 adapts three image detectors to the 640-d vectors of the DCASE baseline
(:mod:`asdlib.models.dcase_ae`): every network is rebuilt from the baseline's fully
connected layers (Figure 2; :mod:`asdlib.models.layers`): 128-unit ``Dense, BN, ReLU``
blocks (:class:`~asdlib.models.layers.DenseBlock`), an 8-d latent space, BN and ReLU
after every layer except the decoder's output. "The remaining details of the
architecture follow the original": losses, loss weights and anomaly scores are those
of the original papers and code.

- :class:`GANomaly` (Akçay et al. 2019b; paper 001 Sec. 3.3.2, Figure 2):
  encoder G_E, decoder G_D, a second encoder E on the reconstruction, discriminator D;
  score ``mean (z - z_hat)^2``.
- :class:`SkipGANomaly` (Akçay et al. 2019a; Sec. 3.3.3, Figure 3): a U-Net-style
  encoder-decoder with skip connections, D as classifier and feature extractor;
  score ``0.9 * reconstruction + 0.1 * D-feature difference``.
- :class:`EGBAD` (Zenati et al. 2018; Sec. 3.3.1): a BiGAN (generator G, encoder E,
  discriminator D on ``(x, z)`` pairs); score ``0.9 * |x - G(E(x))|_1 + 0.1 * |f_D - f_D'|_1``.

Common interface (what :func:`asdlib.train.train_adversarial` uses):

- ``generator_losses(x) -> dict``: the unweighted loss components and ``"total"``,
  their weighted sum, which the generator side minimises;
- ``discriminator_loss(x) -> Tensor``;
- ``generator_parameters()``, ``discriminator_parameters()``: lists for the two optimisers;
- ``anomaly_score(x) -> (B,)``: eval mode, no gradients, float32; higher = more anomalous;
- ``reset_discriminator()``: re-initialise D (the originals do when D's loss < 1e-5).

Both loss methods take optional ``rng`` (a :class:`torch.Generator` for EGBAD's
noise) and ``cache`` (a dict: ``generator_losses`` stores its detached fakes there,
``discriminator_loss`` then reuses them instead of running the generator again, as
the originals do within one step).

**Scores are not min-max normalised.** The original GANomaly / Skip-GANomaly code
rescales the test scores to ``[0, 1]`` over the whole test set; that is a monotone
map, so AUC and pAUC do not change, and it would make one clip's score depend on the
other test clips. The scores here are the raw per-vector values.

Discriminator: the originals' D is their encoder with a 1-unit output (DCGAN
``NetD``: features = the last hidden layer, classifier = the final layer). Here:
``4 x DenseBlock(128)`` (features, 128-d) and ``Linear(128, 1)`` (a logit; the
sigmoid lives in the BCE). Paper 001 writes that G_D and D "were converted to the
FCN decoder" (Sec. 3.3.2); a decoder (8 -> 640) cannot take a 640-d input, so we
read it as "the same FC layers" and build D as the FC encoder with a logit output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.losses.adversarial import FEATURE_MATCHING_MODES, bce_real_fake, bce_with_target, feature_matching_loss
from asdlib.models.inference import eval_no_grad, module_device
from asdlib.models.layers import DenseBlock, Float32Linear, fc_decoder, fc_encoder


class FCDiscriminator(nn.Module):
    """Fully connected discriminator: ``n_layers`` x ``DenseBlock(hidden)`` -> ``Linear(hidden, 1)``.

    ``forward(x) -> (logits (B,), features (B, hidden))``; the features (the last
    hidden layer) serve feature matching and the latent scores.

    Args:
        input_dim: 640 for GANomaly / Skip-GANomaly, ``640 + latent`` for EGBAD's pairs.
        hidden, n_layers: 128, 4.
    """

    def __init__(self, input_dim: int = 640, hidden: int = 128, n_layers: int = 4, bias: bool = True) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers={n_layers!r} must be >= 1")
        self.body = nn.Sequential(*[DenseBlock(input_dim if i == 0 else hidden, hidden, bias) for i in range(n_layers)])
        self.head = nn.Linear(hidden, 1, bias=bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x)
        return self.head(features).squeeze(1), features


class SkipGenerator(nn.Module):
    """Skip-GANomaly's generator adapted to vectors (paper 001, Figure 3): a fully connected U-Net.

    Encoder G_E: ``h_1 .. h_n`` = ``n_layers`` x ``DenseBlock(hidden)``, then the
    bottleneck ``z`` = ``DenseBlock(hidden, latent)``. Decoder G_D: ``u_1 =
    DenseBlock(latent, hidden)(z)``, then each next layer takes the previous
    decoder output concatenated with the encoder activation at the mirrored depth,
    ``u_{k+1} = DenseBlock(2 hidden, hidden)(cat(u_k, h_{n+1-k}))``, and the output
    layer ``x_hat = Linear(2 hidden, input_dim)(cat(u_n, h_1))`` (no BN/ReLU).
    With the defaults (640, 128, 8, 4)::

        x 640 -> h1 128 -> h2 128 -> h3 128 -> h4 128 -> z 8
                  |        |        |        |            |
        x_hat <- [u4|h1] <- [u3|h2] <- [u2|h3] <- [u1|h4] <- u1 128
          640      256       256       256       256

    Linear layers (in -> out): encoder 640->128, 3 x 128->128, 128->8; decoder
    8->128, 3 x 256->128, output 256->640. Modules: ``encoder`` (``ModuleList`` of the
    ``n_layers`` hidden blocks), ``bottleneck``, ``decoder`` (``ModuleList``), ``out``.
    """

    def __init__(self, input_dim: int = 640, hidden: int = 128, latent: int = 8, n_layers: int = 4, bias: bool = True):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers={n_layers!r} must be >= 1")
        self.encoder = nn.ModuleList(
            [DenseBlock(input_dim if i == 0 else hidden, hidden, bias) for i in range(n_layers)]
        )
        self.bottleneck = DenseBlock(hidden, latent, bias)
        self.decoder = nn.ModuleList(
            [DenseBlock(latent, hidden, bias)] + [DenseBlock(2 * hidden, hidden, bias) for _ in range(n_layers - 1)]
        )
        self.out = Float32Linear(2 * hidden, input_dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, input_dim)`` -> reconstruction ``(B, input_dim)`` (float32)."""
        skips = []
        h = x
        for block in self.encoder:
            h = block(h)
            skips.append(h)
        u = self.decoder[0](self.bottleneck(h))
        for block, skip in zip(self.decoder[1:], reversed(skips[1:])):
            u = block(torch.cat([u, skip], dim=1))
        return self.out(torch.cat([u, skips[0]], dim=1))


class _AdversarialDetector(nn.Module):
    """Shared helpers of the three detectors (not a public class)."""

    discriminator: FCDiscriminator

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """D's parameters (the discriminator optimiser's)."""
        return list(self.discriminator.parameters())

    def generator_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not D's (the generator optimiser's)."""
        d = {id(p) for p in self.discriminator.parameters()}
        return [p for p in self.parameters() if id(p) not in d]

    def reset_discriminator(self) -> None:
        """Re-initialise D's weights and BatchNorm statistics (the originals' ``reinit_d``)."""
        for m in self.discriminator.modules():
            if m is not self.discriminator and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def _to_model(self, x: Tensor) -> Tensor:
        return x.to(module_device(self), torch.float32)


class GANomaly(_AdversarialDetector):
    """GANomaly (Akçay et al. 2019b) with the fully connected networks of paper 001 (Figure 2, Sec. 3.3.2).

    ``x -> G_E -> z -> G_D -> x_hat -> E -> z_hat``; D tells ``x`` from ``x_hat``.

    ==================  ==============================================  ==============
    network             layers (defaults)                               Linear in->out
    ==================  ==============================================  ==============
    G_E ``encoder``     4 x (Dense 128, BN, ReLU), Dense 8, BN, ReLU    640-128-128-128-128-8
    G_D ``decoder``     4 x (Dense 128, BN, ReLU), Dense 640 (linear)   8-128-128-128-128-640
    E ``re_encoder``    as G_E                                          640-...-8
    D ``discriminator`` 4 x (Dense 128, BN, ReLU) = features, Dense 1   640-128-128-128-128-1
    ==================  ==============================================  ==============

    Losses (the original's ``w_adv = 1, w_con = 50, w_enc = 1``):

    - generator: ``total = w_adv * adv + w_con * con + w_enc * enc`` with
      ``adv`` = feature matching on D's features of ``x`` and ``x_hat``
      (:func:`~asdlib.losses.feature_matching_loss`; ``feature_matching="batch_mean"``
      compares batch-mean features as in the paper's Eq., ``"sample"`` each sample with
      its reconstruction as in the original code), ``con = mean |x - x_hat|`` (L1),
      ``enc = mean (z - z_hat)^2`` (L2);
    - discriminator: ``0.5 * (BCE(D(x), 1) + BCE(D(x_hat), 0))`` (the original code).

    Anomaly score: ``mean_j (z_j - z_hat_j)^2`` per vector (the original's).

    Args:
        input_dim, hidden, latent, n_layers: 640, 128, 8, 4 (Figure 2).
        w_adv, w_con, w_enc: loss weights.
        feature_matching: ``"batch_mean"`` or ``"sample"``, see above.
        bias: biases in the dense layers.
    """

    def __init__(
        self,
        input_dim: int = 640,
        hidden: int = 128,
        latent: int = 8,
        n_layers: int = 4,
        w_adv: float = 1.0,
        w_con: float = 50.0,
        w_enc: float = 1.0,
        *,
        feature_matching: str = "batch_mean",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if feature_matching not in FEATURE_MATCHING_MODES:
            raise ValueError(f"feature_matching={feature_matching!r} must be one of {FEATURE_MATCHING_MODES}")
        self.input_dim, self.hidden, self.latent = input_dim, hidden, latent
        self.w_adv, self.w_con, self.w_enc = float(w_adv), float(w_con), float(w_enc)
        self.feature_matching = feature_matching
        self.encoder = fc_encoder(input_dim, hidden, latent, n_layers, bias=bias)
        self.decoder = fc_decoder(latent, hidden, input_dim, n_layers, bias=bias)
        self.re_encoder = fc_encoder(input_dim, hidden, latent, n_layers, bias=bias)
        self.discriminator = FCDiscriminator(input_dim, hidden, n_layers, bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x (B, D)`` -> ``(x_hat, z, z_hat)``."""
        z = self.encoder(x)
        x_hat = self.decoder(z)
        return x_hat, z, self.re_encoder(x_hat)

    def generator_losses(
        self, x: Tensor, *, rng: torch.Generator | None = None, cache: dict | None = None
    ) -> dict[str, Tensor]:
        """``{"adv", "con", "enc", "total"}`` (components unweighted, ``total`` weighted)."""
        x_hat, z, z_hat = self(x)
        _, f_fake = self.discriminator(x_hat)
        with torch.no_grad():
            _, f_real = self.discriminator(x)
        adv = feature_matching_loss(f_real, f_fake, mode=self.feature_matching)
        con = F.l1_loss(x_hat.float(), x.float())
        enc = F.mse_loss(z_hat.float(), z.float())
        if cache is not None:
            cache["fake"] = x_hat.detach()
        total = self.w_adv * adv + self.w_con * con + self.w_enc * enc
        return {"adv": adv, "con": con, "enc": enc, "total": total}

    def discriminator_loss(self, x: Tensor, *, rng: torch.Generator | None = None, cache: dict | None = None) -> Tensor:
        """``0.5 * (BCE(D(x), 1) + BCE(D(x_hat), 0))``; ``x_hat`` from ``cache`` or a fresh no-grad pass."""
        fake = cache.get("fake") if cache else None
        if fake is None:
            with torch.no_grad():
                fake = self.decoder(self.encoder(x))
        real_logits, _ = self.discriminator(x)
        fake_logits, _ = self.discriminator(fake)
        real, fake_loss = bce_real_fake(real_logits, fake_logits)
        return 0.5 * (real + fake_loss)

    def anomaly_score(self, x: Tensor) -> Tensor:
        """``mean_j (z - z_hat)_j^2`` per vector, ``(B, D)`` -> ``(B,)`` float32 (eval, no grad)."""
        with eval_no_grad(self):
            _, z, z_hat = self(self._to_model(x))
            return (z.float() - z_hat.float()).pow(2).mean(dim=1)


class SkipGANomaly(_AdversarialDetector):
    """Skip-GANomaly (Akçay et al. 2019a) with fully connected networks (paper 001, Figure 3, Sec. 3.3.3).

    Generator: :class:`SkipGenerator` (G_E and G_D, 4 x 128 + 8-d bottleneck,
    concatenating skip connections between matching layers; Linear layers
    640-128-128-128-128-8 and 8-128, 256-128 x 3, 256-640). Discriminator:
    :class:`FCDiscriminator` (640-128-128-128-128 features, 128-1 logit), used as
    classifier and as feature extractor.

    Losses (the original's ``w_adv = 1, w_con = 50, w_lat = 1``):

    - generator: ``total = w_adv * adv + w_con * con + w_lat * lat`` with
      ``adv = BCE(D(x_hat), 1)``, ``con = mean |x - x_hat|`` (L1),
      ``lat = mean (f(x) - f(x_hat))^2`` (L2 on D's features, per sample);
    - discriminator: ``BCE(D(x), 1) + BCE(D(x_hat), 0)``. The original code also adds
      the generator's ``lat`` term to D's loss (so D is pushed to make the features of
      ``x`` and ``x_hat`` alike); ``d_lat=True`` does that, the default leaves it out.

    Anomaly score (the original's): ``score_weight * mean_j (x - x_hat)_j^2 +
    (1 - score_weight) * mean_k (f(x) - f(x_hat))_k^2`` with ``score_weight = 0.9``.

    The original also feeds the generator ``x + noise`` while training
    (``add_noise``); not done here (the paper does not mention it).
    """

    def __init__(
        self,
        input_dim: int = 640,
        hidden: int = 128,
        latent: int = 8,
        n_layers: int = 4,
        w_adv: float = 1.0,
        w_con: float = 50.0,
        w_lat: float = 1.0,
        *,
        score_weight: float = 0.9,
        d_lat: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.input_dim, self.hidden, self.latent = input_dim, hidden, latent
        self.w_adv, self.w_con, self.w_lat = float(w_adv), float(w_con), float(w_lat)
        self.score_weight, self.d_lat = float(score_weight), bool(d_lat)
        self.generator = SkipGenerator(input_dim, hidden, latent, n_layers, bias)
        self.discriminator = FCDiscriminator(input_dim, hidden, n_layers, bias)

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, D)`` -> reconstruction ``x_hat (B, D)``."""
        return self.generator(x)

    def generator_losses(
        self, x: Tensor, *, rng: torch.Generator | None = None, cache: dict | None = None
    ) -> dict[str, Tensor]:
        """``{"adv", "con", "lat", "total"}`` (components unweighted, ``total`` weighted)."""
        x_hat = self.generator(x)
        fake_logits, f_fake = self.discriminator(x_hat)
        with torch.no_grad():
            _, f_real = self.discriminator(x)
        adv = bce_with_target(fake_logits, 1.0)
        con = F.l1_loss(x_hat.float(), x.float())
        lat = F.mse_loss(f_fake.float(), f_real.float())
        if cache is not None:
            cache["fake"] = x_hat.detach()
        total = self.w_adv * adv + self.w_con * con + self.w_lat * lat
        return {"adv": adv, "con": con, "lat": lat, "total": total}

    def discriminator_loss(self, x: Tensor, *, rng: torch.Generator | None = None, cache: dict | None = None) -> Tensor:
        """``BCE(D(x), 1) + BCE(D(x_hat), 0)`` (``+ w_lat * lat`` with ``d_lat``)."""
        fake = cache.get("fake") if cache else None
        if fake is None:
            with torch.no_grad():
                fake = self.generator(x)
        real_logits, f_real = self.discriminator(x)
        fake_logits, f_fake = self.discriminator(fake)
        real, fake_loss = bce_real_fake(real_logits, fake_logits)
        loss = real + fake_loss
        if self.d_lat:
            loss = loss + self.w_lat * F.mse_loss(f_fake.float(), f_real.float())
        return loss

    def anomaly_score(self, x: Tensor) -> Tensor:
        """``0.9 * mean (x - x_hat)^2 + 0.1 * mean (f(x) - f(x_hat))^2``: ``(B, D)`` -> ``(B,)``."""
        with eval_no_grad(self):
            x = self._to_model(x)
            x_hat = self.generator(x)
            _, f_real = self.discriminator(x)
            _, f_fake = self.discriminator(x_hat)
            rec = (x - x_hat.float()).pow(2).mean(dim=1)
            lat = (f_real.float() - f_fake.float()).pow(2).mean(dim=1)
            return self.score_weight * rec + (1.0 - self.score_weight) * lat


class EGBAD(_AdversarialDetector):
    """EGBAD (Zenati et al. 2018), a BiGAN, with fully connected networks (paper 001, Sec. 3.3.1).

    ==================  ==============================================  ==============
    network             layers (defaults)                               Linear in->out
    ==================  ==============================================  ==============
    G ``generator``     4 x (Dense 128, BN, ReLU), Dense 640 (linear)   8-128-128-128-128-640
    E ``encoder``       4 x (Dense 128, BN, ReLU), Dense 8 (linear)     640-128-128-128-128-8
    D ``discriminator`` on ``cat(x, z)``: 4 x (Dense 128, BN, ReLU) =   648-128-128-128-128-1
                        features, Dense 1 (logit)
    ==================  ==============================================  ==============

    Noise ``z ~ N(0, I_8)``. **E's latent layer is linear** (no BN, ReLU), unlike the
    DCASE bottleneck: in a BiGAN, D compares ``(x, E(x))`` with ``(G(z), z)``, and
    a ReLU latent (never negative) would tell the pairs apart by the sign of ``z``
    alone. The original EGBAD encoder ends in a linear layer too.
    ``latent_bn_relu=True`` gives the encoder the baseline's BN+ReLU bottleneck anyway.

    Losses (BiGAN, as the original code):

    - discriminator: ``BCE(D(x, E(x)), 1) + BCE(D(G(z), z), 0)``;
    - generator side: ``gen = BCE(D(G(z), z), 1)`` (G) and ``enc = BCE(D(x, E(x)), 0)`` (E);
      ``total = gen + enc`` (the original steps G and E with two optimisers of equal
      settings on these two losses; one optimiser over both on their sum is the same).

    Anomaly score (the original's "fm" method, L1, ``score_weight = 0.1``):
    ``(1 - w) * ||x - G(E(x))||_1 + w * ||f_D(x, E(x)) - f_D(G(E(x)), E(x))||_1``, the norms
    summed over the 640 inputs and the 128 features (not averaged, as ``tf.norm``).
    The original scores with an exponential moving average of the weights; not
    done here.
    """

    def __init__(
        self,
        input_dim: int = 640,
        hidden: int = 128,
        latent: int = 8,
        n_layers: int = 4,
        *,
        score_weight: float = 0.1,
        latent_bn_relu: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.input_dim, self.hidden, self.latent = input_dim, hidden, latent
        self.score_weight = float(score_weight)
        self.generator = fc_decoder(latent, hidden, input_dim, n_layers, bias=bias)
        self.encoder = fc_encoder(input_dim, hidden, latent, n_layers, out_bn_relu=latent_bn_relu, bias=bias)
        self.discriminator = FCDiscriminator(input_dim + latent, hidden, n_layers, bias)

    def discriminate(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """D on the pair ``(x, z)``: ``(logits (B,), features (B, hidden))``."""
        return self.discriminator(torch.cat([x, z.to(x.dtype)], dim=1))

    def sample_noise(self, n: int, device: torch.device, rng: torch.Generator | None = None) -> Tensor:
        """``z ~ N(0, I)``, ``(n, latent)`` on ``device`` (from ``rng`` when given)."""
        return torch.randn(n, self.latent, device=device, generator=rng)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x (B, D)`` -> ``(G(E(x)), E(x))``."""
        z = self.encoder(x)
        return self.generator(z), z

    def generator_losses(
        self, x: Tensor, *, rng: torch.Generator | None = None, cache: dict | None = None
    ) -> dict[str, Tensor]:
        """``{"gen", "enc", "total"}``: ``gen = BCE(D(G(z), z), 1)``, ``enc = BCE(D(x, E(x)), 0)``."""
        z_enc = self.encoder(x)
        z = self.sample_noise(x.shape[0], x.device, rng)
        x_gen = self.generator(z)
        enc_logits, _ = self.discriminate(x, z_enc)
        gen_logits, _ = self.discriminate(x_gen, z)
        gen = bce_with_target(gen_logits, 1.0)
        enc = bce_with_target(enc_logits, 0.0)
        if cache is not None:
            cache.update(z_enc=z_enc.detach(), x_gen=x_gen.detach(), z=z)
        return {"gen": gen, "enc": enc, "total": gen + enc}

    def discriminator_loss(self, x: Tensor, *, rng: torch.Generator | None = None, cache: dict | None = None) -> Tensor:
        """``BCE(D(x, E(x)), 1) + BCE(D(G(z), z), 0)`` (pairs from ``cache`` or fresh, no grad)."""
        if cache and "z_enc" in cache:
            z_enc, x_gen, z = cache["z_enc"], cache["x_gen"], cache["z"]
        else:
            with torch.no_grad():
                z_enc = self.encoder(x)
                z = self.sample_noise(x.shape[0], x.device, rng)
                x_gen = self.generator(z)
        real_logits, _ = self.discriminate(x, z_enc)
        fake_logits, _ = self.discriminate(x_gen, z)
        real, fake = bce_real_fake(real_logits, fake_logits)
        return real + fake

    def anomaly_score(self, x: Tensor) -> Tensor:
        """``0.9 * ||x - G(E(x))||_1 + 0.1 * ||f_D(x, E(x)) - f_D(G(E(x)), E(x))||_1``: ``(B, D)`` -> ``(B,)``."""
        with eval_no_grad(self):
            x = self._to_model(x)
            x_rec, z = self(x)
            _, f_in = self.discriminate(x, z)
            _, f_rec = self.discriminate(x_rec, z)
            rec = (x - x_rec.float()).abs().sum(dim=1)
            fm = (f_in.float() - f_rec.float()).abs().sum(dim=1)
            return (1.0 - self.score_weight) * rec + self.score_weight * fm


__all__ = ["EGBAD", "FCDiscriminator", "GANomaly", "SkipGANomaly", "SkipGenerator"]
