"""The pseudo-mask oracle (the paper's Table 1): each pseudo-mask takes its majority ground-truth class."""
import numpy as np
import torch
import torch.nn.functional as F

from .label_maps import read_ground_truth


def majority_labels(clusters: np.ndarray, gt: np.ndarray, num_clusters: int, ignore_label: int = 255) -> np.ndarray:
    """Relabel each cluster of ``clusters`` [H, W] with its most frequent non-ignored class in ``gt`` [H, W]."""
    valid = gt != ignore_label
    num_classes = int(gt[valid].max()) + 1 if valid.any() else 1
    counts = np.zeros((num_clusters, num_classes), dtype=np.int64)
    np.add.at(counts, (clusters[valid], gt[valid]), 1)
    return counts.argmax(1)[clusters]


def oracle_predictor(generator: torch.nn.Module, device: str = "cpu", ignore_label: int = 255):
    """A predictor for :func:`evaluate_label_maps`: pseudo-masks of a batch of images (which must share
    a size), resized to each ground truth's size and labelled with its majority class there."""

    @torch.no_grad()
    def predict(batch, images):
        tensor = torch.stack([torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))) for im in images]).float().to(device)
        clusters = generator(tensor).clone()[:, None].float()
        labels = []
        for c, d in zip(clusters, batch):
            gt = read_ground_truth(d)
            c = F.interpolate(c[None], size=gt.shape, mode="nearest")[0, 0].long().cpu().numpy()
            labels.append(majority_labels(c, gt, generator.num_masks, ignore_label))
        return labels

    return predict
