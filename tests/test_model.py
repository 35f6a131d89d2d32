"""DSRSD-Net's structural properties."""
import numpy as np
import pytest
import torch
from factories import random_data

from dsrsd_core.model import DSRSDNet
from dsrsd_core.model.dual_stream import ResidualDualStream
from dsrsd_core.model.fusion import GatedFusion
from dsrsd_core.train.batching import to_tensors


def make(n=32, **kw):
    data = random_data(n)
    torch.manual_seed(0)
    model = DSRSDNet(data.specs(), len(data.classes), d_model=16, d_stream=8, **kw)
    tensors = to_tensors(data)
    model.fit_normalisation(tensors)
    return model.eval(), tensors, data


def default_model(n=48, seed=7):
    """DSRSD-Net as the defaults build it (decoders included), normalisation fitted: model, data, tensors."""
    from dsrsd_core.models import build_model
    from dsrsd_core.train.config import Config

    torch.manual_seed(0)
    data = random_data(n, seed=seed)
    model = build_model(data.specs(), len(data.classes), Config())
    t = to_tensors(data)
    model.fit_normalisation(t)
    return model, data, t


def test_residual_identity_holds_exactly():
    ds = ResidualDualStream(16, 8)
    h = torch.randn(50, 16, dtype=torch.float64)
    ds = ds.double()
    s, r, p, _ = ds(h)
    assert torch.allclose(ds.back(s) + r, h, atol=1e-12)
    model, tensors, _ = make()
    enc = model.encode(tensors)
    for j, m in enumerate(model.modalities):
        assert torch.allclose(model.dual[m].back(enc["s"][:, j]) + enc["r"][:, j], enc["h"][:, j], atol=1e-5)


def test_private_stream_reads_residual_not_encoding():
    ds = ResidualDualStream(16, 8)
    h = torch.randn(5, 16)
    s, r, p, _ = ds(h)
    assert torch.allclose(p, ds.private(r))
    ablated = ResidualDualStream(16, 8, residual=False)
    ablated.load_state_dict(ds.state_dict())
    assert torch.allclose(ablated(h)[2], ds.private(h))


def test_gate_weights_sum_to_one_over_present_streams_and_zero_elsewhere():
    fusion = GatedFusion(4, 3)
    streams = torch.randn(6, 4, 3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]]).bool()
    fused, w = fusion(streams, mask)
    assert torch.allclose(w[:5].sum(1), torch.ones(5))
    assert (w[~mask] == 0).all()
    assert (w[5] == 0).all() and (fused[5] == 0).all()  # nothing present: zero fused vector


def test_absent_stream_values_do_not_matter():
    fusion = GatedFusion(4, 3)
    streams = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 0, 1, 1], [1, 1, 0, 1]]).bool()
    changed = streams.clone()
    changed[0, 1] = 1e6
    changed[1, 2] = float("nan")
    assert torch.allclose(fusion(streams, mask)[0], fusion(changed, mask)[0])


def test_missing_modality_gives_finite_outputs_independent_of_its_data():
    model, tensors, _ = make()
    tensors["present"][:, 1] = False
    out = model(tensors)
    for key in ("logits", "gate", "s", "p", "z"):
        assert torch.isfinite(out[key]).all(), key
    assert (out["gate"][:, 2:4] == 0).all()
    tensors["clickstream"]["x"] = tensors["clickstream"]["x"] + 100.0
    assert torch.allclose(model(tensors)["logits"], out["logits"], atol=1e-5)


def test_all_streams_masked_predicts_the_head_on_zero():
    model, tensors, _ = make()
    out = model(tensors, stream_mask=torch.zeros(len(tensors["y"]), 6, dtype=torch.bool))
    expected = model.head(torch.zeros(1, 8))
    assert torch.allclose(out["logits"], expected.expand_as(out["logits"]), atol=1e-6)


def test_padding_after_the_last_step_is_ignored():
    model, tensors, _ = make()
    before = model(tensors)["logits"]
    steps = tensors["assessments"]["steps"]
    tensors["assessments"]["x"] = torch.where(steps.unsqueeze(-1), tensors["assessments"]["x"], torch.tensor(99.0))
    assert torch.allclose(model(tensors)["logits"], before, atol=1e-5)


