import copy

import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from pseg_d2.engine import setup_cfg
from pseg_d2.modeling import tokenize
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
