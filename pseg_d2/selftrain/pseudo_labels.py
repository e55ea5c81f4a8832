"""Pseudo labels for self-training: a trained P-Seg labels a registered dataset's images with that
dataset's classes (its metadata ``stuff_classes``), and the labels are registered as a new dataset.

Label maps are uint8 PNGs (class ids; 255 = ignored) named after the images, in one folder with a
``pseudo_labels.json`` manifest written last. Generation is resumable and splits over ranks:

* the image list is cut into fixed batches (the same whatever was done before or how many ranks
  run), and rank r takes batches r, r + world, ...; a batch whose PNGs all exist is skipped, any
  other is recomputed whole, with the same companions, so a resumed run writes the same bytes;
* each PNG is written to ``<name>.png.tmp`` and renamed, so a half-written label never exists;
* an image that cannot be read is skipped, named and counted; the manifest lists it, and the
  registered pseudo-label dataset leaves it out.
"""
import json
import logging
import os
from collections import Counter
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch
from detectron2.data import DatasetCatalog, DatasetMapper, MetadataCatalog
from detectron2.utils import comm
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..data.datasets.catalog_utils import unregister
from ..engine.predictor import PSegPredictor

MANIFEST = "pseudo_labels.json"
IGNORE_LABEL = 255
PSEUDO_SUFFIX = "_pseudo"
logger = logging.getLogger(__name__)


def label_paths(dataset_dicts: Sequence[dict], output_dir: str) -> List[str]:
    """``<output_dir>/<image file stem>.png`` per dict; two images with one stem are an error."""
    paths = [os.path.join(output_dir, os.path.splitext(os.path.basename(d["file_name"]))[0] + ".png")
             for d in dataset_dicts]
    counts = Counter(paths)
    if len(counts) != len(paths):
        dup = next(d["file_name"] for d, p in zip(dataset_dicts, paths) if counts[p] > 1)
        raise ValueError(f"Two images share the file name stem of {dup!r}: their pseudo labels would collide")
    return paths


