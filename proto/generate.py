"""Generate the Python gRPC code for our Yandex Cloud Threads protos.

Usage::

    python proto/generate.py          # (re)write adapters/yandex/_gen/
    python proto/generate.py --check  # exit 1 if adapters/yandex/_gen/ is stale

The .proto files under ``proto/`` are compiled with ``grpc_tools.protoc``
(``--python_out``, ``--grpc_python_out``, ``--mypy_out``, ``--mypy_grpc_out``).
Afterwards every import of one of *our* generated modules
(``from yandex.cloud... import x_pb2``) is rewritten to an absolute import
under ``adapters.yandex._gen.``. Without that, the imports would resolve to the
``yandexcloud`` package installed next to us, which registers the very same
proto files. ``google.*`` imports are left alone; they come from protobuf and
googleapis-common-protos.

The output directory is owned by this script: it is replaced wholesale.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent
DEFAULT_OUT_DIR = REPO_ROOT / "adapters" / "yandex" / "_gen"
GEN_PACKAGE = "adapters.yandex._gen"

# Top-level proto packages we generate ourselves. Imports of these get the
# GEN_PACKAGE prefix; everything else (google.*, grpc, typing, ...) is kept.
OWN_TOP_LEVEL = ("yandex",)

GENERATED_SUFFIXES = frozenset({".py", ".pyi"})
_DIFF_LINES_PER_FILE = 40

_OWN = "|".join(re.escape(name) for name in OWN_TOP_LEVEL)
# `from yandex.cloud.ai.common import common_pb2 as x`
_FROM_IMPORT = re.compile(rf"^(?P<indent>[ \t]*)from (?P<module>(?:{_OWN})(?:\.\w+)*) import ", re.MULTILINE)
# `import yandex.cloud.ai.common.common_pb2 as x` (aliased form only, see below)
_PLAIN_IMPORT = re.compile(
    rf"^(?P<indent>[ \t]*)import (?P<module>(?:{_OWN})(?:\.\w+)*)(?P<rest>.*)$",
    re.MULTILINE,
)
# `_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'yandex.cloud....x_pb2', _globals)`:
# this string becomes the messages' `__module__` (used by pickle and repr).
_BUILDER_MODULE = re.compile(
    rf"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'(?P<module>(?:{_OWN})(?:\.\w+)*)'"
)


def proto_files() -> list[Path]:
    """All our .proto files, relative to PROTO_ROOT, in a stable order."""
    return sorted(path.relative_to(PROTO_ROOT) for path in PROTO_ROOT.rglob("*.proto"))


def include_dirs() -> list[Path]:
    """--proto_path roots: ours first, then well-known types and googleapis."""
    grpc_tools_spec = importlib.util.find_spec("grpc_tools")
    if grpc_tools_spec is None or grpc_tools_spec.origin is None:
        raise RuntimeError("grpc_tools is not installed (pip install grpcio-tools)")
    well_known = Path(grpc_tools_spec.origin).parent / "_proto"

    annotations_spec = importlib.util.find_spec("google.api.annotations_pb2")
    if annotations_spec is None or annotations_spec.origin is None:
        raise RuntimeError("googleapis-common-protos is not installed")
    # .../site-packages/google/api/annotations_pb2.py -> .../site-packages
    googleapis_root = Path(annotations_spec.origin).parent.parent.parent
    if not (googleapis_root / "google" / "api" / "annotations.proto").is_file():
        raise RuntimeError(f"google/api/annotations.proto not found under {googleapis_root}")
    return [PROTO_ROOT, well_known, googleapis_root]


def _plugin(name: str) -> Path:
    """Locate a protoc plugin script, preferring the running interpreter's venv."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"protoc plugin {name!r} not found (pip install mypy-protobuf)")
    return Path(found)


def _protoc_main() -> Callable[[list[str]], int]:
    # grpc_tools ships no type information; pin down the one function we use.
    module = importlib.import_module("grpc_tools.protoc")
    return cast(Callable[[list[str]], int], module.main)


def run_protoc(args: Sequence[str]) -> None:
    """Run grpc_tools' bundled protoc with our include paths; raise on failure."""
    argv = [
        "grpc_tools.protoc",
        *(f"--proto_path={path}" for path in include_dirs()),
        *args,
    ]
    code = _protoc_main()(argv)
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}: {' '.join(argv)}")


def _prefix_module(module: str) -> str:
    return f"{GEN_PACKAGE}.{module}"


def rewrite_imports(source: str, *, filename: str = "<generated>") -> str:
    """Point imports of our generated modules at GEN_PACKAGE."""

    def from_import(match: re.Match[str]) -> str:
        return f"{match['indent']}from {_prefix_module(match['module'])} import "

    def plain_import(match: re.Match[str]) -> str:
        rest = match["rest"]
        if not re.match(r"\s+as\s+\w+", rest):
            # `import yandex.x.y_pb2` would need every `yandex.x.y_pb2.Foo`
            # reference in the file rewritten too. No generator we use emits
            # this form; fail loudly instead of producing broken code.
            raise RuntimeError(f"{filename}: unsupported unaliased import: {match.group(0).strip()}")
        return f"{match['indent']}import {_prefix_module(match['module'])}{rest}"

    def builder_module(match: re.Match[str]) -> str:
        return f"{match.group(1)}'{_prefix_module(match['module'])}'"

    source = _FROM_IMPORT.sub(from_import, source)
    source = _PLAIN_IMPORT.sub(plain_import, source)
    return _BUILDER_MODULE.sub(builder_module, source)


