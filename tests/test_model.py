import copy

import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from pseg_d2.engine import setup_cfg
from pseg_d2.modeling import MaskFeatureHead, tokenize
from conftest import tiny_cfg


def _train_inputs(n, size, context_length, captions=None):
    captions = captions or [f"a photo number {i}" for i in range(n)]
    return [
        {"image": torch.randint(0, 256, (3, size, size), dtype=torch.uint8), "text": tokenize([c], context_length)[0]}
        for c in captions
    ]


def test_training_forward_returns_finite_named_losses():
    model = build_model(tiny_cfg())
    model.train()
    with EventStorage():
        losses = model(_train_inputs(3, 64, 32))
    assert set(losses) == {"loss_dice", "loss_focal", "loss_contrastive"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    sum(losses.values()).backward()
    assert model.logit_scale.grad is not None
    assert all(p.grad is None for p in model.pseudo_mask_generator.parameters())


def test_every_decoder_layers_masks_are_supervised_but_only_the_last_gets_features():
    model = build_model(tiny_cfg("MODEL.PSEG.DEEP_SUPERVISION", True))
    model.train()
    head_calls, supervised = [], []
    model.mask_feature_head.register_forward_hook(lambda module, args, out: head_calls.append(out.shape))
    model.criterion.register_forward_pre_hook(lambda module, args: supervised.append(len(args[0])))
    with EventStorage():
        model(_train_inputs(2, 64, 32))
    assert supervised == [len(model.mask_decoder.layers)] and len(model.mask_decoder.layers) > 1
    assert len(head_calls) == 1 and head_calls[0][:2] == (2, model.mask_decoder.query_embed.num_embeddings)


def test_segment_contrastive_loss_pools_pixel_embeddings_under_each_pseudo_mask():
    model = build_model(tiny_cfg("MODEL.PSEG.SEGMENT_CONTRASTIVE_WEIGHT", 0.5))
    pixels = torch.randn(2, model.mask_feature_head.pixel_embed.in_channels, 8, 8)
    targets = torch.zeros(2, 3, 8, 8)
    targets[:, 0, :, :3] = 1  # image 0: segments 0 (24 px) and 1 (40 px), segment 2 empty
    targets[0, 1, :, 3:] = 1
    targets[1, 2, :, 3:] = 1  # image 1: segments 0 and 2 (the largest), segment 1 empty
    segments = model.segment_embeddings(pixels, targets)
    assert segments.shape == (2, 3, model.mask_feature_head.projection[-1].out_features)
    assert torch.allclose(segments.norm(dim=-1), torch.ones(2, 3))
    embedded = model.mask_feature_head.pixel_embed(pixels)
    own = embedded[0, :, :, :3].sum((1, 2)) / (24 + 1.0)  # the pooling's +1 keeps empty masks finite
    assert torch.allclose(segments[0, 0], F.normalize(model.mask_feature_head.projection(own), dim=-1), atol=1e-5)
    assert torch.equal(segments[0, 2], segments[0, 1]) and torch.equal(segments[1, 1], segments[1, 2])
    model.train()
    with EventStorage():
        losses = model(_train_inputs(3, 64, 32))
    assert set(losses) == {"loss_dice", "loss_focal", "loss_contrastive", "loss_segment_contrastive"}
    losses["loss_segment_contrastive"].backward()
    assert model.mask_feature_head.pixel_embed.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="SEGMENT_CONTRASTIVE_WEIGHT"):
        build_model(tiny_cfg("MODEL.PSEG.SEGMENT_CONTRASTIVE_WEIGHT", 0.5, "MODEL.PSEG.MASK_FEATURE_SOURCE", "query",
                             "MODEL.PSEG.INFERENCE_COMBINE", "sigmoid_sum"))


def test_softmax_mask_pooling_gives_each_pixel_to_the_queries_that_claim_it():
    pixels = torch.randn(1, 4, 6, 6)
    masks = torch.full((1, 2, 6, 6), 12.0)
    masks[0, 1] = 3.0  # both sigmoids near 1 everywhere; query 0 wins every pixel under the softmax
    heads = {p: MaskFeatureHead("mask_pooled", 4, 4, 3, pooling=p) for p in ("sigmoid", "query_softmax")}
    heads["query_softmax"].load_state_dict(heads["sigmoid"].state_dict())
    for head in heads.values():
        head.projection = torch.nn.Identity()  # look at the pooled pixel embeddings themselves
    embedded = heads["sigmoid"].pixel_embed(pixels)
    image_mean = embedded.mean((2, 3))[0]
    scale = image_mean.abs().max().item()
    sig, soft = heads["sigmoid"](None, masks, pixels)[0], heads["query_softmax"](None, masks, pixels)[0]
    assert torch.allclose(sig[0], sig[1], atol=0.05 * scale)  # two diffuse image averages
    assert torch.allclose(soft[0], image_mean * 36 / 37, atol=0.02 * scale)
    assert soft[1].abs().max() < 0.02 * scale
    with pytest.raises(ValueError, match="MASK_POOLING"):
        MaskFeatureHead("mask_pooled", 4, 4, 3, pooling="max")


