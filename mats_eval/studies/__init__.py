"""Many fits: the study runner, calibration (SBC, coverage) and power."""
