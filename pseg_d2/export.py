"""Deployment: a P-Seg model with one vocabulary baked in, as an ONNX graph, and a predictor that runs it.

:class:`FixedVocabularySegmenter` is the model and its inference rules for one vocabulary: float
images [B, 3, H, W] (0-255, the config's ``INPUT.FORMAT``; H and W multiples of its
``size_divisibility``) -> class scores [B, C, H, W], the class embeddings computed once and kept as a
constant. :func:`export_onnx` writes it as ``<name>.onnx`` with a ``<name>.json`` sidecar (the
vocabulary and how inputs are prepared); :class:`OnnxPredictor` reads both and segments images as
:class:`~pseg_d2.engine.PSegPredictor` does (resize, pad with the mean colour, crop, resize back).

Exported inference is the whole-image rules of ``MODEL.PSEG.TEST``: either combine rule, the
``prompt`` or ``threshold`` background rule. Sliding windows, region voting, PAMR and the ``border``
rule are refused (:func:`check_exportable`).
"""
import json
import logging
import os
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.modeling.postprocessing import sem_seg_postprocess
from torch import nn

from .engine.predictor import check_image
from .inference import BorderBackground, ClampedThresholdBackground, SemanticInference
from .vocabulary import Vocabulary

logger = logging.getLogger(__name__)
OPSET = 17


def check_exportable(inference: SemanticInference) -> None:
    """Raise a one-line ``ValueError`` naming the config key of each rule an export cannot hold."""
    refused = []
    if inference.sliding_window:
        refused.append("sliding windows (set MODEL.PSEG.TEST.SLIDING_WINDOW 0)")
    if inference.region_voting is not None:
        refused.append("region voting (set MODEL.PSEG.TEST.REGION_VOTING.ENABLED False)")
    if inference.pamr is not None:
        refused.append("PAMR (set MODEL.PSEG.TEST.PAMR.ENABLED False)")
    if isinstance(inference.background, (BorderBackground, ClampedThresholdBackground)):
        refused.append(f"the {type(inference.background).__name__} rule (set MODEL.PSEG.TEST.BACKGROUND_RULE prompt "
                       "or threshold)")
    if refused:
        raise ValueError("An exported model runs whole images with the prompt or threshold background rule; "
                         "it cannot hold " + "; ".join(refused))


class FixedVocabularySegmenter(nn.Module):
    """A :class:`~pseg_d2.modeling.PSeg` and its inference rules for one vocabulary, as one module.

    ``forward``: float images [B, 3, H, W] (0-255, the model's ``input_format``; H and W multiples of
    ``size_divisibility``) -> scores [B, C, H, W] of the C ``names``, as the model scores them in eval
    mode (``model([{"image": ..., "vocabulary": names}])``) on each image.
    """

    def __init__(self, model: nn.Module, inference: SemanticInference, names: Sequence[str]):
        super().__init__()
        check_exportable(inference)
        self.model = model.eval()
        self.inference = inference
        self.names = list(names)
        foreground = inference.background.foreground(self.names)
        embeddings = model.encode_vocabulary(self.names, inference.templates)[foreground]
        self.register_buffer("class_embeddings", embeddings.detach().clone())  # [C', E]
        self.register_buffer("logit_scale", model.scale().detach().clone())
        self.size_divisibility = model.size_divisibility
        self.eval()  # an exporter restores the mode it found: eval, not nn.Module's default training

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        model = self.model
        normalised = (images - model.pixel_mean) / model.pixel_std
        outputs = model.network_outputs(normalised)
        sizes = [tuple(images.shape[-2:])] * images.shape[0]  # unpadded: the exported size is fixed
        return self.inference.class_scores(outputs, self.names, self.class_embeddings, self.logit_scale, sizes)


