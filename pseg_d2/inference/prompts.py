"""Class names -> prompt-ensembled, normalised class embeddings. Templates are data."""
from typing import Callable, Dict, List, Sequence

import torch
import torch.nn.functional as F

from ..data.datasets.protocol_names import GROUPVIT_TEMPLATES, TCL_TEMPLATES

PROMPT_TEMPLATES: Dict[str, List[str]] = {
    # The bare class name.
    "plain": ["{}"],
    # CLIP-style photo templates, as used for zero-shot segmentation since GroupViT.
    "imagenet": [
        "a photo of a {}.",
        "a photo of the {}.",
        "a photo of one {}.",
        "a good photo of a {}.",
        "a bad photo of a {}.",
        "a bright photo of a {}.",
        "a dark photo of a {}.",
        "a close-up photo of a {}.",
        "a cropped photo of a {}.",
        "a photo of a small {}.",
        "a photo of a large {}.",
        "a blurry photo of a {}.",
        "a rendering of a {}.",
        "a picture of a {}.",
        "an image of a {}.",
        "there is a {} in the scene.",
        "there is the {} in the scene.",
        "this is a {} in the scene.",
        "itap of a {}.",
        "art of the {}.",
    ],
    # The evaluation protocols' own (pseg_d2/data/datasets/protocol_names.py).
    "groupvit": GROUPVIT_TEMPLATES,
    "tcl": TCL_TEMPLATES,
}


def get_templates(name: str) -> List[str]:
    if name not in PROMPT_TEMPLATES:
        raise KeyError(f"Unknown prompt template set {name!r}; known: {sorted(PROMPT_TEMPLATES)}")
    return PROMPT_TEMPLATES[name]


def check_vocabulary(vocabulary: Sequence[str]) -> List[str]:
    """A vocabulary is a non-empty list of distinct, non-empty class names. Names are kept as they are
    written (a protocol's "bed " prompts differently from "bed"); ``Vocabulary.parse`` strips typed ones."""
    names = [str(name) for name in vocabulary]
    if not names:
        raise ValueError("The vocabulary is empty: give at least one class name.")
    if any(not name.strip() for name in names):
        raise ValueError(f"The vocabulary has an empty class name: {list(vocabulary)}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"The vocabulary names these classes more than once: {duplicates}")
    return names


@torch.no_grad()
def class_embeddings(
    vocabulary: Sequence[str],
    templates: Sequence[str],
    encode: Callable[[List[str]], torch.Tensor],
) -> torch.Tensor:
    """Embed each class as the normalised mean of its normalised prompt embeddings.

    Args:
        vocabulary: C class names.
        templates: T format strings with one ``{}``.
        encode: list of strings -> [n, d] normalised embeddings.
    Returns:
        [C, d] normalised class embeddings.
    """
    names = check_vocabulary(vocabulary)
    prompts = [template.format(name) for name in names for template in templates]
    emb = encode(prompts).view(len(names), len(templates), -1)
    return F.normalize(F.normalize(emb, dim=-1).mean(1), dim=-1)
