"""Score any per-image label-map predictor with Detectron2's ``SemSegEvaluator`` (baselines, oracles)."""
from typing import Callable, Dict, Iterable, List

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.evaluation import SemSegEvaluator
from detectron2.utils.file_io import PathManager
from PIL import Image
from tqdm import tqdm


def one_hot_sem_seg(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[H, W] class ids -> [C, H, W] scores whose argmax is ``labels``, as ``SemSegEvaluator`` reads them."""
    return F.one_hot(labels.long(), num_classes).permute(2, 0, 1).float()


def read_ground_truth(dataset_dict: dict) -> np.ndarray:
    with PathManager.open(dataset_dict["sem_seg_file_name"], "rb") as f:
        return np.asarray(Image.open(f), dtype=np.int64)


def evaluate_label_maps(
    dataset_name: str,
    predict: Callable[[List[dict], List[np.ndarray]], Iterable[np.ndarray]],
    batch_size: int = 16,
    desc: str = "",
) -> Dict[str, float]:
    """Run ``predict(dataset_dicts, rgb_images) -> [H, W] label maps`` over a registered dataset.

    Returns the evaluator's ``sem_seg`` dict (mIoU, fwIoU, mACC, pACC, IoU-<class>...).
    """
    dicts = DatasetCatalog.get(dataset_name)
    num_classes = len(MetadataCatalog.get(dataset_name).stuff_classes)
    evaluator = SemSegEvaluator(dataset_name, distributed=False)
    evaluator.reset()
    for start in tqdm(range(0, len(dicts), batch_size), desc=desc or dataset_name, leave=False):
        batch = dicts[start : start + batch_size]
        images = [read_image(d["file_name"], format="RGB") for d in batch]
        outputs = [{"sem_seg": one_hot_sem_seg(torch.as_tensor(labels), num_classes)} for labels in predict(batch, images)]
        evaluator.process(batch, outputs)
    return evaluator.evaluate()["sem_seg"]


def constant_predictor(class_id: int):
    """A predictor labelling every pixel ``class_id`` (e.g. the all-background baseline)."""

    def predict(batch, images):
        return [np.full(image.shape[:2], class_id, dtype=np.int64) for image in images]

    return predict
