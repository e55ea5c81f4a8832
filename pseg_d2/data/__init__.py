"""Data: image-text training shards, evaluation mappers, and dataset registrations."""
from . import datasets  # noqa: F401  (registers every dataset)
from .captions import preprocess_caption
from .image_text_loader import EpochShardList, build_image_text_train_loader, expand_shards
from .image_text_mapper import ImageTextDatasetMapper
from .vocabulary_mapper import VocabularyDatasetMapper
