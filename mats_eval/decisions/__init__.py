"""Stage 5: next-cohort plans evaluated from a run folder (no PyMC)."""
