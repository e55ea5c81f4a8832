"""``SemanticInference``: a P-Seg network's outputs -> ``[{"sem_seg": [C, H, W]}]``, one step at a time.

For each batch of images that share one vocabulary:

1. classify: the vocabulary's foreground entries -> prompt-ensembled class embeddings [C', E]
   (cached by the model, :meth:`PSeg.encode_vocabulary`); each mask feature -> class probabilities;
2. combine: the N masks and their probabilities -> class scores [B, C', H, W] (:func:`combine_masks`);
3. background rule, first half: foreground scores rescored (the ``border`` rule, :mod:`.background`);
4. region voting (optional): each region of the image named as a whole (:mod:`.region_voting`);
5. background rule, second half: the background channel filled in;
   steps 1-5 run on the whole padded batch, or on each image's sliding windows, averaged;
6. PAMR (optional): scores refined along the input image's colour edges (:mod:`.pamr`);
7. ``sem_seg_postprocess``: scores resized to the size the input asks for.

The pipeline holds rules, never weights: one model can be run with several pipelines, and a pipeline
is swapped or called on a model without changing it.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.modeling.postprocessing import sem_seg_postprocess

from .background import PromptBackground
from .combine import COMBINE_RULES, classify, combine_masks
from .outputs import NetworkOutputs
from .pamr import PAMR
from .region_voting import RegionVoting
from .sliding_window import sliding_window_scores

VocabularySource = Callable[[], Optional[Sequence[str]]]


class SemanticInference:
    """The inference rules of a P-Seg model; ``pipeline(model, batched_inputs)`` runs them.

    ``model`` is a :class:`~pseg_d2.modeling.PSeg` (or anything with its ``preprocess``,
    ``network_outputs``, ``encode_vocabulary``, ``scale`` and ``size_divisibility``). Inputs are
    Detectron2's: ``list[dict]`` with ``image`` [3, H, W], optionally ``height``, ``width`` (the output
    size) and ``vocabulary`` (C class names; all inputs of a batch must name the same one).
    """

    def __init__(
        self,
        *,
        combine: str,
        background: PromptBackground,
        templates: Sequence[str],
        region_voting: Optional[RegionVoting] = None,
        pamr: Optional[PAMR] = None,
        sliding_window: int = 0,
        sliding_stride: int = 0,
        default_vocabulary: Optional[VocabularySource] = None,
    ):
        """
        Args:
            combine: one of :data:`COMBINE_RULES`.
            background: the background rule (:mod:`.background`).
            templates: prompt format strings ensembled into each class embedding.
            region_voting, pamr: the optional refiners (None: off).
            sliding_window, sliding_stride: square windows of this side, this far apart, their scores
                averaged (0: whole images). Windows are checked against the model's padding at run time.
            default_vocabulary: returns the vocabulary of inputs that name none (or None).
        """
        if combine not in COMBINE_RULES:
            raise ValueError(f"MODEL.PSEG.TEST.COMBINE must be one of {COMBINE_RULES}, got {combine!r}")
        if not templates:
            raise ValueError("Inference needs at least one prompt template")
        self.combine = combine
        self.background = background
        self.templates = tuple(templates)
        self.region_voting = region_voting
        self.pamr = pamr
        self.sliding_window, self.sliding_stride = sliding_window, sliding_stride
        self.default_vocabulary = default_vocabulary

    def __repr__(self) -> str:
        window = f"{self.sliding_window}/{self.sliding_stride}" if self.sliding_window else "whole image"
        return (f"SemanticInference(combine={self.combine}, background={self.background!r}, "
                f"templates={len(self.templates)}, region_voting={self.region_voting!r}, pamr={self.pamr!r}, "
                f"window={window})")

    # ------------------------------------------------------------------ the steps
    def vocabulary_of(self, batched_inputs: List[dict]) -> List[str]:
        """The one vocabulary of a batch: its inputs' ``vocabulary``, else the default."""
        default = None
        if self.default_vocabulary is not None and any("vocabulary" not in x for x in batched_inputs):
            default = self.default_vocabulary()
            default = tuple(default) if default else None
        vocabularies = {tuple(x["vocabulary"]) if "vocabulary" in x else default for x in batched_inputs}
        if None in vocabularies:
            raise ValueError("No vocabulary: give each input a 'vocabulary' list of class names, or set "
                             "MODEL.PSEG.TEST.VOCABULARY (or DATASETS.TEST, whose sets' stuff_classes are used).")
        if len(vocabularies) > 1:
            raise ValueError(f"The inputs of one batch name {len(vocabularies)} different vocabularies; a batch is "
                             "classified with one: run each vocabulary's images in batches of their own.")
        return list(vocabularies.pop())

    def class_scores(self, outputs: NetworkOutputs, vocabulary: Sequence[str], class_embeddings: torch.Tensor,
                     scale: torch.Tensor, image_sizes: Sequence[Tuple[int, int]]) -> torch.Tensor:
        """Steps 2-5: network outputs of padded images [B, 3, H, W] whose own sizes are ``image_sizes``,
        and the foreground entries' class embeddings [C', E] -> class scores [B, C, H, W]."""
        probs = lambda features: classify(features, class_embeddings, scale)  # noqa: E731
        size = outputs.raw_images.shape[-2:]
        masks = F.interpolate(outputs.masks, size=size, mode="bilinear", align_corners=False)
        scores = combine_masks(probs(outputs.mask_features), masks, self.combine)
        scores = self.background.rescore(scores, vocabulary, outputs, masks, self.combine, image_sizes)
        if self.region_voting is not None:
            scores = self.region_voting(scores, outputs, probs)
        return self.background.fill(scores, vocabulary, image_sizes)

    @torch.no_grad()
    def __call__(self, model, batched_inputs: List[dict]) -> List[Dict[str, torch.Tensor]]:
        vocabulary = self.vocabulary_of(batched_inputs)
        foreground = self.background.foreground(vocabulary)
        class_embeddings = model.encode_vocabulary(vocabulary, self.templates)[foreground]
        scale = model.scale()
        images = model.preprocess(batched_inputs)

        def predict(tensor: torch.Tensor, image_sizes: Sequence[Tuple[int, int]]) -> torch.Tensor:
            outputs = model.network_outputs(tensor)
            return self.class_scores(outputs, vocabulary, class_embeddings, scale, image_sizes)

        if self.sliding_window:
            if self.sliding_window % model.size_divisibility:
                raise ValueError(f"MODEL.PSEG.TEST.SLIDING_WINDOW={self.sliding_window} must be a multiple of "
                                 f"the model's padding, {model.size_divisibility}")
            window = self.sliding_window
            whole = lambda crops: predict(crops, [(window, window)] * len(crops))  # noqa: E731
            scores = [sliding_window_scores(whole, image[:, :h, :w], window, self.sliding_stride)
                      for image, (h, w) in zip(images.tensor, images.image_sizes)]
        else:
            scores = predict(images.tensor, images.image_sizes)
        results = []
        for score, x, (h, w) in zip(scores, batched_inputs, images.image_sizes):
            score = score[:, :h, :w]
            if self.pamr is not None:  # at the network's input size, with the input image's colours
                score = self.pamr(x["image"][None].to(score), score[None])[0]
            results.append({"sem_seg": sem_seg_postprocess(score, (h, w), x.get("height", h), x.get("width", w))})
        return results
