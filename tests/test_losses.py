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


from dsrsd_core.losses import (kernel_dependence, kernel_dependence_matrix, linear_predictability,  # noqa: E402
                               spread_floor, unexplained_variance)


def test_unexplained_variance_is_zero_for_a_perfect_prediction_one_for_the_mean_and_scale_free():
    g = torch.Generator().manual_seed(0)
    c = torch.randn(500, 3, generator=g)
    assert unexplained_variance(c, c).item() < 1e-8
    mean = c.mean(0).expand_as(c)
    assert abs(unexplained_variance(c, mean).item() - (499 / 500)) < 1e-3  # biased MSE over unbiased var
    noisy = c + 0.5 * torch.randn(500, 3, generator=g)
    assert torch.isclose(unexplained_variance(c, noisy), unexplained_variance(10 * c, 10 * noisy), rtol=1e-4)


def test_unexplained_variance_total_weights_dimensions_by_their_spread():
    g = torch.Generator().manual_seed(1)
    c = torch.randn(400, 2, generator=g) * torch.tensor([10.0, 0.1])
    pred = c.clone()
    pred[:, 1] = 0.0  # the small dimension is not predicted at all
    per_dim = unexplained_variance(c, pred).item()
    total = unexplained_variance(c, pred, per_dim=False).item()
    assert 0.45 < per_dim < 0.55 and total < 1e-3


def test_spread_floor_is_zero_above_the_floor_and_grows_as_the_code_collapses():
    g = torch.Generator().manual_seed(2)
    c = torch.randn(300, 4, generator=g)
    assert spread_floor(2 * c, 1.0).item() == 0.0
    assert spread_floor(0.1 * c, 1.0).item() > spread_floor(0.5 * c, 1.0).item() > 0


def test_linear_predictability_finds_one_shared_direction_among_many_empty_ones():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2000, 16, generator=g)
    y = torch.stack([x[:, 0], torch.randn(2000, generator=g)], 1)
    assert abs(linear_predictability(x, y[:, :1]).item() - 1) < 0.02  # undiluted by the 15 empty columns
    assert 0.45 < linear_predictability(x, y).item() < 0.55  # one of two targets predictable
    assert linear_predictability(torch.randn(2000, 16, generator=g), y).item() < 0.02


def test_kernel_dependence_sees_a_non_linear_link_that_a_correlation_misses():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(400, 1, generator=g)
    y = x.pow(2)
    assert abs(torch.corrcoef(torch.cat([x, y], 1).T)[0, 1].item()) < 0.2
    assert kernel_dependence(x, y).item() > 0.3
    assert kernel_dependence(x, torch.randn(400, 1, generator=g)).item() < 0.05
    # every pair at once equals pair by pair, with a constant column (a pruned code coordinate) left in
    xs = torch.randn(3, 40, 4, generator=g)
    ys = torch.randn(2, 40, 3, generator=g)
    ys[1, :, 0] = xs[0, :, 0] ** 2
    ys[0, :, 2] = 0.0
    pairs = torch.stack([torch.stack([kernel_dependence(xs[m], ys[j][:, ys[j].std(0) > 0]) for j in range(2)])
                         for m in range(3)])
    assert torch.allclose(kernel_dependence_matrix(xs, ys), pairs, atol=1e-5)
    assert kernel_dependence_matrix(xs, ys)[0, 1] > kernel_dependence_matrix(xs, ys)[2, 1]


def test_full_batch_orthogonality_is_the_mean_over_every_pair():
    """With every modality present the objective computes orthogonality 'all' in one call; it must be
    the mean over all (shared code j, private m) pairs of the pairwise loss, as the masked path does."""
    from dsrsd_core.losses import orthogonality
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.objective import separation_terms

    g = torch.Generator().manual_seed(0)
    out = {"c": torch.randn(32, 3, 2, generator=g), "p": torch.randn(32, 3, 5, generator=g),
           "logits": torch.zeros(32, 2)}
    out["p"][:, 1] += 2 * out["c"][:, 0, :1]  # some pairs correlated, so the pair values differ
    cfg = Config()
    present = torch.ones(32, 3, dtype=torch.bool)
    pairs = [orthogonality(out["c"][:, j], out["p"][:, m]) for m in range(3) for j in range(3)]
    got = separation_terms(out, present, cfg)["orthogonality"]
    assert torch.allclose(got, torch.stack(pairs).mean(), atol=1e-6) and torch.stack(pairs).std() > 0.01
    # one row without a modality takes the masked path: the pairs of present modalities on their rows
    present[0, 2] = False
    masked = separation_terms(out, present, cfg)["orthogonality"]
    ref = []
    for m in range(3):
        for j in range(3):
            rows = present[:, m] & present[:, j]
            ref.append(orthogonality(out["c"][rows, j], out["p"][rows, m]))
    assert torch.allclose(masked, torch.stack(ref).mean(), atol=1e-6)


