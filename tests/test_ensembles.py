"""Ensembles (paper 000, Sec. 4): training-score standardisation, the simplex grid, the weight
search, the DCASE objective, and the honest (no labels of the evaluated section) and oracle rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from asdlib.ensembles import (
    best_single_weights,
    ensemble_inputs,
    ensemble_scores,
    honest_weights,
    leave_one_section_out_weights,
    official_objective,
    oracle_weights,
    score_matrix,
    search_weights,
    simplex_grid,
    standardise,
)
from asdlib.metrics import official_score, section_table_2022

SYSTEMS = ("alpha", "beta", "gamma")


def _meta(machine_types=("fan",), sections=(0, 1, 2), n=12, eval_unknown=()):
    """n source and n target clips per section, half of each anomalous; 'unknown' labels where asked."""
    rows = []
    for mt in machine_types:
        for sec in sections:
            for dom in ("source", "target"):
                for i in range(n):
                    lab = "anomaly" if i % 2 else "normal"
                    rows.append({"machine_type": mt, "section": sec, "domain": dom,
                                 "label": "unknown" if sec in eval_unknown else lab,
                                 "file": f"section_{sec:02d}_{dom}_test_{lab}_{i:04d}.wav"})
    return pd.DataFrame(rows)


def _truth(meta):
    return np.array([f.split("_")[4] == "anomaly" for f in meta["file"]], dtype=float)


def _scores(meta, rng, strength):
    """One column per system; strength[system][section] = how far anomalies are shifted up."""
    y = _truth(meta)
    cols = {}
    for name in SYSTEMS:
        shift = np.array([strength[name].get(s, 0.0) for s in meta["section"]])
        cols[name] = rng.normal(size=len(meta)) + shift * y
    return pd.DataFrame(cols)


# ----------------------------------------------------------------------------- the grid and the search


@pytest.mark.parametrize("n, step", [(1, 0.5), (2, 0.5), (3, 0.1), (4, 0.25), (6, 0.1)])
def test_simplex_grid_is_the_whole_simplex(n, step):
    grid = simplex_grid(n, step)
    k = round(1 / step)
    assert grid.shape == (math.comb(k + n - 1, n - 1), n)
    assert (grid >= 0).all()
    np.testing.assert_allclose(grid.sum(axis=1), 1.0, atol=1e-12)
    counts = grid * k
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)  # multiples of step
    assert len({tuple(np.round(r, 9)) for r in grid}) == len(grid)  # no duplicates
    assert grid[0].tolist() == [1.0] + [0.0] * (n - 1)  # lexicographically descending
    assert grid[-1].tolist() == [0.0] * (n - 1) + [1.0]
    as_tuples = [tuple(np.round(counts[i]).astype(int)) for i in range(len(grid))]
    assert as_tuples == sorted(as_tuples, reverse=True)


def test_simplex_grid_rejects_bad_steps():
    with pytest.raises(ValueError, match="whole number"):
        simplex_grid(3, 0.3)
    with pytest.raises(ValueError, match="n_systems"):
        simplex_grid(0, 0.1)


def test_search_puts_the_weight_on_a_perfect_subsystem():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40), np.ones(40)]
    matrix = np.column_stack([rng.normal(size=80),  # noise
                              3 * y + rng.uniform(0, 1, 80),  # perfectly separating
                              rng.normal(size=80) + 0.3 * y])  # weak
    assert roc_auc_score(y, matrix[:, 1]) == 1.0
    w, table = search_weights(matrix, lambda s: roc_auc_score(y, s), step=0.1)
    np.testing.assert_array_equal(w, [0.0, 1.0, 0.0])
    assert table["chosen"].sum() == 1 and len(table) == 66
    assert table.loc[table["chosen"], "objective"].item() == table["objective"].max() == 1.0
    assert table["objective"].eq(1.0).sum() > 1  # blends tie with it: the sparsest wins


def test_ties_are_broken_by_sparsity_then_grid_order():
    y = np.r_[np.zeros(10), np.ones(10)]
    perfect = y + np.linspace(0, 0.5, 20)
    matrix = pd.DataFrame({"noise": np.sin(np.arange(20.0)), "p1": perfect, "p2": perfect})
    w, table = search_weights(matrix, lambda s: roc_auc_score(y, s), step=0.5)
    assert list(table.columns[:3]) == ["noise", "p1", "p2"]
    np.testing.assert_array_equal(w, [0.0, 1.0, 0.0])  # p1 and p2 tie: p1 comes first in the grid


def test_official_objective_matches_the_metrics_module():
    rng = np.random.default_rng(1)
    meta = _meta(machine_types=("fan", "valve"), sections=(0, 1), n=16)
    meta["label"] = np.where(_truth(meta) == 1, "anomaly", "normal")
    scores = rng.normal(size=(len(meta), 12)) + _truth(meta)[:, None] * rng.uniform(0, 2, 12)
    scores[:, :6] = np.round(scores[:, :6] * 2) / 2  # many ties, also across the max_fpr cut
    objective = official_objective(meta)
    batched = objective(scores)
    for j in range(scores.shape[1]):
        expected = official_score(section_table_2022(meta.assign(score=scores[:, j])))
        assert batched[j] == pytest.approx(expected, abs=1e-12)
        assert objective(scores[:, j]) == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------------------- standardisation


def test_standardise_arrays_uses_training_statistics_only():
    rng = np.random.default_rng(2)
    train = rng.normal(loc=[1.0, 10.0], scale=[2.0, 0.5], size=(50, 2))
    test = rng.normal(size=(20, 2))
    z, stats = standardise(train, test, return_stats=True)
    np.testing.assert_allclose(stats, [train.mean(0), train.std(0)])
    np.testing.assert_allclose(z, (test - train.mean(0)) / train.std(0))
    other = test * 100 + 7  # different test scores: same statistics
    z2, stats2 = standardise(train, other, return_stats=True)
    np.testing.assert_array_equal(stats2, stats)
    np.testing.assert_allclose(z2, (other - train.mean(0)) / train.std(0))
    # the training scores standardised with their own statistics: mean 0, std 1
    np.testing.assert_allclose(standardise(train, train).mean(0), 0.0, atol=1e-12)


def test_standardise_long_tables_per_group():
    rng = np.random.default_rng(3)
    rows = []
    for split, n in (("train", 30), ("test", 10)):
        for system, base in (("alpha", 0.0), ("beta", 50.0)):
            for mt, scale in (("fan", 1.0), ("valve", 4.0)):
                for dom in ("source", "target"):
                    for i in range(n):
                        rows.append({"system": system, "split": split, "machine_type": mt, "section": 0,
                                     "domain": dom, "score": base + scale * rng.normal() + (dom == "target")})
    df = pd.DataFrame(rows)
    train, test = df[df.split == "train"], df[df.split == "test"]
    out, stats = standardise(train, test, return_stats=True)
    grouped = train.groupby(["system", "machine_type"])["score"]
    expected = grouped.mean().to_numpy()
    np.testing.assert_allclose(stats["mean"].to_numpy(), expected)
    np.testing.assert_allclose(stats["std"].to_numpy(), grouped.std(ddof=0).to_numpy())
    # changing the test scores changes neither the statistics nor the other rows' values
    changed = test.copy()
    changed.iloc[0, changed.columns.get_loc("score")] += 1000.0
    out2, stats2 = standardise(train, changed, return_stats=True)
    pd.testing.assert_frame_equal(stats2, stats)
    np.testing.assert_allclose(out2["score"].to_numpy()[1:], out["score"].to_numpy()[1:])
    # per domain, the test rows grouped by another (e.g. predicted) domain column
    test_pred = test.assign(predicted=np.where(test["domain"] == "source", "target", "source"))
    by_dom = standardise(train, test_pred, by=("machine_type", "domain"), test_by=("machine_type", "predicted"))
    row = test_pred.iloc[0]
    ref = train[(train.system == row.system) & (train.machine_type == row.machine_type)
                & (train.domain == row.predicted)]["score"]
    assert by_dom["score"].iloc[0] == pytest.approx((row.score - ref.mean()) / ref.std(ddof=0))
    with pytest.raises(ValueError, match="no training scores"):
        standardise(train[train.machine_type == "fan"], test)


def test_score_matrix_and_ensemble_inputs():
    rng = np.random.default_rng(4)
    meta = _meta(sections=(0,), n=4)
    long = []
    for seed in (0, 1):
        for split in ("train", "test"):
            for system in SYSTEMS:
                part = meta.assign(system=system, seed=seed, split=split, score=rng.normal(size=len(meta)))
                if split == "train":
                    part = part.assign(file="train_" + part["file"], label="normal")
                long.append(part)
    long = pd.concat(long, ignore_index=True).sample(frac=1.0, random_state=0)  # any row order
    with pytest.raises(ValueError, match="seed"):
        ensemble_inputs(long)
    matrix, m = ensemble_inputs(long, seed=1)
    assert list(matrix.columns) == sorted(SYSTEMS) and len(matrix) == len(m) == len(meta)
    assert list(m.columns) == ["machine_type", "section", "domain", "label", "file"]
    test1 = long[(long.seed == 1) & (long.split == "test")]
    train1 = long[(long.seed == 1) & (long.split == "train")]
    f = m["file"].iloc[3]
    raw = test1[(test1.system == "beta") & (test1.file == f)]["score"].item()
    tr = train1[train1.system == "beta"]["score"]
    assert matrix["beta"].iloc[3] == pytest.approx((raw - tr.mean()) / tr.std(ddof=0))
    with pytest.raises(ValueError, match="twice"):
        score_matrix(long[long.split == "test"])


# ----------------------------------------------------------------------------- selection rules


STRENGTH = {"alpha": {0: 3.0, 1: 0.5, 2: 3.0, 3: 3.0}, "beta": {0: 0.5, 1: 3.0, 2: 0.5, 3: 0.5},
            "gamma": {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}}


def test_honest_rule_never_sees_the_evaluated_sections_labels():
    rng = np.random.default_rng(5)
    meta = _meta(sections=(0, 1, 2, 3), n=20, eval_unknown=(3,))  # section 3: evaluation, no labels
    matrix = _scores(meta, rng, STRENGTH)
    honest = honest_weights(matrix, meta, pool=(0, 1, 2), step=0.1)
    assert honest[["section", "rule", "selected_on"]].values.tolist() == [
        [0, "loso", "1,2"], [1, "loso", "0,2"], [2, "loso", "0,1"], [3, "pool", "0,1,2"]]
    assert np.allclose(honest[list(SYSTEMS)].sum(axis=1), 1.0)

    # relabel section 1 (counts kept) so that alpha, not beta, is perfect there: its own weights must not move
    perturbed = meta.copy()
    for dom in ("source", "target"):
        rows = np.flatnonzero((meta["section"] == 1) & (meta["domain"] == dom))
        alpha = matrix["alpha"].to_numpy()[rows]
        perturbed.loc[rows, "label"] = np.where(alpha > np.median(alpha), "anomaly", "normal")
    assert (perturbed["label"] != meta["label"]).sum() > 10
    again = honest_weights(matrix, perturbed, pool=(0, 1, 2), step=0.1)
    pd.testing.assert_series_equal(again.iloc[1], honest.iloc[1])
    # ... while the weights chosen *with* section 1's labels do move: the perturbation matters
    oracle = oracle_weights(matrix, meta, per_section=True, sections=[1])
    oracle_p = oracle_weights(matrix, perturbed, per_section=True, sections=[1])
    assert not np.allclose(oracle[list(SYSTEMS)].to_numpy(), oracle_p[list(SYSTEMS)].to_numpy())
    others = honest_weights(matrix, perturbed, pool=(0, 1, 2), step=0.1)
    assert not np.allclose(others.loc[others.section != 1, list(SYSTEMS)].to_numpy(),
                           honest.loc[honest.section != 1, list(SYSTEMS)].to_numpy())

    # the evaluation section's weights never read its labels either: any labels, same weights
    relabelled = meta.copy()
    relabelled.loc[relabelled.section == 3, "label"] = np.where(_truth(meta)[meta.section == 3] == 1,
                                                                "normal", "anomaly")
    again = honest_weights(matrix, relabelled, pool=(0, 1, 2), step=0.1)
    pd.testing.assert_frame_equal(again, honest)


def test_leave_one_section_out_and_oracle():
    rng = np.random.default_rng(6)
    meta = _meta(machine_types=("fan", "pump"), sections=(0, 1, 2), n=16)
    matrix = _scores(meta, rng, STRENGTH)
    loso = leave_one_section_out_weights(matrix, meta, step=0.25)
    assert len(loso) == 6 and set(loso["rule"]) == {"loso"}
    assert loso[loso.machine_type == "pump"]["selected_on"].tolist() == ["1,2", "0,2", "0,1"]
    # section 1 (beta's) gets the weights chosen on sections 0 and 2, where alpha is strong
    w1 = loso[(loso.machine_type == "fan") & (loso.section == 1)][list(SYSTEMS)].to_numpy()[0]
    assert w1[0] > w1[1]
    oracle = oracle_weights(matrix, meta, step=0.25)
    assert set(oracle["rule"]) == {"oracle"} and set(oracle["selected_on"]) == {"0,1,2"}
    # the oracle is at least as good as any honest choice on the labels it saw
    fan = (meta.machine_type == "fan").to_numpy()
    objective = official_objective(meta[fan].reset_index(drop=True))
    best = oracle[oracle.machine_type == "fan"][list(SYSTEMS)].to_numpy()[0]
    for w in loso[loso.machine_type == "fan"][list(SYSTEMS)].to_numpy():
        assert objective(matrix[fan].to_numpy() @ best) >= objective(matrix[fan].to_numpy() @ w) - 1e-12


def test_ensemble_scores():
    matrix = pd.DataFrame({"alpha": [1.0, 2.0, 3.0], "beta": [0.0, 10.0, -10.0]})
    np.testing.assert_allclose(ensemble_scores(matrix, [0.5, 0.5]), [0.5, 6.0, -3.5])
    np.testing.assert_allclose(ensemble_scores(matrix, {"beta": 1.0}), [0.0, 10.0, -10.0])
    meta = pd.DataFrame({"machine_type": ["fan", "fan", "valve"], "section": [0, 1, 0]})
    table = pd.DataFrame({"machine_type": ["fan", "fan", "valve"], "section": [0, 1, 0],
                          "alpha": [1.0, 0.0, 0.2], "beta": [0.0, 1.0, 0.8]})
    np.testing.assert_allclose(ensemble_scores(matrix, table, meta), [1.0, 10.0, 0.6 - 8.0])
    with pytest.raises(ValueError, match="meta"):
        ensemble_scores(matrix, table)
    with pytest.raises(ValueError, match="unknown"):
        ensemble_scores(matrix, {"delta": 1.0})


def test_honest_selection_of_one_score():
    """grid=np.eye(k): choose one of k scores (AEGAN-AD's "best metric") without the section's labels."""
    rng = np.random.default_rng(7)
    meta = _meta(sections=(0, 1, 2), n=16)
    matrix = _scores(meta, rng, STRENGTH)
    chosen = honest_weights(matrix, meta, grid=np.eye(3))
    weights = chosen[list(SYSTEMS)].to_numpy()
    assert ((weights == 0) | (weights == 1)).all() and (weights.sum(axis=1) == 1).all()
    # alpha is strong on sections 0 and 2, beta on 1: section 1 (chosen on 0 and 2) gets alpha
    assert chosen.loc[chosen.section == 1, "alpha"].item() == 1.0
    oracle = oracle_weights(matrix, meta, grid=np.eye(3), per_section=True)
    assert oracle.loc[oracle.section == 1, "beta"].item() == 1.0


# ----------------------------------------------------------------------------- nested choices (AEGAN-AD's score function)

AEGAN = ("AEGAN-AD: a", "AEGAN-AD: b", "AEGAN-AD: c")


def _flipped(meta, section):
    """meta with only ``section``'s labels swapped (normal <-> anomaly; every section stays valid)."""
    out = meta.copy()
    rows = (out["section"] == section).to_numpy()
    out.loc[rows, "label"] = np.where(out.loc[rows, "label"] == "anomaly", "normal", "anomaly")
    return out


def _leaky_two_step(matrix, meta, candidates, **kwargs):
    """The pipeline before the fix: AEGAN-AD's score function chosen per section leave-one-section-out,
    the per-section column built from those choices, then the weights leave-one-section-out."""
    choice = honest_weights(matrix[list(candidates)], meta, grid=np.eye(len(candidates)), **kwargs)
    chosen = dict(zip(choice["section"], choice[list(candidates)].idxmax(axis=1)))
    column = [matrix.at[i, chosen[s]] for i, s in zip(matrix.index, meta["section"])]
    fixed = matrix.drop(columns=list(candidates)).assign(**{"AEGAN-AD": column})
    return honest_weights(fixed, meta, **kwargs)


def _leak_toy():
    """Section 0's labels decide section 1's leave-one-section-out AEGAN-AD choice.

    Candidate a is perfect and b inverted on sections 0 and 1; on section 2 every column is one
    and the same weak score (no choice or weight changes the objective there). SC is weak on 1.
    """
    rng = np.random.default_rng(11)
    meta = _meta(sections=(0, 1, 2), n=12)
    y = _truth(meta)
    sec = meta["section"].to_numpy()
    perfect, inverted = 3 * y + rng.uniform(size=len(y)), -3 * y + rng.uniform(size=len(y))
    weak = rng.normal(size=len(y)) + y
    sc = np.where(sec == 1, weak, rng.normal(size=len(y)))
    same = rng.normal(size=len(y)) + 0.5 * y
    matrix = pd.DataFrame({"SC": np.where(sec == 2, same, sc),
                           "AEGAN-AD: a": np.where(sec == 2, same, perfect),
                           "AEGAN-AD: b": np.where(sec == 2, same, inverted)})
    return matrix, meta


def test_a_score_function_chosen_before_the_weights_leaks_the_evaluated_sections_labels():
    """Issue 17: AEGAN-AD's choice for section 1 (on sections 0, 2) fed section 0's weights
    (on sections 1, 2): flipping only section 0's labels moved section 0's weights."""
    matrix, meta = _leak_toy()
    candidates = ("AEGAN-AD: a", "AEGAN-AD: b")
    flipped = _flipped(meta, 0)
    before = _leaky_two_step(matrix, meta, candidates, pool=(0, 1, 2), step=0.1)
    after = _leaky_two_step(matrix, flipped, candidates, pool=(0, 1, 2), step=0.1)
    row0, row0_flipped = before[before.section == 0].iloc[0], after[after.section == 0].iloc[0]
    assert row0["selected_on"] == row0_flipped["selected_on"] == "1,2"  # says section 0's labels are unused ...
    assert (row0["AEGAN-AD"], row0["SC"]) == (1.0, 0.0)
    assert (row0_flipped["AEGAN-AD"], row0_flipped["SC"]) == (0.0, 1.0)  # ... yet they moved the weights

    # the fix: the score function chosen inside each fold, on the fold's selection sections
    fixed = honest_weights(matrix, meta, pool=(0, 1, 2), step=0.1, choose={"AEGAN-AD": candidates})
    fixed_flipped = honest_weights(matrix, flipped, pool=(0, 1, 2), step=0.1, choose={"AEGAN-AD": candidates})
    pd.testing.assert_series_equal(fixed[fixed.section == 0].iloc[0], fixed_flipped[fixed_flipped.section == 0].iloc[0])
    assert fixed.loc[fixed.section == 0, ["AEGAN-AD", "AEGAN-AD choice", "selected_on"]].values.tolist() == [
        [1.0, "AEGAN-AD: a", "1,2"]]
    # the flip does matter where section 0's labels are used: section 1's choice (on 0 and 2) moves
    assert fixed_flipped.loc[fixed_flipped.section == 1, "AEGAN-AD choice"].item() == "AEGAN-AD: b"
    assert fixed.loc[fixed.section == 1, "AEGAN-AD choice"].item() == "AEGAN-AD: a"


def _sections_of_random_strength(seed):
    """Development sections 0-2 and an unlabelled evaluation section 3, 12 clips each, and the scores
    of SC, WSP and the AEGAN-AD candidates with a random strength per section: which candidate and
    which system is best differs by section. Returns (meta, truth, score matrix)."""
    rng = np.random.default_rng(seed)
    labelled = _meta(sections=(0, 1, 2, 3), n=12, eval_unknown=(3,))
    y = _truth(labelled)
    cols = {}
    for name in ("SC", "WSP", *AEGAN):
        shift = dict(zip((0, 1, 2, 3), rng.uniform(-1.0, 2.5, 4)))
        cols[name] = rng.normal(size=len(y)) + np.array([shift[s] for s in labelled["section"]]) * y
    return labelled, y, pd.DataFrame(cols)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("top", [None, 2])
def test_flipping_the_evaluated_sections_labels_moves_neither_its_score_function_nor_its_weights(seed, top):
    labelled, y, matrix = _sections_of_random_strength(100 + seed)
    kwargs = dict(pool=(0, 1, 2), step=0.25, choose={"AEGAN-AD": AEGAN}, top=top)
    honest = honest_weights(matrix, labelled, **kwargs)
    assert honest["selected_on"].tolist() == ["1,2", "0,2", "0,1", "0,1,2"]
    for s in (0, 1, 2):
        again = honest_weights(matrix, _flipped(labelled, s), **kwargs)
        pd.testing.assert_series_equal(again[again.section == s].iloc[0], honest[honest.section == s].iloc[0])
        # ... while the flip does move the choices of the sections that use its labels: it matters
        rest = ["rule", "selected_on", *matrix.columns, "AEGAN-AD choice"]
        assert not again.loc[again.section != s, rest].equals(honest.loc[honest.section != s, rest])
        # its row never reads its labels at all: unknown labels there, same row
        blind = labelled.copy()
        blind.loc[blind.section == s, "label"] = "unknown"
        alone = honest_weights(matrix, blind, sections=[s], **kwargs)
        pd.testing.assert_series_equal(alone.iloc[0], honest[honest.section == s].iloc[0], check_names=False)
    # the evaluation section: chosen on all development sections
    row3 = honest[honest.section == 3].iloc[0]
    assert row3["rule"] == "pool"
    # weights: on the simplex, the unchosen candidates weigh 0, the group column is the chosen one's weight
    weights = honest[list(matrix.columns)].to_numpy()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    for _, row in honest.iterrows():
        assert row["AEGAN-AD choice"] in AEGAN
        assert all(row[c] == 0.0 for c in AEGAN if c != row["AEGAN-AD choice"])
        assert row["AEGAN-AD"] == row[row["AEGAN-AD choice"]]
        if top is not None:
            kept = row["subsystems"].split(",")
            assert len(kept) == top
            assert all(row[c] == 0.0 for c in ("SC", "WSP") if c not in kept)


def test_the_choice_inside_a_fold_is_the_honest_choice_of_the_score_alone():
    """The fold of section s chooses AEGAN-AD's score function on the same sections as the
    stand-alone honest choice (honest_weights with grid=np.eye(k)): the same function."""
    rng = np.random.default_rng(8)
    meta = _meta(sections=(0, 1, 2), n=16)
    matrix = _scores(meta, rng, STRENGTH).rename(columns=dict(zip(SYSTEMS, AEGAN)))
    matrix["SC"] = rng.normal(size=len(meta)) + _truth(meta)
    alone = honest_weights(matrix[list(AEGAN)], meta, grid=np.eye(3))
    nested = honest_weights(matrix, meta, choose={"AEGAN-AD": AEGAN}, step=0.25)
    assert nested["AEGAN-AD choice"].tolist() == alone[list(AEGAN)].idxmax(axis=1).tolist()
    # one candidate only: the same weights as the plain search
    plain = honest_weights(matrix[["SC", "AEGAN-AD: a"]], meta, step=0.25)
    one = honest_weights(matrix[["SC", "AEGAN-AD: a"]], meta, step=0.25, choose={"AEGAN": ["AEGAN-AD: a"]})
    pd.testing.assert_frame_equal(one[plain.columns], plain)
    # the table feeds ensemble_scores: each clip gets its section's chosen score, weighted
    scores = ensemble_scores(matrix, nested, meta)
    for i in (0, len(meta) // 2, len(meta) - 1):
        row = nested[nested.section == meta["section"].iloc[i]].iloc[0]
        expected = row["SC"] * matrix.at[i, "SC"] + row["AEGAN-AD"] * matrix.at[i, row["AEGAN-AD choice"]]
        assert scores[i] == pytest.approx(expected)
    # the oracle takes the same arguments, on the labels it reports
    oracle = oracle_weights(matrix, meta, choose={"AEGAN-AD": AEGAN}, top=1, step=0.25)
    assert set(oracle["selected_on"]) == {"0,1,2"} and oracle["subsystems"].str.count(",").eq(0).all()


def test_nested_choice_arguments_are_checked():
    meta = _meta(sections=(0, 1), n=4)
    matrix = pd.DataFrame({"SC": np.arange(len(meta), dtype=float), "a": 1.0, "b": 2.0})
    with pytest.raises(ValueError, match="lacks"):
        honest_weights(matrix, meta, choose={"AEGAN-AD": ["a", "z"]})
    with pytest.raises(ValueError, match="also a column"):
        honest_weights(matrix, meta, choose={"SC": ["a", "b"]})
    with pytest.raises(ValueError, match="both"):
        honest_weights(matrix, meta, choose={"g1": ["a"], "g2": ["a", "b"]})
    with pytest.raises(ValueError, match="no candidate"):
        honest_weights(matrix, meta, choose={"g": []})
    with pytest.raises(ValueError, match="top"):
        honest_weights(matrix, meta, top=0)
    with pytest.raises(ValueError, match="one column per system searched"):
        honest_weights(matrix, meta, choose={"g": ["a", "b"]}, grid=np.eye(3))


@pytest.mark.parametrize("seed", [0, 1])
def test_best_single_subsystem_is_chosen_on_the_other_sections_only(seed):
    """The control of an ensemble: one system per section (AEGAN-AD's function chosen in the same
    fold), the best on the other development sections' labels; the section's own labels move nothing."""
    labelled, y, matrix = _sections_of_random_strength(300 + seed)
    choose = {"AEGAN-AD": AEGAN}
    best = best_single_weights(matrix, labelled, choose=choose)
    # the one-hot grid of honest_weights over the three systems searched (SC, WSP, AEGAN-AD)
    pd.testing.assert_frame_equal(best, honest_weights(matrix, labelled, grid=np.eye(3), choose=choose))
    assert best["selected_on"].tolist() == ["1,2", "0,2", "0,1", "0,1,2"]
    weights = best[list(matrix.columns)].to_numpy()
    assert ((weights == 0) | (weights == 1)).all() and (weights.sum(axis=1) == 1).all()
    # the chosen system is the best single one on the selection sections (by hand)
    for _, row in best.iterrows():
        on = [int(s) for s in row["selected_on"].split(",")]
        rows = labelled["section"].isin(on).to_numpy()
        objective = official_objective(labelled[rows].reset_index(drop=True))
        value = {c: objective(matrix.loc[rows, c].to_numpy()) for c in matrix.columns}
        aegan = max(AEGAN, key=lambda c: (value[c], -AEGAN.index(c)))
        singles = {"SC": value["SC"], "WSP": value["WSP"], "AEGAN-AD": value[aegan]}
        winner = max(singles, key=lambda c: (singles[c], -list(singles).index(c)))
        assert row["AEGAN-AD choice"] == aegan
        assert row[aegan if winner == "AEGAN-AD" else winner] == 1.0
        assert row["objective"] == pytest.approx(singles[winner])
    # flipping (or hiding) a development section's labels leaves its own row as it was
    for s in (0, 1, 2):
        again = best_single_weights(matrix, _flipped(labelled, s), choose=choose)
        pd.testing.assert_series_equal(again[again.section == s].iloc[0], best[best.section == s].iloc[0])
    # the ensemble score of a clip is its section's chosen column
    scores = ensemble_scores(matrix, best, labelled)
    chosen = best.set_index("section")[list(matrix.columns)].idxmax(axis=1)
    np.testing.assert_allclose(scores, [matrix.at[i, chosen[s]] for i, s in enumerate(labelled["section"])])


def test_first_shot_layouts_stop_the_ensembles_chapter_early():
    """The honest rule chooses on a type's other development sections: a first-shot layout (one
    section per type, evaluation types none in dev) stops the chapter at once, naming the reason."""
    from asdlib.chapters.aithu_aegan_ensembles import require_development_sections

    dcase2022 = pd.DataFrame([{"machine_type": "valve", "section": s, "part": "dev" if s < 3 else "eval"}
                              for s in range(6)])
    require_development_sections(dcase2022, ["valve"])   # three development sections: fine
    first_shot = pd.DataFrame([{"machine_type": "valve", "section": 0, "part": "dev"},
                               {"machine_type": "AirCompressor", "section": 0, "part": "eval"}])
    with pytest.raises(ValueError, match="other development sections.*valve has 1, AirCompressor has 0"):
        require_development_sections(first_shot, ["valve", "AirCompressor"])
