#!/usr/bin/env python
"""P-Seg+ on the synthetic world: the P-Seg that ``make demo`` trained labels the synthetic train
images with each vocabulary, a small UperNet + ViT trains on each set of labels on the CPU, and both
models are scored on the validation sets of that vocabulary; writes ``metrics.json`` and prints the table.

    tools/run_demo_plus.py --demo output/demo --output output/demo_plus
"""
import argparse
import json
import os
import time
from typing import Dict, List, Sequence

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.utils.logger import setup_logger
from PIL import Image
from tabulate import tabulate

from pseg_d2 import PSegPlusTrainer, PSegPredictor, PSegTrainer
from pseg_d2.data.datasets.register_synthetic import register_synthetic
from pseg_d2.engine import setup_cfg
from pseg_d2.evaluation import brief, evaluate_label_maps, miou_table, score, short_name
from pseg_d2.selftrain.pseudo_labels import label_paths, run_pseudo_label_generation
from pseg_d2.synthetic import write_train_images

# vocabulary -> (train images dataset, validation datasets)
VOCABULARIES = {
    "colors": ("synthetic_colors_train", ("synthetic_colors_val", "synthetic_heldout_val")),
    "shapes": ("synthetic_shapes_train", ("synthetic_shapes_val", "synthetic_heldout_shapes_val")),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demo", default="output/demo", help="output folder of `make demo` (model_final.pth, metrics.json)")
    p.add_argument("--output", default="output/demo_plus")
    p.add_argument("--config-file", default="configs/pseg_plus/synthetic.yaml")
    p.add_argument("--root", default=os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "synthetic"))
    p.add_argument("--num-train-images", type=int, default=4000, help="synthetic train images to pseudo-label")
    p.add_argument("--vocabularies", nargs="+", default=["colors"], choices=sorted(VOCABULARIES))
    p.add_argument("opts", nargs=argparse.REMAINDER, help="P-Seg+ config overrides, KEY VALUE pairs")
    return p.parse_args()


def demo_pseg_cfg(demo_dir: str):
    """The config ``make demo`` trained with (from its ``metrics.json``) and its ``model_final.pth``."""
    weights = os.path.join(demo_dir, "model_final.pth")
    metrics = os.path.join(demo_dir, "metrics.json")
    for path in (weights, metrics):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: P-Seg+ starts from the demo's trained P-Seg; run `make demo` first")
    with open(metrics) as f:
        summary = json.load(f)
    cfg = setup_cfg(summary["config"], [*summary["opts"], "MODEL.DEVICE", "cpu"], freeze=False)
    cfg.MODEL.WEIGHTS = weights
    return cfg


def pseg_plus_cfg(config_file: str, train_set: str, test_sets: Sequence[str], label_root: str, output_dir: str, opts):
    cfg = setup_cfg(config_file, [*opts, "MODEL.DEVICE", "cpu"], freeze=False)
    cfg.DATASETS.TRAIN = (train_set + "_pseudo",)
    cfg.DATASETS.TEST = tuple(test_sets)
    cfg.DATASETS.PSEUDO_LABELS_ROOT = label_root
    cfg.OUTPUT_DIR = output_dir
    return cfg


def evaluate(trainer_cls, cfg, model, dataset_names: Sequence[str]) -> Dict[str, dict]:
    """{dataset: SemSegEvaluator's sem_seg results} of ``model``, one dataset at a time."""
    results = {}
    for name in dataset_names:
        one = cfg.clone()
        one.DATASETS.TEST = (name,)
        results[name] = trainer_cls.test(one, model)["sem_seg"]
    return results


def pseudo_label_quality(source: str, label_dir: str) -> dict:
    """The pseudo labels of ``source`` scored against its ground truth (SemSegEvaluator's dict)."""
    dicts = DatasetCatalog.get(source)
    paths = dict(zip((d["file_name"] for d in dicts), label_paths(dicts, label_dir)))

    def read_labels(batch, images):
        return [np.asarray(Image.open(paths[d["file_name"]]), dtype=np.int64) for d in batch]

    return evaluate_label_maps(source, read_labels, desc=f"pseudo labels of {source}")


def run_demo_plus(demo_dir: str, output_dir: str, config_file: str, vocabularies: Sequence[str],
                  batch_size: int = 32, opts: Sequence[str] = ()) -> dict:
    """Label, train and evaluate for each vocabulary; returns the summary written to metrics.json."""
    unknown = set(vocabularies) - set(VOCABULARIES)
    if unknown:
        raise ValueError(f"unknown vocabularies {sorted(unknown)}; choose from {sorted(VOCABULARIES)}")
    pseg_cfg = demo_pseg_cfg(demo_dir)
    label_root = os.path.join(output_dir, "pseudo_labels")
    metrics: Dict[str, Dict[str, dict]] = {"P-Seg": {}, "P-Seg+": {}}
    label_quality, seconds = {}, {}
    teacher = PSegPredictor(pseg_cfg).model
    for vocabulary in vocabularies:
        train_set, val_sets = VOCABULARIES[vocabulary]
        start = time.perf_counter()
        run_pseudo_label_generation(pseg_cfg, train_set, os.path.join(label_root, train_set), batch_size, model=teacher)
        seconds[f"pseudo_labels_{vocabulary}"] = round(time.perf_counter() - start, 1)
        label_quality[train_set] = pseudo_label_quality(train_set, os.path.join(label_root, train_set))
        metrics["P-Seg"].update(evaluate(PSegTrainer, pseg_cfg, teacher, val_sets))

        cfg = pseg_plus_cfg(config_file, train_set, val_sets, label_root, os.path.join(output_dir, f"pseg_plus_{vocabulary}"), opts)
        start = time.perf_counter()
        trainer = PSegPlusTrainer(cfg)
        trainer.resume_or_load(resume=False)
        metrics["P-Seg+"].update({name: r["sem_seg"] for name, r in trainer.train().items()})
        seconds[f"train_pseg_plus_{vocabulary}"] = round(time.perf_counter() - start, 1)
    summary = {
        "teacher": pseg_cfg.MODEL.WEIGHTS,
        "config": config_file,
        "opts": list(opts),
        "vocabularies": list(vocabularies),
        "train_iterations": cfg.SOLVER.MAX_ITER,
        "seconds": seconds,
        "pseudo_label_quality": brief(label_quality),
        "metrics": {model: brief(per_set) for model, per_set in metrics.items()},
    }
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def summary_table(summary: dict) -> str:
    """P-Seg vs P-Seg+ as mIoU (pixel acc.) per validation set, and the pseudo labels' own scores."""
    sets: List[str] = [d for v in summary["vocabularies"] for d in VOCABULARIES[v][1]]
    quality = tabulate([[short_name(d), score(r)] for d, r in summary["pseudo_label_quality"].items()],
                       headers=["pseudo labels of", "mIoU (pixel acc.) vs ground truth"], tablefmt="github")
    return miou_table(summary["metrics"], sets) + "\n\n" + quality


def main():
    args = parse_args()
    start = time.perf_counter()
    os.makedirs(args.output, exist_ok=True)
    setup_logger(output=args.output, name="pseg_d2")
    setup_logger(output=args.output, name="detectron2")
    torch.manual_seed(0)
    write_train_images(args.root, args.num_train_images)
    register_synthetic(args.root)
    summary = run_demo_plus(args.demo, args.output, args.config_file, args.vocabularies, opts=args.opts)
    print("\n" + summary_table(summary))
    print(f"\nwhole run: {(time.perf_counter() - start) / 60:.1f} min; {os.path.join(args.output, 'metrics.json')}")


if __name__ == "__main__":
    main()