def test_full_batch_independence_is_the_mean_over_every_pair():
    """With every modality present the linear independence term regresses each private stream on all
    codes at once; it must be the mean of linear_predictability(p_m, c_j) over the M^2 pairs."""
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.objective import separation_terms

    g = torch.Generator().manual_seed(1)
    out = {"c": torch.randn(64, 3, 2, generator=g), "p": torch.randn(64, 3, 5, generator=g),
           "logits": torch.zeros(64, 2)}
    out["p"][:, 1, :2] += 2 * out["c"][:, 0]  # one pair strongly dependent, the others not
    cfg = Config(orthogonality_scope="all", independence="linear", w_independence=1.0)
    present = torch.ones(64, 3, dtype=torch.bool)
    pairs = torch.stack([linear_predictability(out["p"][:, m], out["c"][:, j]) for m in range(3) for j in range(3)])
    got = separation_terms(out, present, cfg)["independence"]
    assert torch.allclose(got, pairs.mean(), atol=1e-5) and pairs.max() > 0.5 > pairs.min()


def test_batched_objective_terms_equal_the_per_modality_loop():
    """With every modality present the objective computes its per-modality terms as batched calls over
    the modalities; each must equal the mean of the per-modality losses the masked path computes."""
    from dsrsd_core.losses import info_nce, spread_floor, unexplained_variance
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.objective import alignment_terms, separation_terms

    g = torch.Generator().manual_seed(2)
    out = {"c": torch.randn(40, 3, 4, generator=g), "p": torch.randn(40, 3, 6, generator=g),
           "z_hat": torch.randn(40, 3, 4, generator=g), "logits": torch.zeros(40, 2)}
    out["z"] = out["c"]
    out["z_hat"] = out["z_hat"] + 2 * out["c"] * torch.tensor([1.0, 0.3, 0.0]).view(1, 3, 1)  # modalities differ
    present = torch.ones(40, 3, dtype=torch.bool)
    for cfg in (Config(), Config(code_floor="total", private_floor="total", independence="rbf")):
        nce, reg = alignment_terms(out, present, cfg)
        per_dim = cfg.code_floor == "per_dim"
        ref_nce = torch.stack([info_nce(out["z"][:, m], out["z_hat"][:, m], cfg.temperature) for m in range(3)])
        ref_reg = torch.stack([unexplained_variance(out["z"][:, m], out["z_hat"][:, m], per_dim) for m in range(3)])
        assert torch.allclose(nce, ref_nce.mean(), atol=1e-5) and ref_nce.std() > 0.01
        assert torch.allclose(reg, ref_reg.mean(), atol=1e-5) and ref_reg.std() > 0.01
        sep = separation_terms(out, present, cfg)
        c = [out["c"][:, m] for m in range(3)]
        ref_dec = [decorrelation(x, 0.0) + spread_floor(x, cfg.variance_floor) if not per_dim
                   else decorrelation(x, cfg.variance_floor) for x in c]
        assert torch.allclose(sep["decorrelation"], torch.stack(ref_dec).mean(), atol=1e-5)
        p = [out["p"][:, m] for m in range(3)]
        ref_spread = [decorrelation(x, 0.0) + spread_floor(x, cfg.variance_floor) if cfg.private_floor == "total"
                      else decorrelation(x, cfg.variance_floor) for x in p]
        assert torch.allclose(sep["private_decorrelation"], torch.stack(ref_spread).mean(), atol=1e-5)
        masked = separation_terms(out, present.clone().index_fill_(0, torch.tensor([0]), False), cfg)
        ref_masked = [decorrelation(x[1:], 0.0) + spread_floor(x[1:], cfg.variance_floor) if cfg.private_floor == "total"
                      else decorrelation(x[1:], cfg.variance_floor) for x in p]
        assert torch.allclose(masked["private_decorrelation"], torch.stack(ref_masked).mean(), atol=1e-5)
        dependence = kernel_dependence if cfg.independence == "rbf" else linear_predictability
        ref_ind = torch.stack([dependence(out["p"][:, m], out["c"][:, j]) for m in range(3) for j in range(3)])
        assert torch.allclose(sep["independence"], ref_ind.mean(), atol=1e-5)


def test_total_is_the_documented_weighted_sum_of_the_logged_terms():
    """total = task + w_align (w_infonce InfoNCE + w_regression regression) + the other weighted terms."""
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.objective import loss_terms

    g = torch.Generator().manual_seed(3)
    out = {"c": torch.randn(32, 3, 4, generator=g), "p": torch.randn(32, 3, 6, generator=g),
           "z_hat": torch.randn(32, 3, 4, generator=g), "logits": torch.randn(32, 2, generator=g),
           "backprojection": torch.tensor(0.7), "reconstruction": torch.tensor(0.3)}
    out["z"] = out["c"]
    y, present = torch.randint(0, 2, (32,), generator=g), torch.ones(32, 3, dtype=torch.bool)
    cfg = Config(w_align=0.5, w_infonce=0.2, w_regression=3.0, w_decorrelation=1.5, w_orthogonality=2.0,
                 w_independence=0.7, w_private_decorrelation=0.4, w_backprojection=0.9, w_reconstruction=1.1)
    t = loss_terms(out, y, present, cfg)
    expected = (t["task"] + 0.5 * (0.2 * t["infonce"] + 3.0 * t["regression"]) + 1.5 * t["decorrelation"]
                + 2.0 * t["orthogonality"] + 0.7 * t["independence"] + 0.4 * t["private_decorrelation"]
                + 0.9 * t["backprojection"] + 1.1 * t["reconstruction"])
    assert torch.allclose(t["total"], expected, atol=1e-5)
    assert min(float(t[k]) for k in ("infonce", "regression", "independence", "orthogonality")) > 0


