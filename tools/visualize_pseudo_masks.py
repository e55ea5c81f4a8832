#!/usr/bin/env python
"""A grid of images and their pseudo-masks: what P-Seg's masks are trained to reproduce.

The generator is the config's MODEL.PSEUDO_MASK (DINO or colour K-Means); each cluster gets a
fixed colour.

    tools/visualize_pseudo_masks.py --input photos/ --num 8 --output grid.png
    tools/visualize_pseudo_masks.py --dataset synthetic_colors_val --output grid.png
    tools/visualize_pseudo_masks.py --config-file configs/pseg_swin_s.yaml --input "photos/*.jpg" \\
        --output grid.png --opts MODEL.PSEUDO_MASK.VIT_WEIGHTS dino_deitsmall8_pretrain.pth
"""
import argparse
import os

import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image

from pseg_d2.engine import DEMO_CONFIG, setup_cfg
from pseg_d2.modeling import build_pseudo_mask_generator
from pseg_d2.utils.visualize import list_images, palette, save_label_grid


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default=DEMO_CONFIG, metavar="FILE")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", nargs="+", help="image files, glob patterns or folders")
    source.add_argument("--dataset", help="a registered dataset name, e.g. synthetic_colors_val")
    p.add_argument("--num", type=int, default=8, help="number of images (the first ones)")
    p.add_argument("--output", default="pseudo_masks.png", help="the grid PNG")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config overrides, KEY VALUE pairs")
    return p


@torch.no_grad()
def pseudo_masks(generator: torch.nn.Module, image, device: str):
    """Image [H, W, 3] uint8 RGB -> cluster labels [H, W] (nearest-upsampled from the generator's grid)."""
    tensor = torch.from_numpy(image.transpose(2, 0, 1).copy()).float()[None].to(device)
    labels = generator(tensor).clone()[:, None].float()
    return F.interpolate(labels, size=image.shape[:2], mode="nearest")[0, 0].long().cpu().numpy()


def main(argv=None):
    args = get_parser().parse_args(argv)
    cfg = setup_cfg(args.config_file, args.opts)
    device = cfg.MODEL.DEVICE
    if args.dataset:
        paths = [d["file_name"] for d in DatasetCatalog.get(args.dataset)]
    else:
        paths = list_images(args.input)
    paths = paths[: args.num]

    generator = build_pseudo_mask_generator(cfg).to(device)
    k = generator.num_masks
    images = [read_image(path, format="RGB") for path in paths]
    masks = [pseudo_masks(generator, image, device) for image in images]
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    save_label_grid(args.output, images, [masks], ["image", "pseudo-masks"], [f"mask {i}" for i in range(k)],
                    palette(k), title=f"{cfg.MODEL.PSEUDO_MASK.NAME}, {k} masks")
    print(f"{len(images)} image(s): {args.output}")


if __name__ == "__main__":
    main()
