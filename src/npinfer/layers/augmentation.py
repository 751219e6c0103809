"""The Keras layers that augment images at random in training and return them unchanged with
training=False (checked in Keras 3's layers/preprocessing/image_preprocessing/ and tf-keras's
layers/preprocessing/image_preprocessing.py). They run as `core.Augmentation`.

RandomCrop is not among them: at inference tf-keras center-crops and resizes to (height,
width) while Keras 3 returns the images uncropped; it is refused by name (registry.NOT_RUN)."""

from __future__ import annotations

# In Keras 3 and tf-keras.
BOTH = ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness")
# tf-keras only (Keras 3 has no RandomHeight / RandomWidth).
TF_KERAS_ONLY = ("RandomHeight", "RandomWidth")
# Keras 3 only.
KERAS3_ONLY = ("RandomColorDegeneration", "RandomColorJitter", "RandomElasticTransform", "RandomErasing",
               "RandomGaussianBlur", "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPerspective",
               "RandomPosterization", "RandomSaturation", "RandomSharpness", "RandomShear", "Solarization",
               "AugMix", "RandAugment", "CutMix", "MixUp")
AUGMENTATIONS = BOTH + TF_KERAS_ONLY + KERAS3_ONLY

