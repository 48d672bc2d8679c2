"""Our hand-written protos must be wire-identical to the public Yandex ones.

Ground truth is the compiled descriptors inside the installed ``yandexcloud``
package. Our generated modules (``adapters.yandex._gen``) and yandexcloud's
register the *same* proto file names in protobuf's default descriptor pool, so
they can never live in one process. This test process imports neither:

* our side is a FileDescriptorSet produced by protoc (in a subprocess) straight
  from ``proto/``;
* yandexcloud's side is dumped by a separate interpreter (``sys.executable -c``)
  that imports yandexcloud's ``*_pb2`` modules and copies their descriptors;
* the comparison works on plain ``descriptor_pb2`` messages.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Protocol, TypeVar

import pytest
from google.protobuf import descriptor_pb2, text_format
from google.protobuf.message import Message

# Registers the google.api.http extension so HTTP rules print as text in
# failure messages (googleapis-common-protos only, nothing from yandex.*).
importlib.import_module("google.api.annotations_pb2")
# Not covered by types-protobuf.
unknown_fields = importlib.import_module("google.protobuf.unknown_fields")

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"
GENERATE_SCRIPT = PROTO_ROOT / "generate.py"

# The files we promise to mirror (canonical paths, relative to proto/).
EXPECTED_FILES = (
    "yandex/cloud/ai/assistants/v1/common.proto",
    "yandex/cloud/ai/assistants/v1/searchindex/common.proto",
    "yandex/cloud/ai/assistants/v1/searchindex/search_index.proto",
    "yandex/cloud/ai/assistants/v1/threads/message.proto",
    "yandex/cloud/ai/assistants/v1/threads/message_service.proto",
    "yandex/cloud/ai/assistants/v1/threads/thread.proto",
    "yandex/cloud/ai/assistants/v1/threads/thread_service.proto",
    "yandex/cloud/ai/common/common.proto",
    "yandex/cloud/ai/files/v1/file.proto",
    "yandex/cloud/validation.proto",
)

# Names for the custom options so that differences read well even when the
# extensions are unknown to this process (we never import validation_pb2 here).
KNOWN_OPTION_NUMBERS = {
    72295728: "google.api.http",
    101400: "yandex.cloud.exactly_one",
    101501: "yandex.cloud.required",
    101502: "yandex.cloud.pattern",
    101503: "yandex.cloud.value",
    101504: "yandex.cloud.size",
    101505: "yandex.cloud.length",
    101506: "yandex.cloud.unique",
    101510: "yandex.cloud.map_key",
    101511: "yandex.cloud.bytes",
}

SUBPROCESS_TIMEOUT = 300

# Runs in a fresh interpreter: import yandexcloud's compiled modules for the
# given proto files and write their FileDescriptorProtos as a FileDescriptorSet.
# Python's embedded descriptors only carry json_name when a .proto sets it
# explicitly, so the runtime's effective json_name is filled in for every field.
_DUMP_YANDEXCLOUD = textwrap.dedent(
    """
    import importlib, sys
    from pathlib import Path
    from google.protobuf import descriptor_pb2

    out_path, repo_root, *names = sys.argv[1:]
    gen_dir = Path(repo_root) / "adapters"

    def fill_json_names(msg_proto, msg_desc):
        for field in msg_proto.field:
            field.json_name = msg_desc.fields_by_name[field.name].json_name
        for nested in msg_proto.nested_type:
            fill_json_names(nested, msg_desc.nested_types_by_name[nested.name])

    result = descriptor_pb2.FileDescriptorSet()
    for name in names:
        module_name = name[: -len(".proto")].replace("/", ".") + "_pb2"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            print(f"skip {name}: {exc}", file=sys.stderr)
            continue
        module_file = Path(module.__file__).resolve()
        if module_file.is_relative_to(gen_dir):
            raise SystemExit(f"{module_name} resolved to our own code: {module_file}")
        file_desc = module.DESCRIPTOR
        if file_desc.name != name:
            raise SystemExit(f"{module_name} describes {file_desc.name}, expected {name}")
        file_proto = result.file.add()
        file_desc.CopyToProto(file_proto)
        for msg_proto in file_proto.message_type:
            fill_json_names(msg_proto, file_desc.message_types_by_name[msg_proto.name])
        for ext_proto in file_proto.extension:
            ext_proto.json_name = file_desc.extensions_by_name[ext_proto.name].json_name

    if any(m.startswith("adapters") for m in sys.modules):
        raise SystemExit("the yandexcloud dump imported our generated code")
    Path(out_path).write_bytes(result.SerializeToString())
    """
)

# Runs in a fresh interpreter: serialized descriptors embedded in *_pb2 modules.
_DUMP_EMBEDDED = textwrap.dedent(
    """
    import importlib, sys
    from pathlib import Path

    out_path, prefix, *names = sys.argv[1:]
    lines = []
    for name in names:
        module = importlib.import_module(prefix + name[: -len(".proto")].replace("/", ".") + "_pb2")
        lines.append(name + " " + module.DESCRIPTOR.serialized_pb.hex())
    Path(out_path).write_text("".join(line + chr(10) for line in lines))
    """
)


def _run(args: Sequence[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def _run_ok(args: Sequence[str | Path]) -> None:
    proc = _run(args)
    assert proc.returncode == 0, f"{args[:3]}... failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"


def _load_generate_module() -> ModuleType:
    """Load proto/generate.py by path (it only imports the standard library)."""
    spec = importlib.util.spec_from_file_location("_threadgate_proto_generate", GENERATE_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require_yandexcloud() -> None:
    # find_spec on a top-level name locates it without importing it.
    if importlib.util.find_spec("yandexcloud") is None:
        pytest.skip("yandexcloud (the ground truth) is not installed")


def _read_set(path: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    fds = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    return {f.name: f for f in fds.file}


def _own_proto_names() -> list[str]:
    return sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto"))


@pytest.fixture(scope="module")
def ours(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """(a) Our FileDescriptorSet, compiled by protoc in a subprocess."""
    out = tmp_path_factory.mktemp("ours") / "ours.pb"
    include_dirs: list[Path] = _load_generate_module().include_dirs()
    _run_ok(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            *(f"--proto_path={d}" for d in include_dirs),
            f"--descriptor_set_out={out}",
            "--include_imports",
            *(str(PROTO_ROOT / name) for name in _own_proto_names()),
        ]
    )
    return _read_set(out)


@pytest.fixture(scope="module")
def theirs(
    tmp_path_factory: pytest.TempPathFactory,
    ours: dict[str, descriptor_pb2.FileDescriptorProto],
) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """(b) yandexcloud's descriptors for the same file names, dumped by another interpreter."""
    _require_yandexcloud()
    out = tmp_path_factory.mktemp("theirs") / "theirs.pb"
    names = sorted(name for name in ours if name.startswith("yandex/"))
    _run_ok([sys.executable, "-c", _DUMP_YANDEXCLOUD, out, REPO_ROOT, *names])
    return _read_set(out)