@pytest.mark.parametrize(
    "source, combine",
    [(s, c) for s in ("query", "mask_pooled") for c in ("sigmoid_sum", "query_softmax")]
    + [("mask_pooled", "pixel"), ("mask_pooled", "hybrid")],
)
def test_inference_returns_sem_seg_at_the_original_size(source, combine):
    cfg = tiny_cfg("MODEL.PSEG.MASK_FEATURE_SOURCE", source, "MODEL.PSEG.INFERENCE_COMBINE", combine)
    model = build_model(cfg).eval()
    inputs = [
        {"image": torch.randint(0, 256, (3, 45, 71), dtype=torch.uint8), "height": 90, "width": 142, "vocabulary": ["background", "cat", "dog"]},
        {"image": torch.randint(0, 256, (3, 64, 50), dtype=torch.uint8), "vocabulary": ["background", "cat", "dog"]},
    ]
    outputs = model(inputs)
    assert outputs[0]["sem_seg"].shape == (3, 90, 142)
    assert outputs[1]["sem_seg"].shape == (3, 64, 50)
    assert all(torch.isfinite(o["sem_seg"]).all() for o in outputs)


def test_pixel_rule_classifies_each_pixel_embedding_and_needs_mask_pooled_features():
    model = build_model(tiny_cfg("MODEL.PSEG.INFERENCE_COMBINE", "pixel", "MODEL.PSEG.BACKGROUND_RULE", "prompt")).eval()
    images = torch.randn(2, 3, 64, 64)
    vocabulary = ["cat", "dog", "bird"]
    with torch.no_grad():
        scores = model.predict_scores(images, vocabulary)
        dense = model.mask_feature_head.dense(model.pixel_decoder(model.backbone(images)))  # [B, 16, 16, E]
        probs = (model.scale() * F.normalize(dense, dim=-1) @ model.encode_vocabulary(vocabulary).t()).softmax(-1)
    assert dense.shape[1:3] == (16, 16) and scores.shape == (2, 3, 64, 64)
    expected = F.interpolate(probs.permute(0, 3, 1, 2), size=(64, 64), mode="bilinear", align_corners=False)
    assert torch.allclose(scores, expected, atol=1e-5)
    assert torch.allclose(scores.sum(1), torch.ones(2, 64, 64), atol=1e-5)
    for rule in ("pixel", "hybrid"):
        with pytest.raises(ValueError, match="mask_pooled"):
            build_model(tiny_cfg("MODEL.PSEG.INFERENCE_COMBINE", rule, "MODEL.PSEG.MASK_FEATURE_SOURCE", "query"))


def test_hybrid_rule_takes_background_from_masks_and_classes_from_pixels():
    opts = ("MODEL.PSEG.BACKGROUND_RULE", "threshold")
    models = {rule: build_model(tiny_cfg("MODEL.PSEG.INFERENCE_COMBINE", rule, *opts)).eval() for rule in ("query_softmax", "pixel", "hybrid")}
    weights = models["hybrid"].state_dict()
    images = torch.randn(2, 3, 64, 64)
    vocabulary = ["background", "cat", "dog", "bird"]
    with torch.no_grad():
        for model in models.values():
            model.load_state_dict(weights)
        best = models["query_softmax"].predict_scores(images, vocabulary)[:, 1:].amax(1)
        threshold = best.median().item()  # half the pixels are background
        for model in models.values():
            model.background_threshold = threshold
        scores = {rule: model.predict_scores(images, vocabulary) for rule, model in models.items()}
    masks, pixels, hybrid = scores["query_softmax"], scores["pixel"], scores["hybrid"]
    foreground = masks[:, 1:].amax(1) > threshold
    assert 0.3 < foreground.float().mean() < 0.7
    assert torch.equal(hybrid.argmax(1) == 0, ~foreground)
    assert torch.equal(hybrid[:, 1:].argmax(1)[foreground], pixels[:, 1:].argmax(1)[foreground])
    assert torch.allclose(hybrid[:, 1:].amax(1), masks[:, 1:].amax(1), atol=1e-6)


