#!/usr/bin/env python
"""Segment any image with any words: P-Seg on your images, with a vocabulary chosen now.

    demo/demo.py --input photos/ --output out/ --vocabulary "person; man; woman, dog, sky"
    demo/demo.py --input "photos/*.jpg" --output out/ --vocabulary-file classes.txt \\
        --background-words "wall; floor; ceiling" --save-labels --save-scores \\
        --opts MODEL.WEIGHTS output/pseg_swin_s/model_final.pth

Classes are separated by ',' (or new lines; one per line in --vocabulary-file), synonyms by ';'.
A background class comes first unless --background none; --background-words all count as it.
For each input it writes an overlay with a legend (PNG in an output folder) and, if asked,
``<name>_labels.png`` (uint8 class indices) and ``<name>_scores.npy`` (float32 [C, H, W]).
Without --config-file and MODEL.WEIGHTS it runs the synthetic-world model that `make demo` trains.
With --onnx it runs a model that tools/export_model.py exported, with the vocabulary baked into it.
"""
import argparse
import math
import os
import sys

import numpy as np
from detectron2.data.detection_utils import read_image
from PIL import Image
from tqdm import tqdm

from pseg_d2.engine import DEMO_CONFIG, PSegPredictor, load_predictor, setup_cfg
from pseg_d2.engine.predictor import check_image
from pseg_d2.export import OnnxPredictor
from pseg_d2.inference import BACKGROUND_RULES
from pseg_d2.utils.visualize import list_images, overlay_with_legend, palette
from pseg_d2.vocabulary import REDUCTIONS, Vocabulary

def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default=DEMO_CONFIG, metavar="FILE")
    p.add_argument("--input", nargs="+", required=True, help="image files, glob patterns or folders")
    p.add_argument("--output", required=True,
                   help="a file for one input; otherwise a folder (created), one overlay PNG per input")
    p.add_argument("--onnx", metavar="FILE",
                   help="run this exported model (tools/export_model.py) with onnxruntime; its vocabulary is fixed")
    vocabulary = p.add_mutually_exclusive_group()
    vocabulary.add_argument("--vocabulary", help='classes, e.g. "person; man; woman, dog, sky"')
    vocabulary.add_argument("--vocabulary-file", help="the same, usually one class per line; '#' starts a comment line")
    p.add_argument("--background-words", default="", help='stuff words that all count as background, e.g. "wall; floor"')
    p.add_argument("--background", choices=tuple(BACKGROUND_RULES) + ("none",),
                   help="background rule (default: the config's MODEL.PSEG.TEST.BACKGROUND_RULE); none: no background class")
    p.add_argument("--threshold", type=float, help="background score under --background threshold")
    p.add_argument("--synonym-reduce", choices=REDUCTIONS, default="max",
                   help="a class's score from its synonyms' scores")
    p.add_argument("--pamr", action="store_true",
                   help="refine the scores along colour edges (PAMR; MODEL.PSEG.TEST.PAMR.ITERS and DILATIONS)")
    p.add_argument("--save-labels", action="store_true", help="also write <name>_labels.png, uint8 class indices")
    p.add_argument("--save-scores", action="store_true", help="also write <name>_scores.npy, float32 [C, H, W]")
    p.add_argument("--scale", type=float, default=1.0,
                   help="overlay size relative to the image (e.g. 4 for the 64-pixel synthetic images)")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config overrides, KEY VALUE pairs")
    return p


def setup(args, parser):
    cfg = setup_cfg(args.config_file, args.opts, freeze=False)
    test = cfg.MODEL.PSEG.TEST
    if args.background in BACKGROUND_RULES:
        test.BACKGROUND_RULE = args.background
    if args.threshold is not None:
        if not math.isfinite(args.threshold):
            parser.error(f"--threshold must be a finite number, got {args.threshold}")
        if test.BACKGROUND_RULE != "threshold" or args.background == "none":
            parser.error("--threshold needs the threshold background rule (--background threshold)")
        test.BACKGROUND_THRESHOLD = args.threshold
    if args.pamr:
        test.PAMR.ENABLED = True
    cfg.freeze()
    return cfg