def test_dims_give_the_loss_of_the_kept_columns_alone():
    """A pruned code keeps some coordinates; with ``dims`` each loss must equal the loss of those
    columns alone, batch by batch, whatever the dropped columns hold."""
    from dsrsd_core.losses import spread_floor, unexplained_variance

    g = torch.Generator().manual_seed(4)
    c = torch.randn(3, 50, 4, generator=g) * torch.tensor([1.0, 0.5, 2.0, 0.2])
    c[1, :, 2] += c[1, :, 0]  # correlated columns, so the off-diagonal term is not 0
    c_hat = c + torch.randn(3, 50, 4, generator=g)
    dims = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 0]], dtype=torch.bool)
    for loss in (lambda x, d=None: decorrelation(x, 1.0, dims=d), lambda x, d=None: spread_floor(x, 1.0, dims=d)):
        ref = torch.stack([loss(c[m][:, dims[m]]) for m in range(3)]).mean()
        assert torch.allclose(loss(c, dims), ref, atol=1e-6)
    for per_dim in (True, False):
        ref = torch.stack([unexplained_variance(c[m][:, dims[m]], c_hat[m][:, dims[m]], per_dim) for m in range(3)])
        assert torch.allclose(unexplained_variance(c, c_hat, per_dim, dims=dims), ref.mean(), atol=1e-6)
    # a one-column code still has its variance floor
    assert decorrelation(0.1 * c[0][:, :1], 1.0).item() > 0.8


def test_objective_of_a_pruned_code_leaves_the_dropped_coordinates_out():
    """Every term of a pruned model equals the term computed on the kept coordinates alone."""
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.objective import alignment_terms, separation_terms

    g = torch.Generator().manual_seed(5)
    mask = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.float32)
    out = {"c": torch.randn(48, 3, 3, generator=g) * mask, "p": torch.randn(48, 3, 5, generator=g),
           "logits": torch.zeros(48, 2), "code_mask": mask}
    out["p"][:, 2, :1] += out["c"][:, 1, :1]
    out["z"] = out["c"]
    out["z_hat"] = (out["c"] + torch.randn(48, 3, 3, generator=g)) * mask
    kept = [mask[m].bool() for m in range(3)]
    ref = {"c": torch.cat([out["c"][:, m][:, kept[m]] for m in range(3)], 1)}  # codes side by side
    present = torch.ones(48, 3, dtype=torch.bool)
    # the kernel form: the mean over every (private stream, kept code) pair
    rbf = separation_terms(out, present, Config(independence="rbf"))["independence"]
    ref_rbf = torch.stack([kernel_dependence(out["p"][:, m], out["c"][:, j][:, kept[j]])
                           for m in range(3) for j in range(3)]).mean()
    assert torch.allclose(rbf, ref_rbf, atol=1e-5)
    for cfg in (Config(independence="linear"), Config(code_floor="total", independence="linear")):
        nce, reg = alignment_terms(out, present, cfg)
        sep = separation_terms(out, present, cfg)
        loop = separation_terms(out, present.clone().index_fill_(0, torch.tensor([0]), False), cfg)  # masked path
        per_dim = cfg.code_floor == "per_dim"
        ref_reg = torch.stack([unexplained_variance(out["z"][:, m][:, kept[m]], out["z_hat"][:, m][:, kept[m]],
                                                    per_dim) for m in range(3)]).mean()
        assert torch.allclose(reg, ref_reg, atol=1e-5)
        assert torch.allclose(sep["orthogonality"], orthogonality(ref["c"], out["p"].flatten(1)), atol=1e-5)
        ref_ind = linear_predictability(out["p"].transpose(0, 1), ref["c"])
        assert torch.allclose(sep["independence"], ref_ind, atol=1e-5) and ref_ind > 0.05
        for terms, rows in ((sep, slice(None)), (loop, slice(1, None))):  # the batched and the masked path
            codes = [out["c"][rows, m][:, kept[m]] for m in range(3)]
            ref_dec = torch.stack([decorrelation(x, 0.0) + spread_floor(x, cfg.variance_floor) if not per_dim
                                   else decorrelation(x, cfg.variance_floor) for x in codes]).mean()
            assert torch.allclose(terms["decorrelation"], ref_dec, atol=1e-5)
