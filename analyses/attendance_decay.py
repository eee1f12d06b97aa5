"""Question 2: how fast does attendance of optional programming decay over the weeks?
Compares the linear-logit decay with decay to a floor by PSIS-LOO.

    python analyses/attendance_decay.py [DATASET] [--out DIR]
"""
import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
from _common import arguments, fit, output_folder, rows, verdict, write_note

import mats_eval
from mats_eval.estimands.summary import canonical_parameters, reference_of
from mats_eval.estimands.kernels import attendance_probability
from mats_eval.report.build import observed_attendance_by_week
from mats_eval.report.plots import attendance_decay

DECAY = ["attendance_week_slope", "attendance_first_week", "attendance_last_week", "volume_slope_attendance"]


def loo_of(result):
    with result.model:
        pm.compute_log_likelihood(result.idata, extend_inferencedata=True, progressbar=False)
    return result.idata


def main() -> None:
    args = arguments(__doc__)
    data = mats_eval.load(args.dataset)
    linear = fit(data, args, model="attendance")
    floor = fit(data, args, model="attendance_floor")
    comparison = az.compare({"linear": loo_of(linear), "floor": loo_of(floor)}).reset_index(names="model")
    ref = reference_of(data)
    p = canonical_parameters(linear.idata, data)
    weeks = np.arange(1, ref.n_weeks + 1)
    curve = np.stack([attendance_probability(p, w, ref.volume) for w in weeks], axis=1)
    band = pd.DataFrame({"week": weeks, "mean": curve.mean(0),
                         "low": np.quantile(curve, 0.05, 0), "high": np.quantile(curve, 0.95, 0)})
    paragraphs = [
        "Linear model: " + verdict(linear), "Floor model: " + verdict(floor),
        f"PSIS-LOO prefers the **{comparison.iloc[0]['model']}** form (table below; elpd_diff with its se).",
    ]
    write_note(output_folder(args, "attendance_decay"), "Attendance decay over the programme", paragraphs,
               {"effects": rows(linear.effects, DECAY), "loo_comparison": comparison},
               {"attendance_by_week": attendance_decay(observed_attendance_by_week(data), band)})


if __name__ == "__main__":
    main()
