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

from asdlib.models.wilkinghoff import SpectrogramResNet, SpectrumNet, WilkinghoffConfig, WilkinghoffEmbedder

__all__ = ["SpectrogramResNet", "SpectrumNet", "WilkinghoffConfig", "WilkinghoffEmbedder"]

# DCASE 2020 autoencoder baseline and the GAN detectors of paper 001 (GANomaly, Skip-GANomaly, EGBAD).
from asdlib.models.dcase_ae import DCASEAutoencoder, clip_scores  # noqa: E402
from asdlib.models.layers import DenseBlock, fc_decoder, fc_encoder  # noqa: E402
from asdlib.models.gan_detectors import EGBAD, FCDiscriminator, GANomaly, SkipGANomaly, SkipGenerator  # noqa: E402

__all__ += [
    "DCASEAutoencoder", "DenseBlock", "EGBAD", "FCDiscriminator", "GANomaly", "SkipGANomaly", "SkipGenerator",
    "clip_scores", "fc_decoder", "fc_encoder",
]

from asdlib.models.imdn import (  # noqa: E402
    DFnet, IGNN, IMDNNetwork, LRCGNN, build_imdn, gather_windows, imdn_settings, imdn_windows,
)
from asdlib.models.wsp_nfcdee import NFCDEE, WSPNFCDEE, WeightedStatPooling, time_stats  # noqa: E402

__all__ += [
    "DFnet", "IGNN", "IMDNNetwork", "LRCGNN", "NFCDEE", "WSPNFCDEE", "WeightedStatPooling", "build_imdn",
    "gather_windows", "imdn_settings", "imdn_windows", "time_stats",
]

from asdlib.models.backbones import (  # noqa: E402
    Cnn6, ECAPATDNN, MobileFaceNet, MobileFaceNetSE, build_backbone, recalibrate_batchnorm, sc_settings,
)

__all__ += ["Cnn6", "ECAPATDNN", "MobileFaceNet", "MobileFaceNetSE", "build_backbone", "recalibrate_batchnorm",
            "sc_settings"]

from asdlib.models.wav2vec import Wav2Vec, Wav2VecConfig, wav2vec_loss  # noqa: E402
from asdlib.models.wav2vec import features as wav2vec_features  # noqa: E402

__all__ += ["Wav2Vec", "Wav2VecConfig", "wav2vec_features", "wav2vec_loss"]

from asdlib.models.wav2vec2 import (  # noqa: E402
    GumbelVectorQuantizer, Wav2Vec2Grid, Wav2Vec2Pretrainer, small_wav2vec2, small_wav2vec2_config, wav2vec2_config,
)

__all__ += ["GumbelVectorQuantizer", "Wav2Vec2Grid", "Wav2Vec2Pretrainer", "small_wav2vec2", "small_wav2vec2_config",
            "wav2vec2_config"]

from asdlib.models.ustc import (  # noqa: E402
    FeatureStack, StatsPool, TDNNClassifier, TgramNet, USTCModel, USTCOutput, distance_score, posterior_score,
)

__all__ += ["FeatureStack", "StatsPool", "TDNNClassifier", "TgramNet", "USTCModel", "USTCOutput", "distance_score",
            "posterior_score"]

from asdlib.models.aithu_classifiers import (  # noqa: E402
    AttributeTask, MultiHeadClassifierRegressor, SectionClassifier, attribute_tasks, encode_targets, frames_from_clips,
    section_task,
)
from asdlib.models.mobilenetv2_baseline import (  # noqa: E402
    BASELINE_FEATURE, BASELINE_FIT, MobileNetV2Classifier, section_posterior_score, window_images,
)

__all__ += ["AttributeTask", "BASELINE_FEATURE", "BASELINE_FIT", "MobileNetV2Classifier", "MultiHeadClassifierRegressor",
            "SectionClassifier", "attribute_tasks", "encode_targets", "frames_from_clips", "section_posterior_score",
            "section_task", "window_images"]

from asdlib.models.aegan import (  # noqa: E402
    AEGANAutoencoder, AEGANDecoder, AEGANDiscriminator, AEGANEncoder, AdaptiveLayerNorm, ClipPatches, aegan_clip_scores,
    discriminator_embeddings, minmax_range, patch_clips, scale_to_unit,
)

__all__ += ["AEGANAutoencoder", "AEGANDecoder", "AEGANDiscriminator", "AEGANEncoder", "AdaptiveLayerNorm", "ClipPatches",
            "aegan_clip_scores", "discriminator_embeddings", "minmax_range", "patch_clips", "scale_to_unit"]
