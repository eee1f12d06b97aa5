"""mats_eval: Bayesian evaluation of research-programme programming."""
__version__ = "0.1.0"


def __getattr__(name: str):
    """`mats_eval.load` without importing pandas/pandera at package import (lazy, PEP 562)."""
    if name == "load":
        from mats_eval.io import load

        return load
    raise AttributeError(f"module 'mats_eval' has no attribute {name!r}")


_getattr_before_fit = __getattr__


def __getattr__(name: str):  # noqa: F811 - extends the lazy loader above
    """`mats_eval.fit` and `mats_eval.load_run`, lazily (they import PyMC)."""
    if name == "fit":
        from mats_eval.fit import fit

        return fit
    if name == "load_run":
        from mats_eval.runs import load_run

        return load_run
    return _getattr_before_fit(name)
