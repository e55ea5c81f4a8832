#!/usr/bin/env python
"""Label a registered dataset's images with a trained P-Seg: the pseudo labels that P-Seg+ trains on.

The vocabulary is the dataset's ``stuff_classes``; labels are uint8 PNGs (255 = ignored, below
--min-score) in --output (default ``<DATASETS.PSEUDO_LABELS_ROOT>/<dataset>``, where a P-Seg+
config's ``<dataset>_pseudo`` finds them). Resumable; with --num-gpus N each process labels its share.
Unreadable images are skipped, named and left out of the pseudo-label dataset; the exit status is then 1.

    tools/generate_pseudo_labels.py --config-file configs/eval/voc.yaml --dataset voc_2012_sem_seg_train \\
        --num-gpus 8 MODEL.WEIGHTS output/pseg_swin_s/model_final.pth
"""
import logging
import os

from detectron2.engine import default_argument_parser
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from pseg_d2.engine import CheckpointLoadError, setup_cfg
from pseg_d2.selftrain import run_pseudo_label_generation
from pseg_d2.utils.distributed import finish_distributed, launch_tool


def parse_args(argv=None):
    parser = default_argument_parser(__doc__)
    parser.add_argument("--dataset", required=True, help="a registered dataset (its train split)")
    parser.add_argument("--output", default="", help="label folder (default: <DATASETS.PSEUDO_LABELS_ROOT>/<dataset>)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass on each process")
    parser.add_argument("--min-score", type=float, default=0.0,
                        help="pixels whose best class scores lower are labelled 255 (ignored)")
    return parser.parse_args(argv)


def setup(args):
    cfg = setup_cfg(args.config_file, args.opts)
    setup_logger(distributed_rank=comm.get_rank(), name="pseg_d2")
    return cfg


def main(args):
    cfg = setup(args)
    output = args.output or os.path.join(cfg.DATASETS.PSEUDO_LABELS_ROOT, args.dataset)
    stats = run_pseudo_label_generation(cfg, args.dataset, output, args.batch_size, args.min_score,
                                        cfg.DATALOADER.NUM_WORKERS)
    logging.getLogger("pseg_d2").info(f"rank {comm.get_rank()}: wrote {stats.written} pseudo labels to {output}")
    finish_distributed()
    if stats.unreadable:
        raise SkippedInputs(f"{len(stats.unreadable)} unreadable image(s) skipped and left out of the pseudo-label "
                            f"dataset (named in the log and in {output}/pseudo_labels.json), e.g. {stats.unreadable[0]}")


class SkippedInputs(RuntimeError):
    """The run finished, but some inputs could not be read: the exit status says so."""


if __name__ == "__main__":
    launch_tool(main, parse_args(), one_line_errors=(CheckpointLoadError, SkippedInputs))
