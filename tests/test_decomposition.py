"""The decomposition measures see what was put into hand-built streams, and the verdict says no more
than they measured."""
import numpy as np

from dsrsd_core.explain import decomposition as D

MODS = ["a", "b", "c"]


def planted_streams(n=900, leak=0.0, seed=0):
    """Streams where factor ``f`` is shared by a and b, ``g`` private to a, ``h`` private to c.

    ``leak`` mixes g into a's shared stream. Returns shared, private (n, 3, 4), latents, factors.
    """
    rng = np.random.default_rng(seed)
    f, g, h = rng.standard_normal((3, n))
    noise = lambda: 0.3 * rng.standard_normal(n)  # noqa: E731
    shared = 0.3 * rng.standard_normal((n, 3, 4))
    private = 0.3 * rng.standard_normal((n, 3, 4))
    shared[:, 0, 0] = f + noise() + leak * g
    shared[:, 1, 0] = f + noise()
    private[:, 0, 1] = g + noise()
    private[:, 2, 2] = h + noise()
    latents = {"f": f, "g": g, "h": h}
    factors = {"f": {"modalities": ["a", "b"]}, "g": {"modalities": ["a"]}, "h": {"modalities": ["c"]}}
    return shared, private, latents, factors


def split_of(n, seed=0):
    return np.random.default_rng(seed).choice(np.array(["train", "val", "test"]), n, p=[0.6, 0.1, 0.3])


def test_probe_recovers_a_linear_factor_and_not_an_unrelated_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 5))
    y = x[:, 0] - 2 * x[:, 3] + 0.1 * rng.standard_normal(600)
    for kind in D.PROBES:
        assert D.probe_r2(x[:400], y[:400], x[400:], y[400:], kind) > 0.9
        assert D.probe_r2(x[:400], rng.standard_normal(400), x[400:], rng.standard_normal(200), kind) < 0.1


def test_probe_ignores_a_collapsed_column_instead_of_blowing_its_noise_up():
    rng = np.random.default_rng(1)
    x = np.c_[rng.standard_normal((600, 2)), 1e-9 * rng.standard_normal(600)]
    x[400:, 2] = 5.0  # a constant-in-train column that shifts on test
    y = x[:, 0]
    assert D.probe_r2(x[:400], y[:400], x[400:], y[400:]) > 0.99


def test_placement_passes_a_faithful_split_and_names_the_leak():
    shared, private, latents, factors = planted_streams()
    split = split_of(len(shared))
    present = np.ones((len(shared), 3), bool)
    rows = D.factor_probes(shared, private, present, split == "train", split == "test", latents, MODS, ("linear",))
    place = D.factor_placement(rows, factors)
    assert all(v["as_planted"] for v in place.values()), place
    assert place["f"]["kind"] == "shared" and place["g"]["kind"] == "private"

    shared, private, latents, factors = planted_streams(leak=0.6)
    rows = D.factor_probes(shared, private, present, split == "train", split == "test", latents, MODS, ("linear",))
    place = D.factor_placement(rows, factors)
    assert not place["g"]["as_planted"] and place["f"]["as_planted"] and place["h"]["as_planted"]
    failed = [c for c in place["g"]["checks"] if not c["ok"]]
    assert [c["stream"] for c in failed] == ["a.shared"]


def test_absent_modalities_are_left_out_of_the_probes():
    shared, private, latents, factors = planted_streams()
    present = np.ones((len(shared), 3), bool)
    present[::2, 0] = False
    shared[::2, 0] = 1e6  # garbage where a is absent: must not reach the probe
    split = split_of(len(shared))
    rows = D.factor_probes(shared, private, present, split == "train", split == "test", latents, MODS, ("linear",))
    r2 = {(r["factor"], r["stream"]): r["r2"] for r in rows}
    assert r2[("f", "a.shared")] > 0.8
    assert {r["n_test"] for r in rows if r["stream"].startswith("a.")} == {int((split == "test")[1::2].sum())}


