"""Finished runs on disk: the run cache, keyed by what a run computes, safe against damage and races.

Chapters share runs through this cache instead of training again: a run is
stored under a hash of its configuration (:meth:`ExperimentConfig.to_dict
<fedutils.config.ExperimentConfig.to_dict>`) and of :data:`NUMERICS_VERSION`,
so a change that moves any number orphans every run cached before it. A run
of another *kind* has its kind in its key as well: a run on Flower's engine
(its records are the simulator's, but it also holds what its server was sent,
the run's transcript, which a simulator's run cannot supply), or a run that is
no :class:`~fedutils.records.RunResult` at all, such as a SecAgg+ run
(:meth:`ResultCache.save_entry`).

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
from fedutils.run_options import EngineName

NUMERICS_VERSION = "0.3.2"
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


SIMULATOR_KIND = EngineName.SIMULATOR.value
"""The kind of a simulator's run, the one kind that is not written into its entry or its key."""
KIND = "kind"
"""The key of ``result.json`` naming the entry's kind (absent for a simulator's run)."""


class CacheWarning(UserWarning):
    """A run cache entry was damaged (and is computed again), or a run could not be stored."""


class DamagedEntry(Exception):
    """What is wrong with a cache entry, in a few words."""


def config_hash(config_dict: dict[str, Any], kind: EngineName | str = EngineName.SIMULATOR) -> str:
    """A short stable hash of a configuration, the results schema and the numerics version, and of the entry's
    kind unless it is a simulator's run (whose keys are those of fedutils 0.2)."""
    key: dict[str, Any] = {"schema": RESULTS_SCHEMA, "version": NUMERICS_VERSION, "config": config_dict}
    if str(kind) != SIMULATOR_KIND:
        key[KIND] = str(kind)
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


class ResultCache:
    """Finished runs on disk, one folder per configuration hash (see the module docstring).

    The folder is ``directory`` if given, else ``$FEDUTILS_CACHE``, else
    ``~/.cache/fedutils/runs``. Tensors are loaded with ``weights_only=True``.
    A :class:`~fedutils.records.RunResult` is stored with :meth:`save` under its
    engine; another kind of run (a SecAgg+ run, say) with :meth:`save_entry`, as a
    JSON payload and named tensors, under a kind of its own.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        chosen = directory or os.environ.get(CACHE_ENV_VAR) or DEFAULT_CACHE_DIR
        self.directory = Path(chosen).expanduser()

    def folder(self, config_dict: dict[str, Any], kind: EngineName | str = EngineName.SIMULATOR) -> Path:
        """Where the run of this configuration of this kind (its engine, for a RunResult) is or would be stored."""
        return self.directory / config_hash(config_dict, kind)

    def load(self, config_dict: dict[str, Any], kind: EngineName | str = EngineName.SIMULATOR) -> RunResult | None:
        """The cached run of this configuration and kind (:func:`~fedutils.records.run_kind`: its engine, and
        whether it used fast GPU arithmetic), or ``None`` when there is none or it is damaged (reported)."""
        folder = self.folder(config_dict, kind)
        if not folder.exists():
            return None
        try:
            result = _run_result(*_read_entry(folder, config_dict, str(kind)))
        except DamagedEntry as damage:
            warnings.warn(_damaged(folder, damage), CacheWarning, stacklevel=2)
            return None
        result.from_cache = True
        return result

    def save(self, result: RunResult) -> Path:
        """Store ``result`` whole (see the module docstring) and return its folder.

        A run that cannot be stored (a full disk, a read-only folder) is reported
        in one line and returned all the same: losing the cache entry must not
        lose the run.
        """
        tensors = {PARAMS_FILE: result.final_params, UPDATES_FILE: result.updates or None}
        payload = {k: v for k, v in result.to_json_dict().items() if k != "config"}
        return self.save_entry(result.config_dict, result.cache_kind, payload, tensors)

    def load_entry(
        self, config_dict: dict[str, Any], kind: EngineName | str
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The stored payload (``result.json``) and tensors (file name → object) of this configuration's run of
        this kind, every file checked; ``None`` when there is none or it is damaged (reported)."""
        folder = self.folder(config_dict, kind)
        if not folder.exists():
            return None
        try:
            return _read_entry(folder, config_dict, str(kind))
        except DamagedEntry as damage:
            warnings.warn(_damaged(folder, damage), CacheWarning, stacklevel=2)
            return None

    def save_entry(
        self, config_dict: dict[str, Any], kind: EngineName | str, payload: dict[str, Any], tensors: dict[str, Any]
    ) -> Path:
        """Store a run of this configuration and kind whole: ``payload`` (JSON) in ``result.json`` and each of
        ``tensors`` (file name → object for :func:`torch.save`; ``None`` is left out) beside it. A failure to
        store is reported in one line, as for :meth:`save`."""
        folder = self.folder(config_dict, kind)
        staging: Path | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=STAGING_SUFFIX, dir=self.directory))
            _write_entry(staging, config_dict, str(kind), payload, tensors)
            _publish(staging, folder, config_dict, str(kind))
        except OSError as error:
            warnings.warn(
                f"run cache: could not store the run in {folder} ({error.strerror or error}); it is not cached.",
                CacheWarning,
                stacklevel=3,
            )
        finally:
            if staging is not None and staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return folder


