import pytest
import torch
from detectron2.modeling import build_model

from pseg_d2.inference import build_semantic_inference
from pseg_d2.inference.background import border_cells, border_mean, distinctness
from conftest import tiny_cfg


def test_border_ring_leaves_out_padding():
    ring = border_cells([(8, 8), (20, 12)], padded=(32, 32), grid=(8, 8), device=torch.device("cpu"))
    assert ring[0, 0, :2].all() and ring[0, 1, 0] and ring[0, 1, 1] and not ring[0, 1, 2]  # a 2 x 2 image is all ring
    assert ring[0].sum() == 4
    image = ring[1, :5, :3]  # 20 x 12 pixels cover 5 x 3 cells of 4 pixels
    assert image[0].all() and image[-1].all() and image[:, 0].all() and image[:, -1].all()
    assert not image[1:-1, 1].any() and ring[1].sum() == 12 and not ring[1, 5:].any() and not ring[1, :, 3:].any()


def test_what_looks_like_the_border_is_not_distinct():
    features = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).repeat(1, 1, 6, 6)
    features[0, :, 2:4, 2:4] = torch.tensor([0.0, 3.0, 0.0]).view(3, 1, 1)  # an object in the middle
    features[0, :, 0, 0] = torch.tensor([0.0, 0.0, 5.0])  # one odd border cell
    reference = border_mean(features)
    assert torch.allclose(reference, torch.tensor([[19 / 20, 0.0, 1 / 20]]))
    distinct = distinctness(features, reference[..., None, None], dim=1)[0]
    assert distinct.shape == (6, 6) and (distinct >= 0).all() and (distinct <= 2).all()
    assert distinct[2:4, 2:4].min() > 0.99 and distinct[1, 1] < 0.01
    # the last two rows and columns as padding: the border is the 4 x 4 ring, 3 of its cells the object's
    padded = border_mean(features, image_sizes=[(16, 16)], padded=(24, 24))
    assert torch.allclose(padded, torch.tensor([[8 / 12, 3 / 12, 1 / 12]]))


def _scores(model, images, vocabulary, *opts):
    """Class scores [B, C, H, W] of uint8 images [B, 3, H, W] under the inference rules of ``opts``."""
    pipeline = build_semantic_inference(tiny_cfg(*opts))
    return torch.stack([r["sem_seg"] for r in pipeline(model, [{"image": i, "vocabulary": vocabulary} for i in images])])


@pytest.mark.parametrize("combine", ["sigmoid_sum", "query_softmax"])
def test_border_rule_keeps_the_classes_and_takes_background_from_the_border(combine):
    model = build_model(tiny_cfg()).eval()
    border = ("MODEL.PSEG.TEST.COMBINE", combine, "MODEL.PSEG.TEST.BACKGROUND_RULE", "border")
    threshold = ("MODEL.PSEG.TEST.COMBINE", combine, "MODEL.PSEG.TEST.BACKGROUND_RULE", "threshold")
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    vocabulary = ["cat", "background", "dog", "bird"]
    scores = _scores(model, images, vocabulary, *border, "MODEL.PSEG.TEST.BACKGROUND_THRESHOLD", 0.5)
    reference = _scores(model, images, vocabulary, *threshold)
    assert torch.equal(scores[:, 1], torch.full_like(scores[:, 1], 0.5))
    classes = scores[:, [0, 2, 3]]
    assert torch.equal(classes.argmax(1), reference[:, [0, 2, 3]].argmax(1))
    best = classes.amax(1)
    assert (best >= 0).all() and (best <= 2).all() and best.std() > 0
    # half the pixels are background at the median distinctness
    median = best.median().item()
    labels = _scores(model, images, vocabulary, *border, "MODEL.PSEG.TEST.BACKGROUND_THRESHOLD", median).argmax(1)
    assert 0.3 < (labels == 1).float().mean() < 0.7
    assert (labels[best < median] == 1).all() and (labels[best > median] != 1).all()
    # without a background class the rule changes nothing
    assert torch.allclose(_scores(model, images, ["cat", "dog"], *border), _scores(model, images, ["cat", "dog"], *threshold))


def test_border_rule_uses_each_images_own_border_and_refuses_sliding_windows():
    model = build_model(tiny_cfg("MODEL.PSEG.TEST.BACKGROUND_RULE", "border")).eval()
    small = torch.randint(0, 256, (3, 40, 40), dtype=torch.uint8)
    large = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    vocabulary = ["background", "cat", "dog"]
    with torch.no_grad():
        alone = model([{"image": small, "vocabulary": vocabulary}])[0]["sem_seg"]
        batched = model([{"image": small, "vocabulary": vocabulary}, {"image": large, "vocabulary": vocabulary}])[0]["sem_seg"]
    assert alone.shape == batched.shape == (3, 40, 40)
    # padded to 64 x 64 in the batch: the padding is not part of the small image's border
    assert torch.allclose(alone, batched, atol=1e-4)
    with pytest.raises(ValueError, match="SLIDING_WINDOW"):
        build_model(tiny_cfg("MODEL.PSEG.TEST.BACKGROUND_RULE", "border", "MODEL.PSEG.TEST.SLIDING_WINDOW", 64))
