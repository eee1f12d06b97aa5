"""Question 1 (and 5): is mandatory programming rated lower than optional, once self-selection
and cohort differences are accounted for?

    .venv/bin/python analyses/mandatory_vs_optional.py [DATASET] [--out DIR] [--draws N ...]
"""
from _common import (
    DEFAULT_DATASET, ExampleDataset, ExistingRun, NoteOut, analysis, main_run, note_folder, question_rows, sentences,
    verdict, write_note,
)

from mats_eval.data.observed import SUPPRESSED
from mats_eval.report.plots import ratings_by_policy


def main(dataset: ExampleDataset = DEFAULT_DATASET, out: NoteOut = None, run: ExistingRun = None, *,
         fit_settings: dict) -> None:
    with note_folder(out, "mandatory_vs_optional") as folder:
        run = main_run(folder, dataset, fit_settings, run)
        effects = question_rows(run.effects, "policy")
        naive = run.crosscheck
        if naive is not None:
            naive = naive[naive["estimand"].str.contains("mandatory")]
        paragraphs = [
            verdict(run), *sentences(effects),
            "The model contrasts compare the same kind of session in the same week for the whole scholar "
            "population (not just those who chose to attend). The naive rows compare raw mean ratings by "
            "policy: they mix self-selection and cohort differences into the contrast.",
            *(f"Caveats on {row.estimand.replace('_', ' ')}: {row.note}" for row in effects.itertuples()
              if isinstance(row.note, str) and row.note),
        ]
        observed = (run.observed or {}).get("ratings_by_kind_policy")
        shown = None if observed is None else observed[observed["note"] != SUPPRESSED]  # NaN (not suppressed) != SUPPRESSED
        tables = {"model_effects": effects, **({"naive_and_frequentist": naive} if naive is not None else {})}
        figures = {"ratings_by_policy": ratings_by_policy(shown)} if shown is not None and len(shown) else {}
        write_note(folder, "Mandatory versus optional programming", paragraphs, tables, figures)


if __name__ == "__main__":
    analysis(main, __doc__)
