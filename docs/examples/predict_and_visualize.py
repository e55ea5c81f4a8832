#!/usr/bin/env python
"""Segment an image with Detectron2's ``DefaultPredictor`` and draw it with Detectron2's ``Visualizer``.

    python docs/examples/predict_and_visualize.py --config-file configs/tiny/pseg_r18_tiny.yaml \\
        --input photo.jpg --output photo_seg.png --vocabulary "background, cat, dog" \\
        MODEL.WEIGHTS output/my_pseg/model_final.pth

The vocabulary is the config's ``MODEL.PSEG.TEST.VOCABULARY`` (here from --vocabulary); the predictor
returns ``{"sem_seg": [C, H, W]}`` scores, one channel per class name. Registering the vocabulary as
metadata (``stuff_classes``, ``stuff_colors``) lets the ``Visualizer`` name each region.
"""
import argparse

import cv2
import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.engine import DefaultPredictor
from detectron2.utils.visualizer import Visualizer

from pseg_d2.engine import setup_cfg


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--input", required=True, help="an image file")
    parser.add_argument("--output", required=True, help="the drawing (PNG); the labels go to <output>_labels.png")
    parser.add_argument("--vocabulary", required=True, help='class names separated by commas, e.g. "background, cat"')
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    args = parser.parse_args()
    classes = [name.strip() for name in args.vocabulary.split(",") if name.strip()]

    cfg = setup_cfg(args.config_file, [*args.opts, "MODEL.PSEG.TEST.VOCABULARY", classes])
    predictor = DefaultPredictor(cfg)
    image = cv2.imread(args.input)  # BGR, as DefaultPredictor expects by default
    labels = predictor(image)["sem_seg"].argmax(0).cpu().numpy()  # [H, W] class indices

    colors = np.random.default_rng(0).integers(0, 256, (len(classes), 3)).tolist()
    metadata = MetadataCatalog.get("my_vocabulary").set(stuff_classes=classes, stuff_colors=colors)
    drawing = Visualizer(image[:, :, ::-1], metadata).draw_sem_seg(labels, alpha=0.5)
    cv2.imwrite(args.output, drawing.get_image()[:, :, ::-1])
    cv2.imwrite(args.output.rsplit(".", 1)[0] + "_labels.png", labels.astype(np.uint8))
    print(f"{args.input}: classes {sorted({classes[i] for i in np.unique(labels)})} -> {args.output}")


if __name__ == "__main__":
    main()
