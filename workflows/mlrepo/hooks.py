"""Calling the ML repository's own code: load a hook from a file at the checked-out commit, report what it raised.

A hook is ``path/to/file.py:name`` in the repository (see ``mlops.yaml``).
Its file is executed as a module of its own, with the repository root on the
import path only while it loads, and every module the repository brought in
is dropped from ``sys.modules`` afterwards: two runs of different commits (or
different repositories) in one service process never see each other's code.
Registered models carrying repository code are loaded the same way
(:func:`repository_imports`).

A hook that raises is a bug in the repository, not a hiccup: it becomes a
:class:`HookError`, a permanent failure that is never retried, whose message
names the step, the hook, the file and line where it raised and the
repository's own traceback (library frames left out).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import PermanentError

IMPORT_PATH_LOCK = threading.Lock()
"""Held by whoever changes ``sys.path`` for repository code, so one run never undoes another's change."""
_MAX_TRACEBACK_CHARS = 4000


Frame = tuple[str, int, str, str]  # file, line, function, source line


class HookError(PermanentError):
    """The repository's code raised while a step called it."""

    def __init__(self, step: str, reference: str, error: str, frames: list[Frame]) -> None:
        where = f"{frames[-1][0]}:{frames[-1][1]}" if frames else reference.rpartition(":")[0]
        listing = traceback.format_list([traceback.FrameSummary(f, n, fn, line=src) for f, n, fn, src in frames])
        own_traceback = "".join(listing)[-_MAX_TRACEBACK_CHARS:]
        self.step, self.reference, self.location = step, reference, where
        super().__init__(
            f"step {step}: hook {reference} raised {error} at {where}; fix the repository and push again\n"
            f"repository traceback:\n{own_traceback}{error}"
        )

    @classmethod
    def of(cls, step: str, reference: str, error: BaseException, repo_dir: Path) -> HookError:
        return cls(step, reference, describe(error), repository_frames(error_frames(error), repo_dir))


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def error_frames(error: BaseException) -> list[Frame]:
    """Every frame of ``error``'s traceback, as plain tuples (they cross process boundaries)."""
    return [(f.filename, f.lineno or 0, f.name, f.line or "") for f in traceback.extract_tb(error.__traceback__)]


def repository_frames(frames: list[Frame], repo_dir: Path) -> list[Frame]:
    """The frames inside the repository, with paths relative to its root."""
    root = repo_dir.resolve()
    own = []
    for filename, line, function, source in frames:
        path = Path(filename).resolve()
        if path.is_relative_to(root):
            own.append((str(path.relative_to(root)), line, function, source))
    return own


@contextmanager
def calling(step: str, reference: str, repo_dir: Path) -> Iterator[None]:
    """Run repository code; whatever it raises becomes a :class:`HookError` of ``step``."""
    try:
        yield
    except Exception as e:
        raise HookError.of(step, reference, e, repo_dir) from e


def _hook_file(repo_dir: Path, reference: str) -> tuple[Path, str]:
    file, _, name = reference.rpartition(":")
    root = repo_dir.resolve()
    path = (root / file).resolve()
    if not path.is_relative_to(root):
        raise PermanentError(f"hook {reference} points outside the repository")
    if not path.is_file():
        raise PermanentError(f"hook {reference}: {file} does not exist at the trained commit")
    return path, name


@contextmanager
def repository_imports(*roots: str) -> Iterator[None]:
    """Import repository code with ``roots`` on the import path, leaving neither the paths nor the modules behind.

    Whatever the block adds to ``sys.path`` (``roots``, or the code directory
    MLflow adds when it loads a model with ``code_paths``) is taken off again,
    and every module imported from those paths is dropped, so the next run's
    repository, or commit, is imported afresh.
    """
    with IMPORT_PATH_LOCK:
        path_before, modules_before = list(sys.path), set(sys.modules)
        sys.path[:0] = roots
        try:
            yield
        finally:
            added_paths = tuple(path for path in sys.path if path not in path_before)
            # Read every location while the paths and the parent packages are still there: a namespace package
            # (a directory without __init__.py) works its path out again from them when it is read.
            doomed = [
                name
                for name in set(sys.modules) - modules_before
                if any(str(location).startswith(added_paths) for location in _locations(sys.modules[name]))
            ]
            sys.path[:] = path_before
            for name in doomed:
                del sys.modules[name]


def _locations(module: Any) -> list[str]:
    return [getattr(module, "__file__", None) or "", *[str(path) for path in getattr(module, "__path__", [])]]


def load_hook(step: str, repo_dir: Path, reference: str) -> Any:
    """The object ``reference`` names in the repository checked out at ``repo_dir``."""
    path, name = _hook_file(repo_dir, reference)
    spec = importlib.util.spec_from_file_location(f"mlrepo_hook_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise PermanentError(f"hook {reference}: {path.name} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    with repository_imports(str(repo_dir.resolve())), calling(step, reference, repo_dir):
        spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise PermanentError(f"hook {reference}: {path.name} defines no {name!r}")
    return getattr(module, name)
