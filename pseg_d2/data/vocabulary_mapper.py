"""Evaluation inputs: Detectron2's test-time resize, plus the evaluated dataset's vocabulary."""
from typing import Callable, List

from detectron2.config import configurable
from detectron2.data import DatasetMapper, MetadataCatalog

from .datasets.protocol_names import dataset_class_names


class VocabularyDatasetMapper:
    """Wraps Detectron2's test-time ``DatasetMapper`` and adds ``"vocabulary"``: the dataset's ``stuff_classes``,
    or an evaluation protocol's names of them (``MODEL.PSEG.TEST.CLASS_NAMES``)."""

    @configurable
    def __init__(self, *, base: Callable[[dict], dict], vocabulary: List[str]):
        """
        Args:
            base: the mapper whose output gets the vocabulary (``DatasetMapper(cfg, is_train=False)``).
            vocabulary: class names, in the order of the dataset's label ids.
        """
        self.base = base
        self.vocabulary = list(vocabulary)

    @classmethod
    def from_config(cls, cfg, dataset_name: str):
        metadata = MetadataCatalog.get(dataset_name)
        if not hasattr(metadata, "stuff_classes"):
            raise ValueError(f"Dataset {dataset_name!r} has no stuff_classes in its metadata: no vocabulary to evaluate.")
        vocabulary, protocol = list(metadata.stuff_classes), cfg.MODEL.PSEG.TEST.CLASS_NAMES
        if protocol:
            vocabulary = dataset_class_names(protocol, dataset_name)
            if len(vocabulary) != len(metadata.stuff_classes):
                raise ValueError(f"Protocol {protocol!r} names {len(vocabulary)} classes of {dataset_name!r}, whose labels "
                                 f"have {len(metadata.stuff_classes)}")
        return {"base": DatasetMapper(cfg, is_train=False), "vocabulary": vocabulary}

    def __call__(self, dataset_dict: dict) -> dict:
        inputs = self.base(dataset_dict)
        inputs["vocabulary"] = self.vocabulary
        return inputs
