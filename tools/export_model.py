#!/usr/bin/env python
"""Export a trained P-Seg model with a fixed vocabulary as ONNX, for deployment without pseg_d2.

    tools/export_model.py --config-file configs/pseg_swin_s.yaml --output export/ \\
        --vocabulary "person; man; woman, dog, sky" MODEL.WEIGHTS output/pseg_swin_s/model_final.pth
    demo/demo.py --onnx export/model.onnx --input photos/ --output out/

Writes ``<output>/model.onnx`` (input ``image``: float32 [B, 3, H, W], 0-255, the config's
INPUT.FORMAT; output ``scores``: float32 [B, C, H, W], one channel per vocabulary name) and
``<output>/model.json`` (the vocabulary, synonyms and how to prepare inputs). The vocabulary's class
embeddings are computed once and stored in the graph. The input size is fixed (default: a square of
the config's INPUT.MIN_SIZE_TEST); the batch size is not. Without --vocabulary the config's default
(MODEL.PSEG.TEST.VOCABULARY, else the first DATASETS.TEST set's stuff_classes) is exported as it is.
The exported rules are the config's MODEL.PSEG.TEST for whole images; region voting, PAMR, sliding
windows and the border background rule are refused with the key to change. After writing, the
graph is run once with onnxruntime and compared with the eager model.
"""
import argparse
import logging
import os
import sys

import numpy as np
import torch
from detectron2.utils.logger import setup_logger

from pseg_d2.engine import load_predictor, setup_cfg
from pseg_d2.export import FixedVocabularySegmenter, OnnxPredictor, export_onnx
from pseg_d2.inference.build import default_vocabulary
from pseg_d2.vocabulary import Vocabulary

logger = logging.getLogger("pseg_d2.export")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--output", required=True, help="folder for model.onnx and model.json (created)")
    p.add_argument("--vocabulary", help='classes, e.g. "person; man; woman, dog, sky" (as demo/demo.py reads them)')
    p.add_argument("--background-words", default="", help='stuff words that all count as background, e.g. "wall; floor"')
    p.add_argument("--no-background", action="store_true", help="with --vocabulary: add no background class")
    p.add_argument("--height", type=int, help="input height (default INPUT.MIN_SIZE_TEST)")
    p.add_argument("--width", type=int, help="input width (default INPUT.MIN_SIZE_TEST)")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    return p


def build_vocabulary(args, parser, cfg) -> Vocabulary:
    if not args.vocabulary:
        if args.background_words or args.no_background:
            parser.error("--background-words and --no-background apply to --vocabulary")
        names = default_vocabulary(cfg)()
        if not names:
            parser.error("no vocabulary: give --vocabulary, MODEL.PSEG.TEST.VOCABULARY or DATASETS.TEST")
        return Vocabulary(names)
    try:
        return Vocabulary.parse(args.vocabulary, args.background_words, add_background=not args.no_background,
                                background_name=cfg.MODEL.PSEG.TEST.BACKGROUND_CLASS_NAME)
    except ValueError as err:
        parser.error(str(err))


def compare_with_eager(model, path: str, names, height: int, width: int) -> float:
    """Max |ONNX - eager| of the scores of one random image; logged."""
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
    eager = model([{"image": image.to(model.device), "vocabulary": names}])[0]["sem_seg"].cpu().numpy()
    (exported,) = OnnxPredictor(path).session.run(None, {"image": image.float().numpy()[None]})
    difference = float(np.abs(exported[0] - eager).max())
    logger.info("ONNX vs eager on a random %dx%d image: max |difference| of the scores %.2e (scores up to %.2f)",
                height, width, difference, float(np.abs(eager).max()))
    return difference


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    setup_logger(name="pseg_d2")
    cfg = setup_cfg(args.config_file, args.opts)
    vocabulary = build_vocabulary(args, parser, cfg)
    height = args.height or cfg.INPUT.MIN_SIZE_TEST
    width = args.width or cfg.INPUT.MIN_SIZE_TEST
    try:
        model = load_predictor(cfg).model
        segmenter = FixedVocabularySegmenter(model, model.semantic_inference, vocabulary.names)
        path = os.path.join(args.output, "model.onnx")
        export_onnx(segmenter, path, height, width, vocabulary=vocabulary)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    compare_with_eager(model, path, vocabulary.names, height, width)
    print(f"Exported {len(vocabulary.names)} names ({len(vocabulary)} classes) at {height}x{width}: {path}")


if __name__ == "__main__":
    main()
