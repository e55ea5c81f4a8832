import math

import torch
import torch.nn.functional as F

from pseg_d2.modeling import ContrastiveLoss, dice_loss, pairwise_dice_cost, pairwise_focal_cost, sigmoid_focal_loss


def test_dice_loss_matches_hand_computation():
    logits = torch.tensor([[0.0, 2.0, -1.0, 1.0]])
    target = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    p = [0.5, 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(1)), 1 / (1 + math.exp(-1))]
    expected = 1 - (2 * (p[1] + p[3]) + 1) / (sum(p) + 2 + 1)
    assert torch.allclose(dice_loss(logits, target), torch.tensor([expected]), atol=1e-6)


def test_focal_loss_matches_hand_computation():
    logits = torch.tensor([[1.0, -2.0]])
    target = torch.tensor([[1.0, 0.0]])
    p1, p2 = 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(2))
    pos = 0.25 * (1 - p1) ** 2 * -math.log(p1)
    neg = 0.75 * p2**2 * -math.log(1 - p2)
    assert torch.allclose(sigmoid_focal_loss(logits, target), torch.tensor([(pos + neg) / 2]), atol=1e-6)


def test_pairwise_costs_equal_per_pair_losses():
    logits = torch.randn(2, 5, 30)
    targets = (torch.rand(2, 3, 30) > 0.5).float()
    dice = pairwise_dice_cost(logits, targets)
    focal = pairwise_focal_cost(logits, targets)
    for b in range(2):
        for n in range(5):
            for k in range(3):
                assert torch.allclose(dice[b, n, k], dice_loss(logits[b, n : n + 1], targets[b, k : k + 1])[0], atol=1e-5)
                assert torch.allclose(focal[b, n, k], sigmoid_focal_loss(logits[b, n : n + 1], targets[b, k : k + 1])[0], atol=1e-5)


def test_contrastive_loss_matches_hand_computation():
    x = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=-1)
    y = F.normalize(torch.tensor([[0.8, 0.6], [0.0, 1.0]]), dim=-1)
    s = 10.0
    sim = [[float(x[i] @ y[j]) * s for j in range(2)] for i in range(2)]
    i2t = sum(-sim[i][i] + math.log(sum(math.exp(v) for v in sim[i])) for i in range(2)) / 2
    t2i = sum(-sim[j][j] + math.log(sum(math.exp(sim[i][j]) for i in range(2))) for j in range(2)) / 2
    loss = ContrastiveLoss()(x, y, torch.tensor(s))
    assert abs(loss.item() - (i2t + t2i)) < 1e-5


def test_contrastive_loss_prefers_aligned_pairs():
    x = F.normalize(torch.randn(8, 16), dim=-1)
    aligned = ContrastiveLoss()(x, x, torch.tensor(20.0))
    shuffled = ContrastiveLoss()(x, x.roll(1, 0), torch.tensor(20.0))
    assert aligned < shuffled
