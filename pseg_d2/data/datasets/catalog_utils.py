"""Registering semantic-segmentation datasets in Detectron2's catalogs (re-registration safe)."""

from typing import Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_sem_seg


def unregister(name: str) -> None:
    """Remove ``name`` from both catalogs if present, so it can be registered again."""
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
    if name in MetadataCatalog.list():
        MetadataCatalog.remove(name)


def register_sem_seg(
    name: str,
    image_root: str,
    sem_seg_root: str,
    stuff_classes: Sequence[str],
    stuff_colors: Sequence[Sequence[int]],
    **extra_metadata,
) -> None:
    """Register ``name`` as ``load_sem_seg(sem_seg_root, image_root)`` (PNG labels, JPEG images)
    with ``ignore_label=255`` and ``evaluator_type="sem_seg"``.

    An existing registration of ``name`` is replaced, so tests can point names at fake roots.
    Nothing is read until ``DatasetCatalog.get(name)``, so absent data does not fail here.
    """
    if len(stuff_classes) != len(stuff_colors):
        raise ValueError(f"{name}: {len(stuff_classes)} classes but {len(stuff_colors)} colours")
    unregister(name)
    DatasetCatalog.register(
        name,
        lambda gt=sem_seg_root, img=image_root: load_sem_seg(
            gt, img, gt_ext="png", image_ext="jpg"
        ),
    )
    MetadataCatalog.get(name).set(
        stuff_classes=list(stuff_classes),
        stuff_colors=[list(c) for c in stuff_colors],
        ignore_label=255,
        evaluator_type="sem_seg",
        image_root=image_root,
        sem_seg_root=sem_seg_root,
        **extra_metadata,
    )
