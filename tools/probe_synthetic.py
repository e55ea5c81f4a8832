#!/usr/bin/env python
"""What a trained P-Seg knows about shapes and colours, on the synthetic world's validation images.

Separates the three places where learning from captions can stall:

- caption -> image retrieval among 64 images, for captions that name a colour and for captions that
  name shapes only (does the image embedding carry the attribute at all?);
- linear probes (logistic regression, half the images to fit, half to score) on each object pixel's
  features: the pixel decoder's output, and its projection into the joint space (does every pixel
  know its object's class?);
- foreground accuracy of each inference rule with the class names as prompts, and how alike the
  prompt-ensembled class embeddings are (does the text side tell the class names apart?);
- per ground-truth object, the pixel embeddings pooled under the object's mask, projected as a mask
  feature: class-name accuracy and a linear probe (does the object's own segment carry its class?),
  against the image embedding of one-object images (does the image as a whole carry it?).

    tools/probe_synthetic.py --config-file configs/synthetic/pseg_regnet_synthetic.yaml \\
        --weights output/demo/model_final.pth
"""
import argparse
import json
import os
import re
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from PIL import Image
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pseg_d2 import add_pseg_config
from pseg_d2.data.synthetic import COLORS, SHAPES

VOCABULARIES = {"shapes": list(SHAPES), "colors": list(COLORS)}
GROUP = 64  # images per retrieval group, the demo's batch


def load_split(split_dir: str):
    """-> images [n, 3, H, W] float RGB 0-255, {"shapes", "colors"}: label maps [n, H, W], captions."""
    with open(os.path.join(split_dir, "objects.json")) as f:
        records = json.load(f)
    read = lambda sub, i: np.asarray(Image.open(os.path.join(split_dir, sub, f"{i:06d}.png")))  # noqa: E731
    images = np.stack([read("images", i) for i in range(len(records))])
    labels = {v: np.stack([read(v, i) for i in range(len(records))]) for v in VOCABULARIES}
    return torch.from_numpy(images).permute(0, 3, 1, 2).float(), labels, [r["caption"] for r in records]


def retrieval_top1(text_emb: torch.Tensor, image_emb: torch.Tensor, rounds: int = 20, seed: int = 0) -> np.ndarray:
    """Normalised [n, E] pairs -> [n] share of random groups of ``GROUP`` in which each caption's own
    image is its most similar one."""
    n = len(text_emb)
    if n < GROUP:
        raise ValueError(f"retrieval needs at least {GROUP} images, got {n}")
    sim = (text_emb @ image_emb.t()).numpy()
    rng = np.random.default_rng(seed)
    hits, seen = np.zeros(n), np.zeros(n)
    for _ in range(rounds):
        order = rng.permutation(n)
        for start in range(0, n - GROUP + 1, GROUP):
            group = order[start : start + GROUP]
            hits[group] += sim[np.ix_(group, group)].argmax(1) == np.arange(GROUP)
            seen[group] += 1
    return hits / np.maximum(seen, 1)


