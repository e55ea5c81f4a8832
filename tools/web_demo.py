#!/usr/bin/env python
"""A local web page for P-Seg: upload an image, type a vocabulary, see the segmentation.

    tools/web_demo.py            # the synthetic-world model that `make demo` trains, on port 7860
    tools/web_demo.py --config-file configs/pseg_swin_s.yaml --port 8000 \\
        --opts MODEL.WEIGHTS output/pseg_swin_s/model_final.pth

then open http://127.0.0.1:7860 (the page is served to this machine only). Vocabularies are written
as for demo/demo.py: classes separated by ',' (or new lines), synonyms by ';', e.g.
"person; man; woman, dog, sky". Each query may change the background rule, its threshold and PAMR
refinement; the page shows the overlay with a legend and each class's share of the pixels.
"""
import argparse
import math
import os
import sys
import time
from typing import Tuple

import numpy as np

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the page sends nothing off this machine
import gradio as gr  # noqa: E402

from pseg_d2.engine import DEMO_CONFIG, PSegPredictor, load_predictor, setup_cfg  # noqa: E402
from pseg_d2.inference import SemanticInference, build_semantic_inference  # noqa: E402
from pseg_d2.utils.visualize import overlay_with_legend, palette  # noqa: E402
from pseg_d2.vocabulary import Vocabulary  # noqa: E402

BACKGROUND_CHOICES = ("prompt", "threshold", "border", "none")
# Overlays of smaller images are drawn larger, so that the page shows them at a readable size.
MIN_DISPLAY_SIDE = 256
# System fonts: the default theme would fetch its fonts from the internet.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
# The uploaded image fills its box, small images with sharp pixels.
CSS = "#image img {width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated}"


def answer_unreadable_uploads(image: gr.Image) -> gr.Image:
    """``image``, whose unreadable uploads (corrupt, empty, not an image) get a message on the page
    (``gr.Error``) instead of Gradio's generic error."""
    preprocess = image.preprocess

    def checked(payload):
        try:
            return preprocess(payload)
        except Exception as err:  # noqa: BLE001  (PIL and Gradio raise several kinds)
            raise gr.Error(f"The uploaded file cannot be read as an image ({type(err).__name__}): "
                           "upload a PNG, JPEG or WebP image.") from err

    image.preprocess = checked
    return image


def answer_bad_thresholds(number: gr.Number) -> gr.Number:
    """``number``, whose text or non-finite values get a message on the page (:func:`check_threshold`)."""
    preprocess = number.preprocess
    number.preprocess = lambda payload: None if payload is None else check_threshold(preprocess(payload))
    return number


def check_threshold(value) -> float:
    """``value`` as a finite float, else ``gr.Error`` (shown on the page)."""
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"The threshold must be a number, got {value!r}.") from None
    if not math.isfinite(threshold):
        raise gr.Error(f"The threshold must be a finite number, got {value!r}.")
    return threshold


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default=DEMO_CONFIG, metavar="FILE")
    p.add_argument("--port", type=int, default=7860, help="port on 127.0.0.1")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config overrides, KEY VALUE pairs")
    return p


def display_scale(height: int, width: int) -> float:
    """Drawing scale of an overlay: 1, or more for images whose short side is under MIN_DISPLAY_SIDE."""
    return max(1.0, MIN_DISPLAY_SIDE / min(height, width))


def query_inference(cfg, background: str, threshold: float, use_pamr: bool) -> SemanticInference:
    """The inference pipeline of one query: ``cfg``'s, with the page's background rule (``none``: the
    config's, unused without a background class), threshold and PAMR switch."""
    cfg = cfg.clone()
    cfg.defrost()
    test = cfg.MODEL.PSEG.TEST
    if background != "none":
        test.BACKGROUND_RULE = background
    if background in ("threshold", "border"):
        test.BACKGROUND_THRESHOLD = float(threshold)
    test.PAMR.ENABLED = bool(use_pamr)
    try:
        return build_semantic_inference(cfg)
    except ValueError as err:
        raise gr.Error(str(err))


