"""The book builds with warnings as errors (execution off: the smoke tests run the chapters)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_book_builds_without_warnings(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    # the API page's Sphinx extension, found from the book's folder rather than this copy's
    extensions = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {name: str(ROOT / folder) for name, folder in extensions.items()}
    config_path = tmp_path / "_config.yml"
    config_path.write_text(yaml.safe_dump(config))
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book if jupyter_book.exists() else shutil.which("jupyter-book")), "build", str(ROOT)]
    command += ["--config", str(config_path), "--path-output", str(tmp_path / "out"), "-W", "-n", "--keep-going"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    html = tmp_path / "out" / "_build" / "html"
    chapter = (html / "chapters" / "01_fedavg.html").read_text()
    assert "colab.research.google.com/github/adversarial-lens/adversarial-lens" in chapter
    assert "Federated learning and FedAvg" in chapter
    assert (html / "appendix" / "references.html").exists()
    assert "CC BY 4.0" in chapter and "MIT" in chapter, "the licences belong in every page's footer"
    assert "Teaching with this book" in (html / "appendix" / "course_guide.html").read_text()
    api = (html / "appendix" / "api.html").read_text()
    for documented in ("fedutils.runner.run_experiment", "fedutils.run_options.RunOptions", "ServerRule", "NormClip"):
        assert documented in api, f"the API page lacks {documented}"
    # math renders offline: MathJax is in the build and the pages load it from there, not from a CDN
    assert re.search(r'<script[^>]+src="(\.\./)?_static/mathjax/tex-chtml\.js"', chapter), "MathJax is not local"
    assert "cdn.jsdelivr.net" not in chapter and (html / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert "\\(" in chapter or "math notranslate" in chapter  # the chapter has math for it to render
    assert 'href="#fedutils.errors.ConfigError"' in api, "a short name in a docstring must link to its definition"


def test_cells_have_no_time_limit():
    # A cell that trains federations may take over 20 minutes on a busy 2-core machine; slowness is not an
    # error. -1 is nbclient's "no timeout" (jupyter-book passes it through as nb_execution_timeout).
    assert yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"] == -1
