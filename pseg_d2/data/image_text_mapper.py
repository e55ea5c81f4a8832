"""Turns one webdataset sample (raw bytes, as img2dataset writes them) into a P-Seg training input."""
import io
import json
from contextlib import contextmanager
from typing import Tuple

import numpy as np
import torch
from detectron2.config import configurable
from PIL import Image
from torchvision.transforms import RandomResizedCrop

from ..modeling.text_encoder import tokenize
from .captions import preprocess_caption
from .device_decode import DECODE_DEVICES
from .skips import SkipSample

# Members read as the image, in this order; of an animated GIF (or WebP, PNG) the first frame is used.
IMAGE_KEYS = ("jpg", "jpeg", "png", "webp", "gif")
HIGH_BIT_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
# JPEG colour modes (as PIL reads them from the header) that decode_batch decodes; CMYK JPEGs are decoded here.
DEVICE_JPEG_MODES = ("L", "RGB")


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


def open_image(sample: dict, max_pixels: int, min_side: int) -> Tuple[bytes, Image.Image]:
    """The sample's encoded image and the image opened from its header only (not decoded yet).

    Images over ``max_pixels`` (decompression bombs) or with a side under ``min_side`` are refused.
    """
    key = next((k for k in IMAGE_KEYS if k in sample), None)
    if key is None:
        raise SkipSample("missing_image")
    with _unreadable_image_skipped():
        image = Image.open(io.BytesIO(sample[key]))
    width, height = image.size
    if width * height > max_pixels:
        raise SkipSample("image_too_large", f"{width}x{height}")
    if min(width, height) < min_side:
        raise SkipSample("image_too_small", f"{width}x{height}")
    return sample[key], image


def rgb_image(image: Image.Image) -> Image.Image:
    """Decode an opened image as RGB (grey, palette, CMYK, alpha and 16-bit images are converted)."""
    with _unreadable_image_skipped():
        image.load()
    if image.mode in HIGH_BIT_DEPTH_MODES:
        image = Image.fromarray((np.asarray(image, dtype=np.float32) / 257.0).clip(0, 255).astype(np.uint8))
    return image.convert("RGB")


@contextmanager
def _unreadable_image_skipped():
    """PIL's errors in opening or decoding an image -> :class:`SkipSample`."""
    try:
        yield
    except Image.DecompressionBombError as e:  # PIL's own limit: twice Image.MAX_IMAGE_PIXELS
        raise SkipSample("image_too_large", repr(e)) from e
    except (OSError, ValueError) as e:
        raise SkipSample("undecodable_image", repr(e)) from e


class ImageTextDatasetMapper:
    """webdataset sample -> ``{"image": uint8 [3, S, S], "text": LongTensor [L], "caption": str, "key": str}``.

    The image is random-resized-cropped to S x S; the caption is preprocessed and CLIP-BPE tokenised
    (captions over the context length are truncated, keeping [EOS]).

    With ``decode_device`` "cuda", JPEGs (grey or colour) are not decoded here: only their header is
    read, and ``image`` is replaced by ``encoded_image`` (the file's bytes, uint8 [N]) and ``crop_box``
    ((top, left, height, width) of the random crop), for :func:`~pseg_d2.data.device_decode.decode_batch`.
    """

    @configurable
    def __init__(
        self, *, crop_size: int, crop_scale, caption_mode: str, context_length: int, image_format: str,
        max_image_pixels: int = Image.MAX_IMAGE_PIXELS, min_image_side: int = 8, decode_device: str = "cpu",
    ):
        if decode_device not in DECODE_DEVICES:
            raise ValueError(f"INPUT.DECODE_DEVICE must be one of {DECODE_DEVICES}, got {decode_device!r}")
        self.crop = RandomResizedCrop(crop_size, scale=tuple(crop_scale), antialias=True)
        self.max_image_pixels = max_image_pixels
        self.min_image_side = min_image_side
        self.caption_mode = caption_mode
        self.context_length = context_length
        self.image_format = image_format
        self.decode_device = decode_device

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
            "decode_device": cfg.INPUT.DECODE_DEVICE,
        }

    def __call__(self, sample: dict) -> dict:
        """Raises :class:`SkipSample` (with a reason) for a sample that cannot be used."""
        caption = preprocess_caption(sample_caption(sample), self.caption_mode)
        data, image = open_image(sample, self.max_image_pixels, self.min_image_side)
        if self.decode_device == "cuda" and image.format == "JPEG" and image.mode in DEVICE_JPEG_MODES:
            picture = {
                "encoded_image": torch.frombuffer(bytearray(data), dtype=torch.uint8),
                "crop_box": tuple(self.crop.get_params(image, self.crop.scale, self.crop.ratio)),
            }
        else:
            picture = {"image": self._crop_decoded(image)}
        return {
            **picture,
            "text": tokenize([caption], self.context_length)[0],
            "caption": caption,
            "key": sample.get("__key__", ""),
        }

    def _crop_decoded(self, image: Image.Image) -> torch.Tensor:
        """An opened image -> decoded, random-resized-cropped uint8 [3, S, S] in INPUT.FORMAT order."""
        array = np.asarray(self.crop(rgb_image(image)))
        if self.image_format == "BGR":
            array = array[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
