"""Training-step switches: AMP (bfloat16 on the CPU), channels-last, torch.compile, activation
checkpointing and gradient caching each train; checkpointing changes no loss and no gradient."""
import pytest
import torch
from detectron2.engine import SimpleTrainer
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from pseg_d2.engine.train_loop import PSegStepTrainer, build_train_loop
from pseg_d2.modeling import tokenize
from conftest import tiny_cfg

# A timm backbone: its stages can be checkpointed (Detectron2's ResNet has no such switch).
TIMM_BACKBONE = ("MODEL.BACKBONE.NAME", "build_timm_convnet_backbone", "MODEL.TIMM.NAME", "resnet10t")


def _inputs(n=4, size=64):
    return [
        {"image": torch.randint(0, 256, (3, size, size), dtype=torch.uint8), "text": tokenize([f"photo {i}"], 32)[0]}
        for i in range(n)
    ]


def _one_step(cfg):
    """One optimizer step through build_train_loop -> (trainer, total loss written, params changed)."""
    model = build_model(cfg).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    trainer = build_train_loop(cfg, model, [_inputs()], optimizer)
    trainer.iter = 0
    with EventStorage() as storage:
        trainer.run_step()
        total = storage.history("total_loss").latest()
    after = [p.detach() for p in model.parameters() if p.requires_grad]
    return trainer, total, sum(not torch.equal(a, b) for a, b in zip(before, after)) / len(before)


@pytest.mark.parametrize(
    "opts",
    [
        ("SOLVER.AMP.ENABLED", True, "SOLVER.AMP.PRECISION", "bfloat16"),
        ("MODEL.PSEG.CHANNELS_LAST", True),
        ("MODEL.PSEG.ACTIVATION_CHECKPOINTING", True, *TIMM_BACKBONE),
        ("SOLVER.CONTRASTIVE_MICRO_BATCH", 2),
        ("SOLVER.AMP.ENABLED", True, "SOLVER.AMP.PRECISION", "bfloat16", "SOLVER.CONTRASTIVE_MICRO_BATCH", 2),
    ],
    ids=["amp_bf16", "channels_last", "checkpointing", "grad_cache", "amp_bf16_grad_cache"],
)
def test_a_training_step_with_each_switch_gives_a_finite_loss(opts):
    trainer, total, changed = _one_step(tiny_cfg(*opts))
    assert isinstance(trainer, PSegStepTrainer) == ("SOLVER.AMP.ENABLED" in opts or "SOLVER.CONTRASTIVE_MICRO_BATCH" in opts)
    assert torch.isfinite(torch.tensor(total)) and total > 0
    assert changed > 0.9  # the optimizer stepped nearly every parameter


def test_channels_last_puts_backbone_weights_in_that_format():
    model = build_model(tiny_cfg("MODEL.PSEG.CHANNELS_LAST", True))
    conv = model.backbone.stem.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()


def test_compile_switch_compiles_the_backbone_and_trains(monkeypatch):
    # Inductor takes minutes on this CPU: compile with the eager backend, which still traces with dynamo.
    compiled = []
    original = torch.nn.Module.compile

    def compile_eagerly(module, **kwargs):
        compiled.append(module)
        original(module, backend="eager")

    monkeypatch.setattr(torch.nn.Module, "compile", compile_eagerly)
    cfg = tiny_cfg("MODEL.PSEG.COMPILE", True)
    trainer, total, changed = _one_step(cfg)
    assert compiled == [trainer.model.backbone]
    assert torch.isfinite(torch.tensor(total)) and changed > 0.9
    assert "backbone.stem.conv1.weight" in trainer.model.state_dict()  # checkpoint keys unchanged


def test_activation_checkpointing_gives_the_same_loss_and_gradients():
    results = []
    for enabled in (False, True):
        torch.manual_seed(0)
        model = build_model(tiny_cfg("MODEL.PSEG.ACTIVATION_CHECKPOINTING", enabled, "MODEL.PSEG.DROPOUT", 0.2, *TIMM_BACKBONE))
        model.train()
        torch.manual_seed(1)
        inputs = _inputs()
        with EventStorage():
            losses = model(inputs)
        sum(losses.values()).backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        results.append((losses, grads))
    (plain_losses, plain_grads), (ckpt_losses, ckpt_grads) = results
    assert model.mask_decoder.checkpoint_layers and model.backbone.model.grad_checkpointing
    for name in plain_losses:
        torch.testing.assert_close(ckpt_losses[name], plain_losses[name])
    assert set(ckpt_grads) == set(plain_grads)
    for name in plain_grads:
        torch.testing.assert_close(ckpt_grads[name], plain_grads[name], rtol=1e-4, atol=1e-5, msg=name)


def test_defaults_keep_detectron2s_simple_trainer_and_bad_settings_are_refused():
    cfg = tiny_cfg()
    model = build_model(cfg)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert type(build_train_loop(cfg, model, [], optimizer)) is SimpleTrainer
    with pytest.raises(ValueError, match="float16 needs CUDA"):
        build_train_loop(tiny_cfg("SOLVER.AMP.ENABLED", True), model, [], optimizer)
    with pytest.raises(ValueError, match="PRECISION must be one of"):
        build_train_loop(tiny_cfg("SOLVER.AMP.ENABLED", True, "SOLVER.AMP.PRECISION", "fp8"), model, [], optimizer)
    with pytest.raises(ValueError, match="must be >= 0"):
        build_train_loop(tiny_cfg("SOLVER.CONTRASTIVE_MICRO_BATCH", -1), model, [], optimizer)
    with pytest.raises(ValueError, match="ACTIVATION_CHECKPOINTING: ResNet has no set_grad_checkpointing"):
        build_model(tiny_cfg("MODEL.PSEG.ACTIVATION_CHECKPOINTING", True))
