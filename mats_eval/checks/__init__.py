"""Post-fit checks: identification, frequentist cross-checks, predictive checks and LOO."""