def test_state_dict_round_trips_with_weights_only(tmp_path):
    model, tensors, data = make()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    clone = DSRSDNet(data.specs(), 2, d_model=16, d_stream=8)
    clone.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    clone.eval()
    assert torch.allclose(clone(tensors)["logits"], model(tensors)["logits"])
    assert np.isclose(float(clone.encoders["profile"].norm.std.sum()), float(model.encoders["profile"].norm.std.sum()))


REST = {"alignment": "rest", "code_dim": 3, "fusion": "concat"}


def test_rest_form_keeps_the_residual_identity_and_a_low_rank_shared_stream():
    model, tensors, _ = make(64, **REST)
    enc = model.encode(tensors)
    for j, m in enumerate(model.modalities):
        assert torch.allclose(model.dual[m].back(enc["s"][:, j]) + enc["r"][:, j], enc["h"][:, j], atol=1e-5)
        assert torch.linalg.matrix_rank(enc["s"][:, j] - enc["s"][:, j].mean(0), atol=1e-4) <= 3
    # one lift for every modality: equal codes give equal shared streams whatever the modality
    lifts = {id(model.dual[m].lift) for m in model.modalities}
    assert len(lifts) == 1


def test_a_modalitys_code_prediction_never_reads_that_modality():
    model, tensors, data = make(16, **REST)
    base = model.encode(tensors)["z_hat"]
    changed = {k: ({kk: vv.clone() for kk, vv in v.items()} if isinstance(v, dict) else v) for k, v in tensors.items()}
    changed["assessments"]["x"] += 5.0
    out = model.encode(changed)["z_hat"]
    j = model.modalities.index("assessments")
    others = [i for i in range(len(model.modalities)) if i != j]
    assert torch.allclose(out[:, j], base[:, j])
    assert not torch.allclose(out[:, others], base[:, others])


