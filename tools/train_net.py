#!/usr/bin/env python
"""Train or evaluate P-Seg with Detectron2.

    tools/train_net.py --config-file configs/pseg_swin_s.yaml --num-gpus 8
    tools/train_net.py --config-file configs/pseg_swin_s.yaml --eval-only MODEL.WEIGHTS model_final.pth
    tools/train_net.py --config-file configs/pseg_plus/voc.yaml --num-gpus 8   # P-Seg+ (SemanticSegmentor)
    torchrun --nproc_per_node 8 tools/train_net.py --config-file configs/pseg_swin_s.yaml   # or under torchrun
"""
import logging

import torch
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from pseg_d2 import PSegPlusTrainer, PSegTrainer, add_pseg_config, add_pseg_plus_config
from pseg_d2.engine import PSegCheckpointer
from pseg_d2.engine.checkpoint import require_weights_file
from pseg_d2.utils.distributed import finish_distributed, launch_from_env, started_by_torchrun


def setup(args):
    cfg = get_cfg()
    add_pseg_config(cfg)
    add_pseg_plus_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logging.getLogger("pseg_d2").warning("CUDA is not available: running on the CPU (MODEL.DEVICE cpu).")
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
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
    args = default_argument_parser().parse_args()
    if started_by_torchrun():  # torchrun started the processes: --num-gpus/--num-machines are not used
        launch_from_env(main, args=(args,))
    else:
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
