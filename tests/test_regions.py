import pytest
import torch
from detectron2.modeling import build_model

from pseg_d2.inference import build_semantic_inference
from pseg_d2.inference.region_voting import region_mean, vote
from pseg_d2.modeling.pseudo_mask.generator import build_pseudo_mask_generator, build_region_generator
from pseg_d2.modeling import DINOKMeansGenerator
from conftest import tiny_cfg

VOTING = ("MODEL.PSEG.TEST.REGION_VOTING.ENABLED", True, "MODEL.PSEG.TEST.REGION_VOTING.MIN_AREA", 4)


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
    assert cfg.MODEL.PSEUDO_MASK.COLOR_STRIDE == 4 and not build_pseudo_mask_generator(cfg).split_regions
    assert generator.split_regions and generator.num_masks == cfg.MODEL.PSEG.TEST.REGION_VOTING.MAX_REGIONS
    assert generator.stride == cfg.MODEL.PSEG.TEST.REGION_VOTING.COLOR_STRIDE
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
    assert generator.num_masks == cfg.MODEL.PSEG.TEST.REGION_VOTING.MAX_REGIONS


def _scores(model, vocabulary, *opts):
    """Class scores [C, H, W] of the blocks image under the inference rules of ``opts``."""
    inputs = [{"image": blocks_image().to(torch.uint8), "vocabulary": vocabulary}]
    return build_semantic_inference(tiny_cfg(*opts))(model, inputs)[0]["sem_seg"]


@pytest.mark.parametrize("combine", ["sigmoid_sum", "query_softmax"])
def test_region_voting_names_each_region_as_a_whole(combine):
    model = build_model(tiny_cfg()).eval()
    opts = ("MODEL.PSEG.TEST.COMBINE", combine, "MODEL.PSEG.TEST.BACKGROUND_RULE", "border")
    regions = [r for r in build_region_generator(tiny_cfg(*VOTING)).one_hot(blocks_image()[None], (64, 64))[0].bool()
               if r.any()]
    classes = ["cat", "dog", "bird", "fish"]
    voted, reference = _scores(model, classes, *opts, *VOTING), _scores(model, classes, *opts)
    # one class per region, scoring the mean of the region's best scores without voting
    assert all(len(voted.argmax(0)[r].unique()) == 1 for r in regions)
    for r in regions:
        torch.testing.assert_close(voted.amax(0)[r], reference.amax(0)[r].mean().expand(int(r.sum())), rtol=1e-4, atol=0)
    # with a background class, a region is background or not as a whole
    best = _scores(model, ["background"] + classes, *opts, *VOTING)[1:].amax(0)
    threshold = (best.min() + best.max()).item() / 2
    labels = _scores(model, ["background"] + classes, *opts, *VOTING,
                     "MODEL.PSEG.TEST.BACKGROUND_THRESHOLD", threshold).argmax(0)
    assert (labels == 0).any() and (labels > 0).any()
    assert all(len(labels[r].unique()) == 1 for r in regions)


def test_region_voting_needs_pooled_mask_features_and_reads_the_raw_image():
    with pytest.raises(ValueError, match="REGION_VOTING"):
        build_model(tiny_cfg("MODEL.PSEG.MASK_FEATURE_SOURCE", "query", *VOTING))
    for fmt in ("RGB", "BGR"):
        model = build_model(tiny_cfg("INPUT.FORMAT", fmt, *VOTING)).eval()
        image = blocks_image().to(torch.uint8)
        normalised, raw = model._preprocess([{"image": image}])
        assert torch.allclose(model.network_outputs(normalised.tensor).raw_images, raw, atol=1e-3)
