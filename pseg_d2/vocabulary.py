"""Vocabularies as users write them: classes with synonyms, and an expanded background.

The model stays unchanged: it scores the flat list :attr:`Vocabulary.names`, and
:meth:`Vocabulary.reduce` turns those scores into one score per class (max or mean over the class's
names)::

    vocab = Vocabulary.parse("person; man; woman, dog, sky", background_words="wall; floor")
    vocab.names    # ["background", "wall", "floor", "person", "man", "woman", "dog", "sky"]
    vocab.classes  # ["background", "person", "dog", "sky"]
    vocab.reduce(scores)  # [8, H, W] -> [4, H, W]
"""
import re
from typing import List, Sequence, Tuple, Union

import torch

from .inference.prompts import check_vocabulary

REDUCTIONS = ("max", "mean")


def _split(text: str, separators: str) -> List[str]:
    """Split on any of ``separators``; strip, drop empty parts."""
    return [part.strip() for part in re.split(f"[{re.escape(separators)}]", text) if part.strip()]


class Vocabulary:
    """C classes, each with one or more names (synonyms); the first name is the class's display name."""

    def __init__(
        self,
        synonyms: Sequence[Sequence[str]],
        background_words: Sequence[str] = (),
        add_background: bool = False,
        background_name: str = "background",
        reduction: str = "max",
    ):
        """
        Args:
            synonyms: per class, its names (or one name as a string).
            background_words: stuff names that all count as the background class.
            add_background: give the vocabulary a background class even without background words.
            background_name: the background class (the model's ``MODEL.PSEG.TEST.BACKGROUND_CLASS_NAME``).
                Background words join the class displayed under this name, or a new first class.
            reduction: ``max`` or ``mean``: how a class's score comes from its names' scores.
        """
        if reduction not in REDUCTIONS:
            raise ValueError(f"Synonym reduction must be one of {REDUCTIONS}, got {reduction!r}")
        groups = [[names] if isinstance(names, str) else list(names) for names in synonyms]  # "dog" is ["dog"]
        groups = [[str(name).strip() for name in names if str(name).strip()] for names in groups]
        groups = [names for names in groups if names]
        if not groups:
            raise ValueError("The vocabulary is empty: give at least one class, e.g. 'person; man; woman, dog, sky' "
                             "(classes separated by ',' or new lines, synonyms by ';').")
        background_words = [word.strip() for word in background_words if word.strip()]
        if background_words or add_background:
            displayed = [names[0] for names in groups]
            if background_name in displayed:
                groups[displayed.index(background_name)] += background_words
            else:
                groups.insert(0, [background_name, *background_words])
        try:
            check_vocabulary([name for names in groups for name in names])
        except ValueError as err:
            raise ValueError(f"{err}. Class names, synonyms and background words must all differ.") from None
        self.synonyms: Tuple[Tuple[str, ...], ...] = tuple(tuple(names) for names in groups)
        self.reduction = reduction

    @classmethod
    def parse(cls, text: str, background_words: Union[str, Sequence[str]] = (), **kwargs) -> "Vocabulary":
        """``"person; man; woman, dog, sky"``: classes separated by ',' or new lines, synonyms by ';'.
        ``background_words``: a list, or one string of words separated by ',', ';' or new lines."""
        if isinstance(background_words, str):
            background_words = _split(background_words, ",;\n")
        return cls([_split(entry, ";") for entry in _split(text, ",\n")], background_words, **kwargs)

    @classmethod
    def from_file(cls, path: str, background_words: Union[str, Sequence[str]] = (), **kwargs) -> "Vocabulary":
        """:meth:`parse` of a file, usually one class per line ("person; man; woman"); lines starting
        with '#' are comments."""
        with open(path) as f:
            text = "\n".join(line for line in f.read().splitlines() if not line.strip().startswith("#"))
        return cls.parse(text, background_words, **kwargs)

    @property
    def names(self) -> List[str]:
        """All names, class by class: the vocabulary the model is run with."""
        return [name for names in self.synonyms for name in names]

    @property
    def classes(self) -> List[str]:
        """The C display names (each class's first name)."""
        return [names[0] for names in self.synonyms]

    def __len__(self) -> int:
        return len(self.synonyms)

    def __repr__(self) -> str:
        return f"Vocabulary({', '.join('; '.join(names) for names in self.synonyms)}, reduction={self.reduction})"

    def reduce(self, scores: torch.Tensor) -> torch.Tensor:
        """Scores of the names [len(names), ...] -> class scores [C, ...], max or mean over each class's names."""
        if scores.shape[0] != len(self.names):
            raise ValueError(f"Expected scores for {len(self.names)} names, got {scores.shape[0]}")
        parts = scores.split([len(names) for names in self.synonyms], dim=0)
        reduce = torch.amax if self.reduction == "max" else torch.mean
        return torch.stack([reduce(part, dim=0) for part in parts])
