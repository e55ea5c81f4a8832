"""``PSegPredictor``: Detectron2's ``DefaultPredictor`` for P-Seg, queried with any vocabulary."""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.modeling import build_model

from ..inference import SemanticInference
from ..vocabulary import Vocabulary
from .checkpoint import PSegCheckpointer


def check_image(image) -> None:
    """Raise a one-line ``ValueError`` unless ``image`` is a non-empty [H, W, 3] uint8 array."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"PSegPredictor takes a numpy array [H, W, 3] uint8, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"PSegPredictor takes an [H, W, 3] uint8 image, got shape {image.shape} {image.dtype} "
                         "(convert grey or RGBA images to 3 channels first)")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"PSegPredictor got an empty image of shape {image.shape}")


class _InferenceCheckpointer(PSegCheckpointer):
    """Refuses a checkpoint that leaves model weights unset (another config's model, for instance):
    at inference they would silently stay random."""

    def _load_model(self, checkpoint):
        incompatible = super()._load_model(checkpoint)
        missing = incompatible.missing_keys  # includes the weights of other shapes
        if missing:
            raise ValueError(f"The checkpoint does not fit the model of this config: {len(missing)} weights are "
                             f"missing or of other shapes (e.g. {missing[:3]}). Was it trained with another config?")
        return incompatible


class PSegPredictor:
    """Builds the model of ``cfg``, loads ``cfg.MODEL.WEIGHTS`` (all its weights must be there) and
    segments one image at a time::

        predictor = PSegPredictor(cfg)
        image = detectron2.data.detection_utils.read_image("photo.jpg", format="BGR")
        scores = predictor(image, ["background", "cat", "dog"])["sem_seg"]  # [3, H, W]
        labels = scores.argmax(0)                                           # [H, W]

    The vocabulary is a list of class names, a :class:`Vocabulary` (synonyms, expanded background)
    or a string that :meth:`Vocabulary.parse` reads. The model caches class embeddings per vocabulary.
    The inference rules are the config's (``MODEL.PSEG.TEST``), or those of a
    :class:`~pseg_d2.inference.SemanticInference` given to the call; the model stays as it is.
    """

    def __init__(self, cfg):
        self.cfg = cfg.clone()  # the caller's cfg stays as it is
        if self.cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
            self.cfg.defrost()
            self.cfg.MODEL.DEVICE = "cpu"
        self.model = build_model(self.cfg).eval()
        _InferenceCheckpointer(self.model).load(self.cfg.MODEL.WEIGHTS)
        self.aug = T.ResizeShortestEdge(self.cfg.INPUT.MIN_SIZE_TEST, self.cfg.INPUT.MAX_SIZE_TEST)
        self.input_format = self.cfg.INPUT.FORMAT

    @torch.no_grad()
    def __call__(
        self, image_bgr: np.ndarray, vocabulary: Union[Sequence[str], Vocabulary, str],
        inference: Optional[SemanticInference] = None,
    ) -> Dict[str, torch.Tensor]:
        """Image [H, W, 3] uint8 BGR -> ``{"sem_seg": [C, H, W]}`` class scores at the image's size,
        on the model's device; C classes of ``vocabulary`` (synonyms already reduced)."""
        check_image(image_bgr)
        if isinstance(vocabulary, str):
            vocabulary = Vocabulary.parse(vocabulary)
        names = vocabulary.names if isinstance(vocabulary, Vocabulary) else list(vocabulary)
        image = image_bgr[:, :, ::-1] if self.input_format == "RGB" else image_bgr
        height, width = image.shape[:2]
        image = self.aug.get_transform(image).apply_image(np.ascontiguousarray(image))
        inputs = {
            "image": torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "height": height,
            "width": width,
            "vocabulary": names,
        }
        inference = inference if inference is not None else self.model.semantic_inference
        scores = inference(self.model, [inputs])[0]["sem_seg"]
        return {"sem_seg": vocabulary.reduce(scores) if isinstance(vocabulary, Vocabulary) else scores}
