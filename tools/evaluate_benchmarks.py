#!/usr/bin/env python
"""Evaluate one P-Seg checkpoint zero-shot on the benchmarks of an evaluation protocol and print one
mIoU table, beside the published figures of the paper, GroupViT and TCL under that protocol.

    tools/evaluate_benchmarks.py --num-gpus 8 MODEL.WEIGHTS output/pseg_swin_s/model_final.pth
    tools/evaluate_benchmarks.py --protocol groupvit --num-gpus 8 MODEL.WEIGHTS ...
    tools/evaluate_benchmarks.py --benchmarks voc context60 coco_object --output out/bench MODEL.WEIGHTS ...

Protocols (docs/protocols.md): ``default`` (the paper's choices; configs/eval/*.yaml, eight
benchmarks), ``groupvit`` (configs/eval/groupvit/, VOC21, Context60, COCO-Object) and ``tcl``
(configs/eval/tcl/, eight benchmarks). Each benchmark's settings (dataset, input size, and every
inference rule: ``MODEL.PSEG.TEST``) are the keys of its YAML itself (not of its ``_BASE_``), merged
onto the model config of ``--config-file``; command-line opts come last and win over both. The model
is built and loaded once; each benchmark runs it with the inference pipeline its config builds.
Benchmarks whose data is missing are listed as skipped, with the missing folder. The table is also
written to ``--output`` (default ``OUTPUT_DIR/benchmarks``) as ``benchmarks.json`` and ``benchmarks.md``.
Opts must not follow ``--benchmarks`` directly (they would be read as benchmark names): end the
list with another option, as in the second example.
"""
import json
import logging
import math
import os

import yaml
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.engine import default_argument_parser, default_setup
from detectron2.evaluation import SemSegEvaluator
from detectron2.utils import comm

from pseg_d2 import PSegTrainer
from pseg_d2.data.datasets.manifest import MANIFEST
from pseg_d2.data.datasets.published_results import published_results
from pseg_d2.engine import CheckpointLoadError, PSegCheckpointer, setup_cfg
from pseg_d2.inference import build_semantic_inference
from pseg_d2.utils.distributed import finish_distributed, launch_tool

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL_CONFIGS = os.path.join(REPO, "configs", "eval")
# Protocol -> its folder of <benchmark>.yaml under EVAL_CONFIGS.
PROTOCOLS = {"default": "", "groupvit": "groupvit", "tcl": "tcl"}
# <benchmark>.yaml -> the table's name for it, in the table's order.
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
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="default",
                        help="evaluation protocol: whose class names, templates, background rule, windows and "
                             "refinement (docs/protocols.md)")
    parser.add_argument("--benchmarks", nargs="+", choices=list(BENCHMARKS),
                        help="default: every benchmark the protocol covers")
    parser.add_argument("--output", default="", help="folder of benchmarks.json / .md (default OUTPUT_DIR/benchmarks)")
    return parser


def setup(args):
    """The model config: ``--config-file``, then opts (as tools/train_net.py)."""
    cfg = setup_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    return cfg


def protocol_benchmarks(protocol: str):
    """The benchmarks ``protocol`` covers (those with a YAML in its folder), in the table's order."""
    folder = os.path.join(EVAL_CONFIGS, PROTOCOLS[protocol])
    return [b for b in BENCHMARKS if os.path.isfile(os.path.join(folder, f"{b}.yaml"))]


def benchmark_cfg(cfg, benchmark: str, opts=(), protocol: str = "default"):
    """``cfg`` with the keys of ``protocol``'s ``<benchmark>.yaml`` (without its ``_BASE_``) merged on, then ``opts``."""
    with open(os.path.join(EVAL_CONFIGS, PROTOCOLS[protocol], f"{benchmark}.yaml")) as f:
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


def summary_markdown(rows: dict, mean, protocol: str = "default") -> str:
    """One table: this model's mIoU per benchmark beside each published figure under ``protocol``
    (figures not confirmed against their source marked *), then the sources."""
    published = [p for p in published_results(protocol) if p.benchmark in rows]
    methods = list(dict.fromkeys(p.method for p in published))
    figures = {(p.method, p.benchmark): f"{p.miou:.1f}" + ("" if p.checked else "*") for p in published}
    lines = ["| benchmark | dataset | this model | " + " | ".join(methods) + " |",
             "| --- | --- | --- |" + " --- |" * len(methods)]
    for benchmark, row in rows.items():
        result = f"{row['mIoU']:.1f}" if row["skipped"] is None else f"skipped: {row['skipped']}"
        cells = [figures.get((method, benchmark), "-") for method in methods]
        lines.append(f"| {row['name']} | {row['dataset']} | {result} | " + " | ".join(cells) + " |")
    evaluated = sum(row["skipped"] is None for row in rows.values())
    lines.append(f"| mean ({evaluated} of {len(rows)}) | | {'-' if mean is None else f'{mean:.1f}'} |"
                 + " |" * len(methods))
    lines.append(f"\nProtocol `{protocol}` (docs/protocols.md). Published figures:")
    lines += [f"- {source}" for source in dict.fromkeys(p.source for p in published)]
    if any(not p.checked for p in published):
        lines.append("- *: recalled from the source, not yet confirmed against it")
    return "\n".join(lines)


def main(args):
    cfg = setup(args)
    model = PSegTrainer.build_model(cfg)
    PSegCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=False)
    rows = {}
    covered = protocol_benchmarks(args.protocol)
    for benchmark in args.benchmarks or covered:
        if benchmark not in covered:
            raise ValueError(f"Protocol {args.protocol!r} covers {', '.join(covered)}, not {benchmark!r}")
        bench_cfg = benchmark_cfg(cfg, benchmark, args.opts, args.protocol)
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
    table = summary_markdown(rows, mean, args.protocol)
    summary = {"config_file": args.config_file, "weights": cfg.MODEL.WEIGHTS, "protocol": args.protocol,
               "benchmarks": rows, "mean_mIoU": mean,
               "published": [{**p._asdict(), "protocols": list(p.protocols)}
                             for p in published_results(args.protocol) if p.benchmark in rows]}
    output = args.output or os.path.join(cfg.OUTPUT_DIR, "benchmarks")
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "benchmarks.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(output, "benchmarks.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return summary


if __name__ == "__main__":
    launch_tool(main, build_parser().parse_args(), one_line_errors=(CheckpointLoadError,))
