"""Finished runs on disk: the run cache, keyed by what a run computes, safe against damage and races.

Chapters share runs through this cache instead of training again: a run is
stored under a hash of its configuration (:meth:`ExperimentConfig.to_dict
<fedutils.config.ExperimentConfig.to_dict>`) and of :data:`NUMERICS_VERSION`,
so a change that moves any number orphans every run cached before it.

An entry is one folder: ``result.json`` (configuration, records, and a
manifest of the entry's other files with their sizes and SHA-256) beside
``final_params.pt`` and, when the configuration keeps updates,
``updates.pt``. It is written whole in a hidden staging folder and renamed
into place, so a run killed or crashed while storing, or two processes
storing the same run at once, never leave half an entry where a reader looks.
An entry found damaged all the same — a file missing, truncated or
half-written (a full disk, a copy cut short, an entry from before the
manifest that a killed run left) — is reported in one line
(:class:`CacheWarning`) and computed again, never returned.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fedutils.records import RunResult

NUMERICS_VERSION = "0.2.0"
"""The fedutils release whose numerics a cached run has: part of every cache key.

Bump it, to the release that makes the change, with any change that moves a
number a run computes (a kernel, a summation order, how a seed is used), so
that no run cached before the change is returned after it. Changes that move
no number (a new option that is off by default, a faster path with the same
floats) leave it, and every cached run keeps its key. Until fedutils 0.3 the
package version itself played this part, which is why the value is a release."""

RESULTS_SCHEMA = 2
"""Bumped whenever the meaning of a cached record changes (part of the key, as the numerics version is)."""

CACHE_ENV_VAR = "FEDUTILS_CACHE"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "fedutils" / "runs"
RESULT_FILE = "result.json"
PARAMS_FILE = "final_params.pt"
UPDATES_FILE = "updates.pt"
MANIFEST = "files"
"""The key of ``result.json`` that lists the entry's other files: name → ``{"bytes": …, "sha256": …}``."""

STAGING_SUFFIX = ".partial"
"""The suffix of a hidden folder in which an entry is written before it is renamed into place."""

PUBLISH_ATTEMPTS = 5
"""How often a writer tries to put its entry in place when it keeps finding a damaged one in the way."""


class CacheWarning(UserWarning):
    """A run cache entry was damaged (and is computed again), or a run could not be stored."""


class DamagedEntry(Exception):
    """What is wrong with a cache entry, in a few words."""