def segment(
    predictor: PSegPredictor,
    image: np.ndarray,
    vocabulary: str,
    background_words: str,
    background: str,
    threshold: float,
    use_pamr: bool,
) -> Tuple[np.ndarray, str]:
    """One query of the page: image [H, W, 3] uint8 RGB and the page's settings -> the overlay with a legend
    [h, w, 3] uint8 RGB and a line naming the classes found, largest share of the pixels first, under the page's
    background rule, threshold and PAMR (the model stays as it is). Bad input raises ``gr.Error``
    (shown on the page)."""
    if image is None:
        raise gr.Error("Upload an image first.")
    if background not in BACKGROUND_CHOICES:
        raise gr.Error(f"The background rule must be one of {BACKGROUND_CHOICES}, got {background!r}.")
    if background == "none" and background_words.strip():
        raise gr.Error("Background words need a background class: choose the prompt, threshold or border rule.")
    if background in ("threshold", "border") and threshold is None:
        raise gr.Error(f"The {background} rule needs a background threshold.")
    inference = query_inference(predictor.cfg, background, threshold, use_pamr)
    try:
        vocab = Vocabulary.parse(vocabulary, background_words=background_words, add_background=background != "none",
                                 background_name=inference.background.class_name)
    except ValueError as err:
        raise gr.Error(str(err))
    start = time.perf_counter()
    labels = predictor(image[:, :, ::-1], vocab, inference)["sem_seg"].argmax(0).cpu().numpy()
    seconds = time.perf_counter() - start
    overlay = overlay_with_legend(image, labels, vocab.classes, palette(len(vocab)), display_scale(*labels.shape))
    shares = np.bincount(labels.ravel(), minlength=len(vocab)) / labels.size
    summary = ", ".join(f"{vocab.classes[c]} {100 * shares[c]:.1f}%" for c in np.argsort(-shares, kind="stable")
                        if shares[c])
    return overlay, f"{summary} ({image.shape[1]} x {image.shape[0]} pixels, {seconds:.2f} s)"


def build_app(predictor: PSegPredictor) -> gr.Blocks:
    """The page, around one predictor; its defaults are the predictor's config."""
    p = predictor.cfg.MODEL.PSEG.TEST
    with gr.Blocks(title="P-Seg: segment any image with any words") as app:
        gr.Markdown("## P-Seg: segment any image with any words\nClasses are separated by `,`, synonyms by `;`. "
                    "Background words all count as the background class.")
        with gr.Row():
            with gr.Column():
                image = answer_unreadable_uploads(gr.Image(
                    type="numpy", image_mode="RGB", sources=["upload"], height=MIN_DISPLAY_SIDE, label="image",
                    elem_id="image"))
                vocabulary = gr.Textbox(label="vocabulary", placeholder="person; man; woman, dog, sky",
                                        elem_id="vocabulary")
                background_words = gr.Textbox(label="background words", placeholder="wall; floor",
                                              elem_id="background-words")
                with gr.Row():
                    background = gr.Radio(list(BACKGROUND_CHOICES), value=p.BACKGROUND_RULE, label="background rule",
                                          elem_id="background")
                    threshold = answer_bad_thresholds(gr.Number(
                        value=p.BACKGROUND_THRESHOLD, step=0.05, label="threshold (threshold, border rules)",
                        elem_id="threshold"))
                use_pamr = gr.Checkbox(value=p.PAMR.ENABLED, label="refine along colour edges (PAMR)", elem_id="pamr")
                button = gr.Button("Segment", variant="primary", elem_id="segment")
            with gr.Column():
                overlay = gr.Image(type="numpy", format="png", label="segmentation", interactive=False,
                                   elem_id="overlay")
                summary = gr.Textbox(label="classes", interactive=False, elem_id="summary")
        inputs = [image, vocabulary, background_words, background, threshold, use_pamr]
        gr.on([button.click, vocabulary.submit], lambda *values: segment(predictor, *values), inputs,
              [overlay, summary])
    return app


def launch(app: gr.Blocks, port: int, block: bool = True):
    """Serve the page on 127.0.0.1:``port``; ``block=False`` returns once it is up (``app.close()`` stops it)."""
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=not block, ssr_mode=False,
               theme=THEME, css=CSS, quiet=not block)


def main(argv=None):
    args = get_parser().parse_args(argv)
    try:
        predictor = load_predictor(setup_cfg(args.config_file, args.opts))
    except (FileNotFoundError, ValueError) as err:  # missing weights, or another model's: a one-line hint
        sys.exit(str(err))
    launch(build_app(predictor), args.port)


if __name__ == "__main__":
    main()
