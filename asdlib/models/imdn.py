"""IMDN, the Interpolation Mixture Density Network of AITHU (paper 000, DCASE 2022, Sec. 3.2).

IDNN-style interpolation (Suefusa et al. 2020): a window of ``n_frames`` log-mel
frames is cut from a clip, its centre frame ``x_p`` is removed, and a network maps
the remaining ``n_frames - 1`` frames, shaped ``(B, n_frames - 1, n_mels)`` as in
the paper ("(batch size, nFrames, nMels)"), to the parameters of a mixture of
``C = n_components`` diagonal Gaussians over the centre frame: ``2 x C x n_mels``
numbers, the means and log standard deviations. Training minimises, and scoring
reports, the mixture NLL of the true centre frame (Eqs. 3-4,
:func:`asdlib.losses.mixture.gaussian_mixture_nll`, whose docstring explains how we
read Eq. 4). A clip's anomaly score is the mean NLL over its windows (higher =
more anomalous)::

    log-mel (N, n_mels, T) --imdn_windows--> context (N, W, n_frames-1, n_mels), centre (N, W, n_mels)
    context --IGNN / LRCGNN / DFnet--> mu, log_sigma (N*W, C, n_mels) --NLL--> (N, W) --mean--> (N,)

For even ``n_frames`` (the paper's 100, 60, 30) the centre is frame ``n_frames // 2``
(0-based): ``n_frames // 2`` context frames before it and ``n_frames // 2 - 1``
after. Window ``w`` of a clip predicts frame ``w * stride + n_frames // 2``.

Networks (Sec. 3.2):

- :class:`IGNN` -- Table 6: FC(nMels, 128), 3 x GRU(128, 128), FC(128, 32),
  FC(32, 128), 3 x GRU(128, 128), FC((nF-1) x 128, 2 x nC x nMels);
- :class:`LRCGNN` -- IGNN plus a Conv1d after the first FC layer;
- :class:`DFnet` -- a simplified DeepFilterNet (Schroeter et al. 2022), see its
  docstring for our reading of "two fully connected layers in place of the
  original two convolutional layers" and "a fully connected layer to match the
  number of Mel bins".

Choices the paper leaves open (ours, documented): ReLU after every hidden FC/conv
layer (no activation is named); GRUs batch-first, unidirectional, no dropout;
per-mel-bin input standardisation (mean/std of the training frames, stored as
buffers; :func:`train_imdn` fits it) with the outputs mapped back, so the NLL is
in the units of the given log-mels; ``log sigma`` clamped to
``[min_log_scale, max_log_scale]`` (in standardised units) so a perfectly
predictable toy frame cannot drive the NLL to minus infinity. The number of
components is not given; ``n_components=2`` is our default.

The per-machine-type settings of Tables 7 and 8 (nMels, nffts, nFrames, network)
are in ``asdlib/chapters/aithu_tables_7_8.csv`` (:func:`asdlib.chapters.tables.aithu_tables_7_8`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from asdlib.losses.mixture import gaussian_mixture_nll

NETWORKS = ("IGNN", "LRCGNN", "DFnet")


# ----------------------------------------------------------------------------- windows


def _as_log_mels(log_mels: Tensor | np.ndarray) -> Tensor:
    x = log_mels if isinstance(log_mels, Tensor) else torch.as_tensor(np.asarray(log_mels))
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3:
        raise ValueError(f"log_mels must be (N, n_mels, T) or (n_mels, T); got shape {tuple(x.shape)}")
    return x.float()


def imdn_windows(log_mels: Tensor | np.ndarray, n_frames: int, stride: int = 1) -> tuple[Tensor, Tensor]:
    """Cut IDNN windows from clips: the context frames and the centre frame to predict.

    Args:
        log_mels: ``(N, n_mels, T)`` (or one clip ``(n_mels, T)``).
        n_frames: window length, centre included (``T >= n_frames``).
        stride: hop between windows, in frames.

    Returns:
        ``context`` ``(N, W, n_frames - 1, n_mels)`` (the window without its centre,
        time-major as the networks take it) and ``centre`` ``(N, W, n_mels)``, with
        ``W = (T - n_frames) // stride + 1``; window ``w``'s centre is frame
        ``w * stride + n_frames // 2``. One ``unfold``, no loop.
    """
    x = _as_log_mels(log_mels)
    if n_frames < 2 or stride < 1:
        raise ValueError(f"need n_frames >= 2 and stride >= 1; got n_frames={n_frames}, stride={stride}")
    if x.shape[-1] < n_frames:
        raise ValueError(f"clips have T={x.shape[-1]} frames, fewer than n_frames={n_frames}")
    win = x.unfold(-1, n_frames, stride).permute(0, 2, 3, 1)  # (N, W, n_frames, n_mels)
    c = n_frames // 2
    return torch.cat([win[:, :, :c], win[:, :, c + 1 :]], dim=2), win[:, :, c]


def gather_windows(x: Tensor, clip: Tensor, start: Tensor, n_frames: int) -> tuple[Tensor, Tensor]:
    """Windows ``(b, n_frames-1, M)`` and centres ``(b, M)`` from ``x`` ``(N, M, T)`` at (clip, start) pairs."""
    t = start[:, None] + torch.arange(n_frames, device=x.device)  # (b, n_frames)
    win = x[clip[:, None], :, t]  # advanced indices apart -> (b, n_frames, M)
    c = n_frames // 2
    return torch.cat([win[:, :c], win[:, c + 1 :]], dim=1), win[:, c]


# ----------------------------------------------------------------------------- networks


class IMDNNetwork(nn.Module):
    """Shared part: input standardisation, output split into (mu, log sigma), the NLL.

    Subclasses define ``body(x)``: standardised context ``(B, n_frames-1, n_mels)`` ->
    raw head output ``(B, 2 * n_components * n_mels)``.
    """

    def __init__(
        self, n_mels: int, n_frames: int, n_components: int, min_log_scale: float, max_log_scale: float
    ) -> None:
        super().__init__()
        if n_mels < 1 or n_frames < 2 or n_components < 1:
            raise ValueError(
                f"need n_mels >= 1, n_frames >= 2, n_components >= 1; got {n_mels}, {n_frames}, {n_components}"
            )
        self.n_mels, self.n_frames, self.n_components = n_mels, n_frames, n_components
        self.min_log_scale, self.max_log_scale = min_log_scale, max_log_scale
        self.register_buffer("in_mean", torch.zeros(n_mels))
        self.register_buffer("in_std", torch.ones(n_mels))

    @property
    def out_dim(self) -> int:
        """``2 x nC x nMels``: the size of the last layer (Table 6)."""
        return 2 * self.n_components * self.n_mels

    def body(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Set the per-bin input standardisation ``(n_mels,)`` (std floored at 1e-5)."""
        self.in_mean.copy_(mean.reshape(self.n_mels))
        self.in_std.copy_(std.reshape(self.n_mels).clamp_min(1e-5))

    def forward(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """``context`` ``(B, n_frames-1, n_mels)`` -> ``mu``, ``log_sigma``, each ``(B, nC, n_mels)``.

        The head's ``2 x nC x nMels`` outputs are read as ``(2, nC, nMels)``: means
        first, then log standard deviations. Both are returned in the units of the
        (unstandardised) log-mels.
        """
        if context.dim() != 3 or context.shape[1:] != (self.n_frames - 1, self.n_mels):
            raise ValueError(
                f"{type(self).__name__} expects context (B, {self.n_frames - 1}, {self.n_mels}); "
                f"got {tuple(context.shape)}"
            )
        out = self.body((context - self.in_mean) / self.in_std)
        out = out.float().view(-1, 2, self.n_components, self.n_mels)
        mu = out[:, 0] * self.in_std + self.in_mean
        log_sigma = out[:, 1].clamp(self.min_log_scale, self.max_log_scale) + self.in_std.log()
        return mu, log_sigma

    def nll(self, context: Tensor, centre: Tensor) -> Tensor:
        """Per-window mixture NLL ``(B,)`` of the centre frames ``(B, n_mels)`` (Eqs. 3-4)."""
        mu, log_sigma = self(context)
        return gaussian_mixture_nll(mu, log_sigma, centre)


class IGNN(IMDNNetwork):
    """IGNN, Table 6 of paper 000.

    ======================  ==================================  ==========================
    layer (attribute)       Table 6 parameters                  output shape
    ======================  ==================================  ==========================
    ``fc_in``               Fully Connected (nMels, 128)        (B, nF-1, 128)
    ``gru1``                3 x GRU (128, 128)                  (B, nF-1, 128)
    ``fc_down``             Fully Connected (128, 32)           (B, nF-1, 32)
    ``fc_up``               Fully Connected (32, 128)           (B, nF-1, 128)
    ``gru2``                3 x GRU (128, 128)                  (B, nF-1, 128)
    ``head``                FC ((nF-1) x 128, 2 x nC x nMels)   (B, 2 x nC x nMels)
    ======================  ==================================  ==========================

    "3 x GRU" is one 3-layer ``nn.GRU``. ReLU follows the three hidden FC layers.
    """

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_components: int = 2,
        *,
        hidden: int = 128,
        bottleneck: int = 32,
        min_log_scale: float = -7.0,
        max_log_scale: float = 5.0,
    ) -> None:
        super().__init__(n_mels, n_frames, n_components, min_log_scale, max_log_scale)
        self.fc_in = nn.Linear(n_mels, hidden)
        self.gru1 = nn.GRU(hidden, hidden, num_layers=3, batch_first=True)
        self.fc_down = nn.Linear(hidden, bottleneck)
        self.fc_up = nn.Linear(bottleneck, hidden)
        self.gru2 = nn.GRU(hidden, hidden, num_layers=3, batch_first=True)
        self.head = nn.Linear((n_frames - 1) * hidden, self.out_dim)

    def _after_fc_in(self, h: Tensor) -> Tensor:
        return h

    def body(self, x: Tensor) -> Tensor:
        h = self._after_fc_in(torch.relu(self.fc_in(x)))
        h, _ = self.gru1(h)
        h = torch.relu(self.fc_up(torch.relu(self.fc_down(h))))
        h, _ = self.gru2(h)
        return self.head(h.flatten(1))