def config_hash(config_dict: dict[str, Any]) -> str:
    """A short stable hash of a configuration, the results schema and the numerics version."""
    key = {"schema": RESULTS_SCHEMA, "version": NUMERICS_VERSION, "config": config_dict}
    canonical = json.dumps(key, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class ResultCache:
    """Finished runs on disk, one folder per configuration hash (see the module docstring).

    The folder is ``directory`` if given, else ``$FEDUTILS_CACHE``, else
    ``~/.cache/fedutils/runs``. Tensors are loaded with ``weights_only=True``.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        chosen = directory or os.environ.get(CACHE_ENV_VAR) or DEFAULT_CACHE_DIR
        self.directory = Path(chosen).expanduser()

    def folder(self, config_dict: dict[str, Any]) -> Path:
        """Where the run of this configuration is (or would be) stored."""
        return self.directory / config_hash(config_dict)

    def load(self, config_dict: dict[str, Any]) -> RunResult | None:
        """The cached run for this configuration, or ``None`` when there is none or it is damaged (reported)."""
        folder = self.folder(config_dict)
        if not folder.exists():
            return None
        try:
            result = _read_entry(folder, config_dict)
        except DamagedEntry as damage:
            warnings.warn(
                f"run cache: the entry {folder} is damaged ({damage}); the run is computed again.",
                CacheWarning,
                stacklevel=2,
            )
            return None
        result.from_cache = True
        return result

    def save(self, result: RunResult) -> Path:
        """Store ``result`` whole (see the module docstring) and return its folder.

        A run that cannot be stored (a full disk, a read-only folder) is reported
        in one line and returned all the same: losing the cache entry must not
        lose the run.
        """
        folder = self.folder(result.config_dict)
        staging: Path | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=STAGING_SUFFIX, dir=self.directory))
            _write_entry(staging, result)
            _publish(staging, folder, result.config_dict)
        except OSError as error:
            warnings.warn(
                f"run cache: could not store the run in {folder} ({error.strerror or error}); it is not cached.",
                CacheWarning,
                stacklevel=2,
            )
        finally:
            if staging is not None and staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return folder


def _write_entry(folder: Path, result: RunResult) -> None:
    """Write ``result``'s files into ``folder``, ``result.json`` with their manifest last."""
    files = {}
    if result.final_params is not None:
        torch.save(result.final_params, folder / PARAMS_FILE)
        files[PARAMS_FILE] = _fingerprint(folder / PARAMS_FILE)
    if result.updates:
        torch.save(result.updates, folder / UPDATES_FILE)
        files[UPDATES_FILE] = _fingerprint(folder / UPDATES_FILE)
    payload = {**result.to_json_dict(), MANIFEST: files}
    with open(folder / RESULT_FILE, "w") as out:
        json.dump(payload, out)
        out.flush()
        os.fsync(out.fileno())


def _publish(staging: Path, folder: Path, config_dict: dict[str, Any]) -> None:
    """Rename the written entry into place; if another writer's whole entry of ``config_dict`` is there already,
    keep that one; if a damaged one is in the way, move it aside first."""
    for _ in range(PUBLISH_ATTEMPTS):
        try:
            os.rename(staging, folder)
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        try:
            _read_entry(folder, config_dict)
            return  # a whole entry for the same configuration is in place: the same run, stored by someone else
        except DamagedEntry:
            aside = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.damaged")
            with contextlib.suppress(FileNotFoundError):
                os.rename(folder, aside)
            shutil.rmtree(aside, ignore_errors=True)
    raise OSError(errno.EBUSY, f"other writers kept replacing the entry {folder}")


def _read_entry(folder: Path, config_dict: dict[str, Any]) -> RunResult:
    """The run of ``config_dict`` stored in ``folder``, every file checked.

    Raises:
        DamagedEntry: a file is missing, truncated, half-written or holds another configuration.
    """
    try:
        stored = json.loads((folder / RESULT_FILE).read_text())
    except FileNotFoundError:
        raise DamagedEntry(f"{RESULT_FILE} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedEntry(f"{RESULT_FILE} cannot be read: {error}") from None
    if not isinstance(stored, dict) or "config" not in stored or "records" not in stored:
        raise DamagedEntry(f"{RESULT_FILE} is not a stored run")
    if stored["config"] != config_dict:
        raise DamagedEntry(f"{RESULT_FILE} holds another configuration")
    manifest = stored.get(MANIFEST)
    if manifest is not None:  # written by fedutils 0.3 or later: every file is checked before it is read
        for name, expected in manifest.items():
            _check_file(folder / name, expected)
    params = _load_tensor(folder / PARAMS_FILE, required=manifest is None or PARAMS_FILE in manifest)
    try:
        result = RunResult.from_json_dict(stored, params)
    except (KeyError, TypeError, ValueError) as error:
        raise DamagedEntry(f"{RESULT_FILE} has malformed records: {error}") from None
    if stored["config"].get("keep_updates"):
        result.updates = _load_tensor(folder / UPDATES_FILE, required=True)
    return result


def _check_file(path: Path, expected: dict[str, Any]) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DamagedEntry(f"{path.name} is missing") from None
    if size != expected["bytes"]:
        raise DamagedEntry(f"{path.name} has {size:,} of its {expected['bytes']:,} bytes")
    if _fingerprint(path)["sha256"] != expected["sha256"]:
        raise DamagedEntry(f"{path.name} is not the file that was written (its checksum differs)")


def _load_tensor(path: Path, *, required: bool) -> Any:
    if not path.exists():
        if required:
            raise DamagedEntry(f"{path.name} is missing")
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception as error:  # a truncated or corrupt pickle raises whatever its reader meets
        raise DamagedEntry(f"{path.name} cannot be read: {type(error).__name__}") from None


def _fingerprint(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Make ``path`` by calling ``write`` on a temporary file beside it, then renaming: a run cut short never
    leaves half a file, and two writers of the same path each leave a whole one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        write(temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
