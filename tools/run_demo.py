#!/usr/bin/env python
"""The main job on the embedded synthetic world: P-Seg learns segmentation from captions alone.

Generates the world if absent, evaluates the untrained model, the all-background prediction and
the pseudo-mask oracle, trains P-Seg on the CPU, evaluates it with vocabularies chosen at test
time, and writes ``metrics.json``, a printed table, pictures and ``model_final.pth`` to --output.

    tools/run_demo.py --config-file configs/synthetic/pseg_regnet_synthetic.yaml --output output/demo
"""
import argparse
import json
import logging
import os
import time

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.utils.logger import setup_logger

from pseg_d2 import PSegTrainer
from pseg_d2.data.datasets.register_synthetic import register_synthetic
from pseg_d2.engine import setup_cfg
from pseg_d2.evaluation import (
    brief,
    constant_predictor,
    evaluate_label_maps,
    miou_table,
    oracle_predictor,
    read_ground_truth,
)
from pseg_d2.modeling import build_pseudo_mask_generator
from pseg_d2.synthetic import COLORS, SHAPES, WorldSpec, train_shards, write_world
from pseg_d2.utils.visualize import save_label_grid

EVAL_SETS = ("synthetic_colors_val", "synthetic_shapes_val", "synthetic_heldout_val", "synthetic_heldout_shapes_val")
logger = logging.getLogger("pseg_d2.demo")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True)
    p.add_argument("--output", default="output/demo")
    p.add_argument("--root", default=os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "synthetic"))
    p.add_argument("--size", type=int, default=64, help="image side of the synthetic world")
    p.add_argument("--world", default="{}", type=json.loads,
                   help='WorldSpec fields as JSON, e.g. \'{"same_color_shape_only": 0.75}\' (use a --root of its own)')
    p.add_argument("--num-train", type=int, default=30000)
    p.add_argument("--num-val", type=int, default=500)
    p.add_argument("--num-heldout", type=int, default=300)
    p.add_argument("--num-pictures", type=int, default=6)
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    return p.parse_args()


def setup(args, shards):
    cfg = setup_cfg(args.config_file, args.opts, freeze=False)
    cfg.DATASETS.IMAGE_TEXT.SHARDS = shards
    cfg.DATASETS.TEST = EVAL_SETS
    cfg.OUTPUT_DIR = args.output
    cfg.freeze()
    return cfg


def sem_seg_results(results):
    """Detectron2's ``{dataset: {"sem_seg": {...}}}`` -> ``{dataset: {...}}``."""
    return {name: r["sem_seg"] for name, r in results.items()}


def predict_labels(model, dicts, vocabulary):
    """Label maps [H, W] of the model for the images of ``dicts`` with ``vocabulary``."""
    model.eval()
    labels = []
    with torch.no_grad():
        for d in dicts:
            image = read_image(d["file_name"], format="RGB")
            inputs = {"image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), "vocabulary": vocabulary}
            labels.append(model([inputs])[0]["sem_seg"].argmax(0).cpu().numpy())
    return labels


def save_pictures(model, out_dir, num):
    """image | ground truth | prediction, per validation vocabulary; and a query with new phrases."""
    paths = []
    for name in ("synthetic_colors_val", "synthetic_shapes_val"):
        meta, dicts = MetadataCatalog.get(name), DatasetCatalog.get(name)[:num]
        images = [read_image(d["file_name"], format="RGB") for d in dicts]
        preds = predict_labels(model, dicts, list(meta.stuff_classes))
        path = os.path.join(out_dir, f"{name}.png")
        save_label_grid(path, images, [[read_ground_truth(d) for d in dicts], preds], ["image", "ground truth", "P-Seg"],
                        meta.stuff_classes, meta.stuff_colors, title=f"{name}: vocabulary chosen at test time")
        paths.append(path)
    # A vocabulary the model was never evaluated with: colour + shape phrases.
    dicts = DatasetCatalog.get("synthetic_colors_val")[:num]
    phrases = ["background"] + [f"{c} {s}" for c, s in zip(list(COLORS)[:4], list(SHAPES)[:4])]
    images = [read_image(d["file_name"], format="RGB") for d in dicts]
    colors = [(40, 40, 40)] + [tuple(int(v) for v in COLORS[c]) for c in list(COLORS)[:4]]
    path = os.path.join(out_dir, "open_vocabulary_query.png")
    save_label_grid(path, images, [predict_labels(model, dicts, phrases)], ["image", "P-Seg"], phrases, colors,
                    title="query: " + ", ".join(phrases[1:]))
    return paths + [path]


def main():
    wall_start = time.perf_counter()
    args = parse_args()
    os.makedirs(args.output, exist_ok=True)
    setup_logger(output=args.output, name="pseg_d2")
    setup_logger(output=args.output, name="detectron2")
    write_world(args.root, WorldSpec.from_dict({**args.world, "size": args.size}), num_train=args.num_train, num_val=args.num_val,
                num_heldout=args.num_heldout)
    register_synthetic(args.root)
    cfg = setup(args, train_shards(args.root))
    torch.manual_seed(cfg.SEED if cfg.SEED >= 0 else 0)

    metrics = {}
    logger.info("Evaluating baselines: untrained model, all-background, pseudo-mask oracle")
    metrics["untrained P-Seg"] = sem_seg_results(PSegTrainer.test(cfg, PSegTrainer.build_model(cfg)))
    metrics["all background"] = {d: evaluate_label_maps(d, constant_predictor(0), desc="all background") for d in EVAL_SETS}
    generator = build_pseudo_mask_generator(cfg).to(cfg.MODEL.DEVICE)
    metrics["pseudo-mask oracle"] = {
        d: evaluate_label_maps(d, oracle_predictor(generator, cfg.MODEL.DEVICE), desc="oracle") for d in EVAL_SETS
    }

    trainer = PSegTrainer(cfg)
    trainer.resume_or_load(resume=False)
    start = time.perf_counter()
    metrics["trained P-Seg"] = sem_seg_results(trainer.train())
    train_seconds = time.perf_counter() - start
    images_seen = cfg.SOLVER.MAX_ITER * cfg.SOLVER.IMS_PER_BATCH

    model = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
    pictures = save_pictures(model, args.output, args.num_pictures)
    summary = {
        "config": args.config_file,
        "opts": args.opts,
        "mask_feature_source": cfg.MODEL.PSEG.MASK_FEATURE_SOURCE,
        "inference": repr(model.semantic_inference),
        "train_seconds": round(train_seconds, 1),
        "train_images_per_second": round(images_seen / train_seconds, 1),
        "train_iterations": cfg.SOLVER.MAX_ITER,
        "wall_seconds": round(time.perf_counter() - wall_start, 1),  # world generation (if absent) included
        "metrics": {name: brief(per_set) for name, per_set in metrics.items()},
        "pictures": pictures,
    }
    with open(os.path.join(args.output, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print("\n" + miou_table(metrics, EVAL_SETS))
    print(f"\ntrained {cfg.SOLVER.MAX_ITER} iterations in {train_seconds / 60:.1f} min "
          f"({summary['train_images_per_second']} images/s), {summary['wall_seconds'] / 60:.1f} min in all; "
          f"model: {os.path.join(args.output, 'model_final.pth')}")
    print("pictures: " + ", ".join(pictures))


if __name__ == "__main__":
    main()