def test_cross_modal_predictability_separates_shared_from_private_streams():
    shared, private, _, _ = planted_streams()
    split = split_of(len(shared))
    present = np.ones((len(shared), 3), bool)
    cs = D.cross_modal_predictability(shared, present, split == "train", split == "test", MODS)
    cp = D.cross_modal_predictability(private, present, split == "train", split == "test", MODS)
    assert cs["a"] > 0.2 and cs["b"] > 0.2 and cs["c"] < 0.05
    assert max(cp.values()) < 0.05


def test_direction_r2_is_the_r2_per_direction_and_ignores_linear_maps_of_the_stream():
    rng = np.random.default_rng(3)
    n = 4000
    f, noise = rng.standard_normal(n), rng.standard_normal(n)
    y = np.column_stack([f, noise])
    pred = np.column_stack([f, np.zeros(n)])  # one direction predicted exactly, the other not at all
    assert np.allclose(D.direction_r2(y, pred), [1.0, 0.0], atol=0.01)
    mix = np.array([[2.0, 1.0], [-0.5, 3.0]])  # any invertible map of the stream: the same spectrum
    assert np.allclose(D.direction_r2(y @ mix, pred @ mix), D.direction_r2(y, pred), atol=1e-9)
    # one column: the ordinary R^2 (uncentred residuals, so a bias is an error)
    one, guess = y[:, :1], 0.5 * f[:, None] + 0.2
    r2 = 1 - ((one - guess) ** 2).sum() / ((one - one.mean()) ** 2).sum()
    assert np.isclose(D.direction_r2(one, guess)[0], r2, rtol=1e-3)
    # a rank-1 stream lifted into 4 coordinates spans one direction, whatever its width
    lifted = np.outer(f, [1.0, -2.0, 0.5, 3.0])
    assert len(D.direction_r2(lifted, lifted)) == 1


def test_cross_modal_spectrum_counts_the_shared_directions():
    """a and b share f in one direction of two; a's other direction is its own (g): one shared direction
    each, where the scalar R^2 of the whole stream only says "about half"."""
    rng = np.random.default_rng(4)
    n = 1500
    f, g, k = rng.standard_normal((3, n))
    shared = np.zeros((n, 3, 2))
    shared[:, 0] = np.column_stack([f + 0.2 * rng.standard_normal(n), g])
    shared[:, 1] = np.column_stack([f + 0.2 * rng.standard_normal(n), 0.1 * rng.standard_normal(n)])
    shared[:, 2] = np.column_stack([k, rng.standard_normal(n)])
    split = split_of(n)
    present = np.ones((n, 3), bool)
    spec = D.cross_modal_spectrum(shared, present, split == "train", split == "test", MODS)
    shared_dirs = {m: sum(v >= D.SHARED_DIRECTION_MIN for v in spec[m]) for m in MODS}
    assert shared_dirs == {"a": 1, "b": 1, "c": 0}
    assert spec["a"][0] > 0.9 and spec["a"][1] < 0.05
    too_few = D.cross_modal_spectrum(shared[:40], present[:40], split[:40] == "train", split[:40] == "test", MODS)
    assert too_few == {m: [] for m in MODS}
    doc, _ = D.measure(shared, shared, present, split, MODS)
    assert doc["cross_modal_spectrum"]["shared"] == spec
    assert doc["thresholds"]["shared_direction_min"] == D.SHARED_DIRECTION_MIN


def test_cka_is_one_for_a_rescaled_copy_zero_for_independence_and_rbf_sees_a_square():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((400, 3))
    assert abs(D.cka(x, 3 * x + 1) - 1) < 1e-6  # columns are standardised first: per-column scale is free
    assert D.cka(x, rng.standard_normal((400, 3))) < 0.05
    u = rng.standard_normal((400, 1))
    assert D.cka(u, u ** 2) < 0.05 < 0.3 < D.cka(u, u ** 2, "rbf")