def object_masks(labels: Dict[str, np.ndarray]):
    """{"shapes", "colors"} label maps [n, H, W] -> per object (8-connected region of one colour-shape
    pair): image index, mask [H, W] bool, {vocabulary: class index (0-based, background left out)}."""
    for i, (shape, color) in enumerate(zip(labels["shapes"], labels["colors"])):
        pair = shape.astype(np.int64) * 256 + color
        for value in np.unique(pair[shape > 0]):
            regions, count = ndimage.label(pair == value, structure=np.ones((3, 3)))
            for r in range(1, count + 1):
                yield i, regions == r, {"shapes": int(value // 256) - 1, "colors": int(value % 256) - 1}


def linear_probe(features: np.ndarray, labels: np.ndarray) -> float:
    """Per-pixel features [n, h, w, D] and labels [n, h, w] (0: background, left out) -> accuracy on
    the second half of the images of a logistic regression fitted on the first half."""
    half = len(features) // 2
    fit, score = labels[:half] > 0, labels[half:] > 0
    return fit_and_score(features[:half][fit], labels[:half][fit], features[half:][score], labels[half:][score])


def fit_and_score(fit_x: np.ndarray, fit_y: np.ndarray, score_x: np.ndarray, score_y: np.ndarray) -> float:
    """Accuracy on (score_x [m, D], score_y [m]) of a standardised logistic regression fitted on (fit_x, fit_y)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return float(probe.fit(fit_x, fit_y).score(score_x, score_y))


@torch.no_grad()
def probe_model(model, images: torch.Tensor, labels: Dict[str, np.ndarray], captions: List[str], batch: int = 50) -> dict:
    """A PSeg, images [n, 3, H, W] (RGB 0-255), label maps {"shapes", "colors"} [n, H, W] and the n
    captions -> {section: {measure: value in [0, 1]}} (see the module docstring)."""
    model.eval()
    x = (images - model.pixel_mean) / model.pixel_std
    image_emb, pixel_feats = [], []
    for start in range(0, len(x), batch):
        pixel, mask_feats, _ = model._decode(x[start : start + batch])
        image_emb.append(F.normalize(mask_feats.mean(1), dim=-1))  # the training image embedding
        pixel_feats.append(pixel)
    image_emb, pixel_feats = torch.cat(image_emb), torch.cat(pixel_feats)
    text_emb = model.text_encoder(model.text_encoder.tokenize(captions))
    names_color = np.array([bool(set(re.findall(r"[a-z]+", caption)) & set(COLORS)) for caption in captions])
    top1 = retrieval_top1(text_emb, image_emb)
    report = {"retrieval_top1": {"colour captions": float(top1[names_color].mean()),
                                 "shape-only captions": float(top1[~names_color].mean())}}

    stride = images.shape[-1] // pixel_feats.shape[-1]
    small = {v: lab[:, stride // 2 :: stride, stride // 2 :: stride] for v, lab in labels.items()}
    features = {"pixel decoder": pixel_feats.permute(0, 2, 3, 1)}
    rules = ["sigmoid_sum", "query_softmax"]
    if model.mask_feature_head.source == "mask_pooled":
        features["joint space"] = model.mask_feature_head.dense(pixel_feats)
        rules += ["pixel", "hybrid"]
    report["linear_probe"] = {f"{v} on {name}": linear_probe(f.numpy(), small[v]) for name, f in features.items() for v in small}

    if model.mask_feature_head.source == "mask_pooled":
        report["objects"] = object_report(model, pixel_feats, image_emb, labels)

    rule_before = model.inference_combine
    report["foreground_accuracy"], report["class_embedding_cosine"] = {}, {}
    try:
        for vocab, names in VOCABULARIES.items():
            cls = model.encode_vocabulary(names)
            cos = (cls @ cls.t())[~torch.eye(len(names), dtype=torch.bool)]
            report["class_embedding_cosine"][vocab] = {"mean": float(cos.mean()), "max": float(cos.max())}
            objects = labels[vocab] > 0
            for rule in rules:
                model.inference_combine = rule
                pred = torch.cat([model.predict_scores(x[s : s + batch], names).argmax(1) for s in range(0, len(x), batch)])
                right = pred.numpy()[objects] + 1 == labels[vocab][objects]
                report["foreground_accuracy"][f"{vocab}, {rule}"] = float(right.mean())
    finally:
        model.inference_combine = rule_before
    return report


def object_report(model, pixel_feats, image_emb, labels, min_pixels: int = 20) -> dict:
    """Pixel features [n, C, h, w], image embeddings [n, E] and label maps [n, H, W] -> class-name
    accuracy and linear probe (first half of the objects fitted, second half scored) of the mask
    features pooled under each ground-truth object of at least ``min_pixels``, and class-name
    accuracy of the image embeddings of one-object images."""
    embedded = model.mask_feature_head.pixel_embed(pixel_feats)  # [n, hidden, h, w]
    pooled, classes, counts = [], {v: [] for v in VOCABULARIES}, np.zeros(len(image_emb), int)
    image_class = {}  # image index -> its (last) object's classes; the only one in one-object images
    for i, mask, cls in object_masks(labels):
        counts[i] += 1
        image_class[i] = cls
        if mask.sum() < min_pixels:
            continue
        weights = F.interpolate(torch.from_numpy(mask[None, None].astype(np.float32)), size=embedded.shape[-2:], mode="area")[0, 0]
        pooled.append((embedded[i] * weights).sum((1, 2)) / weights.sum())
        for v in VOCABULARIES:
            classes[v].append(cls[v])
    pooled = torch.stack(pooled)
    feats = F.normalize(model.mask_feature_head.projection(pooled), dim=-1)
    single = counts == 1
    half = len(pooled) // 2
    out = {}
    for vocab, names in VOCABULARIES.items():
        text = model.encode_vocabulary(names)
        y = np.array(classes[vocab])
        out[f"{vocab}, class names"] = float(((feats @ text.t()).argmax(1).numpy() == y).mean())
        out[f"{vocab}, linear probe"] = fit_and_score(pooled[:half].numpy(), y[:half], pooled[half:].numpy(), y[half:])
        if single.any():
            y_single = np.array([image_class[i][vocab] for i in np.flatnonzero(single)])
            hits = (image_emb[torch.from_numpy(single)] @ text.t()).argmax(1).numpy() == y_single
            out[f"{vocab}, one-object images"] = float(hits.mean())
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--split-dir", default=os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "synthetic", "val"))
    p.add_argument("--output", default="", help="write the report as JSON here too")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    args = p.parse_args()
    cfg = get_cfg()
    add_pseg_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    DetectionCheckpointer(model).load(args.weights)
    report = probe_model(model, *load_split(args.split_dir))
    for section, values in report.items():
        print(section)
        for key, value in values.items():
            print(f"  {key:32s} " + (json.dumps({k: round(v, 3) for k, v in value.items()}) if isinstance(value, dict) else f"{value:.3f}"))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