def build_predictor(cfg) -> PSegPredictor:
    """The predictor, or an exit with a hint when the weights are missing or another model's."""
    try:
        return load_predictor(cfg)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(str(err))


def build_vocabulary(args, parser, cfg) -> Vocabulary:
    if args.background == "none" and args.background_words:
        parser.error("--background-words needs a background class: drop --background none")
    kwargs = dict(background_words=args.background_words, add_background=args.background != "none",
                  background_name=cfg.MODEL.PSEG.TEST.BACKGROUND_CLASS_NAME, reduction=args.synonym_reduce)
    try:
        if args.vocabulary_file:
            return Vocabulary.from_file(args.vocabulary_file, **kwargs)
        return Vocabulary.parse(args.vocabulary, **kwargs)
    except OSError as err:
        sys.exit(f"--vocabulary-file {args.vocabulary_file}: {err.strerror or err}")
    except ValueError as err:
        parser.error(str(err))


def read_input(path: str) -> np.ndarray:
    """The image at ``path``, [H, W, 3] uint8 BGR; a one-line ``ValueError`` naming it if it cannot be read."""
    try:
        image = read_image(path, format="BGR")
        check_image(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path}: cannot be read as an image ({reason[:200]})") from err
    return image


def report_skipped(skipped, total: int) -> None:
    """Exit with status 1 and one line naming the inputs that could not be read, if any."""
    if skipped:
        names = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        sys.exit(f"{len(skipped)} of {total} input(s) skipped, unreadable: {names}")


def overlay_path(output: str, input_path: str, many: bool) -> str:
    """``output`` itself for one input and a file name, else ``output/<input name>.png``."""
    if many or os.path.isdir(output) or not os.path.splitext(output)[1]:
        os.makedirs(output, exist_ok=True)
        return os.path.join(output, os.path.splitext(os.path.basename(input_path))[0] + ".png")
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    return output


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if bool(args.onnx) == bool(args.vocabulary or args.vocabulary_file):
        parser.error("give --vocabulary or --vocabulary-file, or --onnx (whose vocabulary is fixed), not both")
    if args.onnx:
        try:
            onnx = OnnxPredictor(args.onnx)
        except FileNotFoundError as err:
            sys.exit(str(err))
        vocabulary, predictor = onnx.vocabulary, lambda image, _: onnx(image)
    else:
        cfg = setup(args, parser)
        vocabulary = build_vocabulary(args, parser, cfg)
    if args.save_labels and len(vocabulary) > 256:
        parser.error(f"--save-labels writes uint8 labels: at most 256 classes, got {len(vocabulary)}")
    try:
        paths = list_images(args.input)
    except FileNotFoundError as err:
        parser.error(str(err))
    if not args.onnx:
        predictor = build_predictor(cfg)
    colors = palette(len(vocabulary))
    skipped = []
    for path in tqdm(paths, desc="P-Seg"):
        out_path = overlay_path(args.output, path, many=len(paths) > 1)
        if os.path.abspath(out_path) == os.path.abspath(path):
            parser.error(f"the overlay of {path} would overwrite it: choose another --output")
        stem = os.path.splitext(out_path)[0]
        try:
            image = read_input(path)
        except ValueError as err:
            tqdm.write(f"skipped {err}", file=sys.stderr)
            skipped.append(path)
            continue
        scores = predictor(image, vocabulary)["sem_seg"].cpu()
        labels = scores.argmax(0).numpy()
        overlay = overlay_with_legend(image[:, :, ::-1], labels, vocabulary.classes, colors, scale=args.scale)
        Image.fromarray(overlay).save(out_path)
        if args.save_labels:
            Image.fromarray(labels.astype(np.uint8)).save(stem + "_labels.png")
        if args.save_scores:
            np.save(stem + "_scores.npy", scores.float().numpy())
    print(f"{len(paths) - len(skipped)} image(s), classes {vocabulary.classes}: results in {args.output}")
    report_skipped(skipped, len(paths))


if __name__ == "__main__":
    main()
