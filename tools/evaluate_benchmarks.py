#!/usr/bin/env python
"""Evaluate one P-Seg checkpoint zero-shot on the eight benchmarks and print one mIoU table.

    tools/evaluate_benchmarks.py --num-gpus 8 MODEL.WEIGHTS output/pseg_swin_s/model_final.pth
    tools/evaluate_benchmarks.py --benchmarks voc context60 coco_object --output out/bench MODEL.WEIGHTS ...

Each benchmark's settings (dataset, input size, and every inference rule: ``MODEL.PSEG.TEST``) are the
keys of ``configs/eval/<benchmark>.yaml`` itself (not of its ``_BASE_``), merged onto the model config of
``--config-file``; command-line opts come last and win over both. The model is built and loaded once;
each benchmark runs it with the inference pipeline its config builds.
Benchmarks whose data is missing are listed as skipped, with the missing folder. The table is also
written to ``--output`` (default ``OUTPUT_DIR/benchmarks``) as ``benchmarks.json`` and ``benchmarks.md``.
Opts must not follow ``--benchmarks`` directly (they would be read as benchmark names): end the
list with another option, as in the second example.
"""
import json
import logging
import math
import os
import sys

import yaml
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import SemSegEvaluator
from detectron2.utils import comm

from pseg_d2 import PSegTrainer
from pseg_d2.data.datasets.manifest import MANIFEST
from pseg_d2.engine import CheckpointLoadError, PSegCheckpointer, setup_cfg
from pseg_d2.inference import build_semantic_inference
from pseg_d2.utils.distributed import finish_distributed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL_CONFIGS = os.path.join(REPO, "configs", "eval")
# configs/eval/<key>.yaml -> the table's name for it, in the table's order.
BENCHMARKS = {
    "voc": "VOC21",
    "context60": "Context60",
    "coco_object": "COCO-Object",
    "voc20": "VOC20",
    "context59": "Context59",
    "coco_stuff": "COCO-Stuff",
    "cityscapes": "Cityscapes",
    "ade20k": "ADE20K",
}
# Metadata entries naming a dataset's folders (pseg_d2 and Detectron2 registrations).
DATA_FOLDER_KEYS = ("image_root", "sem_seg_root", "image_dir", "gt_dir")

logger = logging.getLogger("detectron2.evaluate_benchmarks")


def build_parser():
    parser = default_argument_parser(epilog=__doc__)
    parser.set_defaults(config_file=os.path.join(REPO, "configs", "pseg_swin_s.yaml"))
    parser.add_argument("--benchmarks", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--output", default="", help="folder of benchmarks.json / .md (default OUTPUT_DIR/benchmarks)")
    return parser


def setup(args):
    """The model config: ``--config-file``, then opts (as tools/train_net.py)."""
    cfg = setup_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    return cfg


def benchmark_cfg(cfg, benchmark: str, opts=()):
    """``cfg`` with the keys of ``configs/eval/<benchmark>.yaml`` (without its ``_BASE_``) merged on, then ``opts``."""
    with open(os.path.join(EVAL_CONFIGS, f"{benchmark}.yaml")) as f:
        settings = yaml.safe_load(f)
    settings.pop("_BASE_", None)
    cfg = cfg.clone()
    cfg.defrost()
    cfg.merge_from_other_cfg(CfgNode(settings))
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


def missing_folder(dataset_name: str):
    """The first registered folder of ``dataset_name`` that does not exist, or the record of a
    conversion that did not finish, or None."""
    metadata = MetadataCatalog.get(dataset_name)
    for key in DATA_FOLDER_KEYS:
        folder = metadata.get(key)
        if folder and not os.path.isdir(folder):
            return folder
    script = metadata.get("prepare_script", None)
    if script and not os.path.isfile(os.path.join(metadata.sem_seg_root, MANIFEST)):
        return f"{os.path.join(metadata.sem_seg_root, MANIFEST)} (run {script})"
    return None


def evaluate(model, cfg) -> dict:
    """SemSegEvaluator metrics of ``model`` on ``cfg``'s one test set, run with the inference pipeline of
    ``cfg.MODEL.PSEG.TEST`` ({} off the main rank)."""
    model.semantic_inference = build_semantic_inference(cfg)
    (dataset,) = cfg.DATASETS.TEST
    # SemSegEvaluator for every set: Cityscapes' own evaluator needs cityscapesscripts, and its
    # labelTrainIds maps are plain semantic labels (19 classes, 255 ignored).
    results = PSegTrainer.test(cfg, model, evaluators=[SemSegEvaluator(dataset, distributed=True)])
    # NaN (the IoU of a class neither predicted nor present) -> None, so the JSON stays standard.
    return {key: None if math.isnan(value) else value for key, value in results.get("sem_seg", {}).items()}


def summary_markdown(rows: dict, mean) -> str:
    lines = ["| benchmark | dataset | mIoU |", "| --- | --- | --- |"]
    for row in rows.values():
        result = f"{row['mIoU']:.1f}" if row["skipped"] is None else f"skipped: {row['skipped']}"
        lines.append(f"| {row['name']} | {row['dataset']} | {result} |")
    evaluated = sum(row["skipped"] is None for row in rows.values())
    lines.append(f"| mean ({evaluated} of {len(rows)}) | | {'-' if mean is None else f'{mean:.1f}'} |")
    return "\n".join(lines)


def main(args):
    cfg = setup(args)
    model = PSegTrainer.build_model(cfg)
    PSegCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=False)
    rows = {}
    for benchmark in args.benchmarks:
        bench_cfg = benchmark_cfg(cfg, benchmark, args.opts)
        (dataset,) = bench_cfg.DATASETS.TEST
        row = {"name": BENCHMARKS[benchmark], "dataset": dataset, "mIoU": None, "skipped": None, "metrics": {}}
        missing = missing_folder(dataset)
        if missing:
            row["skipped"] = f"missing {missing}"
            logger.warning(f"Skipping {benchmark}: {row['skipped']}")
        else:
            row["metrics"] = evaluate(model, bench_cfg)
            row["mIoU"] = row["metrics"].get("mIoU")
        rows[benchmark] = row
    summary = write_summary(args, cfg, rows) if comm.is_main_process() else None
    finish_distributed()
    return summary


def write_summary(args, cfg, rows):
    """Write benchmarks.json and benchmarks.md under --output (default OUTPUT_DIR/benchmarks)."""
    scores = [row["mIoU"] for row in rows.values() if row["skipped"] is None]
    mean = sum(scores) / len(scores) if scores else None
    table = summary_markdown(rows, mean)
    summary = {"config_file": args.config_file, "weights": cfg.MODEL.WEIGHTS, "benchmarks": rows, "mean_mIoU": mean}
    output = args.output or os.path.join(cfg.OUTPUT_DIR, "benchmarks")
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "benchmarks.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(output, "benchmarks.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return summary


if __name__ == "__main__":
    args = build_parser().parse_args()
    try:
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except CheckpointLoadError as err:  # one line, not torch's unpickling report
        sys.exit(f"error: {err}")
