#!/usr/bin/env python
"""P-Seg+ on the synthetic world: the P-Seg that ``make demo`` trained labels the synthetic train
images, a small UperNet + ViT trains on those labels on the CPU, and both are scored on the
validation sets; writes ``metrics.json`` and prints the table.

    tools/run_demo_plus.py --demo output/demo --output output/demo_plus
"""
import argparse
import os
import time

import torch
from detectron2.utils.logger import setup_logger

from pseg_d2.data.datasets.register_synthetic import register_synthetic
from pseg_d2.synthetic import write_train_images
from pseg_d2.selftrain.demo import VOCABULARIES, run_demo_plus, summary_table


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
