#!/usr/bin/env python
"""Generate the synthetic open-vocabulary world (webdataset train shards, val and held-out
evaluation splits). Resumable: rerunning finishes an interrupted run and skips done splits.

    python tools/make_synthetic_world.py --num-train 30000 --size 64
"""
import argparse
import json
import os

from pseg_d2.synthetic import TRAIN_IMAGES, WorldSpec, write_train_images, write_world


def parse_args(argv=None):
    default_root = os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "synthetic")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=default_root,
                        help="output directory (default: %(default)s)")
    parser.add_argument("--num-train", type=int, default=30000)
    parser.add_argument("--num-val", type=int, default=500)
    parser.add_argument("--num-heldout", type=int, default=300)
    parser.add_argument("--num-train-images", type=int, default=0,
                        help="also write the first N training samples as PNGs (train_images/, for P-Seg+)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--world", default="{}", type=json.loads,
                        help='other WorldSpec fields as JSON, e.g. \'{"min_objects": 1}\' (use a --root of its own)')
    parser.add_argument("--shard-size", type=int, default=1000, help="samples per training shard")
    parser.add_argument("--workers", type=int, default=None,
                        help="generator processes (default: up to 4, one per CPU)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    records = write_world(args.root, WorldSpec.from_dict({**args.world, "size": args.size, "seed": args.seed}),
                          num_train=args.num_train, num_val=args.num_val,
                          num_heldout=args.num_heldout, shard_size=args.shard_size,
                          workers=args.workers)
    if args.num_train_images:
        records[TRAIN_IMAGES] = write_train_images(args.root, args.num_train_images, args.workers)
    print(json.dumps({split: r["count"] for split, r in records.items()}), "->", args.root)


if __name__ == "__main__":
    main()
