"""The diagnostics gate on hand-made samples whose verdict is known (no fit needed)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mats_eval.constants import BFMI_MIN, ESS_MIN, RHAT_MAX
from mats_eval.inference.diagnostics import advice, bfmi_per_chain, count_divergences, diagnose, narrow_mixing_miss

CHAINS, DRAWS = 4, 1000


def sample(shift_chain: float = 0.0, divergent: int = 0, energy_walk: bool = False, seed: int = 0) -> xr.DataTree:
    """iid N(0, 1) draws of a scalar `a` and a vector `b[k]`, with optional faults:
    chain 0 of b[y] shifted (R-hat), `divergent` divergences, a random-walk energy (low E-BFMI)."""
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(CHAINS, DRAWS, 3))
    b[0, :, 1] += shift_chain
    energy = rng.normal(size=(CHAINS, DRAWS))
    if energy_walk:
        energy = energy.cumsum(axis=1)
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging.flat[:divergent] = True
    coords = {"chain": np.arange(CHAINS), "draw": np.arange(DRAWS)}
    posterior = xr.Dataset({"a": (("chain", "draw"), rng.normal(size=(CHAINS, DRAWS))),
                            "b": (("chain", "draw", "k"), b)}, coords={**coords, "k": ["x", "y", "z"]})
    stats = xr.Dataset({"energy": (("chain", "draw"), energy), "diverging": (("chain", "draw"), diverging)},
                       coords=coords)
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})


def test_a_clean_sample_passes_with_every_key_the_report_reads():
    diag = diagnose(sample())
    assert diag["passed"] and diag["failures"] == []
    assert diag["rhat_max"] <= RHAT_MAX and min(diag["ess_bulk_min"], diag["ess_tail_min"]) >= ESS_MIN
    assert diag["divergences"] == 0 and len(diag["bfmi"]) == CHAINS and diag["bfmi_min"] >= BFMI_MIN
    assert diag["draws_total"] == CHAINS * DRAWS
    assert diag["thresholds"] == {"rhat_max": RHAT_MAX, "ess_min": ESS_MIN, "bfmi_min": BFMI_MIN, "divergences": 0}
    assert {"rhat_max_parameter", "ess_bulk_min_parameter", "ess_tail_min_parameter"} <= set(diag)
    assert advice(diag) == ""


def test_a_shifted_chain_fails_r_hat_and_names_the_element():
    diag = diagnose(sample(shift_chain=1.0))
    assert not diag["passed"] and diag["rhat_max"] > RHAT_MAX and diag["rhat_max_parameter"] == "b[y]"
    assert any(f.startswith("R-hat") and "(b[y])" in f for f in diag["failures"])
    assert "more draws" in advice(diag)


def test_divergences_are_counted_and_fail_the_gate():
    tree = sample(divergent=3)
    assert count_divergences(tree) == 3
    diag = diagnose(tree)
    assert diag["divergences"] == 3 and "3 divergent transition(s)" in diag["failures"]
    assert "target-accept" in advice(diag)


def test_e_bfmi_is_the_energy_ratio_per_chain_and_gates():
    tree = sample(energy_walk=True)
    energy = tree["sample_stats"]["energy"].values
    by_hand = np.square(np.diff(energy, axis=1)).sum(axis=1) / np.square(
        energy - energy.mean(axis=1, keepdims=True)).sum(axis=1)
    assert bfmi_per_chain(tree) == pytest.approx(by_hand, rel=1e-12)
    diag = diagnose(tree)
    assert diag["bfmi_min"] < BFMI_MIN and any("E-BFMI" in f for f in diag["failures"])


def test_too_few_draws_fail_on_ess():
    tree = sample()
    short = xr.DataTree.from_dict({g: tree[g].to_dataset().isel(draw=slice(0, 50)) for g in tree.children})
    diag = diagnose(short)
    assert not diag["passed"] and any("bulk ESS" in f for f in diag["failures"])


def awkward_posterior(draws: int, chains: int = 3, seed: int = 1) -> xr.Dataset:
    """Variables that stress R-hat and ESS: AR(1) chains from white noise to ρ = 0.99 (Geyer's sequence
    cut early and late), a chain off target, anticorrelated draws, a discrete variable (ties), a constant,
    and one element with a NaN draw."""
    rng = np.random.default_rng(seed)
    phis = np.array([0.0, 0.5, 0.9, 0.99, -0.6])
    ar = np.zeros((chains, draws, len(phis)))
    noise = rng.normal(size=ar.shape)
    for t in range(1, draws):
        ar[:, t] = phis * ar[:, t - 1] + noise[:, t]
    ar[0, :, 2] += 0.3
    ties = rng.poisson(2.0, size=(chains, draws, 2)).astype(float)
    ties[..., 1] = 3.0  # constant
    nan = rng.normal(size=(chains, draws))
    nan[-1, 5] = np.nan
    dims = ("chain", "draw")
    return xr.Dataset({"ar": (dims + ("phi",), ar), "count": (dims + ("j",), ties), "gap": (dims, nan),
                       "scalar": (dims, rng.normal(size=(chains, draws)))},
                      coords={"chain": np.arange(chains), "draw": np.arange(draws), "phi": phis})


@pytest.mark.parametrize("chains, draws", [(3, 400), (2, 251), (1, 60)])
def test_r_hat_and_ess_over_all_elements_at_once_equal_arviz_stats(chains, draws):
    """The gate's vectorised R-hat, bulk and tail ESS equal arviz-stats' element-by-element values
    (NaN where it gives NaN), odd draw counts and a single chain included."""
    import arviz_stats as azs

    from mats_eval.inference.diagnostics import convergence

    posterior = awkward_posterior(draws, chains)
    ours = convergence(posterior)
    theirs = {"rhat": azs.rhat(posterior), "ess_bulk": azs.ess(posterior, method="bulk"),
              "ess_tail": azs.ess(posterior, method="tail")}
    for name in posterior.data_vars:
        for key, table in theirs.items():
            expected = np.ravel(np.asarray(table[name].values, dtype=float))
            np.testing.assert_allclose(ours[name][key], expected, rtol=1e-9, equal_nan=True,
                                       err_msg=f"{key} of {name}")
    assert np.isnan(ours["gap"]["ess_bulk"]).all() and (np.isnan(ours["ar"]["rhat"]).all() == (chains == 1))


def test_summary_table_equals_arviz_summary_with_the_gates_own_r_hat_and_ess():
    """summary.csv's rows (labels, mean, sd, 90% HDI, ESS, R-hat) equal arviz's summary, now computed with
    the gate's vectorised R-hat and ESS, for a scalar, a vector and a matrix without coordinates."""
    import arviz as az

    from mats_eval.constants import INTERVAL_PROB
    from mats_eval.inference.diagnostics import summary_table

    rng = np.random.default_rng(3)
    tree = sample(shift_chain=0.2)
    posterior = tree["posterior"].to_dataset().assign(m=(("chain", "draw", "r", "c"),
                                                         rng.normal(size=(CHAINS, DRAWS, 2, 2))))
    tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": tree["sample_stats"].to_dataset()})
    ours = summary_table(tree)
    theirs = az.summary(tree, ci_prob=INTERVAL_PROB, ci_kind="hdi", kind="all", round_to="none")
    theirs = theirs.rename(columns={"hdi90_lb": "hdi_low", "hdi90_ub": "hdi_high"})
    assert ours["parameter"].tolist() == list(theirs.index) == ["a", "b[x]", "b[y]", "b[z]", "m[0, 0]", "m[0, 1]",
                                                                 "m[1, 0]", "m[1, 1]"]
    for column in ("mean", "sd", "hdi_low", "hdi_high", "ess_bulk", "ess_tail", "r_hat"):
        np.testing.assert_allclose(ours[column].to_numpy(), theirs[column].to_numpy(dtype=float), rtol=1e-9,
                                   err_msg=column)


