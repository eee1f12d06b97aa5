"""Stage 1: load and validate a dataset folder, pseudonymise it, derive the model inputs."""
