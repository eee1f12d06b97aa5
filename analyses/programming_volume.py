"""Question 3: do returns to optional programming fall with its volume, and where is the ceiling?
Reports volume slopes, the valued-attendance curve U(V) with its optimum, and the example plans.

    .venv/bin/python analyses/programming_volume.py [DATASET] [--out DIR] [--plans YAML] [--draws N ...]
"""
from _common import (
    DEFAULT_DATASET, ExampleDataset, ExistingRun, NoteOut, analysis, main_run, note_folder, question_rows, sentences,
    verdict, write_note,
)

from mats_eval.cli_options import Plans
from mats_eval.pipeline import DEFAULT_PLANS
from mats_eval.report.plots import volume_curve


def main(dataset: ExampleDataset = DEFAULT_DATASET, out: NoteOut = None, plans: Plans = DEFAULT_PLANS,
         run: ExistingRun = None, *, fit_settings: dict) -> None:
    with note_folder(out, "programming_volume") as folder:
        run = main_run(folder, dataset, fit_settings, run, plans=plans)
        effects = question_rows(run.effects, "volume")
        tables, figures = {"effects": effects}, {}
        curve = run.volume_curve
        if curve is not None and len(curve) and "optimal_sessions_per_week" in effects["estimand"].values:
            row = effects.set_index("estimand").loc["optimal_sessions_per_week"]
            tables["valued_attendance_curve"] = curve
            figures["valued_attendance"] = volume_curve(curve["volume"], curve["mean"], curve["hdi_low"],
                                                        curve["hdi_high"], (row["mean"], row["hdi_low"], row["hdi_high"]))
        if run.plans is not None:
            tables["plans"] = run.plans
        write_note(folder, "Programming volume and its ceiling", [verdict(run), *sentences(effects)], tables, figures)


if __name__ == "__main__":
    analysis(main, __doc__)