def test_concat_fusion_gives_each_stream_its_own_slot_and_masks_absent_ones():
    fusion = GatedFusion(4, 3, mode="concat")
    streams = torch.randn(5, 4, 3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    fused, w = fusion(streams, mask)
    assert fused.shape == (5, 12)
    slots = fused.view(5, 4, 3)
    assert torch.all(slots[~mask] == 0)
    assert torch.allclose(w.sum(1)[mask.any(1)], torch.ones(int(mask.any(1).sum())))
    n = mask.sum(1).clamp_min(1)
    assert torch.allclose(slots[mask], (w.unsqueeze(-1) * n.view(-1, 1, 1) * streams)[mask], atol=1e-6)


def test_stream_dropout_acts_in_training_only_and_never_hides_every_stream():
    model, tensors, _ = make(64, **REST, stream_dropout=0.5)
    model.eval()
    assert torch.equal(model(tensors)["stream_mask"], model.stream_mask(tensors["present"]))
    model.train()
    mask = model(tensors)["stream_mask"]
    full = model.stream_mask(tensors["present"])
    assert (mask & ~full).sum() == 0 and mask.any(1).all() and (mask != full).any()


def test_the_task_reads_the_shared_code_but_cannot_write_into_it():
    """task_writes_code=False: the task loss leaves the code projections untouched (zero gradient)
    while it still trains the lift; the alignment loss does reach the code projections."""
    for writes in (True, False):
        model, tensors, data = make(32, **REST, task_writes_code=writes)
        model.train()
        out = model(tensors)
        task = torch.nn.functional.cross_entropy(out["logits"], torch.as_tensor(data.y))
        code_weights = [model.dual[m].shared.weight for m in model.modalities]
        lift = model.dual[model.modalities[0]].lift.weight
        grads = torch.autograd.grad(task, code_weights + [lift], allow_unused=True, retain_graph=True)
        code_grad = sum(float(g.abs().sum()) for g in grads[:-1] if g is not None)
        assert (code_grad > 0) == writes
        assert grads[-1] is not None and float(grads[-1].abs().sum()) > 0
        align = (out["z"] - out["z_hat"]).pow(2).mean()
        g_align = torch.autograd.grad(align, code_weights)
        assert all(float(g.abs().sum()) > 0 for g in g_align)


def test_reconstruction_is_decoded_from_both_streams_and_never_writes_the_code():
    """With w_reconstruction the training output carries the summary's unexplained share (in
    [0, ~1] for a fresh model), its gradient reaches the private projection but not the code."""
    from dsrsd_core.model.reconstruction import input_summary, reconstruction_error

    model, tensors, data = make(32, **REST, reconstruction=True, task_writes_code=False)
    model.train()
    out = model(tensors)
    loss = out["reconstruction"]
    assert 0 < float(loss.detach()) < 5
    m = model.modalities[0]
    g_code, g_private = torch.autograd.grad(loss, [model.dual[m].shared.weight, model.dual[m].private[0].weight],
                                            allow_unused=True)
    assert g_code is None or float(g_code.abs().sum()) == 0
    assert float(g_private.abs().sum()) > 0
    # a perfect decoder scores 0, the mean scores 1
    target = input_summary(model.encoders[m], tensors[m])
    assert float(reconstruction_error(target, target)) == 0
    assert abs(float(reconstruction_error(target.mean(0).expand_as(target), target)) - 1) < 0.1


def test_a_category_is_given_back_as_one_softmax_and_an_ordered_one_also_as_its_rank():
    """``softmax``: one cross-entropy term per category, 0 for a perfect decoder and 1 for the batch's
    shares; an ordered category's code is appended as a number (missing: the middle rank)."""
    from dsrsd_core.model.reconstruction import category_blocks, input_summary, reconstruction_error, summary_size

    model, data, t = default_model()
    enc, spec = model.encoders["profile"], data.specs()[0]
    assert spec["cat_ordered"] == [False, True] and enc.ordered == [1]
    plain = input_summary(enc, t["profile"])
    ranked = input_summary(enc, t["profile"], ranks=True)
    assert ranked.shape[1] == plain.shape[1] + 1 == summary_size(enc, spec, ranks=True)
    assert torch.equal(ranked[:, :-1], plain)
    code = t["profile"]["cat"][:, 1]
    assert torch.equal(ranked[:, -1], torch.where(code > 0, code.float(), torch.tensor(2.0)))  # 4 codes: middle 2
    blocks = category_blocks(enc)
    assert blocks == [(3, 7), (7, 11)]
    logits = plain.clone()
    for a, b in blocks:
        logits[:, a:b] = plain[:, a:b] * 50  # the right category far ahead of the others
    assert float(reconstruction_error(logits, plain, blocks=blocks)) < 1e-3
    for a, b in blocks:
        logits[:, a:b] = plain[:, a:b].mean(0).clamp_min(1e-12).log()  # the shares, for everyone
    numbers = plain[:, :3].mean(0)
    logits[:, :3] = numbers
    assert abs(float(reconstruction_error(logits, plain, blocks=blocks)) - 1) < 0.05
    # the first form: squared error on the one-hot columns, each column a term
    assert float(reconstruction_error(plain, plain)) == 0


def test_onehot_reconstruction_keeps_the_first_layout_and_is_what_old_runs_get():
    from dsrsd_core.models import build_model
    from dsrsd_core.model.reconstruction import summary_size
    from dsrsd_core.train.config import Config

    data = random_data(32, seed=2)
    old = build_model(data.specs(), 2, Config(reconstruction_categories="onehot"))
    new = build_model(data.specs(), 2, Config())
    spec = data.specs()[0]
    assert old.decoders["profile"].out_features == summary_size(old.encoders["profile"], spec) == 11
    assert new.decoders["profile"].out_features == 12 and not old.category_blocks["profile"]
    assert Config.from_record({}).reconstruction_categories == "onehot"


def test_in_evaluation_input_gradients_reach_the_code_whatever_task_writes_code_says():
    """Attribution differentiates the prediction by the inputs: the stop-gradient of training must not
    cut the path through the shared code, or input-level integrated gradients lose its part."""
    model, tensors, data = make(16, **REST, task_writes_code=False)
    model.eval()
    enc = model.encode(tensors)
    m = model.modalities[0]
    g = torch.autograd.grad(enc["s"][:, 0].sum(), model.dual[m].shared.weight)[0]
    assert float(g.abs().sum()) > 0


@pytest.mark.parametrize("independence, dependence", [("linear", "linear_predictability"), ("rbf", "kernel_dependence")])
def test_batch_statistic_losses_run_in_float32_outside_autocast(monkeypatch, independence, dependence):
    """Under bf16 autocast (CUDA training) the covariances, the linear solve and the kernels must not run in
    bf16: on the GPU linalg.solve raised on a float32 Gram matrix against a bf16 right-hand side."""
    from dsrsd_core.models import build_model
    from dsrsd_core.train import objective
    from dsrsd_core.train.config import Config

    seen = []

    def spy(fn):
        def wrapped(*args, **kw):
            seen.append((fn.__name__, torch.is_autocast_enabled("cpu"), {a.dtype for a in args[:2]}))
            return fn(*args, **kw)
        return wrapped
    for name in ("linear_predictability", "kernel_dependence", "kernel_dependence_matrix", "info_nce"):
        monkeypatch.setattr(objective, name, spy(getattr(objective, name)))
    torch.manual_seed(0)
    data = random_data(64, seed=3)
    cfg = Config(independence=independence)
    model = build_model(data.specs(), len(data.classes), cfg)
    t = to_tensors(data)
    model.fit_normalisation(t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.train()(t)
        assert out["z"].dtype == torch.bfloat16  # autocast is really on for the model
        terms = objective.loss_terms(out, t["y"], t["present"], cfg)
    terms["total"].backward()
    assert {name for name, _, _ in seen} == {dependence, "info_nce"}
    assert all(not on and dtypes == {torch.float32} for _, on, dtypes in seen), seen
    assert all(torch.isfinite(v) for v in terms.values())


def test_backprojection_and_reconstruction_terms_equal_their_row_indexed_definitions():
    """The training terms use presence as weights (no row indexing per batch); they must equal the
    per-modality formulas on the present rows, with some modalities missing."""
    from dsrsd_core.model.reconstruction import input_summary, reconstruction_error

    model, data, t = default_model()
    t["present"] = t["present"].clone()
    t["present"][:10, 0] = False
    t["present"][5:20, 2] = False
    for j, rows in ((0, slice(0, 10)), (2, slice(5, 20))):  # absent inputs may be NaN: they must not leak
        m = model.modalities[j]
        t[m] = {**t[m], "x": t[m]["x"].clone()}
        t[m]["x"][rows] = float("nan")
    out = model.train()(t)
    bp, rc = [], []
    assert model.category_blocks["profile"] == [(3, 7), (7, 11)]  # the default gives categories back as softmaxes
    for j, m in enumerate(model.modalities):
        keep = t["present"][:, j]
        h = out["h"][keep, j].detach()
        fit = model.dual[m].back(out["s"][:, j].detach())[keep]
        bp.append((h - fit).pow(2).sum(1).mean() / h.var(0).sum())
        b = {k: v for k, v in t[m].items() if v is not None and k != "emb"}
        target = input_summary(model.encoders[m], b, ranks=True)[keep]
        pred = model.decoders[m](torch.cat([out["s"][:, j], out["p"][:, j]], -1))[keep]
        var = target.var(0)
        cols = var > 1e-4
        terms = []
        for a, e in model.category_blocks[m]:  # one term per category: cross-entropy over entropy
            cols[a:e] = False
            share = target[:, a:e].mean(0)
            entropy = -(share[share > 0] * share[share > 0].log()).sum()
            nll = -(target[:, a:e] * torch.log_softmax(pred[:, a:e], -1)).sum(-1).mean()
            terms.append(nll / entropy)
        terms += list((pred - target).pow(2).mean(0)[cols] / var[cols])
        rc.append(torch.stack(terms).mean())
        assert torch.allclose(reconstruction_error(pred, target, blocks=model.category_blocks[m]), rc[-1], atol=1e-5)
    assert torch.allclose(out["backprojection"], torch.stack(bp).mean(), rtol=1e-5)
    assert torch.allclose(out["reconstruction"], torch.stack(rc).mean(), rtol=1e-5)


def test_precomputed_input_summaries_give_the_same_reconstruction_error():
    """The trainer hands in every sample's summary once (``batch[m]["summary"]``); the loss must be the
    one computed from the batch's own inputs, chunked or not, with absent (NaN) modalities too."""
    from dsrsd_core.models import build_model
    from dsrsd_core.train.batching import select
    from dsrsd_core.train.config import Config

    model, data, t = default_model()
    t["present"] = t["present"].clone()
    t["present"][:10, 0] = False
    m0 = model.modalities[0]
    t[m0] = {**t[m0], "x": t[m0]["x"].clone()}
    t[m0]["x"][:10] = float("nan")
    whole = model.input_summaries(t)
    chunked = model.input_summaries(t, chunk=5)
    assert set(whole) == set(model.modalities)
    for m in model.modalities:
        assert torch.equal(torch.nan_to_num(whole[m], nan=-7.0), torch.nan_to_num(chunked[m], nan=-7.0))
    with_summary = {**t, **{m: {**t[m], "summary": whole[m]} for m in model.modalities}}
    rows = torch.arange(3, 40)
    torch.manual_seed(1)
    plain = model.train()(select(t, rows))["reconstruction"]
    torch.manual_seed(1)
    cached = model.train()(select(with_summary, rows))["reconstruction"]
    assert torch.isfinite(plain) and plain > 0
    assert torch.equal(plain, cached)
    no_decoders = build_model(data.specs(), len(data.classes), Config(w_reconstruction=0.0))
    assert no_decoders.input_summaries(t) == {}
    # a table over the memory budget is left to the batches (a many-valued category's one-hot)
    width = {m: whole[m].shape[1] for m in model.modalities}
    widest = max(width, key=width.get)
    budget = 48 * 4 * (width[widest] - 1)
    assert set(model.input_summaries(t, max_bytes=budget)) == {m for m in model.modalities if width[m] < width[widest]}
    partial = {**t, **{m: {**t[m], "summary": s} for m, s in model.input_summaries(t, max_bytes=budget).items()}}
    torch.manual_seed(1)
    assert torch.equal(model.train()(select(partial, rows))["reconstruction"], plain)


def test_optimizer_is_fused_where_torch_has_the_kernel_and_foreach_otherwise(monkeypatch):
    from dsrsd_core.train import trainer
    from dsrsd_core.train.config import Config

    model, _, _ = make()
    opt = trainer.make_optimizer(model, Config())
    if tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 4):  # the CPU kernel exists from 2.4
        assert opt.defaults["fused"] and not opt.defaults.get("foreach")
    else:
        assert opt.defaults["foreach"]
    real = torch.optim.AdamW

    def no_fused(params, **kw):  # a torch (or device) without the fused kernel
        if kw.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real(params, **kw)

    monkeypatch.setattr(torch.optim, "AdamW", no_fused)
    opt = trainer.make_optimizer(model, Config(lr=0.01))
    assert opt.defaults["foreach"] and not opt.defaults.get("fused") and opt.defaults["lr"] == 0.01


def _r2(c, c_hat):
    return 1 - (c - c_hat).pow(2).mean(0) / c.var(0)


def test_pruning_keeps_the_best_predicted_directions_in_decorrelated_unit_coordinates(tmp_path):
    """prune_codes re-expresses each code in the directions of its regression on the other modalities:
    the kept coordinate's R^2 is the best direction's, its variance 1; the lifted shared stream loses
    only the dropped directions' part, and a pruned model round-trips through its weights."""
    model, tensors, data = make(200, **REST)
    before = model.encode(tensors)
    spectra, changed = model.prune_codes(tensors, min_r2=0.99)  # an untrained model: keeps one direction each
    assert set(spectra) == set(model.modalities) and changed
    after = model.encode(tensors)
    mask = model.code_masks()
    assert mask.sum(1).tolist() == [1.0] * len(model.modalities)
    for j, m in enumerate(model.modalities):
        r2 = spectra[m]
        assert r2 == sorted(r2, reverse=True) and max(r2) <= 1
        rows = tensors["present"][:, j] & (tensors["present"].sum(1) >= 2)  # where the others predict it
        c, c_hat = after["c"][rows, j, :1].detach(), after["z_hat"][rows, j, :1].detach()
        assert abs(float(_r2(c, c_hat)) - r2[0]) < 1e-3
        assert abs(float(c.var()) - 1) < 1e-3
        # s is the lift of the kept direction alone: removing the same part from the old code gives it
        basis = torch.linalg.inv(model.dual[m].code_basis)
        kept_part = (before["c"][:, j] @ basis * mask[j]) @ model.dual[m].code_basis
        assert torch.allclose(after["s"][:, j], model.dual[m].lift(kept_part), atol=1e-4)
    assert model.prune_codes(tensors, 0.99)[1] == []  # a code is pruned once
    torch.save(model.state_dict(), tmp_path / "m.pt")
    clone = DSRSDNet(data.specs(), len(data.classes), d_model=16, d_stream=8, **REST)
    clone.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    assert torch.equal(clone.eval()(tensors)["logits"], model(tensors)["logits"])


def test_pruning_leaves_a_code_whose_every_direction_is_shared():
    model, tensors, _ = make(200, **REST)
    before = model(tensors)["logits"]
    spectra, changed = model.prune_codes(tensors, min_r2=-1e9)
    assert changed == [] and model.code_masks() is None and len(spectra) == len(model.modalities)
    assert torch.equal(model(tensors)["logits"], before)
