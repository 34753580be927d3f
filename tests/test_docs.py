"""The documentation site: it builds with warnings as errors, its parameter reference
is what the settings models say, and every `kedro run` it shows names pipelines,
environments and parameters that exist."""
import functools
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from wgan_lab.parameter_reference import reference
from wgan_lab.pipeline_registry import register_pipelines
from wgan_lab.variants import load_parameters

PAGES = sorted((REPO_ROOT / "docs").glob("*.md")) + [REPO_ROOT / "README.md"]
# The catalog's ${runtime_params:...} names: parameters of no block.
RUNTIME_NAMES = set(re.findall(r"runtime_params:(\w+)", "".join(
    p.read_text() for p in (REPO_ROOT / "conf").rglob("*.yml"))))


# Built once for all pages: Kedro's config loader and the pipeline registry take
# about a second a call, and a page shows up to twenty commands.
pipeline_names = functools.cache(lambda: frozenset(register_pipelines()))
parameters_of = functools.cache(lambda env: load_parameters(env=env))


def kedro_commands(text: str) -> list[str]:
    """Every `kedro run ...` of a page: lines of its code blocks, and inline code."""
    commands, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        found = re.search(r"\bkedro run(\s+--.*)?$", line.split(" #")[0].rstrip())
        if fenced and found:
            commands.append(found.group(0))
    commands += re.findall(r"`(kedro run [^`]+)`", text)
    return commands


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                            "--site-dir", str(tmp_path / "site")],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "site/reference/index.html").is_file()
    assert (tmp_path / "site/images/study_fid_by_run.png").is_file()


def test_the_parameter_reference_is_generated_from_the_models():
    committed = (REPO_ROOT / "docs/reference.md").read_text()
    assert committed == reference(), ("docs/reference.md is stale: run "
                                      "python -m wgan_lab.parameter_reference")
    # Every block's parameters are there, checked against the configuration itself.
    parameters = load_parameters()
    for block in ("tune", "study", "data_processing"):
        for key in parameters[block]:
            assert f"`{block}.{key}" in committed, f"{block}.{key}"


def test_the_readme_links_resolve():
    text = (REPO_ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(((?!https?://)[^)#]+)", text)
    assert targets
    for target in targets:
        assert (REPO_ROOT / target).exists(), target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_kedro_run_shown_names_what_exists(page):
    pipelines = pipeline_names()
    environments = {p.name for p in (REPO_ROOT / "conf").iterdir() if p.is_dir()}
    for command in kedro_commands(page.read_text()):
        args = shlex.split(command)[2:]
        options: dict[str, list[str]] = {}
        while args:
            option = args.pop(0)
            name, _, value = option.partition("=")
            if not value and args and not args[0].startswith("--"):
                value = args.pop(0)
            options.setdefault(name, []).append(value)
        assert set(options) <= {"--pipelines", "--env", "--params"}, command
        for name in ",".join(options.get("--pipelines", [])).split(","):
            if name:
                assert name in pipelines, f"{page.name}: {command}: no pipeline {name}"
        env = (options.get("--env") or [None])[0]
        assert env is None or env in environments, f"{page.name}: {command}"
        parameters = parameters_of(env)
        for pair in ",".join(options.get("--params", [])).split(","):
            if not pair:
                continue
            key = pair.partition("=")[0]
            if key in RUNTIME_NAMES:
                continue
            value = parameters
            for part in key.split("."):
                assert isinstance(value, dict) and part in value, \
                    f"{page.name}: {command}: no parameter {key}"
                value = value[part]
