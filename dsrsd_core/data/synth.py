"""A synthetic learning-analytics cohort in the OULAD file schema, with a planted ground truth.

:func:`write_cohort` writes the seven OULAD tables (``courses``, ``assessments``, ``vle``,
``studentInfo``, ``studentRegistration``, ``studentAssessment``, ``studentVle``) as plain CSV
files that the OULAD loader reads unchanged, plus ``ground_truth.json`` describing what was
planted. It scales to real OULAD size (32,593 enrolments, ~10.6 M click rows) in bounded memory:
click rows are generated presentation by presentation, in chunks of learners, and appended to
the file.

The planted structure
---------------------
Each enrolment draws six independent latent factors ~ N(0, 1). Each is expressed in the data of
the modalities that observe it (as the OULAD loader builds them: ``profile`` from studentInfo and
registration, ``clickstream`` = weekly clicks per activity type before the cut-off,
``assessments`` = the assessments due or submitted before the cut-off) and in no other. A factor
observed by two or more modalities is *shared*, by one *private*. Every factor's expression is
built to be visible before the default cut-off (half of each presentation's length).

``engagement`` (shared: clickstream + assessments; outcome weight 1.0)
    Multiplies the rate of rows and clicks on *learning* activities (oucontent, forumng, quiz,
    subpage, resource, ... every type except ``homepage`` and ``url``) by the same factor in every
    week of the module; raises assessment scores (12 points per SD in TMAs, 3 in CMAs), the
    probability of submitting and how many days early a submission is; lowers the probability of
    withdrawing.
``mastery`` (private to assessments; 0.8)
    Raises assessment scores evenly over the module, mostly in CMAs (14 points per SD, 4 in TMAs):
    the different loadings are what lets the assessment record tell it from engagement. No
    effect on clicks.
``preparation`` (shared: profile + assessments; 0.4)
    Expressed in ``highest_education`` (higher = more prepared) and ``num_of_prev_attempts``
    (more = less prepared); raises the scores of assessments due early: full effect for those
    due in the first quarter of the module, fading to none at half of it (and, through
    ``num_of_prev_attempts``, makes banked submissions rarer).
``availability`` (shared: profile + clickstream under routing ``full``; 0.4)
    Expressed in ``studied_credits`` (more credits = less available) and in *when* a learner
    clicks, not how much: the click days of the first half of the module are drawn from the day
    profile times ``1 + k*h(day)``, with ``h`` falling linearly over the first half (zero after
    it), centred so the expected number of clicks before the cut-off is unchanged, and
    ``k = tanh(0.8 * availability)``: available learners click early, the others catch up just
    before the cut-off. Under routing ``sparse`` the clicks carry no tilt, so availability is
    private to the profile (still in ``studied_credits`` and in the outcome).
``browsing`` (private to clickstream; 0.0: the *dominance trap*)
    Produces huge, highly variable numbers of rows and clicks on ``homepage`` and ``url``. This
    gives the clickstream by far the largest raw variance of any modality, yet it has no effect
    on the outcome.
``background`` (private to profile; 0.3)
    Expressed in ``imd_band`` (higher = higher background).

Each of the four profile fields above expresses exactly one factor (probit loadings 0.9, -0.6,
-0.85, 0.85). Gender, region, age band, disability and the registration date are drawn with
OULAD-like frequencies and have no effect on anything.

Routings (``write_cohort(routing=...)``, ``dsrsd synth --routing``): ``full`` (the default):
every pair of modalities shares a factor (profile+clickstream: availability, profile+assessments:
preparation, clickstream+assessments: engagement). ``sparse``: the pair profile+clickstream
shares nothing. With the same seed the two write identical files except ``studentVle.csv``
(only the click days differ) and ``ground_truth.json``.

Outcome: ``ability = 1.0*engagement + 0.8*mastery + 0.4*preparation + 0.4*availability
+ 0.3*background + N(0, 0.5)`` (the same under both routings). A learner withdraws with probability
``sigmoid(-1.2 - 1.2*engagement)`` (about 28 %) and then has a ``date_unregistration`` and no
clicks or submissions after it. The others Fail if ``ability < -0.47``, get a Distinction if
``ability >= 1.85`` and Pass otherwise (about 22 / 40 / 10 % of all enrolments).

``ground_truth.json`` states ``routing``; per factor its ``modalities``, ``kind`` (derived from
their number), ``outcome_weight`` and a ``note``; ``pairs`` ("a+b" -> factors both observe);
``modality_ranking``; ``dominance_trap`` (the modality) and ``trap_factor``;
``shared_signal_fraction``; the ``outcome`` formula; and per-learner values of every factor
(``learners``, matched by code_module, code_presentation, id_student).

The modality ranking is derived, not asserted: each modality scores the ability variance it can
see, the sum of ``outcome_weight**2`` over the factors it observes (``modality_signal``), and
modalities are ranked by it. Assessments see engagement, mastery and preparation (1.0 + 0.64 +
0.16 = 1.80), the clickstream engagement and availability (1.16; 1.0 under ``sparse``; its larger
browsing variance is label noise), the profile preparation, availability and background (0.41):
assessments > clickstream > profile under both routings. ``shared_signal_fraction`` is the sum
of ``w**2`` over shared factors over the sum over all factors: (1.0 + 0.16 + 0.16) / 2.05 = 0.644
under ``full``, (1.0 + 0.16) / 2.05 = 0.566 under ``sparse``.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np

from ..errors import DsrsdError
from ..io import atomic_path, write_json
from .schema import TABLES, VOCAB

GENERATOR = "dsrsd synthetic v3"
MIN_ENROLMENTS = 50

# --- the planted truth ---------------------------------------------------------------------
MODALITIES = ("profile", "clickstream", "assessments")  # the loader's modality order
# factor -> (modalities observing it under routing "full", outcome weight, note)
FACTORS = {
    "engagement": (("clickstream", "assessments"), 1.0,
                   "volume of learning-activity clicks; submitting, timeliness and scores; withdrawal"),
    "mastery": (("assessments",), 0.8, "assessment scores, evenly over the module"),
    "preparation": (("profile", "assessments"), 0.4,
                    "highest_education, num_of_prev_attempts; scores of assessments due in the first half"),
    "availability": (("profile", "clickstream"), 0.4,
                     "studied_credits (more = less available); share of clicks in the early weeks"),
    "browsing": (("clickstream",), 0.0, "largest raw variance, no label signal"),
    "background": (("profile",), 0.3, "imd_band"),
}
ROUTINGS = ("full", "sparse")
SPARSE_PRIVATE = "availability"  # under routing "sparse": expressed in the profile only
OUTCOME_WEIGHTS = {f: w for f, (_, w, _) in FACTORS.items()}
ABILITY_NOISE = 0.5
WITHDRAW_BIAS, WITHDRAW_SLOPE = -1.2, 1.2  # P(withdraw) = sigmoid(bias - slope * engagement)
FAIL_BELOW, DISTINCTION_FROM = -0.47, 1.85  # thresholds on ability for non-withdrawn learners
BROWSING_TYPES = ("homepage", "url")
TRAP_FACTOR, TRAP_MODALITY = "browsing", "clickstream"

# --- clickstream -----------------------------------------------------------------------------
FIRST_DAY = -25  # clicks exist in the registration period before day 0
ROWS_PER_ENROLMENT = 428.0  # rate before truncation by withdrawal/registration and before merging
ENGAGEMENT_ROW_EFFECT = 0.6  # log-rate of learning-activity rows per SD of engagement
ENGAGEMENT_CLICK_EFFECT = 0.25  # log-mean of extra clicks per learning row per SD of engagement
BROWSING_ROW_EFFECT = 1.0  # log-rate of homepage/url rows per SD of browsing
BROWSING_CLICK_EFFECT = 1.6  # log-mean of extra clicks per homepage/url row per SD of browsing
AVAILABILITY_TILT = 0.8  # tilt k = tanh(AVAILABILITY_TILT * availability) of the first half's click days
HALF = 0.5  # preparation and availability act in the first half of the module (the default cut-off)

# --- assessment scores -----------------------------------------------------------------------
SCORE_BASE = 73.0
# points per SD, by assessment type. Effort shows in tutor-marked work, knowledge in computer-marked
# tests: with one loading per factor for every score, engagement and mastery move all scores alike
# and no probe of the assessment record can tell them apart (mastery's linear R^2 from the
# prepared features was 0.41 with 9/10 points in every score; tests/test_synth.py checks that
# every factor is recoverable from each modality that observes it)
SCORE_ENGAGEMENT = {"TMA": 12.0, "CMA": 3.0, "Exam": 8.0}
SCORE_MASTERY = {"TMA": 4.0, "CMA": 14.0, "Exam": 9.0}
SCORE_PREPARATION = 14.0
SCORE_NOISE = 5.0
CHUNK_LEARNERS = 2500

# activity type -> (share of click rows, mean clicks per row, mean sites per presentation,
#                   probability the type exists in a presentation)
ACTIVITY = {
    "forumng": (0.36, 3.8, 9, 1.0),
    "homepage": (0.19, 4.0, 1, 1.0),
    "oucontent": (0.15, 4.6, 45, 1.0),
    "subpage": (0.11, 1.9, 48, 1.0),
    "resource": (0.07, 1.3, 120, 1.0),
    "quiz": (0.06, 2.5, 6, 1.0),
    "url": (0.04, 2.5, 40, 1.0),
    "page": (0.006, 1.5, 5, 0.6),
    "oucollaborate": (0.004, 1.5, 4, 0.4),
    "questionnaire": (0.004, 1.5, 3, 0.35),
    "ouwiki": (0.005, 2.0, 2, 0.35),
    "glossary": (0.004, 2.0, 1, 0.4),
    "dataplus": (0.003, 3.5, 1, 0.3),
    "externalquiz": (0.003, 2.0, 1, 0.25),
    "ouelluminate": (0.003, 1.4, 1, 0.3),
    "dualpane": (0.002, 1.5, 1, 0.2),
    "repeatactivity": (0.001, 1.2, 1, 0.12),
    "htmlactivity": (0.001, 1.5, 1, 0.1),
    "sharedsubpage": (0.001, 1.1, 1, 0.1),
    "folder": (0.001, 1.5, 1, 0.1),
}
assert sorted(ACTIVITY) == sorted(VOCAB["activity_type"])

# --- profile frequencies (close to real OULAD) -----------------------------------------------
GENDER_P = {"M": 0.548, "F": 0.452}
REGION_P = {
    "Scotland": 0.106, "East Anglian Region": 0.102, "London Region": 0.099, "South Region": 0.095,
    "North Western Region": 0.089, "West Midlands Region": 0.079, "South West Region": 0.075,
    "East Midlands Region": 0.073, "South East Region": 0.065, "Wales": 0.064,
    "Yorkshire Region": 0.062, "North Region": 0.056, "Ireland": 0.036,
}
AGE_P = {"0-35": 0.704, "35-55": 0.289, "55<=": 0.007}
DISABILITY_P = {"N": 0.903, "Y": 0.097}
# ordinal fields, ordered from low to high (education, imd) or from 0 up (attempts, credits)
EDUCATION_P = [0.011, 0.404, 0.431, 0.145, 0.009]  # in VOCAB["highest_education"] order
IMD_P = [0.106, 0.112, 0.116, 0.113, 0.104, 0.099, 0.092, 0.091, 0.088, 0.079]  # 0-10% .. 90-100%
IMD_MISSING = 0.034
PREV_ATTEMPTS_P = [0.872, 0.101, 0.021, 0.005, 0.001]  # 0, 1, 2, 3, 4 attempts
CREDITS = [30, 60, 90, 120, 150, 180, 240]
CREDITS_P = [0.12, 0.52, 0.10, 0.19, 0.03, 0.03, 0.01]
REG_MISSING = 0.0015
REPEAT_ENROLMENT_SHARE = 0.09  # share of enrolments by a student already enrolled elsewhere

PRESENTATION_ORDER = ["2013J", "2014J", "2013B", "2014B"]


# ============================================================================================
def write_cohort(out: str | Path, enrolments: int = 3000, seed: int = 0, progress: bool = False,
                 routing: str = "full") -> dict:
    """Write a synthetic OULAD-schema cohort with a planted ground truth into ``out``.

    Writes ``courses.csv``, ``assessments.csv``, ``vle.csv``, ``studentInfo.csv``,
    ``studentRegistration.csv``, ``studentAssessment.csv``, ``studentVle.csv`` and
    ``ground_truth.json``, each atomically. The same ``seed``, ``enrolments`` and ``routing`` give
    byte-identical files. ``routing`` is ``"full"`` (every pair of modalities shares a factor) or
    ``"sparse"`` (profile and clickstream share nothing: availability is private to the profile);
    with the same seed the two differ only in the days of the click rows (``studentVle.csv``) and
    in ``ground_truth.json``. Returns ``{"out", "enrolments", "seed", "routing", "presentations",
    "students", "rows": {table: n}, "final_result": {class: n}, "seconds"}``.
    """
    t0 = time.perf_counter()
    if routing not in ROUTINGS:
        raise DsrsdError(f"unknown routing '{routing}'; choose one of: {', '.join(ROUTINGS)}")
    try:
        enrolments = int(enrolments)
        seed = int(seed)
    except (TypeError, ValueError):
        raise DsrsdError("enrolments and seed must be whole numbers") from None
    if enrolments < MIN_ENROLMENTS:
        raise DsrsdError(f"enrolments must be at least {MIN_ENROLMENTS} (got {enrolments})")
    if seed < 0:
        raise DsrsdError(f"seed must be zero or positive (got {seed})")
    out = Path(out)
    _check_writable(out)

    ss = np.random.SeedSequence([seed, enrolments])
    rng_layout, rng_people, rng_assess, rng_vle, rng_clicks = [np.random.default_rng(s) for s in ss.spawn(5)]

    pres = _layout(enrolments, rng_layout)
    people = _people(pres, enrolments, rng_people)
    assess = _assessments(pres, rng_assess)
    sub = _submissions(pres, people, assess, rng_assess)
    vle = _vle(pres, rng_vle)

    rows: dict[str, int] = {}
    try:
        rows["courses"] = _write_csv(out / "courses.csv", "courses", {
            "code_module": pres["module"], "code_presentation": pres["code"],
            "module_presentation_length": pres["length"]})
        rows["assessments"] = _write_csv(out / "assessments.csv", "assessments", {
            "code_module": pres["module"][assess["pres"]], "code_presentation": pres["code"][assess["pres"]],
            "id_assessment": assess["id"], "assessment_type": assess["type"],
            "date": _masked(assess["date"], assess["date"] == _NA), "weight": assess["weight"]})
        rows["vle"] = _write_csv(out / "vle.csv", "vle", {
            "id_site": vle["id"], "code_module": pres["module"][vle["pres"]],
            "code_presentation": pres["code"][vle["pres"]], "activity_type": vle["type"],
            "week_from": _masked(vle["week"], vle["week"] == _NA),
            "week_to": _masked(vle["week"], vle["week"] == _NA)})
        p = people
        mod, code = pres["module"][p["pres"]], pres["code"][p["pres"]]
        rows["studentInfo"] = _write_csv(out / "studentInfo.csv", "studentInfo", {
            "code_module": mod, "code_presentation": code, "id_student": p["id"],
            "gender": p["gender"], "region": p["region"], "highest_education": p["highest_education"],
            "imd_band": p["imd_band"], "age_band": p["age_band"],
            "num_of_prev_attempts": p["num_of_prev_attempts"], "studied_credits": p["studied_credits"],
            "disability": p["disability"], "final_result": p["final_result"]})
        rows["studentRegistration"] = _write_csv(out / "studentRegistration.csv", "studentRegistration", {
            "code_module": mod, "code_presentation": code, "id_student": p["id"],
            "date_registration": _masked(p["reg"], p["reg"] == _NA),
            "date_unregistration": _masked(p["unreg"], p["unreg"] == _NA)})
        rows["studentAssessment"] = _write_csv(out / "studentAssessment.csv", "studentAssessment", {
            "id_assessment": sub["id_assessment"], "id_student": sub["id_student"],
            "date_submitted": sub["date_submitted"], "is_banked": sub["is_banked"],
            "score": _masked(sub["score"], sub["score"] == _NA)})
        routes = factor_modalities(routing)
        tilt = (np.tanh(AVAILABILITY_TILT * people["availability"]) if "clickstream" in routes["availability"]
                else np.zeros(len(people["id"])))
        rows["studentVle"] = _write_clicks(out / "studentVle.csv", pres, people, assess, vle, tilt, rng_clicks,
                                           progress)
        write_json(out / "ground_truth.json", _ground_truth(pres, people, seed, enrolments, routing))
    except OSError as e:
        raise DsrsdError(f"cannot write the synthetic cohort to {out}: {e.strerror or e}") from None

    classes, counts = np.unique(people["final_result"], return_counts=True)
    return {
        "out": str(out),
        "enrolments": enrolments,
        "seed": seed,
        "routing": routing,
        "presentations": len(pres["module"]),
        "students": int(len(np.unique(people["id"]))),
        "rows": rows,
        "final_result": {str(c): int(n) for c, n in zip(classes, counts)},
        "seconds": round(time.perf_counter() - t0, 3),
    }


# ============================================================================================
_NA = np.iinfo(np.int64).min  # marks a missing integer before writing


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".dsrsd_write_probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise DsrsdError(
            f"cannot write the synthetic cohort to {out}: {e.strerror or e}; choose a writable output directory"
        ) from None


def _ordinal(z: np.ndarray, probs) -> np.ndarray:
    """Map standard-normal ``z`` to category indices with the given marginal probabilities."""
    cum = np.cumsum(np.asarray(probs, float) / np.sum(probs))[:-1]
    cuts = np.array([NormalDist().inv_cdf(float(c)) for c in cum])
    return np.searchsorted(cuts, z, side="right")


def _categorical(rng, n: int, freq: dict) -> np.ndarray:
    labels = np.array(list(freq), dtype=object)
    p = np.array(list(freq.values()), float)
    return labels[rng.choice(len(labels), size=n, p=p / p.sum())]


def _module_name(i: int) -> str:
    """AAA, BBB, ..., ZZZ as in OULAD, then the other three-letter codes (AAB, AAC, ...)."""
    if i < 26:
        return chr(65 + i) * 3
    i -= 26
    for j in range(26**3):
        a, rest = divmod(j, 26 * 26)
        b, c = divmod(rest, 26)
        if a == b == c:
            continue
        if i == 0:
            return chr(65 + a) + chr(65 + b) + chr(65 + c)
        i -= 1
    raise DsrsdError("too many modules for three-letter codes; use fewer enrolments")


def _presentation_code(k: int) -> str:
    if k < len(PRESENTATION_ORDER):
        return PRESENTATION_ORDER[k]
    year, half = divmod(k - len(PRESENTATION_ORDER), 2)
    return f"{2015 + year}{'JB'[half]}"


def _layout(n: int, rng) -> dict:
    """Module presentations, their lengths and how many enrolments each gets."""
    n_pres = max(2, min(6, n // 100), round(n / 1500))
    n_mod = math.ceil(n_pres / 2) if n_pres <= 6 else math.ceil(n_pres / 3.2)
    module_of = np.arange(n_pres) % n_mod
    k_of = np.arange(n_pres) // n_mod
    names = [_module_name(int(m)) for m in module_of]
    codes = [_presentation_code(int(k)) for k in k_of]
    order = sorted(range(n_pres), key=lambda i: (names[i], codes[i][:4], codes[i][4]))
    module = np.array([names[i] for i in order], dtype=object)
    code = np.array([codes[i] for i in order], dtype=object)
    is_b = np.array([c.endswith("B") for c in code])
    length = np.where(is_b, rng.integers(234, 242, n_pres), rng.integers(261, 270, n_pres))
    w = rng.lognormal(0.0, 0.35, n_pres)
    share = w / w.sum() * n
    size = np.floor(share).astype(np.int64)
    size[np.argsort(-(share - size), kind="stable")[: n - size.sum()]] += 1
    return {"module": module, "code": code, "length": length.astype(np.int64), "size": size}


def _people(pres: dict, n: int, rng) -> dict:
    """Enrolments: ids, latents, profile, outcome, registration dates."""
    n_pres = len(pres["size"])
    p_of = np.repeat(np.arange(n_pres), pres["size"])

    # -- students: some enrol in more than one presentation (same id_student) ----------------
    k = int(round(REPEAT_ENROLMENT_SHARE * n)) if n_pres > 1 else 0
    n_students = n - k
    perm = rng.permutation(n)
    student = np.empty(n, np.int64)
    student[perm[:n_students]] = np.arange(n_students)
    rep = perm[n_students:]
    todo = np.ones(k, bool)
    for _ in range(200):
        if not todo.any():
            break
        student[rep[todo]] = rng.integers(0, n_students, int(todo.sum()))
        key = student * n_pres + p_of
        _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        todo = cnt[inv[rep]] > 1
    else:  # pragma: no cover - only with absurd layouts
        raise DsrsdError("could not place repeat enrolments; use more enrolments")
    hi = max(2_700_000, 6_000 + 20 * n_students)
    ids = np.sort(rng.choice(hi - 6_000, size=n_students, replace=False) + 6_000)
    ids = ids[rng.permutation(n_students)]
    id_student = ids[student]

    # -- latents (per enrolment, independent) ------------------------------------------------
    lat = dict(zip(FACTORS, rng.standard_normal((len(FACTORS), n))))

    # -- demographics: per student, no effect ------------------------------------------------
    gender = _categorical(rng, n_students, GENDER_P)[student]
    region = _categorical(rng, n_students, REGION_P)[student]
    age_band = _categorical(rng, n_students, AGE_P)[student]
    disability = _categorical(rng, n_students, DISABILITY_P)[student]

    # -- profile fields: each expresses exactly one factor -------------------------------------
    def expr(factor, loading):
        return loading * lat[factor] + math.sqrt(1 - loading**2) * rng.standard_normal(n)

    education = np.array(VOCAB["highest_education"], dtype=object)[_ordinal(expr("preparation", 0.9), EDUCATION_P)]
    prev = _ordinal(expr("preparation", -0.6), PREV_ATTEMPTS_P).astype(np.int64)
    credits = np.array(CREDITS, np.int64)[_ordinal(expr("availability", -0.85), CREDITS_P)]
    imd = np.array(VOCAB["imd_band"], dtype=object)[_ordinal(expr("background", 0.85), IMD_P)]
    imd[rng.random(n) < IMD_MISSING] = ""

    # -- outcome -------------------------------------------------------------------------------
    ability = sum(OUTCOME_WEIGHTS[f] * lat[f] for f in FACTORS) + ABILITY_NOISE * rng.standard_normal(n)
    withdrawn = rng.random(n) < _sigmoid(WITHDRAW_BIAS - WITHDRAW_SLOPE * lat["engagement"])
    result = np.where(ability < FAIL_BELOW, "Fail", np.where(ability >= DISTINCTION_FROM, "Distinction", "Pass"))
    result = np.where(withdrawn, "Withdrawn", result).astype(object)

    # -- registration ----------------------------------------------------------------------------
    length = pres["length"][p_of]
    reg = -np.round(rng.lognormal(math.log(55.0), 0.75, n)).astype(np.int64)
    late = rng.random(n) < 0.04
    reg[late] = rng.integers(1, 30, int(late.sum()))
    reg = np.maximum(reg, -322)
    reg_missing = rng.random(n) < REG_MISSING
    pre = rng.random(n) < 0.25
    unreg = np.where(pre, -rng.integers(1, 60, n), np.floor(rng.beta(0.7, 1.5, n) * (length - 1)).astype(np.int64))
    unreg = np.where(unreg <= reg, reg + rng.integers(1, 15, n), unreg)
    unreg = np.where(withdrawn, unreg, _NA)
    reg = np.where(reg_missing, _NA, reg)

    # rows in presentation, then id_student order
    order = np.lexsort((id_student, p_of))
    people = {
        "pres": p_of, "id": id_student, "student": student,
        **lat,
        "gender": gender, "region": region, "highest_education": education, "imd_band": imd,
        "age_band": age_band, "num_of_prev_attempts": prev, "studied_credits": credits,
        "disability": disability, "final_result": result, "withdrawn": withdrawn,
        "reg": reg, "unreg": unreg,
    }
    return {key: v[order] for key, v in people.items()}


def _split_weights(rng, total: int, n: int, ascending: bool = True) -> np.ndarray:
    """``n`` positive integer weights summing to ``total``."""
    if n == 0:
        return np.zeros(0, np.int64)
    w = rng.dirichlet(np.full(n, 4.0)) * total
    if ascending:
        w = np.sort(w)
    out = np.floor(w).astype(np.int64)
    out[np.argsort(-(w - out), kind="stable")[: total - out.sum()]] += 1  # largest remainders
    return out


def _assessments(pres: dict, rng) -> dict:
    """Per presentation: TMAs and CMAs (weights sum to 100), one Exam (weight 100, date empty)."""
    modules = list(dict.fromkeys(pres["module"]))
    style = {}
    for m in modules:
        # every module has CMAs (weighted or not): they are where mastery shows
        kind = rng.choice(["tma_cma", "tma_cma0"], p=[0.55, 0.45])
        n_tma = int(rng.integers(3, 7))
        n_cma = int(rng.integers(4, 8))
        if kind == "tma_cma":
            tma_total = int(rng.choice([75, 80, 85, 95]))
            w_tma, w_cma = _split_weights(rng, tma_total, n_tma), _split_weights(rng, 100 - tma_total, n_cma, False)
        else:
            w_tma, w_cma = _split_weights(rng, 100, n_tma), np.zeros(n_cma, np.int64)
        style[m] = (n_tma, n_cma, w_tma, w_cma)

    cols = {"pres": [], "id": [], "type": [], "date": [], "weight": [], "difficulty": []}
    next_id = 1752
    for p in range(len(pres["module"])):
        n_tma, n_cma, w_tma, w_cma = style[pres["module"][p]]
        length = int(pres["length"][p])
        d_tma = np.round(np.linspace(19, length - 45, n_tma) + rng.integers(-4, 5, n_tma)).astype(np.int64)
        d_cma = np.round(np.linspace(30, length - 25, n_cma) + rng.integers(-4, 5, n_cma)).astype(np.int64)
        n_all = n_tma + n_cma + 1
        ids = next_id + np.cumsum(rng.integers(1, 3, n_all))
        next_id = int(ids[-1]) + int(rng.integers(5, 400))
        cols["pres"].append(np.full(n_all, p))
        cols["id"].append(ids)
        cols["type"].append(np.array(["TMA"] * n_tma + ["CMA"] * n_cma + ["Exam"], dtype=object))
        cols["date"].append(np.concatenate([d_tma, d_cma, [_NA]]))
        cols["weight"].append(np.concatenate([w_tma, w_cma, [100]]))
        diff = rng.normal(0.0, 4.0, n_all)
        diff[n_tma:n_tma + n_cma] += 6.0
        diff[-1] -= 8.0
        cols["difficulty"].append(diff)
    return {k: np.concatenate(v) for k, v in cols.items()}


def _submissions(pres: dict, people: dict, assess: dict, rng) -> dict:
    """studentAssessment rows: engagement drives submitting, timeliness and scores; mastery scores;
    preparation scores of assessments due early (full effect in the first quarter of the module,
    fading to none at half of it, so that it is visible before the default cut-off)."""
    out = {"id_assessment": [], "id_student": [], "date_submitted": [], "is_banked": [], "score": []}
    for p in range(len(pres["module"])):
        learners = np.flatnonzero(people["pres"] == p)
        items = np.flatnonzero(assess["pres"] == p)
        if len(learners) == 0:
            continue
        li, ai = (g.ravel() for g in np.meshgrid(learners, items, indexing="xy"))  # assessment-major
        e, m, prep = people["engagement"][li], people["mastery"][li], people["preparation"][li]
        kind = assess["type"][ai]
        is_exam, is_cma = kind == "Exam", kind == "CMA"
        length = int(pres["length"][p])
        due = np.where(is_exam, length, assess["date"][ai])
        n = len(li)

        p_sub = _sigmoid(np.where(is_exam, 2.0, np.where(is_cma, 1.8, 2.2)) + 1.2 * e)
        submitted = rng.random(n) < p_sub
        early = np.where(is_cma, 2.0 + 4.0 * e + np.abs(rng.normal(0.0, 8.0, n)),
                         1.0 + 1.5 * e + rng.normal(0.0, 2.5, n))
        early = np.where(is_exam, rng.integers(2, 20, n), np.clip(np.round(early), -20, 60))
        date_sub = (due - early).astype(np.int64)
        reg = people["reg"][li]
        date_sub = np.where(reg != _NA, np.maximum(date_sub, reg), date_sub)
        fade = np.clip((HALF * length - due) / (HALF / 2 * length), 0.0, 1.0)
        w_e = np.where(is_exam, SCORE_ENGAGEMENT["Exam"], np.where(is_cma, SCORE_ENGAGEMENT["CMA"], SCORE_ENGAGEMENT["TMA"]))
        w_m = np.where(is_exam, SCORE_MASTERY["Exam"], np.where(is_cma, SCORE_MASTERY["CMA"], SCORE_MASTERY["TMA"]))
        score = (SCORE_BASE + w_e * e + w_m * m + SCORE_PREPARATION * fade * prep
                 + assess["difficulty"][ai] + rng.normal(0.0, SCORE_NOISE, n))
        score = np.clip(np.round(score), 0, 100).astype(np.int64)
        score[rng.random(n) < 0.001] = _NA

        banked = (~is_exam) & (people["num_of_prev_attempts"][li] > 0) & (rng.random(n) < 0.07)
        date_sub[banked] = -1
        submitted |= banked
        unreg = people["unreg"][li]
        withdrawn = unreg != _NA
        keep = submitted & ~(is_exam & withdrawn) & (~withdrawn | (date_sub <= unreg))
        out["id_assessment"].append(assess["id"][ai][keep])
        out["id_student"].append(people["id"][li][keep])
        out["date_submitted"].append(date_sub[keep])
        out["is_banked"].append(banked[keep].astype(np.int64))
        out["score"].append(score[keep])
    res = {k: np.concatenate(v) for k, v in out.items()}
    order = np.lexsort((res["id_student"], res["id_assessment"]))
    return {k: v[order] for k, v in res.items()}


def _vle(pres: dict, rng) -> dict:
    """vle rows: sites per activity type for each presentation, with popularity weights."""
    types = list(ACTIVITY)
    n_pres = len(pres["module"])
    per_pres = []
    for p in range(n_pres):
        for t in types:
            _, _, mean_sites, p_exists = ACTIVITY[t]
            if rng.random() >= p_exists:
                continue
            n = 1 if t == "homepage" else max(1, int(rng.poisson(mean_sites)) + (mean_sites > 1))
            per_pres.append((p, t, n))
    total = sum(n for _, _, n in per_pres)
    ids = np.sort(rng.choice(1_100_000 - 526_000, size=total, replace=False) + 526_000)
    ids = ids[rng.permutation(total)]
    pres_col = np.concatenate([np.full(n, p) for p, _, n in per_pres])
    type_col = np.concatenate([np.full(n, t, dtype=object) for _, t, n in per_pres])
    weekly = np.isin(type_col, ["oucontent", "subpage", "resource", "url"]) & (rng.random(total) < 0.25)
    week = np.where(weekly, rng.integers(0, pres["length"][pres_col] // 7 + 1), _NA)
    popularity = rng.pareto(1.5, total) + 0.2
    order = np.lexsort((ids, pres_col))
    return {"id": ids[order], "pres": pres_col[order], "type": type_col[order],
            "week": week[order], "popularity": popularity[order]}


def _day_profile(length: int, dues: np.ndarray) -> np.ndarray:
    """Relative click intensity for days FIRST_DAY..length: registration ramp, slow decline,
    peaks before assessment due dates, a revision peak before the exam and a weekly rhythm."""
    days = np.arange(FIRST_DAY, length + 1)
    f = np.where(days < 0, 0.25 + 0.35 * (days - FIRST_DAY) / -FIRST_DAY, 1.0 - 0.45 * days / length)
    for d in dues:
        gap = d - days
        f = f + np.where((gap >= 0) & (gap <= 10), 0.9 * np.exp(-gap / 3.0), 0.0)
    gap = length - days
    f = f + np.where((gap >= 0) & (gap <= 14), 0.6, 0.0)
    weekend = (days % 7) >= 5
    return f * np.where(weekend, 0.8, 1.0)


def _early_tilt(length: int, f: np.ndarray) -> np.ndarray:
    """Per day FIRST_DAY..length, a tilt ``h`` in [-1, 1]: falling linearly over the first half
    of the module (days before the default cut-off), zero after it, centred so that
    ``sum(f * h) == 0`` over the first half. Clicks drawn from ``f * (1 + k*h)`` move towards the
    early weeks (k > 0) or the weeks just before the cut-off (k < 0) without changing how many
    are expected before the cut-off or in the whole module."""
    days = np.arange(FIRST_DAY, length + 1)
    cut = math.floor(HALF * length + 0.5)  # the loader's default cut-off day
    first = days < cut
    h = np.where(first, 1.0 - 2.0 * (days - FIRST_DAY) / max(cut - 1 - FIRST_DAY, 1), 0.0)
    h[first] -= np.sum(f[first] * h[first]) / np.sum(f[first])
    return h / np.abs(h).max()


def _write_clicks(path: Path, pres: dict, people: dict, assess: dict, vle: dict, tilt: np.ndarray,
                  rng, progress: bool) -> int:
    """Generate studentVle presentation by presentation, in chunks of learners, and append.

    ``tilt`` (per enrolment, in (-1, 1)) moves a learner's clicks in the first half of the module
    towards its early weeks; it does not change how many clicks are expected."""
    from tqdm import tqdm

    n_pres = len(pres["module"])
    seeds = rng.bit_generator.seed_seq.spawn(n_pres)
    total = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write((",".join(TABLES["studentVle"]) + "\n").encode())
        for p in tqdm(range(n_pres), desc="studentVle", unit="presentation", disable=not progress):
            prng = np.random.default_rng(seeds[p])
            learners = np.flatnonzero(people["pres"] == p)
            sites = np.flatnonzero(vle["pres"] == p)
            length = int(pres["length"][p])
            dues = assess["date"][(assess["pres"] == p) & (assess["date"] != _NA)]
            f = _day_profile(length, dues)
            h = _early_tilt(length, f)
            cdf = np.stack([np.concatenate([[0.0], np.cumsum(f * (1.0 + sign * h))]) for sign in (1.0, -1.0)])
            cdf /= cdf[:, -1:]
            for start in range(0, len(learners), CHUNK_LEARNERS):
                chunk = learners[start:start + CHUNK_LEARNERS]
                cols = _click_chunk(prng, people, chunk, vle, sites, cdf, tilt[chunk], length)
                total += len(cols["date"])
                _append_vle(fh, pres["module"][p], pres["code"][p], cols)
    return total


def _click_chunk(rng, people: dict, learners: np.ndarray, vle: dict, sites: np.ndarray,
                 cdf: np.ndarray, tilt: np.ndarray, length: int) -> dict:
    """Click rows of ``learners``. Days come from the mixture ``(1+k)/2 * cdf[0] + (1-k)/2 * cdf[1]``
    (``k`` = the learner's tilt), i.e. from the day profile times ``1 + k*h``, in the learner's window."""
    n_l = len(learners)
    site_type = vle["type"][sites]
    types = [t for t in ACTIVITY if (site_type == t).any()]
    n_t = len(types)
    share = np.array([ACTIVITY[t][0] for t in types])
    share /= share.sum()
    base_clicks = np.array([ACTIVITY[t][1] for t in types])
    browse = np.array([t in BROWSING_TYPES for t in types])

    # site popularity within each type, as one cumulative array over the type-sorted sites
    by_type = np.concatenate([np.flatnonzero(site_type == t) for t in types])
    pop = vle["popularity"][sites][by_type]
    n_sites_type = np.array([(site_type == t).sum() for t in types])
    type_start = np.concatenate([[0], np.cumsum(n_sites_type)])
    cum = np.concatenate([[0.0], np.cumsum(pop)])
    cum_lo, cum_hi = cum[type_start[:-1]], cum[type_start[1:]]

    # each learner's active window (registration .. unregistration)
    reg, unreg = people["reg"][learners], people["unreg"][learners]
    lo = np.where(reg == _NA, FIRST_DAY, np.maximum(reg, FIRST_DAY))
    hi = np.where(unreg == _NA, length, np.minimum(unreg, length))
    a = lo - FIRST_DAY
    b = np.maximum(hi - FIRST_DAY + 1, a)  # exclusive; empty when hi < lo
    mass = np.stack([(1.0 + tilt) / 2, (1.0 - tilt) / 2]) * (cdf[:, b] - cdf[:, a])  # (2, n_l)
    frac = mass.sum(axis=0)

    e = people["engagement"][learners][:, None]
    br = people["browsing"][learners][:, None]
    noise = rng.normal(0.0, 0.3, (n_l, n_t)) - 0.045
    row_mult = np.where(browse, np.exp(BROWSING_ROW_EFFECT * br - BROWSING_ROW_EFFECT**2 / 2),
                        np.exp(ENGAGEMENT_ROW_EFFECT * e - ENGAGEMENT_ROW_EFFECT**2 / 2)) * np.exp(noise)
    lam = ROWS_PER_ENROLMENT * share[None, :] * row_mult * frac[:, None]
    n_rows = rng.poisson(lam).ravel()
    extra_mean = (base_clicks[None, :] - 1.0) * np.where(
        browse, np.exp(BROWSING_CLICK_EFFECT * br - BROWSING_CLICK_EFFECT**2 / 2),
        np.exp(ENGAGEMENT_CLICK_EFFECT * e - ENGAGEMENT_CLICK_EFFECT**2 / 2))
    shape = np.where(browse, 0.6, 1.0)[None, :] + np.zeros((n_l, 1))

    cell = np.repeat(np.arange(n_l * n_t), n_rows)
    li, ti = np.divmod(cell, n_t)
    n = len(cell)
    # day: pick a mixture component by its mass in the window, then its inverse CDF in the window
    comp = (rng.random(n) * frac[li] >= mass[0, li]).astype(np.int64)
    lo_c, hi_c = cdf[comp, a[li]], cdf[comp, b[li]]
    u = lo_c + rng.random(n) * (hi_c - lo_c) + 2.0 * comp  # both CDFs in one sorted array
    both = np.concatenate([cdf[0], cdf[1] + 2.0])
    day = np.clip(np.searchsorted(both, u, side="right") - 1 - comp * cdf.shape[1], a[li], b[li] - 1)
    # site: popularity-weighted within the activity type
    v = cum_lo[ti] + rng.random(n) * (cum_hi[ti] - cum_lo[ti])
    site = np.clip(np.searchsorted(cum, v, side="right") - 1, type_start[ti], type_start[ti + 1] - 1)
    # clicks: 1 + gamma-Poisson extra clicks
    sh = shape.ravel()[cell]
    clicks = 1 + rng.poisson(rng.gamma(sh, extra_mean.ravel()[cell] / sh))

    # one row per (learner, site, day), rows in date order
    n_s = len(by_type)
    key = (day.astype(np.int64) * n_l + li) * n_s + site
    order = np.argsort(key, kind="stable")
    key, clicks = key[order], clicks[order]
    first = np.concatenate([[True], key[1:] != key[:-1]]) if n else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    sums = np.add.reduceat(clicks, starts) if n else np.zeros(0, np.int64)
    key = key[starts]
    day_u, rest = np.divmod(key, n_l * n_s)
    li_u, site_u = np.divmod(rest, n_s)
    return {
        "id_student": people["id"][learners][li_u],
        "id_site": vle["id"][sites][by_type][site_u],
        "date": day_u + FIRST_DAY,
        "sum_click": sums.astype(np.int64),
    }


# ---------------------------------------------------------------------------------------------
def _masked(values: np.ndarray, missing: np.ndarray):
    return ("masked", np.asarray(values), np.asarray(missing, bool))


def _arrow_column(v):
    import pyarrow as pa

    if isinstance(v, tuple) and v and v[0] == "masked":
        _, values, missing = v
        return pa.array(np.where(missing, 0, values).astype(np.int64), mask=missing)
    v = np.asarray(v)
    if v.dtype == object or v.dtype.kind == "U":
        return pa.array(v.astype(str).tolist(), type=pa.string()).fill_null("")
    return pa.array(v.astype(np.int64))


def _write_csv(path: Path, table: str, columns: dict) -> int:
    """Write a table as plain CSV: comma, unquoted, LF, empty field for missing."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = list(TABLES[table])
    assert list(columns) == names, (table, list(columns))
    t = pa.table({c: _arrow_column(columns[c]) for c in names})
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write((",".join(names) + "\n").encode())
        pcsv.write_csv(t, fh, pcsv.WriteOptions(include_header=False, quoting_style="none"))
    return t.num_rows


def _append_vle(fh, module: str, code: str, cols: dict) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    n = len(cols["date"])
    if n == 0:
        return
    t = pa.table({
        "code_module": pa.repeat(pa.scalar(str(module)), n),
        "code_presentation": pa.repeat(pa.scalar(str(code)), n),
        "id_student": pa.array(cols["id_student"]),
        "id_site": pa.array(cols["id_site"]),
        "date": pa.array(cols["date"]),
        "sum_click": pa.array(cols["sum_click"]),
    })
    pcsv.write_csv(t, fh, pcsv.WriteOptions(include_header=False, quoting_style="none"))


def factor_modalities(routing: str = "full") -> dict[str, tuple[str, ...]]:
    """Which modalities observe each factor under ``routing`` (in the loader's modality order)."""
    if routing not in ROUTINGS:
        raise DsrsdError(f"unknown routing '{routing}'; choose one of: {', '.join(ROUTINGS)}")
    out = {f: mods for f, (mods, _, _) in FACTORS.items()}
    if routing == "sparse":
        out[SPARSE_PRIVATE] = ("profile",)
    return {f: tuple(m for m in MODALITIES if m in mods) for f, mods in out.items()}


def planted_structure(routing: str = "full") -> dict:
    """The routing-dependent part of ``ground_truth.json`` (no per-learner values).

    ``modality_ranking``: each modality scores the ability variance it can see, the sum of
    ``outcome_weight**2`` over the factors it observes (the trap adds nothing: its weight is 0);
    modalities are ranked by that score, highest first. Under both routings this gives
    assessments (1.0 + 0.64 + 0.16 = 1.80) > clickstream (1.0 + 0.16 = 1.16, or 1.0 under
    ``sparse``) > profile (0.16 + 0.16 + 0.09 = 0.41). ``shared_signal_fraction`` is the sum of
    ``w**2`` over shared factors over the sum of ``w**2`` over all factors.
    """
    routes = factor_modalities(routing)
    factors = {}
    for f, mods in routes.items():
        entry = {"modalities": list(mods), "kind": "shared" if len(mods) >= 2 else "private",
                 "outcome_weight": OUTCOME_WEIGHTS[f], "note": FACTORS[f][2]}
        if routing == "sparse" and f == SPARSE_PRIVATE:
            entry["note"] += " (routing sparse: the clickstream does not express it)"
        factors[f] = entry
    pairs = {f"{a}+{b}": [f for f, mods in routes.items() if a in mods and b in mods]
             for i, a in enumerate(MODALITIES) for b in MODALITIES[i + 1:]}
    score = {m: sum(OUTCOME_WEIGHTS[f] ** 2 for f, mods in routes.items() if m in mods) for m in MODALITIES}
    w2 = {f: OUTCOME_WEIGHTS[f] ** 2 for f in routes}
    shared = sum(w2[f] for f in routes if factors[f]["kind"] == "shared") / sum(w2.values())
    return {
        "routing": routing,
        "factors": factors,
        "pairs": pairs,
        "modality_ranking": sorted(MODALITIES, key=lambda m: (-score[m], MODALITIES.index(m))),
        "modality_signal": {m: round(score[m], 6) for m in MODALITIES},
        "dominance_trap": TRAP_MODALITY,
        "trap_factor": TRAP_FACTOR,
        "shared_signal_fraction": round(shared, 6),
    }


def _ground_truth(pres: dict, people: dict, seed: int, enrolments: int, routing: str) -> dict:
    def r4(x):
        return [round(float(v), 4) for v in x]

    ability = " + ".join(f"{OUTCOME_WEIGHTS[f]}*{f}" for f in FACTORS if OUTCOME_WEIGHTS[f])
    return {
        "generator": GENERATOR,
        "seed": seed,
        "enrolments": enrolments,
        **planted_structure(routing),
        "outcome": {
            "ability": f"{ability} + N(0, {ABILITY_NOISE})",
            "withdrawn": f"P = sigmoid({WITHDRAW_BIAS} - {WITHDRAW_SLOPE}*engagement)",
            "fail_below": FAIL_BELOW, "distinction_from": DISTINCTION_FROM,
            "browsing_activity_types": list(BROWSING_TYPES),
        },
        "learners": {
            "code_module": pres["module"][people["pres"]].tolist(),
            "code_presentation": pres["code"][people["pres"]].tolist(),
            "id_student": people["id"].tolist(),
            **{f: r4(people[f]) for f in FACTORS},
        },
    }
