"""``add_pseg_config``: every P-Seg knob, with the paper's values as defaults where it gives them."""
from detectron2.config import CfgNode as CN


def add_pseg_config(cfg):
    """Add P-Seg's keys to a Detectron2 config (in place). Existing keys are only set, never removed."""
    # ---------------------------------------------------------------- MaskFormer
    cfg.MODEL.PSEG = CN()
    # Number of learnable queries N: each predicts one mask and one mask feature.
    cfg.MODEL.PSEG.NUM_QUERIES = 64
    # Hidden width of the pixel decoder and transformer decoder.
    cfg.MODEL.PSEG.HIDDEN_DIM = 256
    # Width of the per-pixel mask features and of the mask embeddings dotted with them.
    cfg.MODEL.PSEG.MASK_DIM = 256
    cfg.MODEL.PSEG.DEC_LAYERS = 6
    cfg.MODEL.PSEG.NHEADS = 8
    cfg.MODEL.PSEG.DIM_FEEDFORWARD = 2048
    cfg.MODEL.PSEG.DROPOUT = 0.1
    # Supervise the masks predicted after every decoder layer, not only the last (MaskFormer's default).
    cfg.MODEL.PSEG.DEEP_SUPERVISION = True
    # Source of the N mask features:
    #   "query":       the decoder's query outputs (the paper's "raw mask features");
    #   "mask_pooled": per-pixel embeddings averaged under each predicted (sigmoid) mask.
    cfg.MODEL.PSEG.MASK_FEATURE_SOURCE = "query"
    # Backbone feature the transformer decoder cross-attends to.
    cfg.MODEL.PSEG.TRANSFORMER_IN_FEATURE = "res5"
    # Pixel decoder (registry PIXEL_DECODER_REGISTRY) and its input features, finest first.
    cfg.MODEL.PSEG.PIXEL_DECODER_NAME = "FPNPixelDecoder"
    cfg.MODEL.PSEG.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.PSEG.NORM = "GN"
    # Joint image-text embedding width (both 2-layer MLP projections end here).
    cfg.MODEL.PSEG.EMBED_DIM = 256
    # Initial value of the learnable contrastive temperature, as a logit scale (1 / 0.07).
    cfg.MODEL.PSEG.LOGIT_SCALE_INIT = 1.0 / 0.07

    # ---------------------------------------------------------------- losses
    cfg.MODEL.PSEG.MASK_WEIGHT = 1.0
    cfg.MODEL.PSEG.CONTRASTIVE_WEIGHT = 1.0
    cfg.MODEL.PSEG.DICE_WEIGHT = 1.0
    cfg.MODEL.PSEG.FOCAL_WEIGHT = 20.0

    # ---------------------------------------------------------------- inference (pseg_d2/inference)
    # Every inference rule; build_semantic_inference(cfg) builds them and checks how they combine.
    # Evaluation configs (configs/eval/) change only this node.
    cfg.MODEL.PSEG.TEST = CN()
    # How the N (mask, class-probability) pairs become a [C, H, W] map:
    #   "sigmoid_sum":   sum_q p_q(c) * sigmoid(mask_q)        (MaskFormer's semantic inference)
    #   "query_softmax": sum_q p_q(c) * softmax_q(mask logits)  (each pixel split among the masks)
    cfg.MODEL.PSEG.TEST.COMBINE = "sigmoid_sum"
    # Background: "prompt" encodes BACKGROUND_CLASS_NAME like any class; "threshold" gives the
    # background channel the constant BACKGROUND_THRESHOLD, so it wins where no class scores more;
    # "clamped_threshold" (GroupViT's) makes background where a pixel's best class score is below
    # BACKGROUND_THRESHOLD clamped to the image's (each sliding window's) highest one; "border" (not in
    # the paper) gives the constant too, but the best class scores how far (cosine distance, in
    # [0, 2]) the pixel's mask features lie from the mean feature of the image's border ring: what looks
    # like the border is background, whatever the vocabulary. For images whose border is mostly
    # background; not with SLIDING_WINDOW.
    cfg.MODEL.PSEG.TEST.BACKGROUND_RULE = "prompt"
    cfg.MODEL.PSEG.TEST.BACKGROUND_THRESHOLD = 0.5
    cfg.MODEL.PSEG.TEST.BACKGROUND_CLASS_NAME = "background"
    # Sliding-window inference: square windows of this side in pixels (0 = whole image), every
    # SLIDING_STRIDE pixels; scores are averaged where windows overlap (GroupViT: 448 / 224).
    cfg.MODEL.PSEG.TEST.SLIDING_WINDOW = 0
    cfg.MODEL.PSEG.TEST.SLIDING_STRIDE = 224
    # Prompt templates averaged into one class embedding ("{}" is the class name): a set of
    # pseg_d2/inference/prompts.py ("imagenet", "plain", and the protocols' "groupvit" and "tcl").
    cfg.MODEL.PSEG.TEST.PROMPT_TEMPLATES = "imagenet"
    # The class names evaluated datasets are prompted with: "" for each dataset's stuff_classes, or an
    # evaluation protocol ("default", "groupvit", "tcl") for its names of the benchmark's classes
    # (pseg_d2/data/datasets/protocol_names.py; docs/protocols.md).
    cfg.MODEL.PSEG.TEST.CLASS_NAMES = ""
    # The vocabulary of inputs that name none (DefaultPredictor's, for instance); empty: the
    # stuff_classes of the DATASETS.TEST sets (which must agree).
    cfg.MODEL.PSEG.TEST.VOCABULARY = []
    # PAMR (pixel-adaptive mask refinement, Araslanov & Roth 2020) of the class scores before argmax:
    # ITERS rounds of averaging each pixel's scores over neighbours of like colour on 3 x 3 rings of
    # radii DILATIONS (pseg_d2/inference/pamr.py).
    cfg.MODEL.PSEG.TEST.PAMR = CN()
    cfg.MODEL.PSEG.TEST.PAMR.ENABLED = False
    cfg.MODEL.PSEG.TEST.PAMR.ITERS = 10
    cfg.MODEL.PSEG.TEST.PAMR.DILATIONS = [1, 2, 4, 8, 12, 24]
    # Region voting (not in the paper): a second pseudo-mask generator of MODEL.PSEUDO_MASK's kind cuts
    # each image into regions (its K-Means clusters split into connected regions of at least MIN_AREA
    # cells, at most MAX_REGIONS, clusters with more than MAX_PER_CLUSTER large regions kept whole;
    # COLOR_STRIDE replaces the colour generator's), and each region is named as a whole: the class
    # ranking of its pooled pixel embeddings, projected as a mask feature, and its mean best score
    # (pseg_d2/inference/region_voting.py). Needs MASK_FEATURE_SOURCE "mask_pooled". With the DINO
    # generator this is a second frozen ViT-S/8.
    cfg.MODEL.PSEG.TEST.REGION_VOTING = CN()
    cfg.MODEL.PSEG.TEST.REGION_VOTING.ENABLED = False
    cfg.MODEL.PSEG.TEST.REGION_VOTING.MAX_REGIONS = 24
    cfg.MODEL.PSEG.TEST.REGION_VOTING.MIN_AREA = 20
    cfg.MODEL.PSEG.TEST.REGION_VOTING.MAX_PER_CLUSTER = 4
    cfg.MODEL.PSEG.TEST.REGION_VOTING.COLOR_STRIDE = 1

    # ---------------------------------------------------------------- text encoder
    cfg.MODEL.TEXT_ENCODER = CN()
    cfg.MODEL.TEXT_ENCODER.NAME = "CLIPTextTransformer"
    cfg.MODEL.TEXT_ENCODER.CONTEXT_LENGTH = 77
    cfg.MODEL.TEXT_ENCODER.VOCAB_SIZE = 49408
    cfg.MODEL.TEXT_ENCODER.WIDTH = 256
    cfg.MODEL.TEXT_ENCODER.LAYERS = 12
    cfg.MODEL.TEXT_ENCODER.HEADS = 4

    # ---------------------------------------------------------------- pseudo-mask generator
    cfg.MODEL.PSEUDO_MASK = CN()
    # Registry PSEUDO_MASK_GENERATOR_REGISTRY: "DINOKMeansGenerator" or "ColorKMeansGenerator".
    cfg.MODEL.PSEUDO_MASK.NAME = "DINOKMeansGenerator"
    # K: clusters (pseudo-masks) per image.
    cfg.MODEL.PSEUDO_MASK.NUM_CLUSTERS = 8
    cfg.MODEL.PSEUDO_MASK.KMEANS_ITERS = 30
    # K-Means stops early once fewer than this fraction of points change cluster.
    cfg.MODEL.PSEUDO_MASK.KMEANS_TOL = 1e-3
    cfg.MODEL.PSEUDO_MASK.SEED = 0
    # timm model name of the frozen feature ViT and a local checkpoint of its weights (required).
    cfg.MODEL.PSEUDO_MASK.VIT_NAME = "vit_small_patch8_224.dino"
    cfg.MODEL.PSEUDO_MASK.VIT_WEIGHTS = ""
    # Colour features: average-pooling stride before clustering (ColorKMeansGenerator).
    cfg.MODEL.PSEUDO_MASK.COLOR_STRIDE = 4

    # ---------------------------------------------------------------- Swin from timm
    cfg.MODEL.SWIN = CN()
    cfg.MODEL.SWIN.TIMM_NAME = "swin_small_patch4_window7_224"
    # Local checkpoint for the backbone ("" = random init; MODEL.WEIGHTS loads whole models).
    cfg.MODEL.SWIN.WEIGHTS = ""
    cfg.MODEL.SWIN.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.SWIN.DROP_PATH_RATE = 0.3

    # ---------------------------------------------------------------- any timm convnet (build_timm_convnet_backbone)
    cfg.MODEL.TIMM = CN()
    cfg.MODEL.TIMM.NAME = "resnet50"
    # timm feature indices; the map of stride 2^k is named res{k} (indices 1..4: res2..res5 for most nets).
    cfg.MODEL.TIMM.OUT_INDICES = [1, 2, 3, 4]
    cfg.MODEL.TIMM.WEIGHTS = ""

    # ---------------------------------------------------------------- image-text training data
    cfg.DATASETS.IMAGE_TEXT = CN()
    # webdataset shards: paths, brace patterns ("data/cc3m/{00000..00331}.tar"), globs, .txt list files,
    # http(s):// s3:// gs:// URLs or pipe: commands (pseg_d2/data/shards.py).
    cfg.DATASETS.IMAGE_TEXT.SHARDS = []
    cfg.DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER = 1000
    # Training images over this many pixels are skipped from their header (decompression bombs), and
    # images with a side under MIN_IMAGE_SIDE too; each skip is counted by reason.
    cfg.INPUT.MAX_IMAGE_PIXELS = 89_478_485
    cfg.INPUT.MIN_IMAGE_SIDE = 8
    # Stop training when more than this fraction of the samples read so far were skipped.
    cfg.DATALOADER.MAX_SKIP_FRACTION = 0.5
    # Stop training (with the counts by reason) when a loader worker skips this many samples in a row
    # without forming a batch; a worker that reads no sample in a whole pass over its shards stops too.
    cfg.DATALOADER.MAX_SKIPS_WITHOUT_BATCH = 10_000
    # On --resume, re-read (and drop) the batches the first run trained on, so the resumed run sees
    # exactly the data an uninterrupted run would (with a fixed SEED). It costs one pass over those
    # batches, so it suits short runs and debugging; otherwise the resumed run draws a new shard order.
    cfg.DATALOADER.RESUME_REPLAY = False
    cfg.INPUT.CROP_SIZE = 224
    cfg.INPUT.CROP_SCALE = (0.5, 1.0)
    # Where training JPEGs are decoded: "cpu" (PIL, in the loader workers) or "cuda" (the workers read
    # only the header and draw the crop; the training step decodes the batch with nvjpeg, or with
    # torchvision on the CPU when CUDA is not available). Other formats are always decoded in the workers.
    cfg.INPUT.DECODE_DEVICE = "cpu"
    # Caption preprocessing: "raw" or "nouns_verbs" (keep nouns and verbs, as GroupViT and the paper).
    cfg.INPUT.CAPTION_MODE = "raw"
    # Evaluation input: the short side is resized to this (448 in the paper, as GroupViT).
    cfg.INPUT.MIN_SIZE_TEST = 448
    cfg.INPUT.MAX_SIZE_TEST = 2048

    # Images per evaluation batch on each GPU (evaluation images of a batch share one vocabulary).
    cfg.TEST.IMS_PER_BATCH = 1

    # ---------------------------------------------------------------- optimiser
    cfg.SOLVER.OPTIMIZER = "ADAMW"
    cfg.SOLVER.BETAS = (0.9, 0.999)

    # ---------------------------------------------------------------- speed and scale (defaults: off)
    # Detectron2's SOLVER.AMP.ENABLED turns on autocast in training; this is its dtype: "float16" (with
    # a gradient scaler, CUDA only) or "bfloat16" (no scaler; CUDA or CPU).
    cfg.SOLVER.AMP.PRECISION = "float16"
    # Gradient caching of the contrastive loss: the batch is run in micro-batches of this many images
    # while the contrastive loss still sees every pair of the (global) batch (0 = off).
    cfg.SOLVER.CONTRASTIVE_MICRO_BATCH = 0
    # Backbone and pixel decoder weights and inputs in channels-last memory format.
    cfg.MODEL.PSEG.CHANNELS_LAST = False
    # torch.compile the backbone (in place: checkpoints keep their keys).
    cfg.MODEL.PSEG.COMPILE = False
    # Recompute activations in backward instead of storing them: backbone stages, decoder layers and
    # text transformer blocks (torch.utils.checkpoint).
    cfg.MODEL.PSEG.ACTIVATION_CHECKPOINTING = False
