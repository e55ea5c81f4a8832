#!/usr/bin/env python
"""Train and evaluate P-Seg with your own Detectron2 ``DefaultTrainer`` subclass.

    python docs/examples/train_with_default_trainer.py --config-file configs/tiny/pseg_r18_tiny.yaml \\
        DATASETS.IMAGE_TEXT.SHARDS '["shards/{00000..00009}.tar"]' DATASETS.TEST '("synthetic_colors_val",)' \\
        SOLVER.MAX_ITER 100 OUTPUT_DIR output/my_pseg

P-Seg trains on image-text shards, not on a dataset of annotations, so the trainer builds its training
loader with ``build_image_text_train_loader``; it trains with the paper's AdamW (``build_pseg_optimizer``;
Detectron2's default is SGD) and evaluates with Detectron2's ``SemSegEvaluator``. Evaluation inputs come
from Detectron2's own ``DatasetMapper``: the model scores the classes of ``MODEL.PSEG.TEST.VOCABULARY``, or
else the ``stuff_classes`` of the first ``DATASETS.TEST`` set.
"""
import argparse

from detectron2.engine import DefaultTrainer
from detectron2.evaluation import SemSegEvaluator
from detectron2.utils.logger import setup_logger

from pseg_d2.data import build_image_text_train_loader
from pseg_d2.engine import build_pseg_optimizer, setup_cfg


class Trainer(DefaultTrainer):
    @classmethod
    def build_train_loader(cls, cfg):
        return build_image_text_train_loader(cfg)  # batches of {"image", "text"} from DATASETS.IMAGE_TEXT.SHARDS

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_pseg_optimizer(cfg, model)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        return SemSegEvaluator(dataset_name, output_dir=output_folder)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    args = parser.parse_args()
    setup_logger()
    cfg = setup_cfg(args.config_file, args.opts)  # Detectron2's defaults + P-Seg's keys, the file, the overrides
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()  # evaluates DATASETS.TEST after the last iteration (and every TEST.EVAL_PERIOD)


if __name__ == "__main__":
    main()
