"""Exact stream Shapley values: efficiency, symmetry, null player, and agreement with captum."""
import pytest
import torch
from factories import random_data

from dsrsd_core.explain.shapley import coalition_masks, exact_stream_shapley, shapley_weights
from dsrsd_core.model import DSRSDNet
from dsrsd_core.train.batching import to_tensors


def test_weights_give_known_values_for_simple_games():
    from dsrsd_core.explain.shapley import shapley_from_values

    n = 4
    masks = coalition_masks(n).double()
    # additive game: phi_i = a_i
    a = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    v = (masks @ a).view(1, -1, 1)
    assert torch.allclose(shapley_from_values(v).double().squeeze(), a.float().double(), atol=1e-6)
    # unanimity game on {0, 1}: v = 1 iff both present -> 1/2 each, null players 2 and 3 get 0
    v = (masks[:, 0] * masks[:, 1]).view(1, -1, 1)
    phi = shapley_from_values(v).squeeze()
    assert torch.allclose(phi, torch.tensor([0.5, 0.5, 0.0, 0.0]), atol=1e-7)
    # maximum game (symmetric players): each gets 1/n of v(N) - v({})
    v = masks.max(1).values.view(1, -1, 1)
    assert torch.allclose(shapley_from_values(v).squeeze(), torch.full((n,), 1 / n), atol=1e-7)
    assert torch.allclose(shapley_weights(n).sum(0), torch.zeros(n, dtype=torch.float64), atol=1e-12)


class SymmetricHead(torch.nn.Module):
    """A constructed fusion head: sigmoid of the sum of stream means; streams 2 and 3 are null."""

    def forward(self, streams, mask):
        contrib = streams.mean(-1) * mask
        contrib[:, 2:4] = 0
        score = contrib.sum(1, keepdim=True)
        return torch.cat([torch.zeros_like(score), score], 1), None


def test_symmetry_and_null_player_on_a_constructed_head():
    streams = torch.randn(5, 6, 4)
    streams[:, 1] = streams[:, 0]  # players 0 and 1 are interchangeable
    out = exact_stream_shapley(SymmetricHead(), streams, torch.ones(5, 6, dtype=torch.bool))
    phi = out["phi"][..., 1]
    assert torch.allclose(phi[:, 0], phi[:, 1], atol=1e-6)
    assert torch.allclose(phi[:, 2:4], torch.zeros(5, 2), atol=1e-7)


@pytest.fixture(scope="module")
def model_and_streams():
    data = random_data(40, seed=3)
    torch.manual_seed(0)
    model = DSRSDNet(data.specs(), 2, d_model=16, d_stream=8).eval()
    tensors = to_tensors(data)
    model.fit_normalisation(tensors)
    with torch.no_grad():
        enc = model.encode(tensors)
        streams = model.stream_tensor(enc)
        present = model.stream_mask(tensors["present"])
    return model, streams, present


def test_efficiency_on_the_model(model_and_streams):
    model, streams, present = model_and_streams
    out = exact_stream_shapley(model.predict_from_streams, streams, present)
    gap = out["full"] - out["empty"]
    assert torch.allclose(out["phi"].sum(1), gap, atol=1e-5)
    # v(all) is the model's own prediction
    logits, _ = model.predict_from_streams(streams, present)
    assert torch.allclose(out["full"], torch.softmax(logits, -1), atol=1e-6)
    # streams of a missing modality are null players
    missing = ~present
    assert (out["phi"][missing].abs() < 1e-7).all()


def test_equals_captum_shapley_values_with_the_same_grouping(model_and_streams):
    from captum.attr import ShapleyValues

    model, streams, present = model_and_streams
    streams, present = streams[:4], present[:4]
    ours = exact_stream_shapley(model.predict_from_streams, streams, present)["phi"]

    def forward(keep, streams, present):
        logits, _ = model.predict_from_streams(streams, present & (keep > 0.5))
        return torch.softmax(logits, -1)

    keep = torch.ones(len(streams), streams.shape[1])
    with torch.no_grad():
        theirs = ShapleyValues(forward).attribute(
            keep, baselines=torch.zeros_like(keep), target=1, additional_forward_args=(streams, present),
            feature_mask=torch.arange(streams.shape[1]).unsqueeze(0), perturbations_per_eval=64)
    assert torch.allclose(ours[..., 1], theirs, atol=1e-5)
