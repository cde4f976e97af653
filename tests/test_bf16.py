"""The bf16 path of every trainer, checked on the CPU.

On CUDA the trainers run their forward passes under bf16 autocast (``amp=True``); on the
CPU that is a no-op, so without a GPU the bf16 path would never run. ``amp="always"``
asks for bf16 autocast on the CPU too (:func:`asdlib.models.inference.autocast_bf16`).
Every trainer of :mod:`asdlib.train` runs here on a tiny toy input, from the same initial
weights, once in float32 (``amp=False``) and once in bf16 (``amp="always"``), a few
updates of one batch each (the first epoch's loss is the loss at the initial weights),
and the bf16 run must:

- really compute in bf16: a global forward hook sees bfloat16 activations (and the
  float32 run sees none);
- stay finite: every logged value, the losses, AdaCos' scale, the flows' and the
  mixture's NLL, the GAN and WGAN-GP losses;
- start where float32 starts: the loss at the initial weights within a few per cent;
- learn: the loss moves between epochs (a context left open around several optimiser
  steps would keep the bf16 copies of the first step's weights, autocast's cache, and
  the loss would not move; the trainers open one per step).

CPU autocast follows its own op lists, not CUDA's: this checks the trainers' code (what
is cast back to float32, where autocast is switched off), not CUDA's kernels; ``asd bench
gpu`` runs the paper settings on a GPU; its code path is tested at the end, on the CPU
(``asd bench gpu --device cpu --quick``).
"""

from __future__ import annotations

import collections
import contextlib
import io
import math
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import asdlib.train
from asdlib.features.frames import patch_clips
from asdlib.losses import SubClusterAdaCos
from asdlib.models import EGBAD, DCASEAutoencoder, GANomaly, SkipGANomaly, WilkinghoffConfig, WilkinghoffEmbedder
from asdlib.models.aegan import AEGANAutoencoder, AEGANDiscriminator
from asdlib.models.aithu_classifiers import MultiHeadClassifierRegressor, SectionClassifier
from asdlib.models.backbones import build_backbone
from asdlib.models.domain_classifier import DomainClassifier
from asdlib.models.imdn import build_imdn
from asdlib.models.inference import autocast_bf16
from asdlib.models.mobilenetv2_baseline import MobileNetV2Classifier
from asdlib.models.ustc import USTCModel
from asdlib.models.wav2vec import Wav2Vec
from asdlib.models.wav2vec2 import small_wav2vec2
from asdlib.models.wsp_nfcdee import NFCDEE, WSPNFCDEE, time_stats
from asdlib.train import TensorBatches, autocast, seed_everything, train_epochs
from asdlib.train.aegan import train_aegan
from asdlib.train.autoencoder import train_autoencoder
from asdlib.train.classifier import train_classifier
from asdlib.train.embedding import train_embedder
from asdlib.train.gan import train_adversarial
from asdlib.train.imdn import train_imdn
from asdlib.train.ustc import train_ustc
from asdlib.train.wav2vec import pretrain_wav2vec
from asdlib.train.wav2vec2 import pretrain_wav2vec2
from asdlib.train.wsp_nfcdee import train_wsp_nfcdee

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EPOCHS = 3  # of one batch each: 3 updates


@contextlib.contextmanager
def activation_dtypes():
    """Counts of the floating dtypes of every module output computed inside (a global forward hook)."""
    seen: collections.Counter = collections.Counter()

    def count(out):
        if isinstance(out, torch.Tensor):
            if out.is_floating_point():
                seen[out.dtype] += 1
        elif isinstance(out, (tuple, list)):
            for o in out:
                count(o)
        elif isinstance(out, dict):
            for o in out.values():
                count(o)
        elif hasattr(out, "_fields"):  # named tuples (USTCOutput)
            for o in out:
                count(o)

    handle = nn.modules.module.register_module_forward_hook(lambda module, args, out: count(out))
    try:
        yield seen
    finally:
        handle.remove()


