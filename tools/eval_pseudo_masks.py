#!/usr/bin/env python
"""The pseudo-mask oracle (the paper's Table 1) on a registered semantic-segmentation dataset.

Each pseudo-mask is labelled with its majority ground-truth class; prints the mIoU and the
generator's time per image amortised over a batch.

    tools/eval_pseudo_masks.py --dataset voc_2012_sem_seg_val \
        MODEL.PSEUDO_MASK.VIT_WEIGHTS checkpoints/dino_deitsmall8_pretrain.pth
    tools/eval_pseudo_masks.py --dataset synthetic_colors_val --config-file configs/synthetic/pseg_regnet_synthetic.yaml
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from pseg_d2.engine import setup_cfg
from pseg_d2.evaluation import evaluate_label_maps, oracle_predictor
from pseg_d2.modeling import build_pseudo_mask_generator


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="a registered dataset with sem_seg ground truth")
    p.add_argument("--config-file", default="configs/pseg_swin_s.yaml", help="MODEL.PSEUDO_MASK.* is read from it")
    p.add_argument("--generator", default=None, help="override MODEL.PSEUDO_MASK.NAME (e.g. ColorKMeansGenerator)")
    p.add_argument("--resize", type=int, default=448, help="images are resized to this square size (0: keep)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("opts", nargs=argparse.REMAINDER)
    return p.parse_args()


def resized_images(predict, size):
    """Feed the predictor ``size`` x ``size`` copies of the images (so a batch shares one size)."""
    if not size:
        return predict

    def wrapped(batch, images):
        small = [
            F.interpolate(torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1)))[None].float(), size=(size, size),
                          mode="bilinear", align_corners=False)[0].round().clamp(0, 255).byte().numpy().transpose(1, 2, 0)
            for im in images
        ]
        return predict(batch, small)

    return wrapped


def main():
    args = parse_args()
    cfg = setup_cfg(args.config_file, args.opts, freeze=False)
    if args.generator:
        cfg.MODEL.PSEUDO_MASK.NAME = args.generator
    generator = build_pseudo_mask_generator(cfg).to(args.device)
    predict = oracle_predictor(generator, args.device)
    timer = {"seconds": 0.0, "images": 0}

    def timed(batch, images):
        start = time.perf_counter()
        out = predict(batch, images)
        timer["seconds"] += time.perf_counter() - start
        timer["images"] += len(images)
        return out

    results = evaluate_label_maps(args.dataset, resized_images(timed, args.resize), args.batch_size, desc="pseudo-mask oracle")
    summary = {
        "dataset": args.dataset,
        "generator": cfg.MODEL.PSEUDO_MASK.NAME,
        "num_clusters": cfg.MODEL.PSEUDO_MASK.NUM_CLUSTERS,
        "oracle_mIoU": round(results["mIoU"], 2),
        "seconds_per_image": round(timer["seconds"] / max(timer["images"], 1), 5),
        "batch_size": args.batch_size,
        "device": args.device,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
