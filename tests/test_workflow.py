"""The GitHub Actions workflow that builds the executed book and publishes it on GitHub Pages."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _uses(step: dict) -> str:
    return step.get("uses", "").split("@")[0]


def test_runs_on_a_push_to_main_and_by_hand():
    triggers = _workflow()[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in triggers


def test_builds_with_book_sh_on_python_311_with_fashion_mnist():
    steps = _steps(_workflow())
    assert any(_uses(s) == "actions/setup-python" and str(s["with"]["python-version"]) == "3.11" for s in steps)
    runs = [s.get("run", "") for s in steps]
    assert any("apt-get install -y dataset-fashion-mnist" in r for r in runs)
    assert any(r.strip() == "bash scripts/book.sh" for r in runs)


def test_deploys_the_built_html_to_pages():
    workflow = _workflow()
    steps = _steps(workflow)
    upload = next(s for s in steps if _uses(s) == "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "_build/html"
    deploy_job = next(
        job for job in workflow["jobs"].values() if any(_uses(s) == "actions/deploy-pages" for s in job["steps"])
    )
    assert deploy_job["environment"]["name"] == "github-pages"
    permissions = workflow.get("permissions", {}) | deploy_job.get("permissions", {})
    assert permissions["pages"] == "write" and permissions["id-token"] == "write"


def test_caches_the_executed_chapters_and_runs_so_a_rebuild_executes_only_what_changed():
    steps = _steps(_workflow())
    cached = [s for s in steps if _uses(s).startswith("actions/cache")]

    def paths(step: dict) -> list[str]:
        return step["with"]["path"].split()

    restore = [s for s in cached if "_build/.jupyter_cache" in paths(s) and _uses(s) != "actions/cache/save"]
    assert restore and all("_build/fedutils-cache" in paths(s) for s in restore)
    # The newest cache comes back: a unique key per run, restored by its prefix.
    assert all("github.run_id" in s["with"]["key"] and s["with"]["restore-keys"] for s in restore)
    if any(_uses(s) == "actions/cache/restore" for s in restore):
        assert any(_uses(s) == "actions/cache/save" and "_build/.jupyter_cache" in paths(s) for s in cached)
    assert any(".venv" in paths(s) and "requirements.txt" in s["with"]["key"] for s in cached)
    assert any("~/.cache/pip" in paths(s) for s in cached)
