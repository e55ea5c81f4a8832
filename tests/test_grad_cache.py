"""Gradient caching of the contrastive loss gives the gradients of the whole batch at once."""
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from pseg_d2.engine.grad_cache import grad_cached_backward
from pseg_d2.modeling import tokenize
from conftest import tiny_cfg


def _inputs(n, size=64):
    return [
        {"image": torch.randint(0, 256, (3, size, size), dtype=torch.uint8), "text": tokenize([f"a photo number {i}"], 32)[0]}
        for i in range(n)
    ]


def _take_grads(model):
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def _full_batch(model, inputs, seed=5):
    torch.manual_seed(seed)
    losses = model(inputs)
    sum(losses.values()).backward()
    return {k: v.detach() for k, v in losses.items()}, _take_grads(model)


def _assert_same_grads(actual, expected):
    assert set(actual) == set(expected) and len(expected) > 100
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-4, atol=1e-5, msg=name)


def test_micro_batched_gradients_equal_full_batch_gradients():
    # GroupNorm: BatchNorm would see micro-batch statistics. Dropout 0 (the tiny config's).
    model = build_model(tiny_cfg("MODEL.RESNETS.NORM", "GN")).train()
    inputs = _inputs(5)
    with EventStorage():
        full_losses, full_grads = _full_batch(model, inputs)
        torch.manual_seed(5)
        cached_losses = grad_cached_backward(model, inputs, micro_batch=2)  # micro-batches of 2, 2, 1
        cached_grads = _take_grads(model)
        # The naive alternative, each micro-batch with its own contrastive loss, gives other gradients:
        # the comparison above can fail.
        for start in range(0, 5, 2):
            chunk = inputs[start : start + 2]
            (sum(model(chunk).values()) * len(chunk) / 5).backward()
        naive_grads = _take_grads(model)
    assert set(cached_losses) == set(full_losses)
    for name in full_losses:
        torch.testing.assert_close(cached_losses[name], full_losses[name], rtol=1e-5, atol=1e-5)
    _assert_same_grads(cached_grads, full_grads)
    text_param = "text_encoder.projection.0.weight"
    assert not torch.allclose(naive_grads[text_param], full_grads[text_param], rtol=1e-3, atol=1e-4)


def test_dropout_draws_are_replayed_in_the_second_pass():
    # One micro-batch of the whole batch: pass 1 draws the dropout masks of the plain forward (same
    # seed), and pass 2 must draw them again for the gradients to match.
    model = build_model(tiny_cfg("MODEL.RESNETS.NORM", "GN", "MODEL.PSEG.DROPOUT", 0.3)).train()
    inputs = _inputs(3)
    with EventStorage():
        _, full_grads = _full_batch(model, inputs)
        torch.manual_seed(5)
        grad_cached_backward(model, inputs, micro_batch=3)
        _assert_same_grads(_take_grads(model), full_grads)


def test_images_of_different_sizes_are_refused():
    model = build_model(tiny_cfg()).train()
    inputs = _inputs(2, 64) + _inputs(2, 96)
    with EventStorage(), pytest.raises(ValueError, match="one size"):
        grad_cached_backward(model, inputs, micro_batch=2)
    with EventStorage(), pytest.raises(ValueError, match="must be > 0"):
        grad_cached_backward(model, inputs, micro_batch=0)


def _distributed_worker(out_dir):
    from pseg_d2.engine import create_ddp_model
    from pseg_d2.utils.distributed import finish_distributed

    rank = torch.distributed.get_rank()
    torch.manual_seed(0)  # the same initial weights on both ranks
    model = create_ddp_model(build_model(tiny_cfg("MODEL.RESNETS.NORM", "GN")).train())
    torch.manual_seed(10 + rank)
    inputs = _inputs(4)
    with EventStorage() as storage:
        sum(model(inputs).values()).backward()
        plain = _take_grads(model.module)
        grad_cached_backward(model, inputs, micro_batch=3)  # micro-batches of 3 and 1
        cached = _take_grads(model.module)
        pairs = storage.history("contrastive_pairs").latest()
    torch.save({"plain": plain, "cached": cached, "pairs": pairs}, f"{out_dir}/rank{rank}.pt")
    finish_distributed()


@pytest.mark.slow
def test_micro_batching_under_ddp_gives_the_all_reduced_full_batch_gradients(tmp_path):
    from detectron2.engine import launch

    launch(_distributed_worker, 2, dist_url="auto", args=(str(tmp_path),))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for result in ranks:
        assert result["pairs"] == 8  # negatives gathered from both ranks in the cached loss too
        _assert_same_grads(result["cached"], result["plain"])
    # DDP all-reduced the gradients: both ranks hold the same ones.
    _assert_same_grads(ranks[1]["cached"], ranks[0]["cached"])
