"""Decoding the training batch's JPEGs after the loader, on the GPU (nvjpeg, through torchvision).

With INPUT.DECODE_DEVICE "cuda" the mapper leaves JPEG samples encoded, with their random crop box
already drawn; :func:`decode_batch` decodes, crops and resizes them in the training process, on the
CPU (torchvision's libjpeg) when CUDA is not available.
"""
import logging
from typing import List, Optional, Tuple, Union

import torch
from detectron2.utils.logger import log_first_n
from torchvision.io import ImageReadMode, decode_jpeg
from torchvision.transforms import InterpolationMode
from torchvision.transforms.functional import resized_crop

logger = logging.getLogger(__name__)

DECODE_DEVICES = ("cpu", "cuda")


def decode_device(device: Union[str, torch.device]) -> torch.device:
    """``device``, or the CPU (with a warning, once) when it is CUDA and CUDA is not available."""
    device = torch.device(device)
    if device.type not in DECODE_DEVICES:
        raise ValueError(f"JPEGs are decoded on one of {DECODE_DEVICES}, not {device}")
    if device.type == "cuda" and not torch.cuda.is_available():
        log_first_n(logging.WARNING, "CUDA is not available: decoding the training JPEGs on the CPU", n=1)
        return torch.device("cpu")
    return device


def _decode_jpegs(data: List[torch.Tensor], device: torch.device) -> List[Optional[torch.Tensor]]:
    """JPEG bytes (uint8 [N_i] each, on the CPU) -> RGB uint8 [3, H_i, W_i] on ``device``, None where one
    fails. One batched call; if it fails, the images are decoded one by one to find the broken ones."""
    try:
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        images = []
        for i, jpeg in enumerate(data):
            try:
                images.append(decode_jpeg(jpeg, mode=ImageReadMode.RGB, device=device))
            except RuntimeError as e:
                logger.debug("JPEG %d of the batch failed to decode: %s", i, e)
                images.append(None)
        return images


def decode_batch(
    batch: List[dict], device: Union[str, torch.device], crop_size: int, image_format: str
) -> Tuple[List[dict], int]:
    """Decode the batch's encoded JPEGs, crop their boxes and resize them to S x S.

    Args:
        batch: mapper outputs. Those with ``encoded_image`` (JPEG bytes, uint8 [N], CPU) and
            ``crop_box`` ((top, left, height, width) in the full image) get ``image`` in place of both;
            the others (``image`` decoded in the worker) are kept as they are.
        device: where to decode; CUDA decodes the batch in one nvjpeg call (see :func:`decode_device`).
        crop_size: S (INPUT.CROP_SIZE).
        image_format: INPUT.FORMAT, "RGB" or "BGR": the channel order of ``image``.

    Returns:
        The batch in its order, without the images that failed to decode; decoded ``image``:
        uint8 [3, S, S] on ``device``, bilinearly resized with antialiasing (RandomResizedCrop's
        resize). And the number of images dropped.
    """
    device = decode_device(device)
    encoded = [x["encoded_image"] for x in batch if "encoded_image" in x]
    decoded = iter(_decode_jpegs(encoded, device) if encoded else [])
    out, failed = [], 0
    for x in batch:
        if "encoded_image" not in x:
            out.append(x)
            continue
        image = next(decoded)
        if image is None:
            failed += 1
            logger.debug("dropped sample %r: its JPEG failed to decode", x.get("key", ""))
            continue
        top, left, height, width = x["crop_box"]
        image = resized_crop(
            image, top, left, height, width, [crop_size, crop_size], InterpolationMode.BILINEAR, antialias=True
        )
        if image_format == "BGR":
            image = image.flip(0)
        rest = {k: v for k, v in x.items() if k not in ("encoded_image", "crop_box")}
        out.append({"image": image, **rest})
    return out, failed
