"""mats_eval: Bayesian evaluation of research-programme programming.

The public Python API, imported lazily (PyMC loads only when a fit needs it):

    load(folder) -> ProgramData          validate + pseudonymise a dataset folder
    fit(data, ...) -> FitResult           sample a model, gate it, optionally write a run folder
    run(dataset, out, ...)                validate -> fit -> report, into one folder
    load_run(folder) -> FitResult         read a run folder back
    simulate(scenario, seed) -> SimulatedDataset   data with known truth
"""
__version__ = "0.2.0"

_LAZY = {
    "load": ("mats_eval.data.io", "load"),
    "fit": ("mats_eval.inference.fitting", "fit"),
    "run": ("mats_eval.pipeline", "run"),
    "load_run": ("mats_eval.runfolder", "load_run"),
    "simulate": ("mats_eval.simulation.scenarios", "simulate"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    """PEP 562: `mats_eval.fit` etc. without importing PyMC at package import."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'mats_eval' has no attribute {name!r}")
