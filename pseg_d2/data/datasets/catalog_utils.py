"""Registering semantic-segmentation datasets in Detectron2's catalogs (re-registration safe)."""

from typing import Optional, Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_sem_seg

from .manifest import check_converted


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
    prepare_script: Optional[str] = None,
    **extra_metadata,
) -> None:
    """Register ``name`` as ``load_sem_seg(sem_seg_root, image_root)`` (PNG labels, JPEG images)
    with ``ignore_label=255`` and ``evaluator_type="sem_seg"``. With ``prepare_script`` (the converter
    that writes ``sem_seg_root``), loading refuses a conversion that did not finish
    (:func:`~.manifest.check_converted`).

    An existing registration of ``name`` is replaced, so tests can point names at fake roots.
    Nothing is read until ``DatasetCatalog.get(name)``, so absent data does not fail here.
    """
    if len(stuff_classes) != len(stuff_colors):
        raise ValueError(f"{name}: {len(stuff_classes)} classes but {len(stuff_colors)} colours")
    unregister(name)

    def load():
        if prepare_script:
            check_converted(sem_seg_root, name, prepare_script)
        return load_sem_seg(sem_seg_root, image_root, gt_ext="png", image_ext="jpg")

    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(
        stuff_classes=list(stuff_classes),
        stuff_colors=[list(c) for c in stuff_colors],
        ignore_label=255,
        evaluator_type="sem_seg",
        image_root=image_root,
        sem_seg_root=sem_seg_root,
        prepare_script=prepare_script,
        **extra_metadata,
    )