def _damaged(folder: Path, damage: DamagedEntry) -> str:
    return f"run cache: the entry {folder} is damaged ({damage}); the run is computed again."


def _write_entry(
    folder: Path, config_dict: dict[str, Any], kind: str, payload: dict[str, Any], tensors: dict[str, Any]
) -> None:
    """Write an entry's files into ``folder``, ``result.json`` with their manifest last."""
    files = {}
    for name, value in tensors.items():
        if value is not None:
            torch.save(value, folder / name)
            files[name] = _fingerprint(folder / name)
    header: dict[str, Any] = {"config": config_dict} if kind == SIMULATOR_KIND else {"config": config_dict, KIND: kind}
    with open(folder / RESULT_FILE, "w") as out:
        json.dump({**header, **payload, MANIFEST: files}, out)
        out.flush()
        os.fsync(out.fileno())


def _publish(staging: Path, folder: Path, config_dict: dict[str, Any], kind: str) -> None:
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
            _read_entry(folder, config_dict, kind)
            return  # a whole entry for the same configuration is in place: the same run, stored by someone else
        except DamagedEntry:
            aside = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.damaged")
            with contextlib.suppress(FileNotFoundError):
                os.rename(folder, aside)
            shutil.rmtree(aside, ignore_errors=True)
    raise OSError(errno.EBUSY, f"other writers kept replacing the entry {folder}")


def _read_entry(folder: Path, config_dict: dict[str, Any], kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The payload and tensors of the run of ``config_dict`` of this kind stored in ``folder``, every file checked.

    Raises:
        DamagedEntry: a file is missing, truncated, half-written, or holds another configuration or kind of run.
    """
    try:
        stored = json.loads((folder / RESULT_FILE).read_text())
    except FileNotFoundError:
        raise DamagedEntry(f"{RESULT_FILE} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedEntry(f"{RESULT_FILE} cannot be read: {error}") from None
    if not isinstance(stored, dict) or "config" not in stored:
        raise DamagedEntry(f"{RESULT_FILE} is not a stored run")
    if stored["config"] != config_dict:
        raise DamagedEntry(f"{RESULT_FILE} holds another configuration")
    if stored.get(KIND, SIMULATOR_KIND) != kind:
        raise DamagedEntry(
            f"{RESULT_FILE} holds a run of another kind ({stored.get(KIND, SIMULATOR_KIND)}, not {kind})"
        )
    manifest = stored.get(MANIFEST)
    if manifest is None:  # fedutils 0.2 wrote a simulator's run's files without a manifest
        legacy = {PARAMS_FILE: _load_tensor(folder / PARAMS_FILE, required=True)}
        if (folder / UPDATES_FILE).exists():
            legacy[UPDATES_FILE] = _load_tensor(folder / UPDATES_FILE, required=True)
        return stored, legacy
    tensors = {}
    for name, expected in manifest.items():  # written by fedutils 0.3 or later: every file is checked before it is read
        _check_file(folder / name, expected)
        tensors[name] = _load_tensor(folder / name, required=True)
    return stored, tensors


def _run_result(stored: dict[str, Any], tensors: dict[str, Any]) -> RunResult:
    """The :class:`RunResult` of a stored run's payload and tensors.

    Raises:
        DamagedEntry: the records are missing or malformed, or a file the configuration needs is missing.
    """
    if "records" not in stored:
        raise DamagedEntry(f"{RESULT_FILE} is not a stored run")
    try:
        result = RunResult.from_json_dict(stored, tensors.get(PARAMS_FILE))
    except (KeyError, TypeError, ValueError) as error:
        raise DamagedEntry(f"{RESULT_FILE} has malformed records: {error}") from None
    if stored["config"].get("keep_updates"):
        if UPDATES_FILE not in tensors:
            raise DamagedEntry(f"{UPDATES_FILE} is missing")
        result.updates = tensors[UPDATES_FILE]
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