def test_verdict_levels_follow_the_planted_checks():
    ok = {"kind": "private", "checks": [{"ok": True}], "as_planted": True}
    bad = {"kind": "private", "checks": [{"ok": False}], "as_planted": False}
    assert D.verdict({"f": ok, "g": ok}, {}, {}, {}, [])["level"] == "trusted"
    assert D.verdict({"f": ok, "g": bad}, {}, {}, {}, [])["level"] == "partly"
    assert D.verdict({"f": bad, "g": bad, "h": ok}, {}, {}, {}, [])["level"] == "not"
    assert D.verdict({"f": ok}, {}, {}, {}, ["a"])["level"] == "partly"  # a collapsed stream caps it


def test_proxy_verdict_needs_every_proxy_and_names_what_it_could_not_measure():
    good = D.verdict(None, {"a": 0.6, "b": 0.5}, {"a": 0.0, "b": 0.1}, {"a": {"rbf_cka": 0.05}, "b": {"rbf_cka": 0.1}}, [])
    assert good["level"] == "trusted" and good["basis"].startswith("cross-modal")
    copies = D.verdict(None, {"a": 0.6}, {"a": 0.55}, {"a": {"rbf_cka": 0.8}}, [])
    assert copies["level"] == "not"
    unmeasured = D.verdict(None, {"a": float("nan")}, {"a": float("nan")}, {"a": {"rbf_cka": float("nan")}}, [])
    assert unmeasured["level"] == "not" and len(unmeasured["skipped"]) == 2


def test_measure_on_a_run_too_small_for_probes_skips_them_and_says_so():
    shared, private, latents, factors = planted_streams(n=60)
    split = split_of(60)
    doc, rows = D.measure(shared, private, np.ones((60, 3), bool), split, MODS, latents, factors)
    assert rows == [] and doc["placement"] is None
    assert any("planted-factor probes" in s for s in doc["verdict"]["skipped"])
    assert doc["verdict"]["basis"] != "planted factors"


def test_measure_on_a_faithful_split_trusts_it():
    shared, private, latents, factors = planted_streams(n=1200)
    doc, rows = D.measure(shared, private, np.ones((1200, 3), bool), split_of(1200), MODS, latents, factors)
    assert doc["verdict"]["level"] == "trusted" and doc["verdict"]["basis"] == "planted factors"
    assert {r["probe"] for r in rows} == set(D.PROBES)


def test_a_private_factor_copied_into_the_shared_stream_makes_the_verdict_not():
    shared, private, latents, factors = planted_streams(n=1200, leak=0.6)
    split = split_of(1200)
    present = np.ones((1200, 3), bool)
    rows = D.factor_probes(shared, private, present, split == "train", split == "test", latents, MODS, ("linear",))
    place = D.factor_placement(rows, factors)
    assert not any(c.get("copied") for c in place["g"]["checks"])  # a leak of ~0.25 vs ~0.9: not a copy
    assert D.verdict(place, {}, {}, {}, [])["level"] == "partly"
    shared[:, 0, 1] = private[:, 0, 1]  # now a.shared holds g exactly as a.private does
    rows = D.factor_probes(shared, private, present, split == "train", split == "test", latents, MODS, ("linear",))
    place = D.factor_placement(rows, factors)
    assert any(c.get("copied") for c in place["g"]["checks"])
    v = D.verdict(place, {}, {}, {}, [])
    assert v["level"] == "not" and "near-copies" in v["reason"]


def test_a_stream_allowed_one_direction_collapses_only_when_it_stops_varying():
    """A code pruned to width 1 lifts to a rank-1 shared stream: that is its design, not a collapse.
    The same stream collapses when it barely varies, and a wider stream of rank 1 has collapsed."""
    rng = np.random.default_rng(0)
    n = 200
    rank1 = rng.normal(size=(n, 1)) @ rng.normal(size=(1, 8))
    shared = np.stack([rank1, rng.normal(size=(n, 8)), 1e-6 * rank1], 1)
    present, test = np.ones((n, 3), bool), np.ones(n, bool)
    mods = ["a", "b", "c"]
    assert D.collapsed_streams(shared, present, test, mods) == ["a", "c"]
    assert D.collapsed_streams(shared, present, test, mods, {"a": 1, "b": 3, "c": 1}) == ["c"]
    assert D.collapsed_streams(shared, present, test, mods, {"a": 2, "b": 3, "c": 1}) == ["a", "c"]
