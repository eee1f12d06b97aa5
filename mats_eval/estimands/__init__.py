"""Stage 3: the estimand registry, its array kernels and the summaries of draws."""
