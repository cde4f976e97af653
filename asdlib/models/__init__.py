"""Networks: embedders, autoencoders, flows, GANs.

- :mod:`asdlib.models.layers` -- layers several models share (float32 output layers,
  the fully connected blocks of paper 001); :mod:`asdlib.models.inference` -- eval
  mode, no gradients and batches for every embedding and scoring pass
  (:func:`~asdlib.models.inference.predict`, :func:`~asdlib.models.inference.eval_no_grad`).

- :mod:`asdlib.models.wilkinghoff` -- Wilkinghoff (ICASSP 2023, paper 003): the
  two-branch embedder (:class:`WilkinghoffEmbedder`, Tables 1 and 2).
- :mod:`asdlib.models.dcase_ae`, :mod:`asdlib.models.gan_detectors` -- the DCASE 2020
  autoencoder and GANomaly, Skip-GANomaly, EGBAD (paper 001).
- :mod:`asdlib.models.wsp_nfcdee`, :mod:`asdlib.models.imdn` -- AITHU's probabilistic
  subsystems (paper 000, section 3.2).
- :mod:`asdlib.models.backbones` -- AITHU's embedding backbones (paper 000, Table 3):
  MobileFaceNet, MobileFaceNet-SE, ECAPA-TDNN, Cnn6.
- :mod:`asdlib.models.mobilenetv2_baseline` -- the DCASE 2022 MobileNetV2 section classifier;
  :mod:`asdlib.models.aithu_classifiers` -- AITHU's SC and MHCR (paper 000, Sec. 3.1).
- :mod:`asdlib.models.aegan` -- AITHU's AEGAN-AD (paper 000, Sec. 3.3).
- :mod:`asdlib.models.wav2vec` -- the original wav2vec (Schneider et al. 2019), AITHU's
  SC-wav2vec feature extractor.
- :mod:`asdlib.models.ustc` -- USTC's TgramNet, feature stack and TDNN classifier, and the
  scores of its equations (6) and (7) (paper 002).
- :mod:`asdlib.models.wav2vec2` -- wav2vec 2.0 (torchaudio's model) on the log-mel grid,
  and its pre-training pieces, for USTC's features (paper 002).
"""

from __future__ import annotations

from asdlib.utils import lazy_exports

# name -> its module ("module:attribute" where the barrel renames it), imported on first use:
# `import asdlib.models` stays cheap, and the torch-free commands never load these modules.
_EXPORTS: dict[str, str] = {
    "SpectrogramResNet": "wilkinghoff", "SpectrumNet": "wilkinghoff", "WilkinghoffConfig": "wilkinghoff",
    "WilkinghoffEmbedder": "wilkinghoff",
    "DCASEAutoencoder": "dcase_ae", "clip_scores": "dcase_ae",
    "DenseBlock": "layers", "fc_decoder": "layers", "fc_encoder": "layers",
    "EGBAD": "gan_detectors", "FCDiscriminator": "gan_detectors", "GANomaly": "gan_detectors",
    "SkipGANomaly": "gan_detectors", "SkipGenerator": "gan_detectors",
    "DFnet": "imdn", "IGNN": "imdn", "IMDNNetwork": "imdn", "LRCGNN": "imdn", "build_imdn": "imdn",
    "gather_windows": "imdn", "imdn_windows": "imdn",
    "NFCDEE": "wsp_nfcdee", "WSPNFCDEE": "wsp_nfcdee", "WeightedStatPooling": "wsp_nfcdee",
    "time_stats": "wsp_nfcdee",
    "Cnn6": "backbones", "ECAPATDNN": "backbones", "MobileFaceNet": "backbones", "MobileFaceNetSE": "backbones",
    "build_backbone": "backbones", "recalibrate_batchnorm": "backbones",
    "Wav2Vec": "wav2vec", "Wav2VecConfig": "wav2vec", "wav2vec_loss": "wav2vec",
    "wav2vec_features": "wav2vec:features",
    "GumbelVectorQuantizer": "wav2vec2", "Wav2Vec2Grid": "wav2vec2", "Wav2Vec2Pretrainer": "wav2vec2",
    "small_wav2vec2": "wav2vec2", "small_wav2vec2_config": "wav2vec2", "wav2vec2_config": "wav2vec2",
    "FeatureStack": "ustc", "StatsPool": "ustc", "TDNNClassifier": "ustc", "TgramNet": "ustc", "USTCModel": "ustc",
    "USTCOutput": "ustc", "distance_score": "ustc", "posterior_score": "ustc",
    "AttributeTask": "aithu_classifiers", "MultiHeadClassifierRegressor": "aithu_classifiers",
    "SectionClassifier": "aithu_classifiers", "attribute_tasks": "aithu_classifiers",
    "encode_targets": "aithu_classifiers", "frames_from_clips": "aithu_classifiers",
    "section_task": "aithu_classifiers",
    "BASELINE_FEATURE": "mobilenetv2_baseline", "BASELINE_FIT": "mobilenetv2_baseline",
    "MobileNetV2Classifier": "mobilenetv2_baseline", "section_posterior_score": "mobilenetv2_baseline",
    "window_images": "mobilenetv2_baseline",
    "AEGANAutoencoder": "aegan", "AEGANDecoder": "aegan", "AEGANDiscriminator": "aegan", "AEGANEncoder": "aegan",
    "AdaptiveLayerNorm": "aegan", "ClipPatches": "aegan", "aegan_clip_scores": "aegan",
    "discriminator_embeddings": "aegan", "minmax_range": "aegan", "patch_clips": "aegan", "scale_to_unit": "aegan",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
