"""Operation commands: syntax, help text and rate limits (docs/auth_broker.md, 'Operation commands').

Syntax is ``cmd -param_key1=param_value1 …``. Names are case-sensitive: ``Exit`` is an unknown
command (observed on 10.11.7108). The same parser serves the console and the telnet port.
"""

from __future__ import annotations

from dataclasses import dataclass

from opend_sim.texts import Lang

HOUR = 3600.0
MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    limit: tuple[int, float] | None  # (calls, window seconds) or None for no limit
    help_en: str
    help_chs: str


COMMANDS: dict[str, CommandSpec] = {
    c.name: c
    for c in (
        CommandSpec("help", "help [-cmd=exit]", None, "show the command list or help for one command",
                    "显示命令列表或某个命令的帮助"),
        CommandSpec("exit", "exit", None, "exit OpenD", "退出程序"),
        CommandSpec("req_phone_verify_code", "req_phone_verify_code", (1, MINUTE),
                    "request a phone verification code", "请求手机验证码"),
        CommandSpec("input_phone_verify_code", "input_phone_verify_code -code=123456", (10, MINUTE),
                    "input the phone verification code and continue logging in", "输入手机验证码并继续登录"),
        CommandSpec("req_pic_verify_code", "req_pic_verify_code", (10, MINUTE),
                    "request a graphic verification code", "请求图形验证码"),
        CommandSpec("input_pic_verify_code", "input_pic_verify_code -code=1234", (10, MINUTE),
                    "input the graphic verification code and continue logging in", "输入图形验证码并继续登录"),
        CommandSpec("relogin", "relogin [-login_pwd=123456] [-login_pwd_md5=...]", (10, HOUR),
                    "log in the current account again", "重新登录当前账号"),
        CommandSpec("ping", "ping", (10, MINUTE), "latency to the connection point", "检测与连接点的延迟"),
        CommandSpec("show_delay_report", "show_delay_report [-detail_report_path=...] [-push_count_type=sr2cs]",
                    None, "show delay statistics", "显示延迟统计"),
        CommandSpec("close_api_conn", "close_api_conn [-conn_id=...]", None, "close API connections",
                    "关闭API连接"),
        CommandSpec("show_sub_info", "show_sub_info [-conn_id=...] [-sub_info_path=...]", None,
                    "show subscription status", "显示订阅状态"),
        CommandSpec("request_highest_quote_right", "request_highest_quote_right", (10, MINUTE),
                    "request the highest quote right", "请求最高行情权限"),
        CommandSpec("update", "update", None, "update OpenD", "更新OpenD"),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CommandLine:
    name: str
    params: dict[str, str]
    bad_tokens: tuple[str, ...]  # tokens that are not -key=value


def parse_command(line: str) -> CommandLine | None:
    """``None`` for a blank line (OpenD ignores it)."""
    tokens = line.split()
    if not tokens:
        return None
    params: dict[str, str] = {}
    bad: list[str] = []
    for token in tokens[1:]:
        key, has_value, value = token.partition("=")
        if not key.startswith("-") or len(key) < 2:
            bad.append(token)
            continue
        params[key[1:]] = value if has_value else ""
    return CommandLine(tokens[0], params, tuple(bad))


def help_lines(lang: Lang, only: str | None = None) -> list[str]:
    specs = [COMMANDS[only]] if only else list(COMMANDS.values())
    width = max(len(spec.usage) for spec in specs)
    return [f"{spec.usage.ljust(width)}  {spec.help_en if lang is Lang.EN else spec.help_chs}" for spec in specs]
