"""``asd bench gpu``: every chapter's ``paper`` settings for a few updates on the GPU, in bf16.

The chapters were written where no GPU was; this check runs each chapter's systems as its
notebook builds them, with the ``paper`` profile's settings (:func:`asdlib.chapters.chapter_settings`),
for a few optimiser updates on CUDA, the trainers' bf16 autocast on (``amp=True``) where the
notebook leaves it on, on inputs of the ``full`` synthetic preset's clip length (10 s; the
2020 ToyCar clips 11 s): a handful of clips rendered in memory by the generator
(:mod:`asdlib.data.synth`, nothing written), their features computed on the device and
repeated to fill the batches. Per chapter and system it prints:

- **updates/s**: optimiser updates (batches) per second, from two runs of ``k`` and ``2k``
  updates (``(2k - k) / (t_2k - t_k)``: building the model and its inputs cancels);
- **x fp32** (with ``--reference``): that rate over float32's (``amp=False``), measured the
  same way in the same run: what bf16 autocast buys (1 for the float32 rows);
- **peak GiB**: ``torch.cuda.max_memory_allocated`` over those runs (the model, the
  optimiser, the activations and this check's few inputs);
- **GPU busy**: the time CUDA kernels and copies run (their union, from
  :mod:`torch.profiler`) over the wall time of ``k`` more updates;
- **bf16**: whether the forward passes computed in bf16 (a forward hook saw bfloat16
  activations); IMDN and WSP-NFCDEE train in float32 in the book (their trainers' default);
- **data GiB**: the training inputs the book keeps on the device for one model (a
  machine type's features, the whole training set for Wilkinghoff's embedder);
- **book updates** and **est. h**, the estimate of the whole ``paper`` book's training::

      est. h (row) = book updates / updates per second / 3600
      book updates = updates per model x models
      updates per model = epochs x ceil(training examples / batch size)   (the paper profile)
      models = machine types (sections for WSP-NFCDEE, configurations for Wilkinghoff) x seeds,
               plus what each run trains once (wav2vec pre-training, the GAN chapter's curves):
               asd run makes one run per seed

  with the training examples counted on the ``full`` preset (6 sections x 1000 clips per
  machine type). Only training updates are counted: feature extraction, embedding,
  scoring, backends and validation passes are not; a row's other machine types are
  counted at the rate of the one timed (the first named in ``types``, or ``fan``);
- **status**: ``ok``, ``out of memory`` or the error (its traceback is printed): the
  check goes on to the next row and fails at the end.

Without CUDA it says so and fails (exit status 1), unless ``--device cpu``: then the same
check runs on the CPU, and with ``--quick`` on tiny sizes (the ``ci`` profile's settings,
the ``ci`` preset's 2 s clips, small batches, one update), the bf16 path through
``amp="always"``, so that the code path is tested without a GPU
(``tests/test_bf16.py``). ``make gpu-check`` runs ``asd bench gpu``.
"""

from __future__ import annotations

import collections
import math
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from asdlib.chapters import CHAPTERS, chapter_settings, default_seeds
from asdlib.data.layout import TYPES_2020, TYPES_2022
from asdlib.data.synth.dataset import PRESETS, plan_2020, plan_2022, render_clip

NOTHING_TRAINED = {"00_task_data_metrics"}  # chapters without a trained model
HANDFUL = 6  # clips rendered per machine type (one per section)
QUICK_BATCH = 8  # --quick: batches capped at this size
COLUMNS = ["chapter", "system", "types", "updates/s", "x fp32", "peak GiB", "GPU busy", "bf16", "data GiB",
           "book updates", "est. h", "status"]


# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One row: a system of a chapter, timed on one machine type's inputs.

    ``prepare(n)`` builds a fresh model and inputs for about ``n`` updates on the device
    and returns ``(train, updates)``: a callable that trains (one epoch of exactly
    ``updates`` batches) and that number.
    """

    chapter: str
    system: str
    types: str                     # what the row stands for (machine types, "all" ...)
    prepare: Callable[[int], tuple[Callable[[], Any], int]]
    book_updates: int              # the paper book's updates of this row, all models and seeds
    data_bytes: int                # training inputs the book keeps on the device for one model
    how: str = ""                  # the count, spelled out


def n_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Batches of an epoch over ``n`` examples (the trainers' ``TensorBatches``)."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def _drop_single(n: int, batch_size: int) -> int:
    """Batches when a last batch of one example is dropped (BatchNorm), as most trainers do."""
    return n_batches(n, batch_size, drop_last=n % batch_size == 1)


def _repeat(x: Tensor, n: int) -> Tensor:
    """The first ``n`` rows of ``x`` repeated: ``x[arange(n) % len(x)]``."""
    return x[torch.arange(n, device=x.device) % len(x)]


def _split(total: int, per_clip: int) -> tuple[int, int]:
    """``(clips, k)`` with ``clips * k == total`` and ``k <= per_clip``, the fewest clips: ``total``
    windows or patches, ``k`` cut from each clip (so that an epoch is exactly the batches asked for)."""
    clips = math.ceil(total / per_clip)
    while total % clips:
        clips += 1
    return clips, total // clips


def _piece_hop(n_total: int, n_frames: int, n_pieces: int | None) -> int:
    """The notebook ``aithu_classifiers``' hop between pieces: ``n_pieces`` evenly spaced (None: cover)."""
    k = n_pieces or math.ceil(n_total / n_frames)
    return n_total if k <= 1 else max(1, (n_total - n_frames) // (k - 1))


class Data:
    """The ``full`` preset's training clips (counted, not rendered) and a handful rendered in memory.

    ``rows(mt)``: one row per training clip of the paper book (machine type, section,
    domain, attribute string and dict, duration); ``waves(mt, seconds)``: ``HANDFUL``
    training clips of ``mt`` of the ``clips`` preset (one per section in turn), each cut
    to its central ``seconds`` (None: whole), float32 ``(HANDFUL, n_samples)``.
    """

    def __init__(self, year: int, clips: str = "full", seed: int = 0) -> None:
        self.year, self.seed = year, seed
        self.types = TYPES_2022 if year == 2022 else TYPES_2020
        plan = plan_2022 if year == 2022 else plan_2020
        self._train = [c for c in plan(PRESETS["full"], seed, self.types) if c.split == "train"]
        self._preset = PRESETS[clips]
        self._clips = self._train if clips == "full" else [
            c for c in plan(self._preset, seed, self.types) if c.split == "train"]
        self._waves: dict[tuple[str, float | None], Tensor] = {}
        self._rows: dict[str, pd.DataFrame] = {}

    def rows(self, machine_type: str) -> pd.DataFrame:
        if machine_type not in self._rows:
            self._rows[machine_type] = pd.DataFrame([
                {"machine_type": c.machine_type, "section": c.section, "domain": c.domain, "split": c.split,
                 "attribute_string": "_".join(f"{k}_{v}" for k, v in c.attrs.items()), "attributes": dict(c.attrs),
                 "duration": c.duration}
                for c in self._train if c.machine_type == machine_type])
        return self._rows[machine_type]

    def all_rows(self) -> pd.DataFrame:
        return pd.concat([self.rows(mt) for mt in self.types], ignore_index=True)

    def waves(self, machine_type: str, seconds: float | None = None) -> Tensor:
        key = (machine_type, seconds)
        if key not in self._waves:
            mine = [c for c in self._clips if c.machine_type == machine_type]
            sections = sorted({c.section for c in mine})
            picked = [next(c for c in mine if c.section == sections[i % len(sections)]
                           and c.number == i // len(sections)) for i in range(HANDFUL)]
            audio = np.stack([render_clip(c, self._preset, self.seed) for c in picked])
            n = audio.shape[1] if seconds is None else int(round(seconds * 16_000))
            offset = (audio.shape[1] - n) // 2
            self._waves[key] = torch.from_numpy(np.ascontiguousarray(audio[:, offset:offset + n]))
        return self._waves[key]


@dataclass
class Context:
    """What the chapter builders share: device, bf16 switch, settings profile, data, seed."""

    device: torch.device
    amp: Any                       # what the book's amp=True becomes here: True on CUDA, "always" on the CPU
    quick: bool
    seed: int = 0

    def __post_init__(self) -> None:
        self._data: dict[int, Data] = {}

    def data(self, year: int) -> Data:
        """The clips of the DCASE ``year`` layout (planned on first use)."""
        if year not in self._data:
            self._data[year] = Data(year, "ci" if self.quick else "full", self.seed)
        return self._data[year]

    @property
    def profile(self) -> str:
        return "ci" if self.quick else "paper"

    def settings(self, stem: str):
        """The settings the check runs with (``paper``; ``ci`` with ``--quick``)."""
        return chapter_settings(stem, self.profile)

    @staticmethod
    def paper(stem: str):
        """The settings the book's counts come from (always ``paper``)."""
        return chapter_settings(stem, "paper")

    @staticmethod
    def seeds(stem: str) -> int:
        return len(default_seeds(stem, "paper"))

    def chapter(self, stem: str, year: int = 2022) -> tuple[Any, Any, Data, int]:
        """A chapter's settings here, its paper settings, its data and its number of seeds."""
        return self.settings(stem), self.paper(stem), self.data(year), self.seeds(stem)

    def batch(self, batch_size: int) -> int:
        return min(batch_size, QUICK_BATCH) if self.quick else batch_size

    def on_device(self, x: Tensor) -> Tensor:
        return x.to(self.device)


def _seeded(seed: int) -> None:
    from asdlib.train import seed_everything

    seed_everything(seed)


def _samples(seconds: float | None, clip_seconds: float = 10.0) -> int:
    """Samples of a central crop of ``seconds`` (None: the whole clip) at 16 kHz."""
    return int(round((seconds or clip_seconds) * 16_000))


def _how(seeds: int, models: str | None, epochs: int, batches: int | str, batch_size: int, runs: str = "seeds",
         note: str = "") -> str:
    """A row's count spelled out: ``5 seeds x 7 types x 100 epochs x 3622 batches of 512``."""
    return " x ".join([f"{seeds} {runs}", *([models] if models else []), f"{epochs} epochs",
                       f"{batches} batches of {batch_size}"]) + (f" ({note})" if note else "")


def _bytes(x: Tensor, n: int) -> int:
    """Bytes of ``n`` rows shaped like ``x``'s."""
    return int(n * x[0].numel() * x.element_size())


# ----------------------------------------------------------------------------- chapters


def wilkinghoff_cases(ctx: Context) -> Iterator[Case]:
    from asdlib.data.classes import auxiliary_classes
    from asdlib.losses import SubClusterAdaCos
    from asdlib.models import WilkinghoffConfig, WilkinghoffEmbedder
    from asdlib.train.embedding import train_embedder

    stem = "wilkinghoff_design_choices"
    S, P, data, seeds = ctx.chapter(stem)
    rows = data.all_rows()
    if P.source_per_section is not None:
        rows = pd.concat([rows[rows["domain"] == "target"],
                          rows[rows["domain"] == "source"].groupby(["machine_type", "section"]).head(
                              P.source_per_section)])
    n_classes = len(auxiliary_classes(rows)[1])
    waves = torch.cat([data.waves(mt, S.crop_seconds)[:1] for mt in data.types])  # a clip of each type
    # the notebook's configurations (all eleven under `paper`, or the profile's list), each trained per
    # seed, plus the score-sum ensemble's extra trainings of the presented system; timed as the presented one
    configs = (len(P.configurations) if P.configurations is not None else 11) + max(0, P.ensemble_members - 1)
    per_model = P.epochs * _drop_single(len(rows), P.batch_size)
    batch = ctx.batch(S.batch_size)

    def prepare(n: int):
        x = _repeat(ctx.on_device(waves), n * batch)
        codes = torch.arange(n * batch, device=ctx.device) % n_classes
        _seeded(ctx.seed)
        model = WilkinghoffEmbedder(WilkinghoffConfig(n_samples=x.shape[1], sr=16_000))
        head = SubClusterAdaCos(model.embedding_dim, n_classes, n_subclusters=S.n_subclusters, seed=ctx.seed)
        return (lambda: train_embedder(model, head, x, codes, epochs=1, batch_size=batch, lr=S.lr, device=ctx.device,
                                       seed=ctx.seed, progress=False, amp=ctx.amp)), n

    yield Case(stem, f"presented ({configs} trainings per seed)", "all", prepare,
               per_model * configs * seeds, len(rows) * _samples(P.crop_seconds) * 4,
               _how(seeds, f"{configs} trainings (configurations and ensemble members)", P.epochs, _drop_single(len(rows), P.batch_size),
                    P.batch_size))


def gan_cases(ctx: Context) -> Iterator[Case]:
    from asdlib.chapters.gan_adaptations_dcase2020 import SYSTEMS
    from asdlib.features import LogMelConfig, stack_frames
    from asdlib.models import EGBAD, DCASEAutoencoder, GANomaly, SkipGANomaly
    from asdlib.train.autoencoder import train_autoencoder
    from asdlib.train.gan import train_adversarial

    stem = "gan_adaptations_dcase2020"
    S, P, data, seeds = ctx.chapter(stem, 2020)
    logmel = LogMelConfig()
    vectors_of = {}  # machine type -> training vectors of the paper book
    for mt in data.types:
        rows = data.rows(mt)
        per_clip = [logmel.n_frames(int(round(d * 16_000))) - 4 for d in rows["duration"]]
        vectors_of[mt] = sum(per_clip if P.vectors_per_clip is None else [min(v, P.vectors_per_clip) for v in per_clip])
    curve_type = sorted(data.types)[0]
    n_curve = sum(logmel.n_frames(int(round(d * 16_000))) - 4 if P.curve_vectors_per_clip is None
                  else P.curve_vectors_per_clip for d in data.rows(curve_type)["duration"])
    mt = "fan"
    vectors = stack_frames(logmel(ctx.on_device(data.waves(mt))), 5).reshape(-1, 5 * logmel.n_mels)
    for system in SYSTEMS:
        b_paper = P.batch_size[system]
        batch = ctx.batch(S.batch_size[system])
        book = seeds * (sum(P.epochs * _drop_single(v, b_paper) for v in vectors_of.values())
                        + P.curve_epochs * _drop_single(n_curve, b_paper))

        def prepare(n: int, system=system, batch=batch):
            x = _repeat(vectors, n * batch)
            _seeded(ctx.seed)
            common = dict(epochs=1, batch_size=batch, lr=S.lr[system], device=ctx.device, seed=ctx.seed,
                          progress=False, amp=ctx.amp)
            if system == "DCASE 2020 autoencoder":
                model = DCASEAutoencoder()
                return (lambda: train_autoencoder(model, x, **common)), n
            model = SkipGANomaly(d_lat=True) if system == "Skip-GANomaly" else {"GANomaly": GANomaly,
                                                                                  "EGBAD": EGBAD}[system]()
            reset = 1e-5 if system in ("GANomaly", "Skip-GANomaly") else None
            return (lambda: train_adversarial(model, x, d_reset_below=reset, **common)), n

        yield Case(stem, system, "all (fan timed)", prepare, book, _bytes(vectors, max(vectors_of.values())),
                   _how(seeds, f"({len(data.types)} types + 1 curve run of {curve_type})", P.epochs,
                        f"~{_drop_single(vectors_of[mt], b_paper)}", b_paper))


def aithu_classifier_cases(ctx: Context) -> Iterator[Case]:
    from asdlib.chapters.tables import aithu_table3
    from asdlib.data.classes import attribute_tasks
    from asdlib.features import LogMelConfig, StftConfig, stack_frames
    from asdlib.models.aithu_classifiers import MultiHeadClassifierRegressor, SectionClassifier, frames_from_clips
    from asdlib.models.backbones import BACKBONES, ECAPATDNN, build_backbone
    from asdlib.models.dcase_ae import DCASEAutoencoder
    from asdlib.models.mobilenetv2_baseline import BASELINE_FEATURE, MobileNetV2Classifier, window_images
    from asdlib.models.wav2vec import Wav2Vec
    from asdlib.models.wav2vec import features as wav2vec_features
    from asdlib.train.autoencoder import train_autoencoder
    from asdlib.train.classifier import train_classifier
    from asdlib.train.wav2vec import pretrain_wav2vec

    stem = "aithu_classifiers"
    S, P, data, seeds = ctx.chapter(stem)
    types = data.types
    n_clips = {mt: len(data.rows(mt)) for mt in types}
    paper_frames = LogMelConfig(hop_length=512).n_frames(int(round((P.clip_seconds or 10.0) * 16_000)))
    base_cfg = LogMelConfig(n_fft=BASELINE_FEATURE["n_fft"], hop_length=BASELINE_FEATURE["hop_length"],
                            n_mels=BASELINE_FEATURE["n_mels"], power=BASELINE_FEATURE["power"])

    def waves(mt):
        return ctx.on_device(data.waves(mt, S.clip_seconds))

    # the autoencoder baseline: 640-d vectors, every one of every clip (ae_vectors_per_clip None)
    vectors = stack_frames(base_cfg(waves("fan")), 5).reshape(-1, 640)
    per_clip = paper_frames - 4 if P.ae_vectors_per_clip is None else min(P.ae_vectors_per_clip, paper_frames - 4)
    book = seeds * sum(P.ae_epochs * _drop_single(n * per_clip, P.ae_batch_size) for n in n_clips.values())
    batch = ctx.batch(S.ae_batch_size)

    def prepare_ae(n: int):
        x = _repeat(vectors, n * batch)
        _seeded(ctx.seed)
        model = DCASEAutoencoder()
        return (lambda: train_autoencoder(model, x, epochs=1, batch_size=batch, lr=S.ae_lr, device=ctx.device,
                                          seed=ctx.seed, progress=False, amp=ctx.amp)), n

    yield Case(stem, "DCASE 2022 autoencoder baseline", "all (fan timed)", prepare_ae, book,
               _bytes(vectors, n_clips["fan"] * per_clip),
               _how(seeds, f"{len(types)} types", P.ae_epochs, _drop_single(n_clips["fan"] * per_clip, P.ae_batch_size),
                    P.ae_batch_size))

    # the MobileNetV2 baseline: 64-frame images, a validation split held out
    images = window_images(base_cfg(waves("fan")), S.mnv2_image_frames, S.mnv2_train_hop)
    images = images.reshape(-1, 1, S.mnv2_image_frames, base_cfg.n_mels)
    per_clip = 1 + (paper_frames - P.mnv2_image_frames) // P.mnv2_train_hop
    n_img = {mt: n * per_clip for mt, n in n_clips.items()}
    fit = {mt: n - int(n * P.mnv2_validation_split) for mt, n in n_img.items()}
    book = seeds * sum(P.mnv2_epochs * _drop_single(n, P.mnv2_batch_size) for n in fit.values())
    batch = ctx.batch(S.mnv2_batch_size)

    def prepare_mnv2(n: int):
        x = _repeat(images, n * batch)
        y = torch.arange(n * batch, device=ctx.device) % 6
        _seeded(ctx.seed)
        model = MobileNetV2Classifier(6, n_frames=S.mnv2_image_frames, n_mels=base_cfg.n_mels)
        return (lambda: train_classifier(model, x, y, epochs=1, batch_size=batch, lr=S.mnv2_lr, weight_decay=0.0,
                                         device=ctx.device, seed=ctx.seed, recalibrate_bn=False, amp=ctx.amp)), n

    yield Case(stem, "DCASE 2022 MobileNetV2 baseline", "all (fan timed)", prepare_mnv2, book,
               fit["fan"] * P.mnv2_image_frames * base_cfg.n_mels * 4,
               _how(seeds, f"{len(types)} types", P.mnv2_epochs, _drop_single(fit["fan"], P.mnv2_batch_size),
                    P.mnv2_batch_size))

    # SC and MHCR with Table 3's settings per type; on the grid's type, SC with the other backbones
    def spec_config(setting, settings):
        if setting["feature"] == "logmel":
            return LogMelConfig(n_fft=setting["n_fft"], hop_length=settings.hop_length, n_mels=int(setting["n_mels"]))
        return StftConfig(n_fft=setting["n_fft"], hop_length=settings.hop_length, center=True)

    def spec_of(mt, setting):
        spec = spec_config(setting, S)(waves(mt))
        if setting["feature"] != "logmel" and S.stft_pool > 1:
            n, bins, t = spec.shape
            keep = (bins - 1) // S.stft_pool * S.stft_pool
            spec = spec[:, :keep].reshape(n, keep // S.stft_pool, S.stft_pool, t).mean(dim=2)
        return spec

    def pieces_per_clip(setting, settings, n_frames):
        cfg = spec_config(setting, settings)
        total = cfg.n_frames(int(round((settings.clip_seconds or 10.0) * 16_000)))
        return 1 + (total - n_frames) // _piece_hop(total, n_frames, settings.n_pieces)

    fits = []  # (system, backbone, machine type), as the notebook trains them per seed
    for mt in types:
        network = aithu_table3(mt)["network"]
        fits += [("SC", network, mt), ("MHCR", network, mt)]
        if mt == P.grid_machine_type:
            fits += [("SC, grid", name, mt) for name in BACKBONES if name != network]
    merged: dict[tuple, list[str]] = collections.OrderedDict()  # one row per system, backbone and input
    for system, network, mt in fits:
        setting = aithu_table3(mt)
        merged.setdefault((system, network, setting["feature"], setting["n_fft"], setting["n_mels"]), []).append(mt)
    for (system, network, *_), covered in merged.items():
        mt = covered[0]
        setting = aithu_table3(mt)
        n_frames = S.n_frames or setting["n_frames"]
        spec = spec_of(mt, setting)
        hop = _piece_hop(spec.shape[-1], n_frames, S.n_pieces)
        n_paper = P.n_frames or setting["n_frames"]
        paper_pieces = pieces_per_clip(setting, P, n_paper)
        book = seeds * sum(P.epochs * _drop_single(n_clips[t] * paper_pieces, P.batch_size) for t in covered)
        rows = data.rows(mt)
        tasks = attribute_tasks(rows, categorical=("mic", "noise"))
        picks = np.linspace(0, len(rows) - 1, len(spec)).astype(int)  # training rows the rendered clips stand for
        batch = ctx.batch(S.batch_size)
        w = frames_from_clips(spec[:1], n_frames, hop).shape[1]

        def prepare_sc(n: int, system=system, network=network, spec=spec, tasks=tasks, n_frames=n_frames, hop=hop,
                       w=w, picks=picks, batch=batch):
            clips = max(2, math.ceil(n * batch / w))
            x = _repeat(spec, clips)
            which = picks[np.arange(clips) % len(picks)]
            extra = {"channels": S.ecapa_channels} if network == "Ecapa-tdnn" else {}
            _seeded(ctx.seed)
            net = build_backbone(network, spec.shape[1], n_frames, S.embedding_dim, **extra)
            if system == "MHCR":
                model = MultiHeadClassifierRegressor(net, tasks)
                y = {t.name: torch.as_tensor(np.asarray(t.targets)[which]) for t in tasks}
            else:
                model = SectionClassifier(net, tasks[0].n_classes)
                y = torch.as_tensor(np.asarray(tasks[0].targets)[which])
            updates = _drop_single(clips * w, batch)
            return (lambda: train_classifier(model, x, y, epochs=1, batch_size=batch, lr=S.lr,
                                             weight_decay=S.weight_decay, device=ctx.device, seed=ctx.seed,
                                             n_frames=n_frames, hop=hop, recalibrate_bn=False, amp=ctx.amp)), updates

        bins = setting["n_fft"] // 2 + 1
        n_freq = setting["n_mels"] if setting["feature"] == "logmel" else (bins if P.stft_pool == 1 else
                                                                           (bins - 1) // P.stft_pool)
        yield Case(stem, f"{system} ({network})", ", ".join(covered), prepare_sc, book,
                   n_clips[mt] * paper_pieces * int(n_freq) * n_paper * 4,  # the pieces, cut on the device
                   _how(seeds, f"{len(covered)} type(s)", P.epochs,
                        _drop_single(n_clips[mt] * paper_pieces, P.batch_size), P.batch_size))

    # SC-wav2vec: ECAPA-TDNN on the frozen wav2vec's context features (random weights here)
    _seeded(0)
    w2v = Wav2Vec(channels=S.w2v_channels, n_context_layers=S.w2v_context_layers, prediction_steps=S.w2v_steps)
    w2v_in = ctx.on_device(wav2vec_features(w2v.to(ctx.device), waves("fan"), batch_size=2))
    w2v_frames = S.w2v_n_frames
    w2v_hop = _piece_hop(w2v_in.shape[-1], w2v_frames, S.n_pieces) if w2v_frames else None
    book = seeds * sum(P.epochs * _drop_single(n, P.batch_size) for n in n_clips.values())  # whole clips
    batch = ctx.batch(S.batch_size)
    pieces = frames_from_clips(w2v_in[:1], w2v_frames, w2v_hop).shape[1] if w2v_frames else 1

    def prepare_w2v_sc(n: int):
        clips = max(2, math.ceil(n * batch / pieces))
        x = _repeat(w2v_in, clips)
        y = torch.arange(clips) % 6
        _seeded(ctx.seed)
        model = SectionClassifier(ECAPATDNN(w2v_in.shape[1], S.embedding_dim, S.ecapa_channels), 6)
        return (lambda: train_classifier(model, x, y, epochs=1, batch_size=batch, lr=S.lr, weight_decay=S.weight_decay,
                                         device=ctx.device, seed=ctx.seed, n_frames=w2v_frames, hop=w2v_hop,
                                         recalibrate_bn=False, amp=ctx.amp)), _drop_single(clips * pieces, batch)

    with torch.device("meta"):
        paper_w2v = Wav2Vec(channels=P.w2v_channels, n_context_layers=P.w2v_context_layers,
                            prediction_steps=P.w2v_steps).config
    yield Case(stem, "SC-wav2vec (Ecapa-tdnn)", "all (fan timed)", prepare_w2v_sc, book,
               n_clips["fan"] * paper_w2v.context_dim * paper_w2v.frames(_samples(P.clip_seconds)) * 4,
               _how(seeds, f"{len(types)} types", P.epochs, _drop_single(n_clips["fan"], P.batch_size), P.batch_size))

    # the wav2vec pre-training, once per run (asd run: one run per seed)
    n_pre = sum(n if P.w2v_pretrain_per_type is None else min(n, P.w2v_pretrain_per_type) for n in n_clips.values())
    book = seeds * P.w2v_epochs * n_batches(n_pre, P.w2v_batch_size)
    batch = ctx.batch(S.w2v_batch_size)
    clip = waves("fan")

    def prepare_w2v(n: int):
        x = _repeat(clip, n * batch)
        _seeded(0)
        model = Wav2Vec(channels=S.w2v_channels, n_context_layers=S.w2v_context_layers, prediction_steps=S.w2v_steps)
        return (lambda: pretrain_wav2vec(model, x, epochs=1, batch_size=batch, lr=S.w2v_lr,
                                         crop_samples=S.w2v_crop_samples, device=ctx.device, seed=0, amp=ctx.amp)), n

    yield Case(stem, "wav2vec pre-training", "all (fan timed)", prepare_w2v, book,
               n_pre * _samples(P.clip_seconds) * 4,
               _how(seeds, None, P.w2v_epochs, n_batches(n_pre, P.w2v_batch_size), P.w2v_batch_size, "runs",
                    f"{n_pre} clips"))


def aithu_probabilistic_cases(ctx: Context) -> Iterator[Case]:
    from asdlib.chapters.tables import aithu_tables_7_8
    from asdlib.features import LogMelConfig
    from asdlib.models.imdn import build_imdn
    from asdlib.models.wsp_nfcdee import WSPNFCDEE
    from asdlib.train.imdn import train_imdn
    from asdlib.train.wsp_nfcdee import train_wsp_nfcdee

    stem = "aithu_probabilistic"
    S, P, data, seeds = ctx.chapter(stem)
    table = aithu_tables_7_8(table="Table 8").set_index("machine_type")
    n_samples = {mt: int(round(data.rows(mt)["duration"].iloc[0] * 16_000)) for mt in data.types}

    # WSP-NFCDEE: one model per section; the cost depends on n_mels only
    by_mels: dict[int, list[str]] = collections.OrderedDict()
    for mt in data.types:
        by_mels.setdefault(int(table.loc[mt, "n_mels"]), []).append(mt)
    for n_mels, covered in by_mels.items():
        mt = covered[0]
        setting = table.loc[mt]
        cfg = LogMelConfig(n_fft=int(setting["n_fft"]), hop_length=512, n_mels=n_mels)
        mels = cfg(ctx.on_device(data.waves(mt)))
        per_section = {(t, s): len(r) for t in covered for s, r in data.rows(t).groupby("section")}
        if P.train_per_section is not None:
            per_section = {k: min(v, P.train_per_section) for k, v in per_section.items()}
        book = seeds * sum(P.wsp_epochs * n_batches(v, P.wsp_batch_size) for v in per_section.values())
        batch = ctx.batch(S.wsp_batch_size)

        def prepare_wsp(n: int, mels=mels, n_mels=n_mels, batch=batch):
            x = _repeat(mels, n * batch)
            _seeded(ctx.seed)
            model = WSPNFCDEE(n_mels, n_groups=S.wsp_groups, transforms=S.wsp_transforms, hidden=S.wsp_hidden)
            return (lambda: train_wsp_nfcdee(model, x, epochs=1, batch_size=batch, lr=S.wsp_lr, device=ctx.device,
                                             seed=ctx.seed)), n

        yield Case(stem, f"WSP-NFCDEE ({n_mels} mels)", ", ".join(covered), prepare_wsp, book,
                   int(max(per_section.values()) * 2 * n_mels * 4),
                   _how(seeds, f"{len(per_section)} sections", P.wsp_epochs,
                        n_batches(max(per_section.values()), P.wsp_batch_size), P.wsp_batch_size))

    # IMDN: one network per machine type; rows by network, mels, FFT size and window
    groups: dict[tuple, list[str]] = collections.OrderedDict()
    for mt in data.types:
        s = table.loc[mt]
        groups.setdefault((s["network"], int(s["n_mels"]), int(s["n_fft"]), int(s["n_frames"])), []).append(mt)
    for (network, n_mels, n_fft, frames), covered in groups.items():
        mt = covered[0]
        cfg = LogMelConfig(n_fft=n_fft, hop_length=512, n_mels=n_mels)
        mels = cfg(ctx.on_device(data.waves(mt)))
        n_frames = frames if S.max_window_frames is None else min(frames, S.max_window_frames)
        paper_windows = {t: len(data.rows(t)) * ((cfg.n_frames(n_samples[t]) - frames) // P.imdn_train_stride + 1)
                         for t in covered}
        book = seeds * sum(P.imdn_epochs * n_batches(v, P.imdn_batch_size) for v in paper_windows.values())
        batch = ctx.batch(S.imdn_batch_size)
        per_clip = (mels.shape[-1] - n_frames) // S.imdn_train_stride + 1

        def prepare_imdn(n: int, mels=mels, network=network, n_mels=n_mels, n_frames=n_frames, batch=batch,
                         per_clip=per_clip):
            clips, w = _split(n * batch, per_clip)  # w windows per clip: the clips cut to give n batches
            x = _repeat(mels, clips)[..., :n_frames + (w - 1) * S.imdn_train_stride]
            _seeded(ctx.seed)
            net = build_imdn(network, n_mels, n_frames, n_components=S.imdn_components)
            return (lambda: train_imdn(net, x, epochs=1, batch_size=batch, lr=S.imdn_lr, device=ctx.device,
                                       seed=ctx.seed, stride=S.imdn_train_stride)), n

        yield Case(stem, f"IMDN ({network}, {n_mels} mels, {frames} frames)", ", ".join(covered), prepare_imdn,
                   book, len(data.rows(mt)) * n_mels * cfg.n_frames(n_samples[mt]) * 4,
                   _how(seeds, f"{len(covered)} type(s)", P.imdn_epochs,
                        n_batches(paper_windows[mt], P.imdn_batch_size), P.imdn_batch_size))


def aegan_cases(ctx: Context) -> Iterator[Case]:
    from asdlib.features import LogMelConfig, patch_clips
    from asdlib.models.aegan import AEGANAutoencoder, AEGANDiscriminator, minmax_range, scale_to_unit
    from asdlib.models.domain_classifier import DomainClassifier
    from asdlib.train.aegan import train_aegan
    from asdlib.train.classifier import train_classifier

    stem = "aithu_aegan_ensembles"
    S, P, data, seeds = ctx.chapter(stem)
    # the notebook's DISC_TYPES, ADA_TYPES, NO_FIRST_NORM
    disc_types, ada_types, no_first_norm = ("gearbox", "slider"), ("ToyCar", "gearbox"), ("bearing", "fan", "ToyCar")
    groups: dict[tuple[bool, bool], list[str]] = collections.OrderedDict()
    for mt in data.types:
        groups.setdefault((mt in disc_types, mt in ada_types), []).append(mt)
    for (critic, ada), covered in groups.items():
        mt = covered[0]
        cfg, paper_cfg = LogMelConfig(n_fft=2048, hop_length=512, n_mels=S.n_mels), LogMelConfig(n_mels=P.n_mels)
        mels = cfg(ctx.on_device(data.waves(mt)))
        lo, hi = minmax_range(mels)
        scaled = scale_to_unit(mels, lo, hi).float()
        per_clip = (scaled.shape[-1] - S.patch_size) // S.train_hop + 1
        paper_per_clip = {t: (paper_cfg.n_frames(int(round(data.rows(t)["duration"].iloc[0] * 16_000)))
                              - P.patch_size) // P.train_hop + 1 for t in covered}
        book = seeds * sum(P.epochs * n_batches(len(data.rows(t)) * paper_per_clip[t], P.batch_size) for t in covered)
        batch = ctx.batch(S.batch_size)

        def prepare_aegan(n: int, scaled=scaled, per_clip=per_clip, critic=critic, ada=ada, mt=mt, batch=batch):
            clips, w = _split(n * batch, per_clip)  # w patches per clip: the clips cut to give n batches
            patches = patch_clips(_repeat(scaled, clips)[..., :S.patch_size + (w - 1) * S.train_hop], S.patch_size,
                                  hop=S.train_hop)
            sections = torch.arange(clips, device=ctx.device) % 6
            _seeded(ctx.seed)
            model = AEGANAutoencoder(size=S.patch_size, latent=S.latent, width=S.width, n_sections=6 if ada else None,
                                     first_norm=mt not in no_first_norm)
            disc = AEGANDiscriminator(size=S.patch_size, width=S.width) if critic else None
            return (lambda: train_aegan(model, patches, sections, disc, epochs=1, batch_size=batch, lr=S.lr, mu=S.mu,
                                        gp_lambda=S.gp_lambda, device=ctx.device, seed=ctx.seed, amp=ctx.amp)), n

        kind = "WGAN-GP + feature matching" if critic else "MSE"
        yield Case(stem, f"AEGAN-AD ({kind}{', adaptive LayerNorm' if ada else ''})", ", ".join(covered),
                   prepare_aegan, book, int(len(data.rows(mt)) * P.n_mels * paper_cfg.n_frames(160_000) * 4),
                   _how(seeds, f"{len(covered)} type(s)", P.epochs,
                        n_batches(len(data.rows(mt)) * paper_per_clip[mt], P.batch_size), P.batch_size))

    # the domain classifier: all target clips and twice as many source clips per type
    cfg = LogMelConfig(n_fft=2048, hop_length=512, n_mels=S.dc_n_mels)
    spec = cfg(ctx.on_device(data.waves("fan")))
    if S.dc_frames is not None:
        start = max(0, (spec.shape[-1] - S.dc_frames) // 2)
        spec = spec[..., start:start + S.dc_frames]
    fit = {}
    for mt in data.types:
        target = int((data.rows(mt)["domain"] == "target").sum())
        fit[mt] = target + min(len(data.rows(mt)) - target, P.dc_source_per_target * target)
    book = seeds * sum(P.dc_epochs * _drop_single(n, P.dc_batch_size) for n in fit.values())
    batch = ctx.batch(S.dc_batch_size)

    def prepare_dc(n: int):
        x = _repeat(spec, n * batch)
        y = torch.arange(n * batch) % 2
        _seeded(ctx.seed)
        model = DomainClassifier(S.dc_n_mels)
        return (lambda: train_classifier(model, x, y, epochs=1, batch_size=batch, lr=S.dc_lr, weight_decay=0.0,
                                         device=ctx.device, seed=ctx.seed, recalibrate_bn=False, amp=ctx.amp)), n

    dc_frames = P.dc_frames or LogMelConfig(n_fft=2048, hop_length=512).n_frames(160_000)
    yield Case(stem, "domain classifier (Cnn6)", "all (fan timed)", prepare_dc, book,
               fit["fan"] * P.dc_n_mels * dc_frames * 4,
               _how(seeds, f"{len(data.types)} types", P.dc_epochs, _drop_single(fit["fan"], P.dc_batch_size),
                    P.dc_batch_size))


def ustc_cases(ctx: Context) -> Iterator[Case]:
    from asdlib.data.classes import auxiliary_classes
    from asdlib.features import LogMelConfig, log_mel, stack_frames
    from asdlib.models import DCASEAutoencoder, USTCModel, Wav2Vec2Grid, small_wav2vec2
    from asdlib.models.wav2vec2 import conv_geometry, wav2vec2_config
    from asdlib.train.autoencoder import train_autoencoder
    from asdlib.train.ustc import train_ustc
    from asdlib.train.wav2vec2 import pretrain_wav2vec2

    stem = "ustc_tgram_wav2vec"
    S, P, data, seeds = ctx.chapter(stem)
    types = list(P.types or data.types)

    def kept(mt, settings):
        rows = data.rows(mt)
        if settings.source_per_section is None:
            return rows
        return pd.concat([rows[rows["domain"] == "source"].groupby("section").head(settings.source_per_section),
                          rows[rows["domain"] == "target"]])

    n_clips = {mt: len(kept(mt, P)) for mt in types}
    mt = "fan"
    x = ctx.on_device(data.waves(mt, S.crop_seconds))
    paper_samples = _samples(P.crop_seconds)

    # wav2vec 2.0 pre-training, once per run (asd run: one run per seed)
    pre = sum(n if P.w2v_clips_per_type is None else min(n, P.w2v_clips_per_type) for n in n_clips.values())
    book = seeds * P.w2v_epochs * n_batches(pre, P.w2v_batch_size)
    batch = ctx.batch(S.w2v_batch_size)
    crop = x.shape[1] if S.w2v_crop_seconds is None else int(S.w2v_crop_seconds * 16_000)

    def prepare_w2v(n: int):
        waves = _repeat(x, n * batch)
        torch.manual_seed(0)
        model = small_wav2vec2(**S.w2v_config)
        return (lambda: pretrain_wav2vec2(model, waves, epochs=1, batch_size=batch, lr=S.w2v_lr, crop_samples=crop,
                                          device=ctx.device, seed=0, amp=ctx.amp)), n

    yield Case(stem, "wav2vec 2.0 pre-training", "all (fan timed)", prepare_w2v, book,
               int(pre * paper_samples * 4),
               _how(seeds, None, P.w2v_epochs, n_batches(pre, P.w2v_batch_size), P.w2v_batch_size, "runs",
                    f"{pre} clips"))

    # experiments 1 to 5 of Table I
    torch.manual_seed(0)
    grid = Wav2Vec2Grid(small_wav2vec2(**S.w2v_config).to(ctx.device), layer=S.w2v_layer)
    with torch.no_grad():
        hidden = grid.hidden_states(x).transpose(1, 2).half()
    n_attributes = len(auxiliary_classes(kept(mt, P), include_domain=False)[1])
    with torch.device("meta"):
        paper_grid = small_wav2vec2(**P.w2v_config)
    field, hop = conv_geometry(paper_grid)
    paper_hidden = wav2vec2_config(paper_grid)["encoder_embed_dim"] * (1 + (paper_samples - field) // hop) * 2
    experiments = {1: (("logmel",), False), 2: (("logmel", "tgram"), False), 3: (("logmel", "wav2vec"), False),
                   4: (("logmel", "tgram", "wav2vec"), False), 5: (("logmel", "tgram", "wav2vec"), True)}
    tdnn = dict(frame_channels=S.tdnn_channels, segment_dim=S.segment_dim, embedding_dim=S.embedding_dim)
    book = seeds * sum(P.epochs * _drop_single(n, P.batch_size) for n in n_clips.values())
    batch = ctx.batch(S.batch_size)
    for exp, (channels, aux) in experiments.items():
        uses_w2v = "wav2vec" in channels

        def prepare_exp(n: int, channels=channels, aux=aux, uses_w2v=uses_w2v):
            waves = _repeat(x, n * batch)
            inputs = (waves, _repeat(hidden, n * batch)) if uses_w2v else waves
            sections = torch.arange(n * batch) % 6
            attributes = torch.arange(n * batch) % n_attributes if aux else None
            _seeded(ctx.seed)
            model = USTCModel.build(6, channels, n_attributes=n_attributes if aux else 0,
                                    pretrained_dim=grid.embed_dim if uses_w2v else None, **tdnn)
            return (lambda: train_ustc(model, inputs, sections, attributes, epochs=1, batch_size=batch, lr=S.lr,
                                       margin=S.triplet_margin, device=ctx.device, seed=ctx.seed, amp=ctx.amp)), n

        per_clip = paper_samples * 4 + (paper_hidden if uses_w2v else 0)
        yield Case(stem, f"Exp. {exp}: {' + '.join(channels)}{' + attributes' if aux else ''}", "all (fan timed)",
                   prepare_exp, book, int(n_clips[mt] * per_clip),
                   _how(seeds, f"{len(types)} types", P.epochs, _drop_single(n_clips[mt], P.batch_size),
                        P.batch_size))

    # the autoencoder baseline on the same crops
    logmel = LogMelConfig()
    vectors = stack_frames(log_mel(x), 5).reshape(-1, 640)
    per_clip = logmel.n_frames(paper_samples) - 4
    book = seeds * sum(P.ae_epochs * _drop_single(n * per_clip, P.ae_batch_size) for n in n_clips.values())
    batch = ctx.batch(S.ae_batch_size)

    def prepare_ae(n: int):
        v = _repeat(vectors, n * batch)
        _seeded(ctx.seed)
        model = DCASEAutoencoder(input_dim=640)
        return (lambda: train_autoencoder(model, v, epochs=1, batch_size=batch, lr=S.ae_lr, device=ctx.device,
                                          seed=ctx.seed, progress=False, amp=ctx.amp)), n

    yield Case(stem, "DCASE autoencoder baseline", "all (fan timed)", prepare_ae, book,
               _bytes(vectors, n_clips[mt] * per_clip),
               _how(seeds, f"{len(types)} types", P.ae_epochs, _drop_single(n_clips[mt] * per_clip, P.ae_batch_size),
                    P.ae_batch_size))


BUILDERS: dict[str, Callable[[Context], Iterator[Case]]] = {
    "aithu_aegan_ensembles": aegan_cases,
    "aithu_classifiers": aithu_classifier_cases,
    "aithu_probabilistic": aithu_probabilistic_cases,
    "gan_adaptations_dcase2020": gan_cases,
    "ustc_tgram_wav2vec": ustc_cases,
    "wilkinghoff_design_choices": wilkinghoff_cases,
}
"""Chapter stem -> the cases of its systems (every chapter in :data:`asdlib.chapters.CHAPTERS`
that trains a model has one; ``tests/test_bf16.py`` checks it)."""


# ----------------------------------------------------------------------------- measuring


class _Census:
    """Counts the floating dtypes of every module output while open (a global forward hook)."""

    def __enter__(self) -> collections.Counter:
        self.seen: collections.Counter = collections.Counter()

        def hook(module, args, out):
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, Tensor) and t.is_floating_point():
                    self.seen[t.dtype] += 1

        self._handle = nn.modules.module.register_module_forward_hook(hook)
        return self.seen

    def __exit__(self, *exc) -> None:
        self._handle.remove()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(train: Callable[[], Any], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    train()
    _sync(device)
    return time.perf_counter() - start


def busy_share(intervals: Sequence[tuple[float, float]], wall: float) -> float:
    """The union of ``intervals`` (start, end; the wall's unit) over ``wall``, at most 1."""
    busy, end = 0.0, -math.inf
    for a, b in sorted(intervals):
        if b <= end:
            continue
        busy += b - max(a, end)
        end = b
    return min(1.0, busy / wall) if wall > 0 else math.nan


def _gpu_busy(train: Callable[[], Any], device: torch.device) -> float:
    """Share of the wall time of ``train()`` during which CUDA kernels or copies ran (torch.profiler)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            wall = _timed(train, device)
        spans = [(e.time_range.start, e.time_range.end) for e in prof.events() if e.device_type == DeviceType.CUDA]
    except Exception:  # a profiler without CUPTI: the column says n/a, the check goes on
        return math.nan
    return busy_share(spans, wall * 1e6) if spans else math.nan  # time_range in microseconds


def measure(case: Case, updates: int, device: torch.device, quick: bool = False) -> dict[str, Any]:
    """Time ``case`` (see the module docstring); returns the row's numbers.

    ``quick``: one run of ``updates`` updates, no warm-up (the code path, not a timing).
    """
    if quick:
        with _Census() as seen:
            train, n = case.prepare(updates)
            rate = n / _timed(train, device)
        return {"updates/s": rate, "peak GiB": math.nan, "GPU busy": math.nan, "bf16": seen[torch.bfloat16] > 0}
    with _Census() as seen:  # warm-up: cuDNN autotuning, the allocator, lazy initialisation
        train, _ = case.prepare(1)
        train()
    del train
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    short, n_short = case.prepare(updates)
    t_short = _timed(short, device)
    del short
    long, n_long = case.prepare(2 * updates)
    t_long = _timed(long, device)
    del long
    if n_long > n_short and t_long > t_short:
        rate = (n_long - n_short) / (t_long - t_short)
    else:  # timing noise larger than the difference: the plain rate of the longer run
        rate = n_long / t_long
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else math.nan
    busy = math.nan
    if device.type == "cuda":
        again, _ = case.prepare(updates)
        busy = _gpu_busy(again, device)
    return {"updates/s": rate, "peak GiB": peak, "GPU busy": busy, "bf16": seen[torch.bfloat16] > 0}


# ----------------------------------------------------------------------------- the check


def _measured(case: Case, updates: int, ctx: Context, say: Callable[..., None]) -> tuple[dict[str, Any], str]:
    """:func:`measure`, and the row's status: a row out of memory or failing says so, the check goes on."""
    try:
        return measure(case, updates, ctx.device, ctx.quick), "ok"
    except torch.cuda.OutOfMemoryError:
        return {}, "out of memory"
    except Exception as err:  # noqa: BLE001 - any failure of a row: its traceback in the log, the row marked
        say(traceback.format_exc())
        return {}, f"error: {type(err).__name__}"
    finally:
        if ctx.device.type == "cuda":
            torch.cuda.empty_cache()


def _run_cases(ctx: Context, stems: Sequence[str], updates: int, say: Callable[..., None],
               reference: Context | None = None) -> list[dict[str, Any]]:
    """Measure every case of the chapters ``stems`` (and in float32 under ``reference``); one dict per row."""
    rows = []
    for stem in stems:
        if stem in NOTHING_TRAINED:
            say(f"  {stem}: nothing trained")
            continue
        if stem not in BUILDERS:
            say(f"  {stem}: NO GPU CHECK for this chapter (add one to asdlib/bench/gpu.py)")
            continue
        references = BUILDERS[stem](reference) if reference is not None else None
        for case in BUILDERS[stem](ctx):
            start = time.perf_counter()
            numbers, status = _measured(case, updates, ctx, say)
            rate = numbers.get("updates/s", math.nan)
            ratio = math.nan
            if references is not None:
                fp32, fp32_status = _measured(next(references), updates, reference, say)
                ratio = rate / fp32.get("updates/s", math.nan)
                status = status if fp32_status == "ok" else f"{status}; float32: {fp32_status}"
            rows.append({"chapter": case.chapter, "system": case.system, "types": case.types,
                         "updates/s": rate, "x fp32": ratio, "peak GiB": numbers.get("peak GiB", math.nan),
                         "GPU busy": numbers.get("GPU busy", math.nan), "bf16": numbers.get("bf16"),
                         "data GiB": case.data_bytes / 2**30, "book updates": case.book_updates,
                         "est. h": case.book_updates / rate / 3600, "status": status, "count": case.how})
            say(f"  {case.chapter} / {case.system}: {rate:.2f} updates/s"
                + ("" if math.isnan(ratio) else f", {ratio:.2f}x float32's")
                + f" ({time.perf_counter() - start:.1f} s)" + ("" if status == "ok" else f" -- {status.upper()}"))
    return rows


def bench_gpu(
    device: str = "cuda",
    *,
    quick: bool = False,
    updates: int | None = None,
    chapters: Sequence[str] | None = None,
    seed: int = 0,
    reference: bool = False,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the check (module docstring) and print its table.

    Returns ``{"rows": DataFrame (COLUMNS and the counts), "hours": the estimate, "failed": rows
    whose ``status`` is not ``"ok"``}``: a row that runs out of GPU memory or fails says so and
    the check goes on.

    Args:
        device: ``"cuda"`` (or ``"cuda:N"``, ``"auto"``) for the check; ``"cpu"`` runs it on the CPU.
        quick: the ``ci`` profile's settings, the ``ci`` preset's clips, batches of at most
            :data:`QUICK_BATCH`: every code path in seconds (the estimate is then only arithmetic).
        updates: ``k`` of the timed runs (``k`` and ``2k`` updates); default 5. With ``quick``,
            one run of ``k`` (default 1) updates per row, without a warm-up.
        chapters: chapter stems (default: all).
        seed: of the rendered clips and the models.
        reference: also time every row in float32 (``amp=False``, the same runs) and print
            the speed-up of the book's precision over it (``x fp32``; about twice the time).

    Raises:
        RuntimeError: CUDA asked for but not available (the message says how to check on the CPU).
        ValueError: an unknown chapter, or ``updates`` below 1.
    """
    from asdlib.train import resolve_device

    if isinstance(device, str) and device.strip().lower() == "auto":
        device = "cuda"  # a GPU check: the CPU only when asked for
    if isinstance(device, str) and device.strip().lower().startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"CUDA is not available (torch.cuda.is_available() is False; torch {torch.__version__}): this check "
            "needs a GPU. `asd bench gpu --device cpu --quick` runs the same code path on the CPU with tiny sizes.")
    dev = resolve_device(device)
    updates = (1 if quick else 5) if updates is None else updates
    if isinstance(updates, bool) or not isinstance(updates, int) or updates < 1:
        raise ValueError(f"updates={updates!r} must be a positive integer")
    stems = list(CHAPTERS) if chapters is None else list(chapters)
    unknown = [s for s in stems if s not in CHAPTERS]
    if unknown:
        raise ValueError(f"unknown chapter(s) {unknown}; chapters: {', '.join(CHAPTERS)}")
    amp = True if dev.type == "cuda" else "always"
    bf16 = dev.type != "cuda" or torch.cuda.is_bf16_supported()
    clips = "ci" if quick else "full"
    ctx = Context(dev, amp, quick, seed)
    say = print if verbose else (lambda *a, **k: None)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    how = "on" if bf16 else "NOT SUPPORTED by this GPU: float32"
    if dev.type == "cpu":
        how += " (amp='always': CPU autocast), one torch thread"
    say(f"asd bench gpu: {name} ({dev}), torch {torch.__version__}, bf16 autocast {how}; settings: profile "
        f"'{ctx.profile}'{', batches <= ' + str(QUICK_BATCH) if quick else ''}; clips of the '{clips}' preset "
        f"({PRESETS[clips].duration:g} s), {HANDFUL} per machine type rendered in memory; "
        + (f"one run of {updates} update(s) per row" if quick
           else f"timed runs of {updates} and {2 * updates} updates"))
    if quick:
        say("--quick: tiny models and clips; the estimate below only checks the arithmetic")
    threads = torch.get_num_threads()
    if dev.type == "cpu":  # small networks on a busy CPU: threads spin-waiting on each other cost more than they give
        torch.set_num_threads(1)
    try:
        fp32 = None
        if reference:
            fp32 = Context(dev, False, quick, seed)
            fp32._data = ctx._data  # the same planned and rendered clips
        rows = _run_cases(ctx, stems, updates, say, fp32)
    finally:
        torch.set_num_threads(threads)
    table = pd.DataFrame(rows, columns=COLUMNS + ["count"])
    hours = float(table["est. h"].sum()) if len(table) else 0.0  # failed rows (NaN) left out
    failed = int((table["status"] != "ok").sum())
    if verbose:
        shown = table[COLUMNS].copy()
        shown["updates/s"] = shown["updates/s"].map("{:.2f}".format)
        shown["x fp32"] = shown["x fp32"].map(lambda v: "-" if math.isnan(v) else f"{v:.2f}")
        for col in ("peak GiB", "data GiB"):
            shown[col] = shown[col].map(lambda v: "-" if math.isnan(v) else f"{v:.2f}")
        shown["GPU busy"] = shown["GPU busy"].map(lambda v: "-" if math.isnan(v) else f"{v:.0%}")
        shown["bf16"] = shown["bf16"].map({True: "yes", False: "no"}).fillna("-")
        shown["book updates"] = shown["book updates"].map("{:,}".format)
        shown["est. h"] = shown["est. h"].map(lambda v: "-" if math.isnan(v) else f"{v:.1f}")
        print()
        with pd.option_context("display.width", 250, "display.max_colwidth", 60, "display.max_columns", 20):
            print(shown.to_string(index=False))
        print(f"\nestimate of the whole 'paper' book's training: {hours:.1f} h on this device "
              f"({hours / 24:.1f} days), the sum of the rows'"
              + (f" -- {failed} row(s) FAILED and are not counted" if failed else ""))
        print("  est. h = book updates / (updates per second) / 3600; book updates = epochs x ceil(training "
              "examples / batch size) x models (machine types, sections or configurations) x seeds (+ what a run "
              "trains once), on the 'full' preset's training clips; training updates only (no features, "
              "scoring, backends). The counts per row:")
        for r in rows:
            print(f"  {r['chapter']} / {r['system']}: {r['count']}")
    return {"rows": table, "hours": hours, "failed": failed}


__all__ = ["BUILDERS", "COLUMNS", "Case", "Context", "Data", "bench_gpu", "busy_share", "measure", "n_batches"]
