"""``threadgate parity SCENARIO…``: the command line (registered by adapters/cli.py).

Exit status: 0 every face agrees but for documented losses; 1 an unexpected difference;
2 a bad scenario, bad usage, or a server that cannot be reached or refuses the key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.parity.losses import FACES

if TYPE_CHECKING:
    from adapters.parity.faces import Face
    from adapters.parity.scenario import Scenario

OK, DIFFERENT, UNUSABLE = 0, 1, 2


def _faces(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FACES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"faces are some of {','.join(FACES)}, not {text!r}")
    return list(dict.fromkeys(names))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    env = os.environ.get
    p = sub.add_parser(
        "parity",
        help="replay scenarios through each face of a running server and compare what every face reads back",
    )
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="YAML or JSON scenario file(s)")
    p.add_argument(
        "--faces",
        type=_faces,
        default=env("THREADGATE_PARITY_FACES", ",".join(FACES)),  # argparse applies type
        help=f"comma-separated, of {','.join(FACES)}: all by default (THREADGATE_PARITY_FACES)",
    )
    p.add_argument(
        "--base-url",
        default=env("THREADGATE_BASE_URL", "http://127.0.0.1:8080"),
        help="the server's HTTP origin; /v1 and /assistants/v1 are under it (THREADGATE_BASE_URL)",
    )
    p.add_argument(
        "--grpc-target",
        default=env("THREADGATE_GRPC_TARGET", "127.0.0.1:50051"),
        help="host:port of the gRPC listener (THREADGATE_GRPC_TARGET)",
    )
    p.add_argument(
        "--api-key", default=env("THREADGATE_API_KEY", ""), help="an editor or admin key (THREADGATE_API_KEY)"
    )
    p.add_argument(
        "--folder",
        default=env("THREADGATE_FOLDER", "default"),
        help="the folder every face creates in; the key must cover it (THREADGATE_FOLDER)",
    )
    p.add_argument(
        "--ca",
        type=Path,
        default=env("THREADGATE_CA") or None,
        help="PEM CA to trust for TLS (THREADGATE_CA)",
    )
    p.add_argument(
        "--grpc-tls", action="store_true", help="TLS on gRPC (implied by an https --base-url or --ca)"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    p.add_argument("--format", choices=["table", "json"], default="table", help="what stdout shows")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the JSON report here")
    p.add_argument("--all", action="store_true", help="show every message's rows, not only differing ones")
    return p


def _open_faces(args: argparse.Namespace, scenario: Scenario) -> dict[str, Face]:
    from adapters.parity.openai_faces import AssistantsFace, ConversationsFace
    from adapters.parity.yandex_faces import YandexRestFace

    verify: str | bool = str(args.ca) if args.ca else True
    http = {"timeout": args.timeout, "verify": verify}
    common = (args.base_url, args.api_key, args.folder)
    made: dict[str, Face] = {}
    for name in args.faces:
        if name == "assistants":
            made[name] = AssistantsFace(*common, scenario.page_size, **http)
        elif name == "conversations":
            made[name] = ConversationsFace(*common, scenario.page_size, **http)
        elif name == "yandex-rest":
            made[name] = YandexRestFace(*common, **http)
        else:
            from adapters.parity.yandex_grpc import YandexGrpcFace

            tls = args.grpc_tls or args.ca is not None or args.base_url.startswith("https:")
            ca = args.ca.read_bytes() if args.ca else None
            made[name] = YandexGrpcFace(
                args.grpc_target, args.api_key, args.folder, tls=tls, ca=ca, timeout=args.timeout
            )
    return made


def main_parity(args: argparse.Namespace) -> int:
    from adapters.parity.faces import Unreachable
    from adapters.parity.report import as_json, table, unexpected
    from adapters.parity.runner import replay
    from adapters.parity.scenario import ScenarioError, load

    if not args.api_key:
        print("threadgate: parity needs --api-key (or THREADGATE_API_KEY)", file=sys.stderr)
        return UNUSABLE
    try:
        scenarios = [load(path) for path in args.scenarios]
    except ScenarioError as exc:
        print(f"threadgate: {exc}", file=sys.stderr)
        return UNUSABLE
    reports = []
    failed = False
    for scenario in scenarios:
        try:
            faces = _open_faces(args, scenario)
        except OSError as exc:
            print(f"threadgate: {exc}", file=sys.stderr)
            return UNUSABLE
        try:
            runs = replay(scenario, faces)
        except Unreachable as exc:
            print(f"threadgate: cannot run {scenario.path}: {exc}", file=sys.stderr)
            return UNUSABLE
        finally:
            for face in faces.values():
                face.close()
        failed = failed or unexpected(runs)
        reports.append(as_json(scenario, args.faces, runs))
        if args.format == "table":
            sys.stdout.write(table(scenario, args.faces, runs, every_row=args.all))
    document = {"ok": not failed, "scenarios": reports}
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.format == "json":
        sys.stdout.write(text)
    if args.json is not None:
        args.json.write_text(text, encoding="utf-8")
    return DIFFERENT if failed else OK
