"""Stage 4: sampling, the diagnostics gate, the fit that writes a run folder."""