def test_class_embeddings_are_cached_per_vocabulary_and_dropped_on_train():
    model = build_model(tiny_cfg()).eval()
    a = model.encode_vocabulary(["cat", "dog"])
    assert model.encode_vocabulary(["cat", "dog"]) is a
    b = model.encode_vocabulary(["dog", "cat"])
    assert torch.allclose(a[0], b[1], atol=1e-6) and b.shape == (2, model.mask_feature_head.projection[-1].out_features)
    model.train()
    model.eval()
    assert model.encode_vocabulary(["cat", "dog"]) is not a


def test_background_threshold_rule_fills_the_background_channel():
    model = build_model(tiny_cfg("MODEL.PSEG.BACKGROUND_RULE", "threshold", "MODEL.PSEG.BACKGROUND_THRESHOLD", 0.7)).eval()
    out = model([{"image": torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8), "vocabulary": ["cat", "background", "dog"]}])
    sem_seg = out[0]["sem_seg"]
    assert torch.allclose(sem_seg[1], torch.full_like(sem_seg[1], 0.7))
    # query_softmax scores of the foreground classes sum to one at every pixel.
    assert torch.allclose(sem_seg[[0, 2]].sum(0), torch.ones_like(sem_seg[0]), atol=1e-4)


@pytest.mark.parametrize("vocabulary, message", [([], "empty"), (["cat", "cat"], "more than once"), (["cat", " "], "empty class")])
def test_bad_vocabularies_are_refused(vocabulary, message):
    model = build_model(tiny_cfg()).eval()
    with pytest.raises(ValueError, match=message):
        model([{"image": torch.zeros(3, 32, 32, dtype=torch.uint8), "vocabulary": vocabulary}])


def test_a_few_iterations_lower_the_loss_on_a_fixed_batch():
    cfg = tiny_cfg()
    model = build_model(cfg)
    model.train()
    torch.manual_seed(1)
    inputs = _train_inputs(4, 64, 32, ["red star", "blue circle", "green square", "yellow heart"])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    history = []
    with EventStorage():
        for _ in range(15):
            losses = model(copy.deepcopy(inputs))
            total = sum(losses.values())
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            history.append(total.item())
    assert sum(history[-3:]) / 3 < 0.8 * sum(history[:3]) / 3, history


def test_paper_config_builds_trains_and_infers_on_cpu(tmp_path, capsys):
    import timm

    vit = timm.create_model("vit_small_patch8_224.dino", pretrained=False, num_classes=0)
    torch.save(vit.state_dict(), tmp_path / "dino_deitsmall8_pretrain.pth")
    cfg = setup_cfg("configs/pseg_swin_s.yaml", ["MODEL.DEVICE", "cpu"], freeze=False)
    cfg.MODEL.PSEUDO_MASK.VIT_WEIGHTS = str(tmp_path / "dino_deitsmall8_pretrain.pth")
    model = build_model(cfg)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    counts = {"backbone": count(model.backbone), "text_encoder": count(model.text_encoder), "total_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    with capsys.disabled():
        print(f"\npseg_swin_s.yaml parameters: {counts}")
    assert 48e6 < counts["backbone"] < 51e6  # Swin-S without its classifier: about 48.8M
    assert model.mask_decoder.query_embed.num_embeddings == 64 and len(model.mask_decoder.layers) == 6
    assert len(model.text_encoder.transformer.transformer.resblocks) == 12
    model.train()
    with EventStorage():
        losses = model(_train_inputs(2, 224, 77, ["a dog runs on grass", "a cat sleeps"]))
    assert set(losses) == {"loss_dice", "loss_focal", "loss_contrastive"}
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    vocabulary = ["background", "dog", "cat", "grass", "sky"]
    out = model([{"image": torch.randint(0, 256, (3, 224, 224), dtype=torch.uint8), "vocabulary": vocabulary}])
    assert out[0]["sem_seg"].shape == (5, 224, 224)


def test_sliding_window_inference_covers_the_image():
    model = build_model(tiny_cfg("MODEL.PSEG.SLIDING_WINDOW", 64, "MODEL.PSEG.SLIDING_STRIDE", 32)).eval()
    image = torch.randint(0, 256, (3, 64, 150), dtype=torch.uint8)
    vocabulary = ["background", "cat"]
    sliding = model([{"image": image, "vocabulary": vocabulary}])[0]["sem_seg"]
    assert sliding.shape == (2, 64, 150) and torch.isfinite(sliding).all()
    # A window covering the image's left edge scores that region as the model does on the crop alone.
    crop = model([{"image": image[:, :, :64], "vocabulary": vocabulary}])[0]["sem_seg"]
    assert torch.allclose(sliding[:, :, :32], crop[:, :, :32], atol=1e-4)
