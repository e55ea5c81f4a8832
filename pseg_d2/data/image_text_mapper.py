"""Turns one webdataset sample (raw bytes, as img2dataset writes them) into a P-Seg training input."""
import io
import json
from typing import Optional

import numpy as np
import torch
from detectron2.config import configurable
from PIL import Image
from torchvision.transforms import RandomResizedCrop

from ..modeling.text_encoder import tokenize
from .captions import preprocess_caption

IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")


def sample_caption(sample: dict) -> str:
    """The caption of a sample: its ``txt`` member, else the ``caption`` field of its ``json``."""
    if "txt" in sample:
        return sample["txt"].decode("utf-8")
    if "json" in sample:
        return json.loads(sample["json"])["caption"]
    raise KeyError("sample has no caption (neither .txt nor .json)")


def sample_image(sample: dict) -> Image.Image:
    """The sample's image, decoded and converted to RGB."""
    for key in IMAGE_KEYS:
        if key in sample:
            with Image.open(io.BytesIO(sample[key])) as image:
                return image.convert("RGB")
    raise KeyError(f"sample has no image (none of {IMAGE_KEYS})")


class ImageTextDatasetMapper:
    """webdataset sample -> ``{"image": uint8 [3, S, S], "text": LongTensor [L], "caption": str}``.

    The image is random-resized-cropped to S x S; the caption is preprocessed and CLIP-BPE tokenised.
    """

    @configurable
    def __init__(self, *, crop_size: int, crop_scale, caption_mode: str, context_length: int, image_format: str):
        self.crop = RandomResizedCrop(crop_size, scale=tuple(crop_scale), antialias=True)
        self.caption_mode = caption_mode
        self.context_length = context_length
        self.image_format = image_format

    @classmethod
    def from_config(cls, cfg):
        return {
            "crop_size": cfg.INPUT.CROP_SIZE,
            "crop_scale": cfg.INPUT.CROP_SCALE,
            "caption_mode": cfg.INPUT.CAPTION_MODE,
            "context_length": cfg.MODEL.TEXT_ENCODER.CONTEXT_LENGTH,
            "image_format": cfg.INPUT.FORMAT,
        }

    def __call__(self, sample: dict) -> Optional[dict]:
        caption = preprocess_caption(sample_caption(sample), self.caption_mode)
        image = np.asarray(self.crop(sample_image(sample)))
        if self.image_format == "BGR":
            image = image[:, :, ::-1]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "text": tokenize([caption], self.context_length)[0],
            "caption": caption,
            "key": sample.get("__key__", ""),
        }