# --------------------------------------------------------------------------
# (c) comparison
# --------------------------------------------------------------------------

Diffs = list[str]


def _option_entries(options: Message) -> list[str]:
    """Canonical, order-independent view of an *Options message.

    Custom options (yandex.cloud.*, google.api.http) are usually unknown to
    this process and stay unknown fields; they are listed by number (and name)
    with their raw payload, so their values are compared exactly.
    """
    entries = []
    for field, value in options.ListFields():
        name = f"({field.full_name})" if field.is_extension else field.name
        shown = (
            text_format.MessageToString(value, as_one_line=True)
            if isinstance(value, Message)
            else repr(value)
        )
        entries.append(f"{name}={shown}")
    for unknown in unknown_fields.UnknownFieldSet(options):
        label = KNOWN_OPTION_NUMBERS.get(unknown.field_number, "?")
        entries.append(f"({label} #{unknown.field_number} wire_type={unknown.wire_type})={unknown.data!r}")
    return sorted(entries)


def _cmp(diffs: Diffs, where: str, what: str, mine: object, public: object) -> None:
    if mine != public:
        diffs.append(f"{where}: {what} differs: ours={mine!r} public={public!r}")


def _cmp_options(diffs: Diffs, where: str, mine: Message, public: Message) -> None:
    _cmp(diffs, where, "options", _option_entries(mine), _option_entries(public))


