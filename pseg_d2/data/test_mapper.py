"""Evaluation inputs: Detectron2's test-time resize, plus the evaluated dataset's vocabulary."""
from detectron2.data import DatasetMapper, MetadataCatalog


class VocabularyDatasetMapper:
    """Wraps ``DatasetMapper(cfg, is_train=False)`` and adds ``"vocabulary"``: the dataset's ``stuff_classes``."""

    def __init__(self, cfg, dataset_name: str):
        self.base = DatasetMapper(cfg, is_train=False)
        metadata = MetadataCatalog.get(dataset_name)
        if not hasattr(metadata, "stuff_classes"):
            raise ValueError(f"Dataset {dataset_name!r} has no stuff_classes in its metadata: no vocabulary to evaluate.")
        self.vocabulary = list(metadata.stuff_classes)

    def __call__(self, dataset_dict: dict) -> dict:
        inputs = self.base(dataset_dict)
        inputs["vocabulary"] = self.vocabulary
        return inputs
