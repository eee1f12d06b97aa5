"""Contract: the command line explains itself and refuses bad input before any work (DATA_CONTRACT.md §2).

No fits here: the commands' work is replaced by a tripwire, so a refusal is known to
come from parsing. The analysis and benchmark scripts are run with --help only.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import mats_eval
from mats_eval import cli_options
from mats_eval.cli import app
from mats_eval.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for folder in ("analyses", "benchmarks") for p in (ROOT / folder).glob("*.py"))
ENTRY_SCRIPTS = [p for p in SCRIPTS if not p.name.startswith("_") and p.name != "naive_joint.py"]
COMMANDS = ["validate", "simulate", "example", "run", "report", "fit", "compare", "sbc", "power"]


def run_script(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, COLUMNS="200"), timeout=120)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def options_of(command: str) -> set[str]:
    """The --flags of a `mats-eval` command."""
    click_command = typer.main.get_command(app).commands[command]
    return {flag for param in click_command.params for flag in param.opts if flag.startswith("--")}


@pytest.fixture
def tripwire(monkeypatch):
    """Any fit, pipeline run or study started by a command fails the test."""
    def started(*args, **kwargs):
        raise AssertionError("work started although the arguments were invalid")

    import mats_eval.inference.fitting
    import mats_eval.pipeline
    import mats_eval.studies.calibration
    import mats_eval.studies.power

    monkeypatch.setattr(mats_eval.inference.fitting, "fit", started)
    monkeypatch.setattr(mats_eval.pipeline, "run", started)
    monkeypatch.setattr(mats_eval.studies.calibration, "sbc", started)
    monkeypatch.setattr(mats_eval.studies.power, "power", started)


@pytest.mark.parametrize("command", ["fit", "run"])
@pytest.mark.parametrize("flag, value", [("--draws", "0"), ("--chains", "0"), ("--tune", "-1"), ("--seed", "-1"),
                                         ("--target-accept", "1.5"), ("--sampler", "gibbs"), ("--model", "nope")])
def test_fit_and_run_refuse_bad_values_naming_the_flag(tripwire, tmp_path, command, flag, value):
    out = tmp_path / "out"
    done = invoke(command, str(ROOT / "data" / "example"), "--out", str(out), flag, value)
    assert done.exit_code == 2, done.output
    assert f"'{flag}'" in done.output
    assert not out.exists()


@pytest.mark.parametrize("args", [("sbc", "--model", "ratings", "--reps", "0"), ("sbc", "--model", "ratings",
                                  "--scale", "0"), ("power", "--reps", "-3"), ("power", "--draws", "0"),
                                  ("sbc", "--model", "ratings", "--workers", "-1"), ("simulate", "--seed", "-1")])
def test_studies_and_simulate_refuse_bad_values(tripwire, tmp_path, args):
    done = invoke(*args, "--out", str(tmp_path / "out"))
    assert done.exit_code == 2, done.output
    assert f"'{args[-2]}'" in done.output
    assert not (tmp_path / "out").exists()


def test_version():
    done = invoke("--version")
    assert done.exit_code == 0
    assert done.output.strip() == f"mats-eval {mats_eval.__version__}"


def test_run_and_example_take_every_fit_option():
    fit = options_of("fit")
    assert {"--model", "--draws", "--tune", "--chains", "--seed", "--sampler", "--target-accept", "--force",
            "--out"} <= fit
    assert fit <= options_of("run")
    assert fit - {"--force"} <= options_of("example")  # example always replaces its output


def test_defaults_come_from_the_package():
    from mats_eval.constants import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TUNE
    from mats_eval.inference.samplers import DEFAULT_SAMPLER

    # model None: fit picks it from the data (models.default_model_for)
    assert cli_options.fit_settings() == dict(model=None, draws=DEFAULT_DRAWS, tune=DEFAULT_TUNE,
                                              chains=DEFAULT_CHAINS, seed=0, sampler=DEFAULT_SAMPLER,
                                              target_accept=None, progress=True, checks=True, priors=None,
                                              extend=True)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_has_an_example(command):
    done = invoke(command, "--help")
    assert done.exit_code == 0
    assert f"Example: mats-eval {command}" in done.output


@pytest.mark.parametrize("command", ["validate", "fit", "run"])
def test_a_dataset_that_does_not_exist_says_so(tripwire, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)  # a short relative path keeps the message on one line
    args = [command, "no-such-dataset"] + ([] if command == "validate" else ["--out", "out"])
    done = invoke(*args)
    assert done.exit_code == 2, done.output
    assert "no-such-dataset' does not exist" in done.output


def test_the_example_dataset_is_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = cli_options.example_dataset()
    assert found == ROOT / "data" / "example" and (found / "cohorts.csv").is_file()


def test_a_missing_example_dataset_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_options, "example_candidates", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(UsageError, match="looked in .*a, .*b"):
        cli_options.example_dataset()


def test_example_runs_the_shipped_data_from_any_folder(tmp_path, monkeypatch):
    import mats_eval.pipeline

    seen = {}

    def pipeline_run(dataset, out, **options):
        seen.update(dataset=Path(dataset), options=options)
        raise UsageError("stopped before the fit")

    monkeypatch.setattr(mats_eval.pipeline, "run", pipeline_run)
    monkeypatch.chdir(tmp_path)
    done = invoke("example", "--draws", "10", "--tune", "10")
    assert done.exit_code == 2 and "stopped before the fit" in done.output
    assert seen["dataset"] == ROOT / "data" / "example"
    assert seen["options"]["draws"] == 10 and seen["options"]["force"] is True


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scripts_use_the_package_options_not_their_own(script):
    tree = ast.parse(script.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "argparse" not in imported
    assert "sys.path" not in script.read_text(encoding="utf-8")


@pytest.mark.parametrize("script", [p for p in ENTRY_SCRIPTS if p.parent.name == "benchmarks"], ids=lambda p: p.name)
def test_benchmark_help_works(script):
    done = run_script(script, "--help")
    assert done.returncode == 0, done.stderr
    assert "--help" in done.stdout


@pytest.mark.parametrize("script", [p for p in ENTRY_SCRIPTS if p.parent.name == "analyses"], ids=lambda p: p.name)
def test_analyses_help_lists_the_fit_options_and_bad_values_are_refused(script):
    shared = "Posterior draws per chain."  # cli_options.Draws' help: the same definition as `mats-eval fit`
    done = run_script(script, "--help")
    assert done.returncode == 0, done.stderr
    assert shared in done.stdout and "--draws" in done.stdout and "--out" in done.stdout
    done = run_script(script, "--draws", "0")
    assert done.returncode == 2 and "'--draws'" in done.stderr