class LRCGNN(IGNN):
    """LRCGNN: IGNN with a Conv1d (+ ReLU) after the first fully connected layer (Sec. 3.2).

    The paper feeds ``(batch size, nFrames, nMels)`` tensors and says the "CNN is
    mainly in the frequency dimension" while the GRUs run along time; a
    ``Conv1d`` applied to the ``(B, nF-1, 128)`` output of ``fc_in`` does exactly
    that: the ``nF - 1`` frames are its channels and it slides along the 128
    features. So ``conv = Conv1d(nF-1, nF-1, kernel_size, padding="same")``;
    the kernel size (3) is not given in the paper. Shapes are unchanged.
    """

    def __init__(self, n_mels: int, n_frames: int, n_components: int = 2, *, kernel_size: int = 3, **kwargs) -> None:
        super().__init__(n_mels, n_frames, n_components, **kwargs)
        self.conv = nn.Conv1d(n_frames - 1, n_frames - 1, kernel_size, padding="same")

    def _after_fc_in(self, h: Tensor) -> Tensor:
        return torch.relu(self.conv(h))


def _half(n: int) -> int:
    """Length after a stride-2, kernel-3, padding-1 convolution."""
    return (n - 1) // 2 + 1


class DFnet(IMDNNetwork):
    """Simplified DeepFilterNet (Schroeter et al., ICASSP 2022) as described in paper 000, Sec. 3.2.

    DeepFilterNet has a U-Net-like ERB path (conv encoder with frequency
    downsampling, an embedding GRU, a transposed-conv decoder with 1x1 "pathway"
    skip convolutions, predicting per-band gains) and a deep-filtering (DF) path
    (two convolutions, ``df_conv0``/``df_conv1``, on the complex spectrum; a GRU
    decoder with a linear output of filter coefficients). Our reading of the
    paper's changes: with log-mel input there is no complex spectrum, and "two
    fully connected layers in place of the original two convolutional layers"
    are the DF path's two convolutions, now ``df_fc0``/``df_fc1`` on each frame;
    "a fully connected layer to match the number of Mel bins" is ``df_out``,
    mapping the DF decoder's GRU state to ``n_mels`` values per frame (where
    DeepFilterNet outputs filter coefficients). No normalisation layers, no
    grouped linear/GRU layers, non-causal kernels (interpolation, not streaming).

    ``x`` ``(B, T=nF-1, M=n_mels)``, ``ch`` conv channels, ``H`` hidden size::

        encoder   x as (B,1,T,M) -> conv0 3x3 -> e0 (B,ch,T,M)
                  -> conv1 1x3 /2 in freq -> e1 (B,ch,T,M/2) -> conv2 1x3 /2 -> e2 (B,ch,T,M/4)
                  x -> df_fc0 (M,H) -> df_fc1 (H,H) -> d (B,T,H)            [the two FC layers]
                  [e2 flattened, d] -> emb_fc -> emb_gru -> emb (B,T,H)
        decoder   emb -> fc to (ch, M/4) + path2(e2) -> convt2 x2 + path1(e1) -> convt1 x2
                  + path0(e0) -> out conv 1x1 -> g (B,T,M)                  [U-Net ERB decoder]
                  emb -> df_gru -> df_out (H, M) -> f (B,T,M)               [FC to the Mel bins]
        head      (g + f) flattened (B, T*M) -> FC (T*M, 2 x nC x M)         [as IGNN's last layer]

    ``M/2``, ``M/4`` round up (any ``n_mels`` works).
    """

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_components: int = 2,
        *,
        ch: int = 16,
        hidden: int = 128,
        min_log_scale: float = -7.0,
        max_log_scale: float = 5.0,
    ) -> None:
        super().__init__(n_mels, n_frames, n_components, min_log_scale, max_log_scale)
        m4 = _half(_half(n_mels))
        self.m4 = m4
        self.conv0 = nn.Conv2d(1, ch, (3, 3), padding=(1, 1))
        self.conv1 = nn.Conv2d(ch, ch, (1, 3), stride=(1, 2), padding=(0, 1))
        self.conv2 = nn.Conv2d(ch, ch, (1, 3), stride=(1, 2), padding=(0, 1))
        self.df_fc0 = nn.Linear(n_mels, hidden)
        self.df_fc1 = nn.Linear(hidden, hidden)
        self.emb_fc = nn.Linear(ch * m4 + hidden, hidden)
        self.emb_gru = nn.GRU(hidden, hidden, batch_first=True)
        self.dec_fc = nn.Linear(hidden, ch * m4)
        self.path2, self.path1, self.path0 = (nn.Conv2d(ch, ch, 1) for _ in range(3))
        self.convt2 = nn.ConvTranspose2d(ch, ch, (1, 3), stride=(1, 2), padding=(0, 1))
        self.convt1 = nn.ConvTranspose2d(ch, ch, (1, 3), stride=(1, 2), padding=(0, 1))
        self.out_conv = nn.Conv2d(ch, 1, 1)
        self.df_gru = nn.GRU(hidden, hidden, batch_first=True)
        self.df_out = nn.Linear(hidden, n_mels)
        self.head = nn.Linear((n_frames - 1) * n_mels, self.out_dim)

    def body(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        e0 = torch.relu(self.conv0(x.unsqueeze(1)))
        e1 = torch.relu(self.conv1(e0))
        e2 = torch.relu(self.conv2(e1))
        d = torch.relu(self.df_fc1(torch.relu(self.df_fc0(x))))
        enc = torch.cat([e2.permute(0, 2, 1, 3).flatten(2), d], dim=-1)  # (B, T, ch*M4 + H)
        emb, _ = self.emb_gru(torch.relu(self.emb_fc(enc)))
        u = torch.relu(self.dec_fc(emb)).view(b, t, -1, self.m4).permute(0, 2, 1, 3)  # (B, ch, T, M4)
        u = torch.relu(self.convt2(u + self.path2(e2), output_size=e1.shape[-2:]))
        u = torch.relu(self.convt1(u + self.path1(e1), output_size=e0.shape[-2:]))
        g = self.out_conv(u + self.path0(e0)).squeeze(1)  # (B, T, M)
        f = self.df_out(self.df_gru(emb)[0])  # (B, T, M)
        return self.head(torch.relu(g + f).flatten(1))


def build_imdn(name: str, n_mels: int, n_frames: int, n_components: int = 2, **kwargs) -> IMDNNetwork:
    """One of the three IMDN networks by its paper name: ``"IGNN"``, ``"LRCGNN"`` or ``"DFnet"``.

    ``n_frames`` is the window length including the centre (the tables' nFrames);
    ``kwargs`` go to the class (e.g. ``hidden``, ``ch``, ``kernel_size``).
    """
    classes = {"IGNN": IGNN, "LRCGNN": LRCGNN, "DFnet": DFnet}
    key = {k.lower(): k for k in classes}.get(str(name).lower())
    if key is None:
        raise ValueError(f"build_imdn: unknown network {name!r}; choose one of {NETWORKS}")
    return classes[key](n_mels, n_frames, n_components, **kwargs)


__all__ = [
    "DFnet", "IGNN", "IMDNNetwork", "LRCGNN", "NETWORKS",
    "build_imdn", "gather_windows", "imdn_windows",
]
