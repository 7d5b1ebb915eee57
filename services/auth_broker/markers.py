"""What a console line means, from marker tables in English and Chinese (docs/auth_broker.md, 'Console output').

Matching is by case-insensitive substring on a cleaned line, first rule wins, so the specific rules
(a wrong *picture* code, a login failure's reason) come before the general ones. Wordings that no
public paste confirms are listed too (see opend_sim's ``texts.py``): the table is one place to extend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    PIC_WRONG = "pic_wrong"
    PIC_DOWNLOADED = "pic_downloaded"
    PIC_NEEDED = "pic_needed"
    PIC_TIP = "pic_tip"  # the input tip, printed once the picture is there
    PHONE_WRONG = "phone_wrong"
    PHONE_RATE_LIMITED = "phone_rate_limited"
    PHONE_REQUEST_NEEDED = "phone_request_needed"  # OpenD did not send the SMS: someone must request it
    PHONE_NEEDED = "phone_needed"
    PHONE_SENT = "phone_sent"  # the SMS went out / OpenD tips input_phone_verify_code
    LOGIN_OK = "login_ok"
    FAIL_PASSWORD = "fail_password"
    FAIL_ACCOUNT = "fail_account"
    FAIL_DISCLAIMER = "fail_disclaimer"
    FAIL_NETWORK = "fail_network"
    FAIL_OTHER = "fail_other"
    FORCE_LOGOUT = "force_logout"
    PROMPT_ACCOUNT = "prompt_account"
    PROMPT_PASSWORD = "prompt_password"
    PROMPT_REMEMBER = "prompt_remember"


FAILURES: frozenset[Kind] = frozenset({Kind.FAIL_PASSWORD, Kind.FAIL_ACCOUNT, Kind.FAIL_DISCLAIMER,
                                       Kind.FAIL_NETWORK, Kind.FAIL_OTHER})
FATAL_FAILURES: frozenset[Kind] = frozenset({Kind.FAIL_PASSWORD, Kind.FAIL_ACCOUNT, Kind.FAIL_DISCLAIMER})
PROMPTS: frozenset[Kind] = frozenset({Kind.PROMPT_ACCOUNT, Kind.PROMPT_PASSWORD, Kind.PROMPT_REMEMBER})
PHONE_ASKS: frozenset[Kind] = frozenset({Kind.PHONE_NEEDED, Kind.PHONE_REQUEST_NEEDED, Kind.PHONE_SENT,
                                         Kind.PHONE_RATE_LIMITED})

# (kind, substrings in English and Chinese, lower-case). Order matters: first match wins.
RULES: tuple[tuple[Kind, tuple[str, ...]], ...] = (
    (Kind.PIC_WRONG, ("graphic verification code error", "图形验证码错误", "pic verify code error")),
    (Kind.PIC_DOWNLOADED, ("graphic verification code downloaded", "图形验证码已下载")),
    (Kind.PIC_TIP, ("input_pic_verify_code", "req_pic_verify_code")),
    (Kind.PIC_NEEDED, ("graphic verification code required", "需要图形验证码")),
    (Kind.PHONE_WRONG, ("verify code error", "verification code error", "verification code is incorrect",
                        "验证码错误", "验证码不正确")),
    (Kind.PHONE_RATE_LIMITED, ("too frequent", "过于频繁")),
    (Kind.PHONE_REQUEST_NEEDED, ("tips: req_phone_verify_code", "提示: req_phone_verify_code",
                                 "提示：req_phone_verify_code")),
    (Kind.PHONE_SENT, ("verification code requested successfully", "请求手机验证码成功",
                       "tips: input_phone_verify_code", "提示: input_phone_verify_code",
                       "提示：input_phone_verify_code")),
    # Kael's mock prints "req_phone_verify_code [from mock-futuopend]": the bare token is his marker.
    (Kind.PHONE_NEEDED, ("need a phone verification code", "sms verification code required", "需要手机验证码",
                         "req_phone_verify_code")),
    (Kind.FAIL_DISCLAIMER, ("disclaimer", "免责声明", "免責聲明")),
    (Kind.FAIL_PASSWORD, ("incorrect password", "password is incorrect", "wrong password", "密码不匹配",
                          "密码错误", "登录出错已达上限")),
    (Kind.FAIL_ACCOUNT, ("moomoo id", "moomoo号", "完成券商开户", "account or password is empty",
                         "账号或密码为空", "account does not exist", "账号不存在")),
    (Kind.FAIL_NETWORK, ("network", "网络", "timed out", "超时")),
    (Kind.FAIL_OTHER, ("login failed", "login fail", "登录失败")),
    (Kind.FORCE_LOGOUT, ("force logout", "forced logout", "kicked", "强制退出", "被踢", "已在其他设备登录")),
    (Kind.LOGIN_OK, ("login successful", "登录成功", "required data is ready")),
    (Kind.PROMPT_ACCOUNT, ("please enter account", "please enter your account", "请输入账号")),
    (Kind.PROMPT_PASSWORD, ("please enter password", "please enter your password", "请输入密码")),
    (Kind.PROMPT_REMEMBER, ("remember the password", "remember password", "请选择是否记住密码")),
)

# A network/timeout word alone is not a failure: only inside a "login failed" line.
_NEEDS_FAIL_CONTEXT: frozenset[Kind] = frozenset({Kind.FAIL_NETWORK})
_FAIL_CONTEXT = ("login failed", "login fail", "登录失败")
_PIC_PATH = re.compile(r"(?:downloaded|已下载)\s*[:：]\s*(\S.*\S|\S)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Marker:
    kind: Kind
    path: str = ""  # the picture's path on PIC_DOWNLOADED lines


def classify(line: str) -> Marker | None:
    lowered = line.lower()
    for kind, needles in RULES:
        if not any(needle in lowered for needle in needles):
            continue
        if kind in _NEEDS_FAIL_CONTEXT and not any(ctx in lowered for ctx in _FAIL_CONTEXT):
            continue
        if kind is Kind.PIC_DOWNLOADED:
            match = _PIC_PATH.search(line)
            return Marker(kind, match.group(1) if match else "")
        return Marker(kind)
    return None


def classify_prompt(partial: str) -> Marker | None:
    """Interactive prompts are written without a newline: only they are looked for in a partial line."""
    marker = classify(partial)
    return marker if marker is not None and marker.kind in PROMPTS else None
