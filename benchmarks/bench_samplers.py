"""Sampler benchmark: compile vs sampling time, ESS/s and the gate, per sampler and model.

Each (model, sampler) runs in a fresh process with empty compile caches (cold), then
once more in the same process (warm: PyTensor/Numba caches filled), on data/example
with the package defaults (mats_eval.fit.DEFAULT_DRAWS/TUNE/CHAINS, target_accept).

    .venv/bin/python benchmarks/bench_samplers.py [--models attendance,ratings]
        [--samplers nutpie,pymc,numpyro] [--data data/example] [--out benchmarks/results.json]

Writes a JSON list of rows and prints a Markdown table for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from _child import run_child

from mats_eval.cli_options import default_example, script

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import mats_eval
from mats_eval.data.io import load
data = load(sys.argv[1])
rows = []
for phase in ("cold", "warm"):
    start = time.perf_counter()
    result = mats_eval.fit(data, model=sys.argv[2], sampler=sys.argv[3], progress=False, seed=0)
    d, t = result.diagnostics, result.manifest["timings_seconds"]
    rows.append(dict(phase=phase, wall=time.perf_counter() - start, compile=t["compile"], sampling=t["sampling"],
                     ess_bulk_min=d["ess_bulk_min"], ess_tail_min=d["ess_tail_min"], rhat_max=d["rhat_max"],
                     divergences=d["divergences"], passed=d["passed"],
                     ess_per_s=(d["ess_bulk_min"] or 0) / t["sampling"]))
print("RESULT" + json.dumps(rows))
"""


def run_one(data: str, model: str, sampler: str) -> list[dict]:
    payload, error, _ = run_child(CHILD, [data, model, sampler])
    if error:
        return [dict(phase="cold", error=error)]
    return [dict(model=model, sampler=sampler, **row) for row in payload]


def markdown(rows: list[dict]) -> str:
    head = "| model | sampler | phase | wall s | compile s | sampling s | min bulk ESS | ESS/s | R-hat | div | gate |"
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r.get('model')} | {r.get('sampler')} | error: {r['error']} |" + " |" * 8)
            continue
        lines.append(f"| {r['model']} | {r['sampler']} | {r['phase']} | {r['wall']:.0f} | {r['compile']:.0f} | "
                     f"{r['sampling']:.0f} | {r['ess_bulk_min']:.0f} | {r['ess_per_s']:.1f} | {r['rhat_max']:.3f} | "
                     f"{r['divergences']} | {'pass' if r['passed'] else 'FAIL'} |")
    return "\n".join(lines)


def main(
    models: Annotated[str, typer.Option(help="Models, comma-separated.")] = "attendance,ratings",
    samplers: Annotated[str, typer.Option(help="Samplers, comma-separated (mats_eval.inference.samplers).")]
    = "nutpie,pymc,numpyro",
    data: Annotated[Path, typer.Option(exists=True, help="Dataset folder.")] = default_example(),
    out: Annotated[Path, typer.Option(help="JSON file of the rows.")] = Path("benchmarks/results.json"),
) -> None:
    rows = []
    for model in models.split(","):
        for sampler in samplers.split(","):
            start = time.perf_counter()
            got = run_one(str(data), model, sampler)
            for row in got:
                row.setdefault("model", model)
                row.setdefault("sampler", sampler)
            rows.extend(got)
            print(f"{model} {sampler}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
            out.write_text(json.dumps(rows, indent=2))
    print(markdown(rows))


if __name__ == "__main__":
    script(main, __doc__)
