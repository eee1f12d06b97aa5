"""Question 2: how fast does attendance of optional programming decay over the weeks?
Compares the linear-logit decay with decay to a floor by PSIS-LOO.

    .venv/bin/python analyses/attendance_decay.py [DATASET] [--out DIR] [--draws N ...]
"""
from _common import (
    DEFAULT_DATASET, ExampleDataset, NoteOut, analysis, fit_into, note_folder, question_rows, read_run, sentences,
    verdict, write_note,
)

from mats_eval.inference.fitting import compare
from mats_eval.report.plots import attendance_decay

FORMS = {"linear": "attendance", "floor": "attendance_floor"}  # LOO compares these two models


def main(dataset: ExampleDataset = DEFAULT_DATASET, out: NoteOut = None, *, fit_settings: dict) -> None:
    with note_folder(out, "attendance_decay") as folder:
        fits = {form: fit_into(folder, dataset, fit_settings, run_name=form, model=model)
                for form, model in FORMS.items()}
        comparison = compare(fits).reset_index(names="model")
        runs = {form: read_run(folder / form) for form in FORMS}
        linear = runs["linear"]
        paragraphs = [
            *(f"{form.capitalize()} model: {verdict(run)}" for form, run in runs.items()),
            f"PSIS-LOO prefers the **{comparison.iloc[0]['model']}** form (table below; elpd_diff with its se).",
            "Linear model: " + " ".join(sentences(question_rows(linear.effects, "decay"))),
        ]
        observed = (linear.observed or {}).get("attendance_by_week")
        figures = ({"attendance_by_week": attendance_decay(observed, linear.attendance_curve)}
                   if observed is not None and len(observed) else {})
        tables = {f"effects_{form}": question_rows(run.effects, "decay") for form, run in runs.items()}
        write_note(folder, "Attendance decay over the programme", paragraphs,
                   {**tables, "loo_comparison": comparison}, figures)


if __name__ == "__main__":
    analysis(main, __doc__, exclude=("model",))
