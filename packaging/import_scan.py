"""Find which modules of the bundled packages really import, as the frozen build will see them.

Run by `build.py` in a child interpreter of the build venv (`python import_scan.py ROOT…`), with
the modules the build excludes blocked, so that a module which only imports thanks to an excluded
package (faker, polyfactory, pytest…) is not reported as importable. It prints one JSON object:
`{"importable": [...], "failed": {"module": "error"}}`.

It owns nothing but this scan. It must never write files, and never import a `__main__` module
(those run programs, and the frozen binary never runs them with `-m`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import pkgutil
import sys
import types
from collections.abc import Iterator, Sequence

_ERROR_CHARS_MAX = 200


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuses the top-level packages the frozen build leaves out."""

    def __init__(self, blocked: frozenset[str]) -> None:
        self.blocked = blocked

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"{fullname} is excluded from the bundle", name=fullname)
        return None


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:_ERROR_CHARS_MAX]


def _walk(root: str, failed: dict[str, str]) -> Iterator[str]:
    """Yield the names of `root` and every module below it that imports without error."""
    try:
        package = importlib.import_module(root)
    except Exception as error:  # a failed import of any kind is what we report, not a crash
        failed[root] = _describe(error)
        return
    yield root
    search_path = getattr(package, "__path__", None)
    if search_path is None:
        return

    def on_error(name: str) -> None:
        failed[name] = _describe(sys.exc_info()[1] or ImportError(name))

    for info in pkgutil.walk_packages(search_path, f"{root}.", onerror=on_error):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        try:
            importlib.import_module(info.name)
        except Exception as error:  # see above
            failed[info.name] = _describe(error)
            continue
        yield info.name


def scan(roots: Sequence[str], blocked: frozenset[str]) -> dict[str, object]:
    sys.meta_path.insert(0, _Blocker(blocked))
    failed: dict[str, str] = {}
    importable: list[str] = []
    for root in roots:
        importable.extend(_walk(root, failed))
    # walk_packages reports a failed subpackage through on_error; keep only real failures.
    importable = sorted(set(importable))
    return {"importable": importable, "failed": {k: v for k, v in failed.items() if k not in importable}}


def main(argv: Sequence[str]) -> None:
    """`import_scan.py --block a,b,c ROOT…`"""
    blocked: frozenset[str] = frozenset()
    roots = list(argv)
    if roots[:1] == ["--block"]:
        blocked = frozenset(filter(None, roots[1].split(",")))
        roots = roots[2:]
    sys.stdout.write(json.dumps(scan(roots, blocked)))


if __name__ == "__main__":
    main(sys.argv[1:])