def _generated_files(root: Path) -> dict[str, Path]:
    """Relative path -> file for everything under root, minus bytecode caches."""
    result: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        result[path.relative_to(root).as_posix()] = path
    return result


def _build(out_dir: Path) -> None:
    """Compile into the empty directory out_dir and post-process the result."""
    # Absolute paths: protoc maps them to their names under PROTO_ROOT, and a
    # stray yandex/ directory in the current directory cannot interfere.
    files = [str(PROTO_ROOT / path) for path in proto_files()]
    if not files:
        raise RuntimeError(f"no .proto files under {PROTO_ROOT}")
    run_protoc(
        [
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            f"--mypy_out=quiet:{out_dir}",
            f"--mypy_grpc_out=quiet:{out_dir}",
            *files,
        ]
    )

    for rel, path in _generated_files(out_dir).items():
        if path.suffix in GENERATED_SUFFIXES:
            text = path.read_text(encoding="utf-8")
            new_text = rewrite_imports(text, filename=rel)
            if new_text != text:
                path.write_text(new_text, encoding="utf-8", newline="\n")

    # Every directory (including out_dir itself) becomes a regular package.
    package_dirs = {out_dir, *(path.parent for path in out_dir.rglob("*.py"))}
    for directory in sorted(package_dirs):
        current = directory
        while True:
            (current / "__init__.py").touch()
            if current == out_dir:
                break
            current = current.parent


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to wipe a directory that holds anything but generated code."""
    if not out_dir.exists():
        return
    foreign = [
        rel for rel, path in _generated_files(out_dir).items() if path.suffix not in GENERATED_SUFFIXES
    ]
    if foreign:
        raise RuntimeError(f"{out_dir} holds non-generated files, not replacing it: {foreign[:5]}")


def generate(out_dir: Path) -> None:
    """Generate all modules into out_dir, replacing whatever was there."""
    out_dir = out_dir.resolve()
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gen-", dir=out_dir.parent) as tmp:
        staging = Path(tmp) / out_dir.name
        staging.mkdir()
        _build(staging)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)


def diff_trees(expected: Path, actual: Path) -> list[str]:
    """Human-readable differences between two generated trees (empty if equal)."""
    want = _generated_files(expected)
    have = _generated_files(actual)
    report: list[str] = []
    for rel in sorted(want.keys() - have.keys()):
        report.append(f"missing: {rel}")
    for rel in sorted(have.keys() - want.keys()):
        report.append(f"extra (stale): {rel}")
    for rel in sorted(want.keys() & have.keys()):
        new = want[rel].read_text(encoding="utf-8")
        old = have[rel].read_text(encoding="utf-8")
        if new == old:
            continue
        report.append(f"changed: {rel}")
        diff = list(
            difflib.unified_diff(
                old.splitlines(),
                new.splitlines(),
                fromfile=f"checked-in/{rel}",
                tofile=f"regenerated/{rel}",
                lineterm="",
            )
        )
        report.extend(f"    {line}" for line in diff[:_DIFF_LINES_PER_FILE])
        if len(diff) > _DIFF_LINES_PER_FILE:
            report.append(f"    ... {len(diff) - _DIFF_LINES_PER_FILE} more diff lines")
    return report


def check(out_dir: Path = DEFAULT_OUT_DIR) -> list[str]:
    """Regenerate into a temporary directory and diff against out_dir."""
    with tempfile.TemporaryDirectory(prefix="threadgate-proto-check-") as tmp:
        fresh = Path(tmp) / out_dir.name
        generate(fresh)
        return diff_trees(fresh, out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write anything; exit 1 if the checked-in code differs from a fresh generation",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"output directory (default: {DEFAULT_OUT_DIR.relative_to(REPO_ROOT)})",
    )
    args = parser.parse_args(argv)
    out_dir: Path = args.out

    if args.check:
        problems = check(out_dir)
        if problems:
            print(
                f"{out_dir} is out of date; run `python proto/generate.py`:",
                file=sys.stderr,
            )
            for line in problems:
                print(line, file=sys.stderr)
            return 1
        print(f"{out_dir} is up to date")
        return 0

    generate(out_dir)
    if out_dir.resolve() == DEFAULT_OUT_DIR:
        # adapters/yandex has to be a package for `adapters.yandex._gen` to import.
        face_init = DEFAULT_OUT_DIR.parent / "__init__.py"
        if not face_init.exists():
            face_init.touch()
    print(f"generated {len(_generated_files(out_dir))} files into {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
