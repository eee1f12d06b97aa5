"""mats_eval: Bayesian evaluation of research-programme programming."""
__version__ = "0.1.0"