class _Range(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


def _ranges(ranges: Iterable[_Range]) -> list[tuple[int, int]]:
    return sorted((r.start, r.end) for r in ranges)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def _pair(
    diffs: Diffs, where: str, kind: str, mine: Iterable[_N], public: Iterable[_N]
) -> list[tuple[_N, _N]]:
    """Pair items by name; report the ones only one side has."""
    mine_by_name = {item.name: item for item in mine}
    public_by_name = {item.name: item for item in public}
    for name in sorted(mine_by_name.keys() - public_by_name.keys()):
        diffs.append(f"{where}: {kind} {name!r} exists only in ours")
    for name in sorted(public_by_name.keys() - mine_by_name.keys()):
        diffs.append(f"{where}: {kind} {name!r} is missing from ours")
    return [(mine_by_name[n], public_by_name[n]) for n in sorted(mine_by_name.keys() & public_by_name.keys())]


def _oneof_name(
    msg: descriptor_pb2.DescriptorProto, field: descriptor_pb2.FieldDescriptorProto
) -> str | None:
    return msg.oneof_decl[field.oneof_index].name if field.HasField("oneof_index") else None


def _compare_field(
    diffs: Diffs,
    where: str,
    mine: descriptor_pb2.FieldDescriptorProto,
    public: descriptor_pb2.FieldDescriptorProto,
    mine_msg: descriptor_pb2.DescriptorProto | None = None,
    public_msg: descriptor_pb2.DescriptorProto | None = None,
) -> None:
    where = f"{where} field {public.name!r}"
    for attr in (
        "number",
        "type",
        "type_name",
        "label",
        "extendee",
        "default_value",
        "proto3_optional",
    ):
        _cmp(diffs, where, attr, getattr(mine, attr), getattr(public, attr))
    # Both sides carry the effective JSON name (protoc fills it in ours, the
    # dump fills the runtime's value in theirs).
    _cmp(diffs, where, "json_name", mine.json_name, public.json_name)
    _cmp(
        diffs,
        where,
        "oneof_index",
        mine.oneof_index if mine.HasField("oneof_index") else None,
        public.oneof_index if public.HasField("oneof_index") else None,
    )
    if mine_msg is not None and public_msg is not None:
        _cmp(
            diffs,
            where,
            "oneof",
            _oneof_name(mine_msg, mine),
            _oneof_name(public_msg, public),
        )
    _cmp_options(diffs, where, mine.options, public.options)


def _compare_enum(
    diffs: Diffs,
    where: str,
    mine: descriptor_pb2.EnumDescriptorProto,
    public: descriptor_pb2.EnumDescriptorProto,
) -> None:
    where = f"{where} enum {public.name!r}"
    _cmp_options(diffs, where, mine.options, public.options)
    _cmp(
        diffs,
        where,
        "reserved ranges",
        _ranges(mine.reserved_range),
        _ranges(public.reserved_range),
    )
    _cmp(
        diffs,
        where,
        "reserved names",
        sorted(mine.reserved_name),
        sorted(public.reserved_name),
    )
    _cmp(
        diffs,
        where,
        "value order",
        [v.name for v in mine.value],
        [v.name for v in public.value],
    )
    for mine_value, public_value in _pair(diffs, where, "value", mine.value, public.value):
        value_where = f"{where} value {public_value.name!r}"
        _cmp(diffs, value_where, "number", mine_value.number, public_value.number)
        _cmp_options(diffs, value_where, mine_value.options, public_value.options)


def _compare_message(
    diffs: Diffs,
    where: str,
    mine: descriptor_pb2.DescriptorProto,
    public: descriptor_pb2.DescriptorProto,
) -> None:
    where = f"{where}.{public.name}"
    _cmp_options(diffs, where, mine.options, public.options)  # map_entry lives here
    _cmp(
        diffs,
        where,
        "reserved ranges",
        _ranges(mine.reserved_range),
        _ranges(public.reserved_range),
    )
    _cmp(
        diffs,
        where,
        "reserved names",
        sorted(mine.reserved_name),
        sorted(public.reserved_name),
    )
    _cmp(
        diffs,
        where,
        "extension ranges",
        _ranges(mine.extension_range),
        _ranges(public.extension_range),
    )
    _cmp(
        diffs,
        where,
        "oneofs",
        [o.name for o in mine.oneof_decl],
        [o.name for o in public.oneof_decl],
    )
    for mine_oneof, public_oneof in zip(mine.oneof_decl, public.oneof_decl, strict=False):
        _cmp_options(
            diffs,
            f"{where} oneof {public_oneof.name!r}",
            mine_oneof.options,
            public_oneof.options,
        )
    for mine_field, public_field in _pair(diffs, where, "field", mine.field, public.field):
        _compare_field(diffs, where, mine_field, public_field, mine, public)
    for mine_ext, public_ext in _pair(diffs, where, "extension", mine.extension, public.extension):
        _compare_field(diffs, where, mine_ext, public_ext)
    for mine_enum, public_enum in _pair(diffs, where, "enum", mine.enum_type, public.enum_type):
        _compare_enum(diffs, where, mine_enum, public_enum)
    for mine_nested, public_nested in _pair(diffs, where, "message", mine.nested_type, public.nested_type):
        _compare_message(diffs, where, mine_nested, public_nested)


def _compare_service(
    diffs: Diffs,
    where: str,
    mine: descriptor_pb2.ServiceDescriptorProto,
    public: descriptor_pb2.ServiceDescriptorProto,
) -> None:
    where = f"{where} service {public.name!r}"
    _cmp_options(diffs, where, mine.options, public.options)
    for mine_method, public_method in _pair(diffs, where, "rpc", mine.method, public.method):
        method_where = f"{where} rpc {public_method.name!r}"
        for attr in (
            "input_type",
            "output_type",
            "client_streaming",
            "server_streaming",
        ):
            _cmp(
                diffs,
                method_where,
                attr,
                getattr(mine_method, attr),
                getattr(public_method, attr),
            )
        _cmp_options(diffs, method_where, mine_method.options, public_method.options)  # google.api.http


def compare_files(
    mine: descriptor_pb2.FileDescriptorProto, public: descriptor_pb2.FileDescriptorProto
) -> Diffs:
    """Every wire- and API-relevant difference between two file descriptors."""
    diffs: Diffs = []
    where = public.name
    _cmp(diffs, where, "package", mine.package, public.package)
    _cmp(diffs, where, "syntax", mine.syntax, public.syntax)
    _cmp(diffs, where, "edition", mine.edition, public.edition)
    _cmp(diffs, where, "dependencies", sorted(mine.dependency), sorted(public.dependency))
    _cmp(
        diffs,
        where,
        "public dependencies",
        list(mine.public_dependency),
        list(public.public_dependency),
    )
    _cmp_options(diffs, where, mine.options, public.options)  # go_package, java_package
    scope = f"{where}: .{public.package}" if public.package else f"{where}: "
    for mine_msg, public_msg in _pair(diffs, where, "message", mine.message_type, public.message_type):
        _compare_message(diffs, scope, mine_msg, public_msg)
    for mine_enum, public_enum in _pair(diffs, where, "enum", mine.enum_type, public.enum_type):
        _compare_enum(diffs, scope, mine_enum, public_enum)
    for mine_ext, public_ext in _pair(diffs, where, "extension", mine.extension, public.extension):
        _compare_field(diffs, f"{scope} extension", mine_ext, public_ext)
    for mine_svc, public_svc in _pair(diffs, where, "service", mine.service, public.service):
        _compare_service(diffs, where, mine_svc, public_svc)
    return diffs


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------


def test_we_define_exactly_the_expected_files(
    ours: dict[str, descriptor_pb2.FileDescriptorProto],
) -> None:
    assert _own_proto_names() == sorted(EXPECTED_FILES)
    assert sorted(name for name in ours if not name.startswith("google/")) == sorted(EXPECTED_FILES)


def test_public_descriptors_cover_all_our_files(
    theirs: dict[str, descriptor_pb2.FileDescriptorProto],
) -> None:
    assert sorted(theirs) == sorted(EXPECTED_FILES)


@pytest.mark.parametrize("name", EXPECTED_FILES)
def test_descriptor_matches_public(
    name: str,
    ours: dict[str, descriptor_pb2.FileDescriptorProto],
    theirs: dict[str, descriptor_pb2.FileDescriptorProto],
) -> None:
    if name not in theirs:
        pytest.fail(f"yandexcloud does not ship {name}")
    diffs = compare_files(ours[name], theirs[name])
    assert not diffs, "wire differences:\n" + "\n".join(diffs)


def test_comparison_detects_a_changed_field_number(
    ours: dict[str, descriptor_pb2.FileDescriptorProto],
    theirs: dict[str, descriptor_pb2.FileDescriptorProto],
) -> None:
    """Guard the guard: a renumbered field, renamed value or dropped option must be reported."""
    name = "yandex/cloud/ai/assistants/v1/threads/thread_service.proto"
    broken = descriptor_pb2.FileDescriptorProto()
    broken.CopyFrom(ours[name])
    request = next(m for m in broken.message_type if m.name == "UpdateThreadRequest")
    next(f for f in request.field if f.name == "tools").number = 8
    next(f for f in request.field if f.name == "thread_id").options.Clear()
    next(m for m in broken.service[0].method if m.name == "List").server_streaming = True
    diffs = compare_files(broken, theirs[name])
    text = "\n".join(diffs)
    assert re.search(r"UpdateThreadRequest field 'tools': number differs: ours=8 public=7", text), text
    assert re.search(r"UpdateThreadRequest field 'thread_id': options differs", text), text
    assert "yandex.cloud.required" in text, text
    assert re.search(r"rpc 'List': server_streaming differs", text), text


def test_generated_modules_embed_byte_identical_descriptors(tmp_path: Path) -> None:
    """Stricter than wire identity: adapters/yandex/_gen embeds the very bytes yandexcloud does.

    This also pins declaration order (imports, messages, fields). If only this
    test fails, the difference is ordering and not wire-relevant; restore the
    order rather than delete the test, so reflection clients see the same files.
    """
    _require_yandexcloud()
    dumps: dict[str, dict[str, bytes]] = {}
    for side, prefix in (("ours", "adapters.yandex._gen."), ("public", "")):
        out = tmp_path / f"{side}.txt"
        _run_ok([sys.executable, "-c", _DUMP_EMBEDDED, out, prefix, *EXPECTED_FILES])
        pairs = (line.split(" ", 1) for line in out.read_text().splitlines())
        dumps[side] = {name: bytes.fromhex(data) for name, data in pairs}
    for name in EXPECTED_FILES:
        assert dumps["ours"][name] == dumps["public"][name], f"{name}: embedded descriptor bytes differ"


def test_generated_code_is_up_to_date() -> None:
    """Drift check: adapters/yandex/_gen must be what proto/generate.py produces now."""
    proc = _run([sys.executable, GENERATE_SCRIPT, "--check"])
    assert proc.returncode == 0, f"run `python proto/generate.py`\n{proc.stdout}\n{proc.stderr}"