def fixed_batches(num_items: int, batch_size: int, rank: int = 0, world_size: int = 1) -> List[List[int]]:
    """Indices [0, num_items) in consecutive batches of ``batch_size``; rank r gets batches r::world_size."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    batches = [list(range(s, min(s + batch_size, num_items))) for s in range(0, num_items, batch_size)]
    return batches[rank::world_size]


def scores_to_labels(scores: torch.Tensor, min_score: float = 0.0) -> np.ndarray:
    """Class scores [C, H, W] -> uint8 labels [H, W]: the best class, or 255 where its score < ``min_score``."""
    if scores.shape[0] >= IGNORE_LABEL:
        raise ValueError(f"{scores.shape[0]} classes do not fit uint8 labels with {IGNORE_LABEL} as ignore")
    best, labels = scores.max(dim=0)
    labels[best < min_score] = IGNORE_LABEL
    return labels.to(torch.uint8).cpu().numpy()


def write_png_atomic(path: str, labels: np.ndarray) -> None:
    """Write uint8 [H, W] as a mode-"L" PNG via ``<path>.tmp`` and a rename."""
    tmp = path + ".tmp"
    Image.fromarray(labels, mode="L").save(tmp, format="PNG")
    os.replace(tmp, path)


class LabelingStats(NamedTuple):
    written: int  # PNGs written (existing ones are kept)
    unreadable: List[str]  # images that could not be read, skipped


class _ImageInputs(Dataset):
    """Dataset dicts -> model inputs: the test-time resize of ``mapper`` and the vocabulary (no label read),
    or ``{"unreadable": file name, "error": why}`` for an image that cannot be read."""

    def __init__(self, dataset_dicts: Sequence[dict], mapper: DatasetMapper, vocabulary: Sequence[str]):
        self.dicts, self.mapper, self.vocabulary = dataset_dicts, mapper, list(vocabulary)

    def __len__(self):
        return len(self.dicts)

    def __getitem__(self, index: int) -> dict:
        d = {k: v for k, v in self.dicts[index].items() if k != "sem_seg_file_name"}
        try:
            inputs = self.mapper(d)
        except (OSError, ValueError, SyntaxError) as err:  # PIL: missing, truncated or not an image
            return {"unreadable": d["file_name"], "error": f"{type(err).__name__}: {err}"}
        inputs["vocabulary"] = self.vocabulary
        return inputs


@torch.no_grad()
def generate_pseudo_labels(
    model: torch.nn.Module,
    mapper: DatasetMapper,
    dataset_dicts: Sequence[dict],
    vocabulary: Sequence[str],
    output_dir: str,
    batch_size: int = 16,
    min_score: float = 0.0,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
) -> LabelingStats:
    """Label this rank's share of ``dataset_dicts`` with ``model`` (a P-Seg in eval mode) and
    ``vocabulary``; unreadable images are skipped and named in the log and the result."""
    os.makedirs(output_dir, exist_ok=True)
    paths = label_paths(dataset_dicts, output_dir)
    batches = fixed_batches(len(paths), batch_size, rank, world_size)
    todo = [b for b in batches if not all(os.path.exists(paths[i]) for i in b)]
    logger.info(f"rank {rank}: {len(batches)} batches of {len(paths)} images, {len(batches) - len(todo)} already done")
    loader = DataLoader(_ImageInputs(dataset_dicts, mapper, vocabulary), batch_sampler=todo,
                        collate_fn=list, num_workers=num_workers)
    written, unreadable = 0, []
    model.eval()
    for indices, inputs in tqdm(zip(todo, loader), total=len(todo), desc="pseudo labels", unit="batch",
                                disable=not progress):
        for x in inputs:
            if "unreadable" in x:
                logger.warning(f"skipped unreadable image {x['unreadable']} ({x['error']})")
                unreadable.append(x["unreadable"])
        readable = [(i, x) for i, x in zip(indices, inputs) if "unreadable" not in x]
        outputs = model([x for _, x in readable]) if readable else []
        for (index, _), output in zip(readable, outputs):
            if not os.path.exists(paths[index]):
                write_png_atomic(paths[index], scores_to_labels(output["sem_seg"], min_score))
                written += 1
    return LabelingStats(written, unreadable)


def write_manifest(output_dir: str, dataset_name: str, vocabulary: Sequence[str], count: int,
                   unreadable: Sequence[str] = (), **extra) -> None:
    """The completion record: source dataset, classes (label id order), image count and the images
    skipped as unreadable."""
    record = {"dataset": dataset_name, "classes": list(vocabulary), "count": count, "ignore_label": IGNORE_LABEL,
              "unreadable": sorted(unreadable), **extra}
    tmp = os.path.join(output_dir, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, os.path.join(output_dir, MANIFEST))


def run_pseudo_label_generation(cfg, dataset_name: str, output_dir: str, batch_size: int = 16,
                                min_score: float = 0.0, num_workers: int = 0,
                                model: Optional[torch.nn.Module] = None) -> LabelingStats:
    """Label ``dataset_name`` with ``model`` (default: the P-Seg of ``cfg`` with ``MODEL.WEIGHTS``, all
    weights required) on every rank; rank 0 writes the manifest once all ranks are done. Returns the
    PNGs written by this rank and the unreadable images of all ranks."""
    metadata = MetadataCatalog.get(dataset_name)
    if not hasattr(metadata, "stuff_classes"):
        raise ValueError(f"Dataset {dataset_name!r} has no stuff_classes in its metadata: no vocabulary to label with")
    vocabulary = list(metadata.stuff_classes)
    dicts = DatasetCatalog.get(dataset_name)
    model = model if model is not None else PSegPredictor(cfg).model
    stats = generate_pseudo_labels(
        model, DatasetMapper(cfg, is_train=False), dicts, vocabulary, output_dir, batch_size, min_score,
        num_workers, comm.get_rank(), comm.get_world_size(), progress=comm.is_main_process(),
    )
    unreadable = sorted(name for names in comm.all_gather(stats.unreadable) for name in names)
    if comm.is_main_process():
        write_manifest(output_dir, dataset_name, vocabulary, len(dicts), unreadable, weights=cfg.MODEL.WEIGHTS,
                       min_score=min_score)
    return LabelingStats(stats.written, unreadable)


def pseudo_label_dataset_dicts(source: str, label_dir: str) -> List[Dict]:
    """``source``'s dataset dicts with ``sem_seg_file_name`` pointing at the pseudo labels."""
    manifest_path = os.path.join(label_dir, MANIFEST)
    hint = (f"generate them with: tools/generate_pseudo_labels.py --config-file <P-Seg config> --dataset {source} "
            f"--output {label_dir} MODEL.WEIGHTS <P-Seg weights>")
    if not os.path.exists(manifest_path):
        raise FileNotFoundError(f"No finished pseudo labels of {source!r} in {label_dir} (no {MANIFEST}); {hint}")
    with open(manifest_path) as f:
        manifest = json.load(f)
    classes = list(MetadataCatalog.get(source).stuff_classes)
    if manifest["dataset"] != source or manifest["classes"] != classes:
        raise ValueError(f"{manifest_path} holds labels of {manifest['dataset']!r} with classes {manifest['classes'][:4]}..., "
                         f"not of {source!r} with {classes[:4]}...")
    skipped = set(manifest.get("unreadable", ()))
    dicts = [dict(d) for d in DatasetCatalog.get(source)]
    paths = label_paths(dicts, label_dir)
    dicts, paths = zip(*[(d, p) for d, p in zip(dicts, paths) if d["file_name"] not in skipped]) if dicts else ((), ())
    dicts = list(dicts)
    for d, path in zip(dicts, paths):
        if not os.path.exists(path):
            raise FileNotFoundError(f"Pseudo label {path} of {d['file_name']} is missing; {hint}")
        d["sem_seg_file_name"] = path
    return dicts


def register_pseudo_labels(source: str, label_dir: str, name: Optional[str] = None) -> str:
    """Register ``name`` (default ``<source>_pseudo``): ``source``'s images with the pseudo labels in
    ``label_dir``, and its classes; returns the name. Nothing is read until the dataset is loaded."""
    name = name or source + PSEUDO_SUFFIX
    metadata = MetadataCatalog.get(source)
    if not hasattr(metadata, "stuff_classes"):
        raise ValueError(f"Dataset {source!r} has no stuff_classes: it is not a registered semantic-segmentation dataset")
    unregister(name)
    DatasetCatalog.register(name, lambda: pseudo_label_dataset_dicts(source, label_dir))
    extra = {k: metadata.get(k) for k in ("stuff_colors", "image_root") if metadata.get(k) is not None}
    MetadataCatalog.get(name).set(stuff_classes=list(metadata.stuff_classes), ignore_label=IGNORE_LABEL,
                                  evaluator_type="sem_seg", sem_seg_root=label_dir, pseudo_labels_of=source, **extra)
    return name


def register_pseudo_label_datasets(cfg) -> List[str]:
    """Register every ``<source>_pseudo`` in ``DATASETS.TRAIN`` from ``<DATASETS.PSEUDO_LABELS_ROOT>/<source>``."""
    names = []
    for name in cfg.DATASETS.TRAIN:
        if name.endswith(PSEUDO_SUFFIX):
            source = name[: -len(PSEUDO_SUFFIX)]
            names.append(register_pseudo_labels(source, os.path.join(cfg.DATASETS.PSEUDO_LABELS_ROOT, source), name))
    return names
