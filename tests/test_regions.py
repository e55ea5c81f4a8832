import pytest
import torch
from detectron2.modeling import build_model

from pseg_d2.modeling import DINOKMeansGenerator
from pseg_d2.modeling.regions import build_region_generator, region_mean, vote
from conftest import tiny_cfg

VOTING = ("MODEL.PSEG.REGION_VOTING.ENABLED", True, "MODEL.PSEG.REGION_VOTING.MIN_AREA", 4)


def blocks_image(size: int = 64) -> torch.Tensor:
    """Raw RGB [3, size, size]: a grey background, two red squares apart and a blue bar."""
    image = torch.full((3, size, size), 128.0)
    image[:, 8:24, 8:24] = torch.tensor([220.0, 30.0, 30.0])[:, None, None]
    image[:, 40:56, 36:52] = torch.tensor([220.0, 30.0, 30.0])[:, None, None]
    image[:, 4:12, 32:60] = torch.tensor([30.0, 60.0, 225.0])[:, None, None]
    return image


def test_region_mean_and_vote():
    regions = torch.zeros(1, 2, 4, 4)
    regions[0, 0, :, :2] = 1  # left half
    regions[0, 1, :, 2:] = 1  # right half
    scores = torch.rand(1, 3, 4, 4)
    means = region_mean(scores, regions)
    assert torch.allclose(means[0, :, 0, 0], scores[0, :, :, :2].mean((1, 2)))
    assert torch.allclose(means[0, :, 3, 3], scores[0, :, :, 2:].mean((1, 2)))
    probs = torch.tensor([[[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]])  # left: class 1, right: class 0
    voted = vote(scores, regions, probs)
    assert (voted.argmax(1)[0, :, :2] == 1).all() and (voted.argmax(1)[0, :, 2:] == 0).all()
    best = scores.amax(1, keepdim=True)
    assert torch.allclose(voted.amax(1, keepdim=True), region_mean(best, regions))
    assert torch.allclose(voted[0, :, 0, 0], best[0, 0, :, :2].mean() * probs[0, 0] / 0.5)


def test_region_generator_splits_clusters_into_regions_and_leaves_the_config_alone():
    cfg = tiny_cfg(*VOTING)
    generator = build_region_generator(cfg)
    assert not cfg.MODEL.PSEUDO_MASK.SPLIT_REGIONS and cfg.MODEL.PSEUDO_MASK.COLOR_STRIDE == 4
    assert generator.split_regions and generator.num_masks == cfg.MODEL.PSEG.REGION_VOTING.MAX_REGIONS
    assert generator.stride == cfg.MODEL.PSEG.REGION_VOTING.COLOR_STRIDE
    regions = generator.one_hot(blocks_image()[None], (64, 64))
    assert regions.shape == (1, generator.num_masks, 64, 64) and torch.equal(regions.sum(1), torch.ones(1, 64, 64))
    first, second = regions[0, :, 16, 16].argmax(), regions[0, :, 48, 44].argmax()
    assert first != second  # two red squares: one colour cluster, two regions
    assert regions[0, first, 8:24, 8:24].all() and regions[0, second, 40:56, 36:52].all()


def test_region_generator_of_the_dino_kind_takes_no_colour_stride():
    cfg = tiny_cfg(*VOTING, "MODEL.PSEUDO_MASK.NAME", "DINOKMeansGenerator",
                   "MODEL.PSEUDO_MASK.VIT_NAME", "vit_small_patch8_224.dino")
    generator = build_region_generator(cfg)
    assert isinstance(generator, DINOKMeansGenerator) and generator.split_regions
    assert generator.num_masks == cfg.MODEL.PSEG.REGION_VOTING.MAX_REGIONS


@pytest.mark.parametrize("combine", ["hybrid", "pixel"])
def test_region_voting_names_each_region_as_a_whole(combine):
    opts = ("MODEL.PSEG.INFERENCE_COMBINE", combine, "MODEL.PSEG.BACKGROUND_RULE", "border")
    voting = build_model(tiny_cfg(*opts, *VOTING)).eval()
    plain = build_model(tiny_cfg(*opts)).eval()
    plain.load_state_dict(voting.state_dict())
    raw = blocks_image()[None]
    images = (raw - voting.pixel_mean) / voting.pixel_std
    regions = [r for r in voting.region_generator.one_hot(raw, (64, 64))[0].bool() if r.any()]
    classes = ["cat", "dog", "bird", "fish"]
    with torch.no_grad():
        labels = voting.predict_scores(images, classes).argmax(1)[0]
        reference = plain.predict_scores(images, classes).argmax(1)[0]
        assert all(len(labels[r].unique()) == 1 for r in regions)
        assert any(len(reference[r].unique()) > 1 for r in regions)  # without voting, pixels of a region disagree
        # with a background class, a region is background or not as a whole
        best = voting.predict_scores(images, ["background"] + classes)[0, 1:].amax(0)
        voting.background_threshold = (best.min() + best.max()).item() / 2
        labels = voting.predict_scores(images, ["background"] + classes).argmax(1)[0]
    assert (labels == 0).any() and (labels > 0).any()
    assert all(len(labels[r].unique()) == 1 for r in regions)


def test_region_voting_needs_pooled_mask_features_and_reads_the_raw_image():
    with pytest.raises(ValueError, match="REGION_VOTING"):
        build_model(tiny_cfg("MODEL.PSEG.MASK_FEATURE_SOURCE", "query", *VOTING))
    for fmt in ("RGB", "BGR"):
        model = build_model(tiny_cfg("INPUT.FORMAT", fmt, *VOTING)).eval()
        image = blocks_image().to(torch.uint8)
        normalised, raw = model._preprocess([{"image": image}])
        assert torch.allclose(model._raw(normalised.tensor), raw, atol=1e-3)
