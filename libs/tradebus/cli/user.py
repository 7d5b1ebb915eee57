"""``tradebus user add|list|remove|password|fmz-key``: the users of the WebSocket and FMZ edges and the web console."""

from __future__ import annotations

import argparse
import getpass
import sys

from tradebus.config import load_or_exit
from tradebus.users import UserError, UserStore, new_password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradebus user", description="manage edge users")
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--accounts", required=True,
                     help="comma-separated venue accounts the user may trade: ctp:000001,futu:281756457 or ctp:*")
    _password_options(add)
    add.add_argument("--fmz", action="store_true", help="also issue an FMZ access_key / secret_key pair")
    add.add_argument("--bus", action="store_true",
                     help="also a NATS user (a strategy): trade its accounts on td.cmd.*, read md.* and its td.evt.*")
    reset = sub.add_parser("password", help="set a new password (an operator's reset; keeps accounts and keys)")
    reset.add_argument("name")
    _password_options(reset)
    sub.add_parser("list", help="user names and their accounts (never hashes)")
    remove = sub.add_parser("remove", help="delete a user")
    remove.add_argument("name")
    fmz = sub.add_parser("fmz-key", help="issue another FMZ key pair for an existing user")
    fmz.add_argument("name")
    return parser


def _password_options(parser: argparse.ArgumentParser) -> None:
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    how.add_argument("--generate-password", action="store_true", help="make a random password and print it once")


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.generate_password:
        password = new_password()
        print(f"password={password}")
        return password
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def user_main(argv: list[str], config_path: str | None) -> int:
    args = _parser().parse_args(argv)
    store = UserStore.for_config(load_or_exit(config_path))
    try:
        if args.action == "add":
            password = _read_password(args)
            user = store.add(args.name, password, args.accounts.split(","), bus=args.bus)
            print(f"added {user.name}: {', '.join(user.accounts)}{' (bus user)' if user.on_bus else ''}")
            if args.fmz:
                access, secret = store.issue_fmz_key(user.name)
                print(f"access_key={access} secret_key={secret}")
        elif args.action == "password":
            store.reset_password(args.name, _read_password(args))
            print(f"password of {args.name} changed")
        elif args.action == "fmz-key":
            access, secret = store.issue_fmz_key(args.name)
            print(f"access_key={access} secret_key={secret}")
        elif args.action == "list":
            for user in store.list():
                keys = f"  fmz keys: {', '.join(k.access_key for k in user.fmz_keys)}" if user.fmz_keys else ""
                bus = "  bus user" if user.on_bus else ""
                print(f"{user.name}  {', '.join(user.accounts)}{bus}{keys}")
        elif args.action == "remove":
            store.remove(args.name)
            print(f"removed {args.name}")
    except UserError as exc:
        print(f"tradebus user: {exc}", file=sys.stderr)
        return 1
    return 0