def test_only_a_narrow_miss_of_rhat_or_ess_asks_for_more_draws():
    """fit's `extend` samples again only when twice the draws should close the gap: R-hat or ESS
    missed by a little, and nothing that more draws would not cure (divergences, a low E-BFMI)."""
    clean = diagnose(sample())
    assert not narrow_mixing_miss(clean)  # passed: nothing to extend
    narrow = {**clean, "passed": False, "ess_bulk_min": 0.6 * ESS_MIN, "rhat_max": RHAT_MAX + 0.002,
              "failures": ["bulk ESS", "R-hat"]}
    assert narrow_mixing_miss(narrow)
    assert narrow_mixing_miss({**narrow, "ess_tail_min": ESS_MIN / 2})  # the boundary counts as narrow
    assert not narrow_mixing_miss({**narrow, "ess_tail_min": ESS_MIN / 2 - 1})  # too far: more than twice
    assert not narrow_mixing_miss({**narrow, "ess_bulk_min": None})  # NaN ESS
    assert not narrow_mixing_miss({**narrow, "rhat_max": 1.2})  # chains that disagree
    assert not narrow_mixing_miss({**narrow, "divergences": 1})
    assert not narrow_mixing_miss({**narrow, "bfmi_min": BFMI_MIN / 2})
    shifted = diagnose(sample(shift_chain=3.0))  # a real R-hat failure, far from narrow
    assert not shifted["passed"] and not narrow_mixing_miss(shifted)
