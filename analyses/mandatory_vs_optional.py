"""Question 1 (and 5): is mandatory programming rated lower than optional, once self-selection
and cohort differences are accounted for?

    python analyses/mandatory_vs_optional.py [DATASET] [--out DIR]
"""
from _common import arguments, fit, output_folder, rows, verdict, write_note

import mats_eval
from mats_eval.checks.crosscheck import crosscheck
from mats_eval.report.build import observed_ratings
from mats_eval.report.plots import ratings_by_policy

POLICY = ["mandatory_minus_optional_rating", "mandatory_minus_optional_retro"]


def main() -> None:
    args = arguments(__doc__, default_model="joint")
    data = mats_eval.load(args.dataset)
    result = fit(data, args)
    effects = rows(result.effects, POLICY)
    naive = crosscheck(data)
    naive = naive[naive["estimand"].str.contains("mandatory")]
    observed = observed_ratings(data, ["kind", "policy"])
    paragraphs = [
        verdict(result),
        "The model contrast compares the same kind of session in the same week for the whole scholar "
        "population (not just those who chose to attend). The naive rows compare raw mean ratings by "
        "policy: they mix self-selection and cohort differences into the contrast.",
    ]
    if "note" in effects.columns:
        paragraphs += [f"Identification: {n}" for n in effects["note"].dropna().unique() if n]
    figures = {"ratings_by_policy": ratings_by_policy(observed)} if observed is not None else {}
    write_note(output_folder(args, "mandatory_vs_optional"), "Mandatory versus optional programming",
               paragraphs, {"model_effects": effects, "naive_and_frequentist": naive}, figures)


if __name__ == "__main__":
    main()
