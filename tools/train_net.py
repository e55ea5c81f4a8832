#!/usr/bin/env python
"""Train or evaluate P-Seg with Detectron2.

    tools/train_net.py --config-file configs/pseg_swin_s.yaml --num-gpus 8
    tools/train_net.py --config-file configs/pseg_swin_s.yaml --eval-only MODEL.WEIGHTS model_final.pth
    tools/train_net.py --config-file configs/pseg_plus/voc.yaml --num-gpus 8   # P-Seg+ (SemanticSegmentor)
    torchrun --nproc_per_node 8 tools/train_net.py --config-file configs/pseg_swin_s.yaml   # or under torchrun
"""
from detectron2.engine import default_argument_parser, default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from pseg_d2 import PSegPlusTrainer, PSegTrainer
from pseg_d2.data.skips import DataStalled
from pseg_d2.engine import CheckpointLoadError, PSegCheckpointer, setup_cfg
from pseg_d2.engine.checkpoint import require_weights_file
from pseg_d2.utils.distributed import finish_distributed, launch_tool


def setup(args):
    cfg = setup_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="pseg_d2")
    return cfg


def main(args):
    cfg = setup(args)
    # P-Seg+ configs use Detectron2's SemanticSegmentor; everything else is P-Seg.
    Trainer = PSegPlusTrainer if cfg.MODEL.META_ARCHITECTURE == "SemanticSegmentor" else PSegTrainer
    if args.eval_only:
        if not args.resume:
            require_weights_file(cfg.MODEL.WEIGHTS)
        model = Trainer.build_model(cfg)
        PSegCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = Trainer.test(cfg, model)
    else:
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        results = trainer.train()
    finish_distributed()
    return results


if __name__ == "__main__":
    # One line for what the user must fix: a checkpoint that is not weights only, data that forms no batch.
    launch_tool(main, default_argument_parser().parse_args(), one_line_errors=(CheckpointLoadError, DataStalled))
