import itertools

import torch

from pseg_d2.modeling import HungarianMatcher, pairwise_dice_cost, pairwise_focal_cost


def _brute_force(cost, columns):
    """Minimum total cost over every injective map of the given columns to rows."""
    best = None
    for rows in itertools.permutations(range(cost.shape[0]), len(columns)):
        total = sum(cost[r, c] for r, c in zip(rows, columns))
        best = total if best is None or total < best else best
    return best


def test_matcher_is_optimal_against_brute_force():
    matcher = HungarianMatcher(cost_dice=1.0, cost_focal=20.0)
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(3, 5, 40, generator=g) * 3
        targets = (torch.rand(3, 4, 40, generator=g) > 0.6).float()
        valid = torch.tensor([[True] * 4, [True, False, True, True], [False, False, True, False]])
        indices = matcher(logits, targets, valid)
        cost = (pairwise_dice_cost(logits, targets) + 20 * pairwise_focal_cost(logits, targets)).numpy()
        for b, (rows, cols) in enumerate(indices):
            wanted = valid[b].nonzero().flatten().tolist()
            assert sorted(cols.tolist()) == wanted, "every valid target matched once, no invalid one"
            assert len(set(rows.tolist())) == len(rows)
            total = sum(cost[b, r, c] for r, c in zip(rows.tolist(), cols.tolist()))
            assert abs(total - _brute_force(cost[b], wanted)) < 1e-4


def test_matcher_pairs_identical_masks():
    targets = torch.zeros(1, 3, 16)
    targets[0, 0, :5] = 1
    targets[0, 1, 5:11] = 1
    targets[0, 2, 11:] = 1
    logits = (targets[:, [2, 0, 1]] * 2 - 1) * 10  # prediction q holds target (q + 2) % 3
    rows, cols = HungarianMatcher()(logits, targets, torch.ones(1, 3, dtype=torch.bool))[0]
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 2, 1: 0, 2: 1}