def _noise(*shape, seed=0, scale=1.0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- one toy run per trainer
# Each takes amp and returns the history of EPOCHS epochs of one batch, from weights seeded the same way.


def run_train_embedder(amp):
    seed_everything(0)
    model = WilkinghoffEmbedder(WilkinghoffConfig(n_samples=4000, sr=16_000))
    head = SubClusterAdaCos(model.embedding_dim, 3, n_subclusters=4, seed=0)
    return train_embedder(model, head, _noise(12, 4000, scale=0.1), torch.arange(3).repeat(4), epochs=EPOCHS,
                          batch_size=12, device="cpu", progress=False, amp=amp)


def run_train_autoencoder(amp):
    seed_everything(0)
    return train_autoencoder(DCASEAutoencoder(64, hidden=32, latent=8), _noise(32, 64), epochs=EPOCHS, batch_size=32,
                             lr=1e-2, device="cpu", progress=False, amp=amp)


def run_train_adversarial(amp, system):
    seed_everything(0)
    model = {"GANomaly": GANomaly, "SkipGANomaly": SkipGANomaly, "EGBAD": EGBAD}[system](12, 6, 3, 2)
    return train_adversarial(model, _noise(32, 12), epochs=EPOCHS, batch_size=32, lr=1e-3, device="cpu",
                             progress=False, amp=amp)


def run_train_imdn(amp, network):
    seed_everything(0)
    return train_imdn(build_imdn(network, 16, 5, 2), _noise(2, 16, 12), epochs=EPOCHS, batch_size=16, lr=3e-3,
                      device="cpu", amp=amp)


def run_train_wsp_nfcdee(amp):
    seed_everything(0)
    model = WSPNFCDEE(12, n_groups=3, transforms=2, hidden=16)
    return train_wsp_nfcdee(model, _noise(16, 12, 9, scale=3.0) - 40.0, epochs=EPOCHS, batch_size=16, lr=3e-3,
                            device="cpu", amp=amp)


def run_pretrain_wav2vec(amp):
    seed_everything(0)
    model = Wav2Vec(channels=8, n_context_layers=1, prediction_steps=2)
    return pretrain_wav2vec(model, _noise(4, 3000, scale=0.1), epochs=EPOCHS, batch_size=4, lr=1e-3,
                            crop_samples=2000, device="cpu", amp=amp)


def run_pretrain_wav2vec2(amp):
    torch.manual_seed(0)
    model = small_wav2vec2(conv_channels=16, embed_dim=32, num_layers=2, num_heads=2, ff_dim=64, pos_conv_kernel=8,
                           pos_conv_groups=4, dropout=0.0, layer_drop=0.0)
    return pretrain_wav2vec2(model, _noise(4, 4000, scale=0.1), epochs=EPOCHS, batch_size=4, device="cpu", amp=amp)


def run_train_ustc(amp):
    seed_everything(0)
    model = USTCModel.build(2, ("logmel", "tgram"), n_attributes=3, frame_channels=(32, 32, 32, 32, 64),
                            segment_dim=32, embedding_dim=16)
    return train_ustc(model, _noise(8, 8000, scale=0.1), torch.arange(2).repeat(4), torch.tensor([0, 1, 2, -1] * 2),
                      epochs=EPOCHS, batch_size=8, lr=1e-3, device="cpu", amp=amp)


def run_train_classifier(amp, model_name):
    seed_everything(0)
    x, y = _noise(12, 32, 16), torch.arange(3).repeat(4)
    kwargs = {}
    if model_name == "MobileNetV2":
        model, x = MobileNetV2Classifier(3, n_frames=32, n_mels=32), _noise(12, 1, 32, 32)
        kwargs = {"weight_decay": 0.0}
    elif model_name == "DomainClassifier":
        model, y = DomainClassifier(32), torch.arange(2).repeat(6)
    elif model_name == "MHCR":
        tasks = [collections.namedtuple("Task", "name kind n_classes")("section", "classification", 3),
                 collections.namedtuple("Task", "name kind")("speed", "regression")]
        model = MultiHeadClassifierRegressor(build_backbone("MFN", 32, 16, 16), tasks)
        y = {"section": y, "speed": _noise(12, seed=1)}
    else:  # SC with a Table 3 backbone
        extra = {"channels": 16} if model_name == "Ecapa-tdnn" else {}
        model = SectionClassifier(build_backbone(model_name, 32, 16, 16, **extra), 3)
    return train_classifier(model, x, y, epochs=EPOCHS, batch_size=12, device="cpu", amp=amp, **kwargs)


def run_train_aegan(amp, adversarial):
    seed_everything(0)
    patches = patch_clips(torch.rand(4, 16, 24, generator=torch.Generator().manual_seed(0)) * 2 - 1, size=16, hop=8)
    model = AEGANAutoencoder(size=16, latent=4, width=4, n_sections=None if adversarial else 2)
    critic = AEGANDiscriminator(size=16, width=4) if adversarial else None
    return train_aegan(model, patches, [0, 1, 0, 1], critic, epochs=EPOCHS, batch_size=8, lr=1e-3, device="cpu",
                       amp=amp)


def run_train_epochs(amp):
    seed_everything(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = _noise(24, 8), torch.arange(3).repeat(8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    return train_epochs(model, TensorBatches(x, y, batch_size=24, shuffle=False),
                        lambda m, b: F.cross_entropy(m(b[0]), b[1]), optimizer, EPOCHS, progress=False, amp=amp)


# (trainer, variant): (run, the loss key, the relative tolerance of the first loss against float32's).
# bf16 keeps about 3 significant digits per activation; the toy networks' first losses differ from
# float32's by 1e-4 to 7e-3. MobileNetV2 is the exception: 52 layers, each BatchNorm renormalising
# the rounding error of the last, so at random initial weights its embeddings differ from float32's
# by 15-40 % (growing steadily layer by layer, a property of a deep network in bf16 rather than a
# cancellation to fix) and its first loss by about 6 %.
CASES = {
    ("train_embedder", "sub-cluster AdaCos"): (run_train_embedder, "loss", 0.01),
    ("train_autoencoder", "DCASE autoencoder"): (run_train_autoencoder, "loss", 0.01),
    **{("train_adversarial", s): (lambda amp, s=s: run_train_adversarial(amp, s), "g_total", 0.01)
       for s in ("GANomaly", "SkipGANomaly", "EGBAD")},
    **{("train_imdn", n): (lambda amp, n=n: run_train_imdn(amp, n), "loss", 0.01) for n in ("IGNN", "LRCGNN", "DFnet")},
    ("train_wsp_nfcdee", "MAF"): (run_train_wsp_nfcdee, "loss", 0.01),
    ("pretrain_wav2vec", "wav2vec"): (run_pretrain_wav2vec, "loss", 0.01),
    ("pretrain_wav2vec2", "wav2vec 2.0"): (run_pretrain_wav2vec2, "loss", 0.01),
    ("train_ustc", "log-mel + Tgram + attributes"): (run_train_ustc, "loss", 0.03),
    **{("train_classifier", m): (lambda amp, m=m: run_train_classifier(amp, m), "loss", 0.02)
       for m in ("MFN", "Ecapa-tdnn", "Cnn6", "MHCR", "DomainClassifier")},
    ("train_classifier", "MobileNetV2"): (lambda amp: run_train_classifier(amp, "MobileNetV2"), "loss", 0.15),
    ("train_aegan", "MSE"): (lambda amp: run_train_aegan(amp, False), "g_loss", 0.01),
    ("train_aegan", "WGAN-GP"): (lambda amp: run_train_aegan(amp, True), "g_loss", 0.01),
    ("train_epochs", "MLP"): (run_train_epochs, "loss", 0.01),
}


def test_every_trainer_has_a_bf16_case():
    trainers = {name for name in asdlib.train._EXPORTS if name.startswith(("train_", "pretrain_"))}
    assert trainers == {trainer for trainer, _ in CASES}, "a trainer of asdlib.train without a bf16 case here"


@pytest.mark.parametrize("trainer, variant", list(CASES), ids=[f"{t}-{v}" for t, v in CASES])
def test_trainer_runs_finite_in_bf16(trainer, variant):
    run, loss_key, rtol = CASES[trainer, variant]
    with activation_dtypes() as seen32:
        h32 = run(False)
    with activation_dtypes() as seen16:
        h16 = run("always")
    assert seen16[torch.bfloat16] > 0, f"no bfloat16 activation under amp='always': {dict(seen16)}"
    assert torch.bfloat16 not in seen32, "amp=False computed in bf16"
    assert set(h16) == set(h32)
    for key, values in h16.items():
        assert len(values) == EPOCHS and all(math.isfinite(v) for v in values), f"{key}: {values}"
    first16, first32 = h16[loss_key][0], h32[loss_key][0]
    assert first16 == pytest.approx(first32, rel=rtol), f"{loss_key} at the start: bf16 {first16}, float32 {first32}"
    assert h16[loss_key][-1] != h16[loss_key][0], f"{loss_key} did not move in bf16: {h16[loss_key]}"
    if trainer == "train_embedder":
        assert all(s > 0 for s in h16["scale"]), h16["scale"]  # AdaCos' adaptive scale
    if trainer == "train_wsp_nfcdee":
        assert all(0 < a < 1 for a in h16["alpha"]), h16["alpha"]


# ----------------------------------------------------------------------------- the switch itself


def test_amp_always_is_autocast_on_the_cpu_and_true_stays_a_no_op():
    cpu = torch.device("cpu")
    assert isinstance(autocast_bf16(cpu, True), contextlib.nullcontext)
    with autocast("cpu", enabled="always"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert nn.Linear(4, 3)(torch.randn(2, 4)).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")
    with pytest.raises(ValueError, match="'always'"):
        autocast_bf16(cpu, "bf16")


def test_default_amp_changes_nothing_on_the_cpu():
    """amp=True (the default) and amp=False give the same numbers on the CPU."""
    assert run_train_epochs(True) == run_train_epochs(False)
    assert run_train_wsp_nfcdee(True) == run_train_wsp_nfcdee(False)


# ----------------------------------------------------------------------------- the flows' float32 densities


@pytest.mark.parametrize("flow, n_groups", [("maf", 4), ("nsf", 4), ("maf", 24)])
def test_flow_densities_stay_float32_under_bf16(flow, n_groups):
    """Under bf16 autocast NF-CDEE's hyper-networks compute in bf16, but the transforms' parameters are
    cast to float32, so the log-densities are float32 and close to float32's (24 groups of one bin:
    zuko's element-wise transforms, whose hyper-network is a plain MLP)."""
    torch.manual_seed(0)
    flows = NFCDEE(24, n_groups=n_groups, transforms=3, hidden=32, flow=flow)
    params = []
    for module in flows.modules():
        if isinstance(getattr(module, "hyper", None), nn.Module):
            module.hyper.register_forward_hook(lambda m, args, out: params.append(out.dtype))
    x = _noise(64, 24)
    with torch.no_grad():
        exact = flows.log_prob(x)
        with activation_dtypes() as seen, torch.autocast("cpu", dtype=torch.bfloat16):
            approx = flows.log_prob(x)
    assert seen[torch.bfloat16] > 0 and set(params) == {torch.float32}
    assert approx.dtype == torch.float32 and torch.isfinite(approx).all()
    # the MADE outputs carry bf16's ~3 digits; the log-determinants no longer add bf16 sums on top
    assert (approx - exact).abs().max() < 0.05, (approx - exact).abs().max()


def test_wsp_nfcdee_nll_under_bf16_is_close_to_float32():
    x = _noise(64, 128, 20, scale=5.0) - 40.0
    torch.manual_seed(0)
    model = WSPNFCDEE(128)  # the defaults: 4 groups, 3 MAF transforms, 2 x 64 hidden units
    stats = time_stats(x)
    model.fit_standardizer(stats)
    with torch.no_grad():
        exact = model.nll_stats(stats)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            approx = model.nll_stats(stats)
    assert approx.dtype == torch.float32
    # without the float32 cast of the transforms' parameters: up to 0.16 nats here
    assert (approx - exact).abs().max() < 0.06, (approx - exact).abs().max()


# ----------------------------------------------------------------------------- asd bench gpu (make gpu-check)


@pytest.fixture(scope="module")
def quick_check():
    """``asd bench gpu --device cpu --quick``, run once: its exit status, printed output and rows."""
    from asdlib import cli
    from asdlib.bench import gpu

    rows = []
    original = gpu.bench_gpu

    def keep(*args, **kwargs):
        result = original(*args, **kwargs)
        rows.append(result)
        return result

    out = io.StringIO()
    with contextlib.redirect_stdout(out), mock.patch.object(gpu, "bench_gpu", keep):
        status = cli.main(["bench", "gpu", "--device", "cpu", "--quick"])
    return status, out.getvalue(), rows[0]


def test_gpu_check_quick_on_the_cpu_prints_its_table(quick_check):
    from asdlib.bench.gpu import BUILDERS, COLUMNS

    status, text, result = quick_check
    assert status == 0, text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["chapter", "system"])
    assert all(column in lines[header] for column in COLUMNS), lines[header]
    table = result["rows"]
    assert list(table.columns[:len(COLUMNS)]) == COLUMNS and result["failed"] == 0
    body = lines[header + 1:header + 1 + len(table)]
    assert [line.split()[0] for line in body] == list(table["chapter"])  # one printed row per system
    assert set(table["chapter"]) == set(BUILDERS) and (table["status"] == "ok").all()
    assert (table["updates/s"] > 0).all() and (table["book updates"] > 0).all() and (table["est. h"] > 0).all()
    assert table["peak GiB"].isna().all() and table["GPU busy"].isna().all()  # no GPU: "-"
    assert table["x fp32"].isna().all()  # no --reference
    float32 = table["system"].str.startswith(("IMDN", "WSP-NFCDEE"))  # float32 in the book (their trainers' default)
    assert table.loc[~float32, "bf16"].all() and not table.loc[float32, "bf16"].any()
    assert result["hours"] == pytest.approx(table["est. h"].sum())
    assert "estimate of the whole 'paper' book's training" in text and "est. h = book updates /" in text


def test_gpu_check_counts_the_paper_books_updates(quick_check):
    """Hand-computed book updates of a few rows (the paper settings on the full preset: 6 sections x
    1000 training clips per machine type, 10 s clips of 313 frames at hop 512, 2020 ToyCar 11 s)."""
    table = quick_check[2]["rows"].set_index("system")["book updates"]
    # one embedder for 42 000 clips, batch 64, 10 epochs, 11 configurations + 4 more ensemble members, 5 seeds
    assert table["presented (15 trainings per seed)"] == 5 * 15 * 10 * math.ceil(42_000 / 64)
    # one WSP-NFCDEE per section: 2 types x 6 sections of 1000 clips, batch 64, 200 epochs
    assert table["WSP-NFCDEE (128 mels)"] == 5 * 12 * 200 * math.ceil(1000 / 64)
    # IMDN on valve: 313 - 30 + 1 = 284 windows per clip, batch 256, 30 epochs
    assert table["IMDN (IGNN, 64 mels, 30 frames)"] == 5 * 30 * math.ceil(6000 * 284 / 256)
    # the DCASE 2020 autoencoder: 309 vectors per 10 s clip (340 for ToyCar's 11 s), batch 512, 100 epochs,
    # six types plus the curve run (ToyCar) per seed
    per_type = [math.ceil(6000 * 309 / 512)] * 5 + [math.ceil(6000 * 340 / 512)]
    assert table["DCASE 2020 autoencoder"] == 5 * 100 * (sum(per_type) + math.ceil(6000 * 340 / 512))


def test_gpu_check_reference_times_float32_too():
    """--reference: every row also in float32, the ratio printed (here the GAN chapter, on the CPU)."""
    from asdlib.bench.gpu import bench_gpu

    result = bench_gpu("cpu", quick=True, chapters=["gan_adaptations_dcase2020"], reference=True, verbose=False)
    table = result["rows"]
    assert len(table) == 4 and (table["status"] == "ok").all() and table["bf16"].all()
    assert (table["x fp32"] > 0).all() and result["failed"] == 0


def test_every_chapter_has_a_gpu_check():
    from asdlib.bench.gpu import BUILDERS, NOTHING_TRAINED
    from asdlib.chapters import CHAPTERS

    assert set(CHAPTERS) == set(BUILDERS) | NOTHING_TRAINED and not set(BUILDERS) & NOTHING_TRAINED


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_gpu_check_without_cuda_says_so_and_fails(capsys):
    from asdlib import cli

    assert cli.main(["bench", "gpu"]) == 1
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "--device cpu --quick" in err


def test_gpu_check_measures_a_case_with_warm_up_and_two_runs():
    """The timed path of measure() (the GPU's), here on the CPU: a toy case of k and 2k updates."""
    from asdlib.bench.gpu import Case, measure

    built = []

    def prepare(n):
        built.append(n)
        seed_everything(0)
        model = nn.Linear(8, 3)
        x, y = _noise(4 * n, 8), torch.arange(4 * n) % 3
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return (lambda: train_epochs(model, TensorBatches(x, y, batch_size=4), lambda m, b: F.cross_entropy(
            m(b[0]), b[1]), optimizer, 1, progress=False, amp="always")), n

    numbers = measure(Case("chapter", "toy", "-", prepare, 100, 0), 3, torch.device("cpu"))
    assert built == [1, 3, 6] and numbers["updates/s"] > 0 and numbers["bf16"]
    assert math.isnan(numbers["peak GiB"]) and math.isnan(numbers["GPU busy"])


def test_split_cuts_clips_into_exactly_the_windows_asked_for():
    from asdlib.bench.gpu import _split

    for total, per_clip in ((512, 186), (256, 214), (8, 33), (7, 2), (640, 1)):
        clips, k = _split(total, per_clip)
        assert clips * k == total and k <= per_clip and clips >= math.ceil(total / per_clip)
    assert _split(512, 186) == (4, 128)


def test_busy_share_is_the_union_of_the_kernels_over_the_wall_time():
    from asdlib.bench.gpu import busy_share

    assert busy_share([(5, 6), (0, 2), (1, 3)], 10) == pytest.approx(0.4)  # overlaps counted once
    assert busy_share([(0, 4), (1, 2)], 10) == pytest.approx(0.4)  # one inside another
    assert busy_share([(0, 30)], 10) == 1.0 and math.isnan(busy_share([], 0))
