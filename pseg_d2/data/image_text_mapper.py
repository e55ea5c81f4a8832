"""Turns one webdataset sample (raw bytes, as img2dataset writes them) into a P-Seg training input."""
import io
import json
import numpy as np
import torch
from detectron2.config import configurable
from PIL import Image
from torchvision.transforms import RandomResizedCrop

from ..modeling.text_encoder import tokenize
from .captions import preprocess_caption
from .skips import SkipSample

IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")
HIGH_BIT_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def sample_caption(sample: dict) -> str:
    """The caption of a sample: its ``txt`` member, else the ``caption`` field of its ``json``."""
    try:
        if "txt" in sample:
            caption = sample["txt"].decode("utf-8")
        elif "json" in sample:
            caption = json.loads(sample["json"].decode("utf-8")).get("caption")
        else:
            raise SkipSample("missing_caption")
    except UnicodeDecodeError as e:
        raise SkipSample("caption_not_utf8") from e
    except (json.JSONDecodeError, AttributeError) as e:
        raise SkipSample("bad_json") from e
    if not isinstance(caption, str):
        raise SkipSample("missing_caption")
    if not caption.strip():
        raise SkipSample("empty_caption")
    return caption


def sample_image(sample: dict, max_pixels: int, min_side: int) -> Image.Image:
    """The sample's image as RGB (grey, palette, CMYK, alpha and 16-bit images are converted).

    Images over ``max_pixels`` are refused from their header, before decoding (decompression bombs).
    """
    key = next((k for k in IMAGE_KEYS if k in sample), None)
    if key is None:
        raise SkipSample("missing_image")
    try:
        image = Image.open(io.BytesIO(sample[key]))
        width, height = image.size
        if width * height > max_pixels:
            raise SkipSample("image_too_large", f"{width}x{height}")
        if min(width, height) < min_side:
            raise SkipSample("image_too_small", f"{width}x{height}")
        image.load()
    except SkipSample:
        raise
    except Image.DecompressionBombError as e:  # PIL's own limit: twice Image.MAX_IMAGE_PIXELS
        raise SkipSample("image_too_large", repr(e)) from e
    except (OSError, ValueError) as e:
        raise SkipSample("undecodable_image", repr(e)) from e
    if image.mode in HIGH_BIT_DEPTH_MODES:
        image = Image.fromarray((np.asarray(image, dtype=np.float32) / 257.0).clip(0, 255).astype(np.uint8))
    return image.convert("RGB")


class ImageTextDatasetMapper:
    """webdataset sample -> ``{"image": uint8 [3, S, S], "text": LongTensor [L], "caption": str}``.

    The image is random-resized-cropped to S x S; the caption is preprocessed and CLIP-BPE tokenised
    (captions over the context length are truncated, keeping [EOS]).
    """

    @configurable
    def __init__(
        self, *, crop_size: int, crop_scale, caption_mode: str, context_length: int, image_format: str,
        max_image_pixels: int = Image.MAX_IMAGE_PIXELS, min_image_side: int = 8,
    ):
        self.crop = RandomResizedCrop(crop_size, scale=tuple(crop_scale), antialias=True)
        self.max_image_pixels = max_image_pixels
        self.min_image_side = min_image_side
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
            "max_image_pixels": cfg.INPUT.MAX_IMAGE_PIXELS,
            "min_image_side": cfg.INPUT.MIN_IMAGE_SIDE,
        }

    def __call__(self, sample: dict) -> dict:
        """Raises :class:`SkipSample` (with a reason) for a sample that cannot be used."""
        caption = preprocess_caption(sample_caption(sample), self.caption_mode)
        image = np.asarray(self.crop(sample_image(sample, self.max_image_pixels, self.min_image_side)))
        if self.image_format == "BGR":
            image = image[:, :, ::-1]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "text": tokenize([caption], self.context_length)[0],
            "caption": caption,
            "key": sample.get("__key__", ""),
        }
