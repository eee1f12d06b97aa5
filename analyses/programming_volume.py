"""Question 3: do returns to optional programming fall with its volume, and where is the ceiling?
Reports volume slopes, the valued-attendance curve U(V) with its optimum, and the example plans.

    python analyses/programming_volume.py [DATASET] [--out DIR] [--plans YAML]
"""
import numpy as np
import pandas as pd
from _common import ROOT, arguments, fit, output_folder, rows, verdict, write_note

import mats_eval
from mats_eval.decisions.plans import plans_from_params
from mats_eval.estimands.summary import canonical_parameters, reference_of
from mats_eval.estimands.kernels import valued_attendance_curve
from mats_eval.report.plots import volume_curve

VOLUME = ["volume_slope_rating", "volume_slope_attendance", "optimal_sessions_per_week"]


def main() -> None:
    args = arguments(__doc__, default_model="joint")
    data = mats_eval.load(args.dataset)
    result = fit(data, args)
    ref = reference_of(data)
    p = canonical_parameters(result.idata, data)
    curve = valued_attendance_curve(p, ref)
    optimum = ref.volume_grid[int(np.argmax(curve.mean(0)))]
    grid = np.asarray(ref.volume_grid)
    table = pd.DataFrame({"sessions_per_week": grid, "valued_attendance": curve.mean(0),
                          "low": np.quantile(curve, 0.05, 0), "high": np.quantile(curve, 0.95, 0)})
    kinds = sorted(set(data.sessions["kind"]) | {"seminar", "discussion_group"})
    plans = plans_from_params({k: canonical_parameters(result.idata, data, kind=k) for k in kinds},
                              ROOT / "analyses" / "plans" / "example.yaml", ref)
    fig = volume_curve(grid, table["valued_attendance"], table["low"], table["high"])
    write_note(output_folder(args, "programming_volume"), "Programming volume and its ceiling",
               [verdict(result), f"The posterior-mean curve peaks at {optimum:g} {ref.kind} sessions per week."],
               {"effects": rows(result.effects, VOLUME), "valued_attendance_curve": table, "plans": plans.table},
               {"valued_attendance": fig})


if __name__ == "__main__":
    main()
