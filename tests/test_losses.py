"""Properties of each loss, not just that it runs."""
import torch

from dsrsd_core.losses import alignment_regression, decorrelation, info_nce, orthogonality


def centred_orthonormal(n, k, seed=0):
    """k columns that are centred and mutually orthogonal: uncorrelated over the batch."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, k, generator=g, dtype=torch.float64)
    x = x - x.mean(0)
    q, _ = torch.linalg.qr(torch.cat([torch.ones(n, 1, dtype=torch.float64) / n ** 0.5, x], 1))
    return q[:, 1:] * n ** 0.5  # orthogonal to the constant column, so centred


def test_orthogonality_zero_for_orthogonal_streams_positive_otherwise():
    q = centred_orthonormal(200, 12)
    s, p = q[:, :6], q[:, 6:]
    assert orthogonality(s, p).item() < 1e-12
    mixed = p + 0.5 * s
    assert orthogonality(s, mixed).item() > 1e-3
    assert abs(orthogonality(s, s).item() - 1 / 6) < 1e-6  # identical streams: diagonal of ones


def test_orthogonality_is_scale_invariant_and_bounded():
    g = torch.Generator().manual_seed(1)
    s, p = torch.randn(100, 4, generator=g), torch.randn(100, 5, generator=g)
    assert torch.isclose(orthogonality(s, p), orthogonality(10 * s + 3, 0.1 * p))
    assert 0 <= orthogonality(s, p).item() <= 1


def test_decorrelation_zero_for_decorrelated_unit_variance_inputs():
    q = centred_orthonormal(300, 8)
    assert decorrelation(q.float(), variance_floor=0.9).item() < 1e-6


def test_decorrelation_penalises_correlation_and_collapse():
    q = centred_orthonormal(300, 8).float()
    correlated = q.clone()
    correlated[:, 1] = correlated[:, 0] + 0.1 * correlated[:, 1]
    assert decorrelation(correlated, variance_floor=0.0) > 0.01
    collapsed = 1e-3 * q
    assert decorrelation(collapsed, variance_floor=1.0) > 0.9  # the variance floor bites


def test_infonce_lower_for_aligned_than_shuffled_pairs():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 16, generator=g)
    noisy = z + 0.1 * torch.randn(64, 16, generator=g)
    aligned = info_nce(z, noisy)
    shuffled = info_nce(z, noisy[torch.randperm(64, generator=g)])
    assert aligned < shuffled
    assert torch.isclose(info_nce(z, noisy), info_nce(noisy, z), atol=1e-6)  # symmetric


def test_infonce_and_regression_handle_tiny_batches():
    assert info_nce(torch.randn(1, 4), torch.randn(1, 4)).item() == 0.0
    assert alignment_regression(torch.randn(0, 4), torch.randn(0, 4)).item() == 0.0


def test_regression_zero_for_identical_direction():
    z = torch.randn(10, 5)
    assert alignment_regression(z, 3 * z).item() < 1e-10
    assert abs(alignment_regression(z, -z).item() - 4.0) < 1e-5  # opposite unit vectors are 2 apart
