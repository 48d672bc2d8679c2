"""``threadgate keys create|list|revoke``: key management on the server's store."""

from __future__ import annotations

import argparse
import asyncio
import sys

from adapters.bootstrap import StoreError, build_core, open_store
from adapters.settings import Settings
from core.access import AccessRole
from core.errors import DomainError


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings)
    try:
        access = build_core(store, settings).access
        if args.keys_command == "create":
            key, token = await access.create_key(
                args.folder,
                AccessRole[args.role.upper()],
                subject_id=args.subject,
                default_folder=args.default_folder,
                description=args.description,
            )
            print(
                f"created key {key.id} for subject {key.subject_id}: {key.role.name.lower()} on "
                f"{', '.join(key.folders)} (default {key.default_folder}). "
                "The token below is shown only once."
            )
            print(token)
        elif args.keys_command == "list":
            print("id\tsubject\trole\tfolders\tdefault\tcreated\trevoked\tdescription")
            for k in await access.list_keys():
                revoked = k.revoked_at.isoformat() if k.revoked_at else "-"
                print(
                    f"{k.id}\t{k.subject_id}\t{k.role.name.lower()}\t{','.join(k.folders)}\t"
                    f"{k.default_folder}\t{k.created_at.isoformat()}\t{revoked}\t{k.description}"
                )
        else:
            await access.revoke(args.key_id)
            print(f"revoked {args.key_id}")
        return 0
    except DomainError as exc:
        print(f"threadgate: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()


def main_keys(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_run(args, settings))
    except StoreError as exc:
        print(f"threadgate: {exc}", file=sys.stderr)
        return 1


async def _migrate(settings: Settings) -> None:
    store = await open_store(settings)
    await store.close()


def main_migrate(settings: Settings) -> int:
    """Opening a store runs its migrations (under a lock, so replicas may race)."""
    try:
        asyncio.run(_migrate(settings))
    except StoreError as exc:
        print(f"threadgate: {exc}", file=sys.stderr)
        return 1
    print("threadgate: schema is up to date")
    return 0
