#!/usr/bin/env python
"""Throughput benchmarks of P-Seg, each against a baseline measured in the same run.

    tools/benchmark.py pmg --batch-size 8                  # batched K-Means vs scikit-learn per image
    tools/benchmark.py train-step --amp                    # bf16 autocast step vs float32 eager
    tools/benchmark.py train-step --opts MODEL.PSEG.CHANNELS_LAST True
    tools/benchmark.py inference                           # cached vocabulary vs re-encoded each call
    tools/benchmark.py inference --onnx --resolution 448   # exported ONNX (onnxruntime) vs float32 eager
    tools/benchmark.py loader --workers 2                  # webdataset loader, N workers vs 0
    tools/benchmark.py loader --decode-device cuda         # JPEGs decoded on the GPU after the loader vs in the workers

Every variant runs in a fresh process (so peak-memory figures are its own): images/s, ms/image and
peak memory (CUDA: ``torch.cuda.max_memory_allocated``; CPU: growth of the process's maximum resident
set size over the timed loop, from ``resource``). The last line is the ratio to the baseline.
"""
import argparse
import io
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import torch

from pseg_d2.engine import setup_cfg

DEFAULT_CONFIG = "configs/synthetic/pseg_regnet_synthetic.yaml"
SPEED_OFF = [
    "SOLVER.AMP.ENABLED", False, "SOLVER.CONTRASTIVE_MICRO_BATCH", 0, "MODEL.PSEG.CHANNELS_LAST", False,
    "MODEL.PSEG.COMPILE", False, "MODEL.PSEG.ACTIVATION_CHECKPOINTING", False,
]
# The candidate and baseline variant of each sub-command.
VARIANTS = {
    "pmg": ("scikit-learn KMeans per image", "batched K-Means (pseg_d2)"),
    "train-step": ("float32 eager, switches off", "config + --opts (+ bf16 autocast with --amp)"),
    "inference": ("float32 eager, vocabulary re-encoded", "cached vocabulary, config + --opts (+ bf16 with --amp)"),
    "loader": ("0 workers", "N workers"),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(VARIANTS))
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: pmg 8, train-step SOLVER.IMS_PER_BATCH, inference TEST.IMS_PER_BATCH, loader IMS_PER_BATCH")
    parser.add_argument("--resolution", type=int, default=None,
                        help="square image side; default: pmg 224, train-step / loader INPUT.CROP_SIZE, inference MIN_SIZE_TEST")
    parser.add_argument("--amp", action="store_true", help="train-step / inference: the candidate runs under bf16 autocast")
    parser.add_argument("--onnx", action="store_true",
                        help="inference: the candidate is the model exported by pseg_d2.export, run by onnxruntime "
                             "with torch's thread count; the baseline float32 eager, both with the vocabulary cached")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run baseline and ours alternately this many times, keep each one's fastest (noisy machines)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dino-weights", default="", help="pmg: DINO ViT-S/8 checkpoint (default: random init; timing only)")
    parser.add_argument("--vocabulary-size", type=int, default=20, help="inference: classes per query")
    parser.add_argument("--workers", type=int, default=2, help="loader: workers of the candidate")
    parser.add_argument("--num-train", type=int, default=2048, help="loader: synthetic training pairs to generate")
    parser.add_argument("--decode-device", choices=["cpu", "cuda"],
                        help="loader: JPEG shards, N workers in both variants; the baseline decodes in the workers "
                             "(PIL), ours with INPUT.DECODE_DEVICE cuda: the workers read headers and decode_batch "
                             "decodes after the loader on this device (cuda falls back to the CPU without CUDA)")
    parser.add_argument("--variant", choices=["baseline", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--world", help=argparse.SUPPRESS)
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config overrides, KEY VALUE pairs")
    args = parser.parse_args(argv)
    if args.amp and args.command not in ("train-step", "inference"):
        parser.error("--amp applies to train-step and inference")
    if args.onnx and (args.command != "inference" or args.amp):
        parser.error("--onnx applies to inference, without --amp")
    if args.decode_device and args.command != "loader":
        parser.error("--decode-device applies to loader")
    if args.iters < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--iters and --repeats must be >= 1 and --warmup >= 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    return args


def load_cfg(args, extra=()):
    return setup_cfg(args.config_file, list(args.opts) + list(extra) + ["MODEL.DEVICE", args.device], freeze=False)


# ---------------------------------------------------------------------------- measuring
def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def measure(fn, args, images_per_call):
    """Run ``fn`` warmup + iters times -> {images_per_s, ms_per_image, peak_memory_mib}."""
    for _ in range(args.warmup):
        fn()
    synchronize(args.device)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for _ in range(args.iters):
        fn()
    synchronize(args.device)
    seconds = time.perf_counter() - start
    if args.device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024  # KiB on Linux
    images = images_per_call * args.iters
    return {"images_per_s": images / seconds, "ms_per_image": 1000 * seconds / images, "peak_memory_mib": peak}


def random_images(n, size, device="cpu"):
    return [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, device=device) for _ in range(n)]


# ---------------------------------------------------------------------------- pmg
def run_pmg(args):
    import numpy as np
    from sklearn.cluster import KMeans

    from pseg_d2.modeling.pseudo_mask import DINOKMeansGenerator, batched_kmeans

    cfg = load_cfg(args, ["MODEL.PSEUDO_MASK.VIT_WEIGHTS", args.dino_weights])
    pm = cfg.MODEL.PSEUDO_MASK
    generator = DINOKMeansGenerator(cfg).to(args.device).eval()
    if not args.dino_weights:
        generator.weights_loaded = True  # random init: the same computation, timing only
    batch, size = args.batch_size or 8, args.resolution or 224
    images = torch.stack(random_images(batch, size, args.device)).float()
    with torch.inference_mode():
        feats = generator.features(images).float()  # [B, D, h, w]
    points = feats.flatten(2).transpose(1, 2).contiguous()  # [B, P, D]

    if args.variant == "ours":
        def kmeans_only():
            g = torch.Generator(device=args.device).manual_seed(pm.SEED)
            batched_kmeans(points, pm.NUM_CLUSTERS, pm.KMEANS_ITERS, pm.KMEANS_TOL, g)

        def end_to_end():
            with torch.inference_mode():
                generator(images)
    else:
        def sklearn_kmeans(x):
            for image_points in x.cpu().numpy().astype(np.float32):
                KMeans(pm.NUM_CLUSTERS, init="k-means++", n_init=1, max_iter=pm.KMEANS_ITERS, random_state=pm.SEED).fit(image_points)

        def kmeans_only():
            sklearn_kmeans(points)

        def end_to_end():
            with torch.inference_mode():
                x = generator.features(images).float().flatten(2).transpose(1, 2)
            sklearn_kmeans(x)

    result = measure(end_to_end, args, batch)
    result["kmeans_only"] = measure(kmeans_only, args, batch)
    result["setting"] = (
        f"DINO ViT-S/8 tokens ({'weights ' + os.path.basename(args.dino_weights) if args.dino_weights else 'random init'}), "
        f"batch {batch} at {size}x{size} -> {points.shape[1]} tokens of {points.shape[2]} dims, K={pm.NUM_CLUSTERS}, "
        f"at most {pm.KMEANS_ITERS} Lloyd iterations, k-means++, one init"
    )
    return result


# ---------------------------------------------------------------------------- train-step
class _NetworkForward(torch.nn.Module):
    """The trainable network of a training step, for flop counting: images, tokens -> masks, embeddings."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images, tokens):
        mask_feats, layer_masks = self.model.predict_masks(images, all_layers=self.model.deep_supervision)
        return layer_masks, mask_feats, self.model.text_encoder(tokens)


def count_forward_flops(model, images, tokens):
    """fvcore FLOPs of one forward per image (fvcore counts a multiply-add as one FLOP)."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(_NetworkForward(model), (images, tokens))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    return analysis.total() / images.shape[0]


def train_inputs(cfg, batch, size):
    from pseg_d2.modeling import tokenize

    captions = [f"a red square and a blue circle number {i}" for i in range(batch)]
    tokens = tokenize(captions, cfg.MODEL.TEXT_ENCODER.CONTEXT_LENGTH)
    return [{"image": image, "text": text} for image, text in zip(random_images(batch, size), tokens)]


def run_train_step(args):
    from detectron2.modeling import build_model
    from detectron2.utils.events import EventStorage

    from pseg_d2.engine.train_loop import build_train_loop

    extra = SPEED_OFF if args.variant == "baseline" else (
        ["SOLVER.AMP.ENABLED", True, "SOLVER.AMP.PRECISION", "bfloat16"] if args.amp else []
    )
    cfg = load_cfg(args, extra)
    batch, size = args.batch_size or cfg.SOLVER.IMS_PER_BATCH, args.resolution or cfg.INPUT.CROP_SIZE
    torch.manual_seed(0)
    model = build_model(cfg).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    inputs = train_inputs(cfg, batch, size)
    trainer = build_train_loop(cfg, model, itertools.repeat(inputs), optimizer)
    trainer.iter = 0
    with EventStorage():
        result = measure(trainer.run_step, args, batch)
    images = torch.stack([x["image"] for x in inputs[:2]]).float().to(args.device)
    tokens = torch.stack([x["text"] for x in inputs[:2]]).to(args.device)
    with torch.no_grad():
        forward_flops = count_forward_flops(model, images, tokens)
    result["train_flops_per_image"] = 3 * forward_flops
    result["achieved_flops_per_s"] = 3 * forward_flops * result["images_per_s"]
    result["setting"] = (
        f"{os.path.basename(args.config_file)}, batch {batch} at {size}x{size}, one AdamW step "
        f"(pseudo-masks, matching and losses included), {type(trainer).__name__}"
    )
    return result


# ---------------------------------------------------------------------------- inference
def run_inference(args):
    from detectron2.modeling import build_model

    from pseg_d2.synthetic import COLORS, SHAPES

    cfg = load_cfg(args, SPEED_OFF if args.variant == "baseline" or args.onnx else [])
    batch, size = args.batch_size or cfg.TEST.IMS_PER_BATCH, args.resolution or cfg.INPUT.MIN_SIZE_TEST
    model = build_model(cfg).eval()
    words = ["background"] + [f"{c} {s}" for c, s in itertools.product(COLORS, SHAPES)]
    vocabulary = words[: args.vocabulary_size]
    inputs = [{"image": image, "vocabulary": vocabulary} for image in random_images(batch, size)]
    use_amp = args.amp and args.variant == "ours"

    def infer():
        if args.variant == "baseline" and not args.onnx:
            model._class_embedding_cache.clear()  # re-encode the vocabulary every call
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=use_amp):
            model(inputs)

    if args.onnx and args.variant == "ours":
        infer = onnx_inference(model, vocabulary, inputs, args.device)

    result = measure(infer, args, batch)
    result["setting"] = (
        f"{os.path.basename(args.config_file)}, batch {batch} at {size}x{size}, {len(vocabulary)} classes "
        f"x {len(model.semantic_inference.templates)} prompt templates"
    )
    return result


