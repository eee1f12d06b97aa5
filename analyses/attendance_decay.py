"""Question 2: how fast does attendance of optional programming decay over the weeks?
Compares the linear-logit decay with decay to a floor by PSIS-LOO.

    .venv/bin/python analyses/attendance_decay.py [DATASET] [--out DIR] [--draws N ...]
"""
from _common import (
    DEFAULT_DATASET, ExampleDataset, ExistingRun, NoteOut, analysis, fit_into, main_run, note_folder, question_rows,
    read_run, sentences,
    verdict, write_note,
)

from mats_eval.inference.fitting import compare
from mats_eval.models import DEFAULT_MODEL
from mats_eval.report.plots import attendance_decay

FORMS = {"linear": "attendance", "floor": "attendance_floor"}  # LOO compares these two models


def main(dataset: ExampleDataset = DEFAULT_DATASET, out: NoteOut = None, run: ExistingRun = None, *,
         fit_settings: dict) -> None:
    with note_folder(out, "attendance_decay") as folder:
        fits = {form: fit_into(folder, dataset, fit_settings, run_name=form, model=model)
                for form, model in FORMS.items()}
        comparison = compare(fits).reset_index(names="model")
        runs = {form: read_run(folder / form) for form in FORMS}
        # the headline numbers are the main (default-model) run's, as in the report; the two
        # attendance-only forms are fitted for the LOO comparison and shown as its tables
        headline = main_run(folder, dataset, {**fit_settings, "model": DEFAULT_MODEL}, run)
        paragraphs = [
            verdict(headline), *sentences(question_rows(headline.effects, "decay")),
            *(f"Attendance-only {form} model: {verdict(r)}" for form, r in runs.items()),
            f"PSIS-LOO prefers the **{comparison.iloc[0]['model']}** form of the attendance-only model "
            "(table below; elpd_diff with its se).",
        ]
        observed = (headline.observed or {}).get("attendance_by_week")
        figures = ({"attendance_by_week": attendance_decay(observed, headline.attendance_curve)}
                   if observed is not None and len(observed) else {})
        tables = {f"effects_{form}": question_rows(run.effects, "decay") for form, run in runs.items()}
        write_note(folder, "Attendance decay over the programme", paragraphs,
                   {**tables, "loo_comparison": comparison}, figures)


if __name__ == "__main__":
    analysis(main, __doc__, exclude=("model",))