def export_onnx(segmenter: FixedVocabularySegmenter, path: str, height: int, width: int, *,
                vocabulary: Vocabulary) -> Dict:
    """Write ``segmenter`` as an ONNX graph for images of ``height`` x ``width`` (any batch size) to
    ``path`` (``.onnx``) and its sidecar next to it (``.json``). ``vocabulary``: the one whose
    ``names`` the segmenter scores (its synonyms are reduced after the graph). Returns the sidecar."""
    d = segmenter.size_divisibility
    if height % d or width % d or height <= 0 or width <= 0:
        raise ValueError(f"The exported input size {height}x{width} must be positive multiples of the model's "
                         f"padding, {d}")
    if vocabulary.names != segmenter.names:
        raise ValueError("The vocabulary's names differ from the names the segmenter scores")
    model = segmenter.model
    sample = torch.rand(2, 3, height, width, device=model.device) * 255
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.onnx.export(
        segmenter, (sample,), path, input_names=["image"], output_names=["scores"],
        dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}}, opset_version=OPSET, dynamo=False,
    )
    sidecar = {
        "onnx": os.path.basename(path),
        "input": {"name": "image", "shape": ["batch", 3, height, width], "dtype": "float32",
                  "format": model.input_format, "range": "0-255",
                  "pixel_mean": model.pixel_mean.flatten().tolist(), "size_divisibility": d},
        "output": {"name": "scores", "shape": ["batch", len(segmenter.names), height, width]},
        "names": segmenter.names,
        "synonyms": [list(names) for names in vocabulary.synonyms],
        "reduction": vocabulary.reduction,
        "inference": repr(segmenter.inference),
    }
    with open(sidecar_path(path), "w") as f:
        json.dump(sidecar, f, indent=2)
    logger.info("Wrote %s (%d classes, %dx%d inputs) and its sidecar", path, len(segmenter.names), height, width)
    return sidecar


def sidecar_path(onnx_path: str) -> str:
    return os.path.splitext(onnx_path)[0] + ".json"


class OnnxPredictor:
    """Segments one image with an exported model (onnxruntime), as ``PSegPredictor`` does with the
    vocabulary baked into it::

        predictor = OnnxPredictor("export/model.onnx")       # reads export/model.json too
        scores = predictor(image_bgr)["sem_seg"]             # [C, H, W], C = len(predictor.vocabulary)

    The image is resized to the exported size, padded with the mean colour (zero after
    normalisation, as the eager model pads), and its scores are cropped and resized back.
    """

    def __init__(self, path: str, providers: Optional[Sequence[str]] = None):
        import onnxruntime  # only a deployment needs it

        for needed in (path, sidecar_path(path)):
            if not os.path.isfile(needed):
                raise FileNotFoundError(f"{needed} not found: tools/export_model.py writes model.onnx and model.json")
        with open(sidecar_path(path)) as f:
            self.sidecar = json.load(f)
        self.session = onnxruntime.InferenceSession(path, providers=list(providers or ["CPUExecutionProvider"]))
        self.vocabulary = Vocabulary(self.sidecar["synonyms"], reduction=self.sidecar["reduction"])
        spec = self.sidecar["input"]
        self.input_format = spec["format"]
        self.size = tuple(spec["shape"][2:])
        self.pixel_mean = np.asarray(spec["pixel_mean"], dtype=np.float32)[:, None, None]

    def __call__(self, image_bgr: np.ndarray) -> Dict[str, torch.Tensor]:
        """Image [H, W, 3] uint8 BGR -> ``{"sem_seg": [C, H, W]}`` class scores (synonyms reduced)."""
        check_image(image_bgr)
        image = image_bgr[:, :, ::-1] if self.input_format == "RGB" else image_bgr
        height, width = image.shape[:2]
        scale = min(self.size[0] / height, self.size[1] / width)  # the whole image fits the exported size
        h, w = min(self.size[0], round(height * scale)), min(self.size[1], round(width * scale))
        image = T.ResizeTransform(height, width, h, w).apply_image(np.ascontiguousarray(image))
        padded = np.broadcast_to(self.pixel_mean, (3, *self.size)).copy()
        padded[:, :h, :w] = image.transpose(2, 0, 1)
        (scores,) = self.session.run(None, {"image": padded[None]})
        scores = sem_seg_postprocess(torch.from_numpy(scores[0]), (h, w), height, width)
        return {"sem_seg": self.vocabulary.reduce(scores)}
