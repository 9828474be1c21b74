"""What lets others reuse and cite the book, and the first cell every chapter runs in Colab.

The code is MIT (``LICENSE``), the text and figures CC BY 4.0 (``LICENSE-TEXT``); both are
named in the README and in the rendered book's footer (``_config.yml``; the build test
renders it). ``CITATION.cff`` is checked against the Citation File Format 1.2.0 schema
(``tests/schemas``, from cffconvert 2.0.0). The Colab install cell's requirement must name
this package, an extra it has and the repository the book points at, and fedutils'
requirements must accept the versions Colab preinstalls (``tests/environments/colab.txt``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import nbformat
import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from fedutils import __version__
from tools import course

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CC_BY = "Creative Commons Attribution 4.0 International"
INSTALL = re.compile(r'%pip install --quiet "([^"]+)"')


def test_the_code_is_mit_and_the_text_cc_by():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert PYPROJECT["project"]["license"] == "MIT"
    text_licence = (ROOT / "LICENSE-TEXT").read_text()
    assert CC_BY in text_licence and "Section 3 – License Conditions" in text_licence
    readme = (ROOT / "README.md").read_text()
    assert "LICENSE-TEXT" in readme and "CC BY 4.0" in readme and "MIT" in readme
    footer = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["extra_footer"]
    assert "CC BY 4.0" in footer and "MIT" in footer


def test_the_citation_file_is_valid_and_current():
    schema = json.loads((ROOT / "tests" / "schemas" / "citation-file-format-1.2.0.schema.json").read_text())
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    jsonschema.Draft7Validator(schema).validate(citation)
    assert citation["version"] == __version__
    assert citation["license"] == PYPROJECT["project"]["license"]
    paper = citation["references"][0]
    assert paper["title"] == "Analyzing Federated Learning through an Adversarial Lens" and paper["year"] == 2019


def test_a_citation_without_authors_is_invalid():
    schema = json.loads((ROOT / "tests" / "schemas" / "citation-file-format-1.2.0.schema.json").read_text())
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    del citation["authors"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(citation)


def _install_requirements(notebook: nbformat.NotebookNode) -> list[Requirement]:
    cell = next(c for c in notebook.cells if c.cell_type == "code" and course.COLAB_GUARD in c.source)
    return [Requirement(found) for found in INSTALL.findall(cell.source)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_colab_cell_installs_this_package_from_the_books_repository(path):
    (requirement,) = _install_requirements(nbformat.read(path, as_version=4))
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert requirement.name == PYPROJECT["project"]["name"]
    assert requirement.url == f"git+{repository}"
    assert requirement.extras <= set(PYPROJECT["project"]["optional-dependencies"])


def test_the_course_notebooks_install_the_course_extra():
    path = ROOT / "chapters" / "02_explicit_boosting.ipynb"
    (requirement,) = _install_requirements(course.otter_master(nbformat.read(path, as_version=4), path.stem))
    assert requirement.extras == {"course"} and "course" in PYPROJECT["project"]["optional-dependencies"]


def _colab_versions() -> dict[str, Version]:
    lines = (ROOT / "tests" / "environments" / "colab.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {name.lower(): Version(version) for name, version in pins}


def test_fedutils_accepts_what_colab_preinstalls():
    colab = _colab_versions()
    for name in ("torch", "torchvision", "numpy", "pandas", "matplotlib"):
        assert name in colab, f"{name} is missing from the recorded Colab versions"
    requirements = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for requirement in requirements:
        if requirement.name in colab:
            assert colab[requirement.name] in requirement.specifier, (
                f"Colab ships {requirement.name} {colab[requirement.name]}, which {requirement} refuses: "
                "the install cell would replace it (and restart the runtime)"
            )
    assert "captum" not in colab, "captum is installed by the cell (if Colab ships it now, update this test)"