def onnx_inference(model, vocabulary, inputs, device):
    """The model exported with ``vocabulary`` (into a temporary folder) -> a call running ``inputs`` with onnxruntime."""
    import onnxruntime

    from pseg_d2.export import FixedVocabularySegmenter, export_onnx
    from pseg_d2.vocabulary import Vocabulary

    images = torch.stack([x["image"] for x in inputs]).float()
    path = os.path.join(tempfile.mkdtemp(prefix="pseg_bench_onnx_"), "model.onnx")
    segmenter = FixedVocabularySegmenter(model, model.semantic_inference, vocabulary)
    export_onnx(segmenter, path, *images.shape[-2:], vocabulary=Vocabulary(vocabulary))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    providers = ["CUDAExecutionProvider"] if device == "cuda" else []
    session = onnxruntime.InferenceSession(path, options, providers=providers + ["CPUExecutionProvider"])
    shutil.rmtree(os.path.dirname(path))
    feed = {"image": images.numpy()}
    return lambda: session.run(None, feed)


# ---------------------------------------------------------------------------- loader
def make_world(args):
    from pseg_d2.synthetic import WorldSpec, train_shards, write_world

    root = tempfile.mkdtemp(prefix="pseg_bench_world_")
    shard_size = max(1, args.num_train // (4 * max(args.workers, 1)))
    write_world(root, WorldSpec(size=args.resolution or 64, seed=0), num_train=args.num_train, num_val=0,
                num_heldout=0, shard_size=shard_size, progress=False)
    if args.decode_device:
        reencode_as_jpeg(train_shards(root))
    return root


def reencode_as_jpeg(shards, quality=90):
    """Rewrite each shard (in place) with its PNG images as JPEGs of this quality."""
    from PIL import Image

    for path in shards:
        with tarfile.open(path) as tar:
            members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
        with tarfile.open(path, "w") as tar:
            for name, data in members:
                if name.endswith(".png"):
                    buf = io.BytesIO()
                    Image.open(io.BytesIO(data)).convert("RGB").save(buf, format="JPEG", quality=quality)
                    name, data = name[: -len(".png")] + ".jpg", buf.getvalue()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def run_loader(args):
    from pseg_d2.data import build_image_text_train_loader
    from pseg_d2.data.device_decode import decode_batch, decode_device
    from pseg_d2.synthetic import train_shards

    decode_after = args.decode_device and args.variant == "ours"
    workers = args.workers if args.decode_device or args.variant == "ours" else 0
    cfg = load_cfg(args, [
        "DATALOADER.NUM_WORKERS", workers, "DATASETS.IMAGE_TEXT.SHARDS", train_shards(args.world),
        "INPUT.DECODE_DEVICE", "cuda" if decode_after else "cpu",
    ])
    if args.batch_size:
        cfg.SOLVER.IMS_PER_BATCH = args.batch_size
    if args.resolution:
        cfg.INPUT.CROP_SIZE = args.resolution
    batches = iter(build_image_text_train_loader(cfg))
    if decode_after:
        device = decode_device(args.decode_device)

        def next_batch():
            decode_batch(next(batches), device, cfg.INPUT.CROP_SIZE, cfg.INPUT.FORMAT)
            synchronize(device.type)
    else:
        def next_batch():
            next(batches)
    # Workers take turns: each one's first batches include its start and its shuffle-buffer fill.
    args.warmup *= max(workers, 1)
    result = measure(next_batch, args, cfg.SOLVER.IMS_PER_BATCH)
    result["images_per_s_per_worker"] = result["images_per_s"] / max(workers, 1)
    if decode_after:
        result["decoded_on"] = device.type
    encoding = "JPEG" if args.decode_device else "PNG"
    result["setting"] = (
        f"webdataset shards of the synthetic world ({args.num_train} {encoding} pairs at {cfg.INPUT.CROP_SIZE} px), "
        f"batch {cfg.SOLVER.IMS_PER_BATCH}, decode + crop + tokenise, --warmup batches per worker; "
        "CPU peak memory of the main process only"
    )
    return result


RUNNERS = {"pmg": run_pmg, "train-step": run_train_step, "inference": run_inference, "loader": run_loader}


# ---------------------------------------------------------------------------- driver
def run_variant(argv, variant, world=None):
    """Run one variant in a fresh process; -> its result dict."""
    command = [sys.executable, os.path.abspath(__file__), "--variant", variant, *(["--world", world] if world else []), *argv]
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        raise SystemExit(f"the {variant} run failed (exit {proc.returncode}): {' '.join(command)}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):])


def report(args, results):
    base, ours = results["baseline"], results["ours"]
    print(f"== {args.command} on {args.device} ({torch.get_num_threads()} threads): {ours['setting']}")
    if args.repeats > 1:
        print(f"(fastest of {args.repeats} alternating runs of each variant)")
    names = dict(zip(("baseline", "ours"), VARIANTS[args.command]))
    if args.command == "loader" and args.decode_device:
        names["baseline"] = f"{args.workers} workers, PIL decode in the workers"
        fallback = " (no CUDA)" if args.decode_device != ours["decoded_on"] else ""
        names["ours"] = f"{args.workers} workers, decode_batch on {ours['decoded_on']} after them{fallback}"
    elif args.command == "loader":
        names["ours"] = f"{args.workers} workers"
    elif args.onnx:
        names = {"baseline": "float32 eager, cached vocabulary", "ours": "ONNX (onnxruntime), vocabulary in the graph"}
    print(f"{'variant':<60} {'images/s':>10} {'ms/image':>10} {'peak memory MiB':>16}")
    for key in ("baseline", "ours"):
        r = results[key]
        print(f"{key + ': ' + names[key]:<60} {r['images_per_s']:>10.2f} {r['ms_per_image']:>10.2f} {r['peak_memory_mib']:>16.1f}")
    if args.command == "pmg":
        kb, ko = base["kmeans_only"], ours["kmeans_only"]
        print(f"K-Means only: baseline {kb['images_per_s']:.2f} images/s ({kb['ms_per_image']:.2f} ms/image), "
              f"ours {ko['images_per_s']:.2f} images/s ({ko['ms_per_image']:.2f} ms/image): "
              f"{ko['images_per_s'] / kb['images_per_s']:.2f}x")
    if args.command == "train-step":
        for key in ("baseline", "ours"):
            r = results[key]
            print(f"{key}: {r['train_flops_per_image'] / 1e9:.2f} GFLOPs per image per step (fvcore forward x 3 for "
                  f"forward + backward; pseudo-masks and matching not counted), achieved {r['achieved_flops_per_s'] / 1e9:.2f} GFLOP/s")
    if args.command == "loader" and not args.decode_device:
        print(f"per worker: {ours['images_per_s_per_worker']:.2f} images/s with {args.workers} workers "
              f"(the main process alone: {base['images_per_s']:.2f} images/s)")
    print(f"ratio ours / baseline (images/s): {ours['images_per_s'] / base['images_per_s']:.2f}x")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.variant:
        print("RESULT " + json.dumps(RUNNERS[args.command](args)), flush=True)
        return
    world = make_world(args) if args.command == "loader" else None
    try:
        runs = [{variant: run_variant(argv, variant, world) for variant in ("baseline", "ours")} for _ in range(args.repeats)]
        results = {v: max((run[v] for run in runs), key=lambda r: r["images_per_s"]) for v in ("baseline", "ours")}
    finally:
        if world:
            shutil.rmtree(world, ignore_errors=True)
    report(args, results)


if __name__ == "__main__":
    main()
