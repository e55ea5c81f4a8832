"""Training inputs for a semantic-segmentation model: image and label map, resized, cropped, flipped."""
import copy
from typing import List

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T


class SemSegTrainMapper:
    """Dataset dict (``file_name``, ``sem_seg_file_name``) -> ``{"image": [3, h, w] uint8,
    "sem_seg": [h, w] int64, ...}`` after the same random resize, crop and flip of both.

    Crops avoid windows where one class covers more than INPUT.CROP.SINGLE_CATEGORY_MAX_AREA
    (ignored pixels do not count), as MaskFormer's semantic mapper does.
    """

    @configurable
    def __init__(self, *, augmentations: List[T.Augmentation], image_format: str):
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format

    @classmethod
    def from_config(cls, cfg):
        augs = [T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING)]
        if cfg.INPUT.CROP.ENABLED:
            augs.append(T.RandomCrop_CategoryAreaConstraint(
                cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE, cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA,
                cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
            ))
        augs.append(T.RandomFlip())
        return {"augmentations": augs, "image_format": cfg.INPUT.FORMAT}

    def __call__(self, dataset_dict: dict) -> dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        if "sem_seg_file_name" not in dataset_dict:
            raise ValueError(f"{dataset_dict.get('file_name')}: a semantic-segmentation training sample needs a "
                             "'sem_seg_file_name' (a label PNG)")
        image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        sem_seg = utils.read_image(dataset_dict.pop("sem_seg_file_name"))  # uint8: resized with PIL, nearest
        if sem_seg.ndim == 3:
            sem_seg = sem_seg[:, :, 0]
        utils.check_image_size(dataset_dict, image)
        if sem_seg.shape != image.shape[:2]:
            raise ValueError(f"{dataset_dict['file_name']}: label map {sem_seg.shape} and image {image.shape[:2]} differ in size")
        aug_input = T.AugInput(image, sem_seg=sem_seg)
        self.augmentations(aug_input)
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        dataset_dict["sem_seg"] = torch.as_tensor(aug_input.sem_seg.astype(np.int64))
        return dataset_dict
