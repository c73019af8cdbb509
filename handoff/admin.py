"""Agent accounts.

    python -m handoff.admin create-agent USERNAME [--name "Nguyễn Văn A"] [--password-stdin]
    python -m handoff.admin set-password USERNAME [--password-stdin]
    python -m handoff.admin disable-agent USERNAME | enable-agent USERNAME
    python -m handoff.admin set-role USERNAME agent|supervisor   # a supervisor sees every call-back number
    python -m handoff.admin list-agents

Without --password-stdin the password is asked twice at the terminal (not echoed). The store is
HANDOFF_DATABASE_URL (default var/handoff.sqlite3).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys

from handoff.passwords import check_new_password, hash_password

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


def _read_password(from_stdin: bool, username: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Mật khẩu: ")
        if getpass.getpass("Nhập lại mật khẩu: ") != password:
            raise SystemExit("Hai lần nhập không khớp.")
    problem = check_new_password(password, username)
    if problem:
        raise SystemExit(f"Mật khẩu không hợp lệ: {problem}.")
    return password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff.admin", description="Agent accounts")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-agent", help="create an agent account")
    create.add_argument("username")
    create.add_argument("--name", help="display name (default: the username)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    setpw = sub.add_parser("set-password", help="change a password (logs the agent out everywhere)")
    setpw.add_argument("username")
    setpw.add_argument("--password-stdin", action="store_true")
    for name in ("disable-agent", "enable-agent"):
        sub.add_parser(name).add_argument("username")
    role = sub.add_parser("set-role", help="agent, or supervisor (may see every call-back number)")
    role.add_argument("username")
    role.add_argument("role", choices=["agent", "supervisor"])
    sub.add_parser("list-agents")
    args = parser.parse_args(argv)

    from handoff.store import get_store

    store = get_store()
    username = getattr(args, "username", "").strip().lower()
    if args.command != "list-agents" and not USERNAME.match(username):
        raise SystemExit("Tên đăng nhập: 2-32 ký tự a-z, 0-9, dấu . _ - (bắt đầu bằng chữ hoặc số).")
    if args.command == "create-agent":
        password = _read_password(args.password_stdin, username)
        try:
            store.create_agent(username, (args.name or username).strip(), hash_password(password))
        except ValueError as exc:
            raise SystemExit(f"Không tạo được: {exc}") from None
        print(f"Đã tạo tài khoản tổng đài viên {username!r} trong {store!r}.")
    elif args.command == "set-password":
        password = _read_password(args.password_stdin, username)
        if not store.set_password(username, hash_password(password)):
            raise SystemExit(f"Không có tài khoản {username!r}.")
        print(f"Đã đổi mật khẩu của {username!r}.")
    elif args.command == "set-role":
        if not store.set_role(username, args.role):
            raise SystemExit(f"Không có tài khoản {username!r}.")
        print(f"{username}: vai trò {args.role}.")
    elif args.command in ("disable-agent", "enable-agent"):
        if not store.set_disabled(username, args.command == "disable-agent"):
            raise SystemExit(f"Không có tài khoản {username!r}.")
        print(f"{username}: {'đã khoá' if args.command == 'disable-agent' else 'đã mở khoá'}.")
    else:
        for agent in store.list_agents():
            state = "khoá" if agent["disabled"] else "hoạt động"
            print(f"{agent['username']:<20} {agent['display_name']:<30} {state}")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
