"""What OpenD prints, in English (``-lang=en``) and Simplified Chinese (``-lang=chs``).

Sources are public issue pastes and the images of manhinhang, greenmtnboy and iridescentGray, summed up in
docs/auth_broker.md, 'Console output' and 'Device lock'.
Lines marked ``unverified`` have no public paste in that language; they are written in OpenD's
style (``Login failed,<reason>`` with a bare comma, full-width Chinese punctuation) and keep the
substrings that log scrapers are documented to look for (``verify code error`` / ``验证码错误``,
``graphic verification code``, ``too frequent`` / ``过于频繁``).

The ``-code=123456`` / ``-code=1234`` in the command tips is OpenD's literal example text, not the
code that was sent: the simulator never prints an accepted code.
"""

from __future__ import annotations

from enum import StrEnum


class Lang(StrEnum):
    EN = "en"
    CHS = "chs"


class T(StrEnum):
    """Message keys; the values are only for readability in the GTW log."""

    VERSION = "version"
    START_TIME = "start_time"
    RUNNING = "running"
    CFG_LOADED = "cfg_loaded"
    SERVER_STARTUP = "server_startup"
    API_LISTEN = "api_listen"
    API_RSA = "api_rsa"
    API_FAILED = "api_failed"
    TELNET_LISTEN = "telnet_listen"
    TELNET_FAILED = "telnet_failed"
    LOGIN_METHOD = "login_method"
    LOGGING_IN = "logging_in"
    LOGIN_OK = "login_ok"
    PHONE_NEEDED = "phone_needed"
    TIPS_REQ_PHONE = "tips_req_phone"
    PHONE_REQUESTING = "phone_requesting"
    PHONE_REQUESTED = "phone_requested"
    PHONE_TOO_FREQUENT = "phone_too_frequent"
    TIPS_INPUT_PHONE = "tips_input_phone"
    PHONE_VERIFYING = "phone_verifying"
    PHONE_WRONG = "phone_wrong"
    PIC_NEEDED = "pic_needed"
    PIC_DOWNLOADED = "pic_downloaded"
    TIPS_INPUT_PIC = "tips_input_pic"
    PIC_VERIFYING = "pic_verifying"
    PIC_WRONG = "pic_wrong"
    FAIL_PASSWORD = "fail_password"
    FAIL_EMPTY = "fail_empty"
    FAIL_NETWORK = "fail_network"
    FAIL_MOOMOO_ID = "fail_moomoo_id"
    LOGIN_FAILED = "login_failed"
    DISCLAIMER = "disclaimer"
    FORCE_LOGOUT = "force_logout"
    APPDATA_MISSING = "appdata_missing"
    EXITED = "exited"
    UNKNOWN_COMMAND = "unknown_command"
    NOT_NOW = "not_now"
    TOO_FREQUENT = "too_frequent"
    BAD_PARAM = "bad_param"
    PING = "ping"
    NO_SUB = "no_sub"
    QUOTE_RIGHT = "quote_right"
    CONN_CLOSED = "conn_closed"
    DELAY_REPORT = "delay_report"
    UPDATE_LATEST = "update_latest"
    HELP_HEADER = "help_header"


_EN: dict[T, str] = {
    T.VERSION: "Futu OpenD version: {version}",
    T.START_TIME: "Start Time: {time}",
    T.RUNNING: "Futu OpenD is running",
    T.CFG_LOADED: "Load configuration file successfully",
    T.SERVER_STARTUP: "Server startup",
    T.API_LISTEN: "API listening address: {addr}",  # unverified
    T.API_RSA: "API enable RSA: No",  # unverified
    T.API_FAILED: "API server failed to start, address {addr} may be in use",  # unverified
    T.TELNET_LISTEN: "Telnet listening address: {addr}",  # unverified
    T.TELNET_FAILED: "Telnet server failed to start, address {addr} may be in use",  # unverified
    T.LOGIN_METHOD: "Login Method: Log in with account and password",  # unverified
    T.LOGGING_IN: "Logging in",
    T.LOGIN_OK: "Login successful",
    T.PHONE_NEEDED: "Need a phone verification code",
    T.TIPS_REQ_PHONE: "Command tips: req_phone_verify_code",
    T.PHONE_REQUESTING: "Requesting phone verification code",  # unverified
    T.PHONE_REQUESTED: "SMS verification code requested successfully",
    T.PHONE_TOO_FREQUENT: (  # unverified
        "Failed to request phone verification code, SMS requests are too frequent, please try again later"
    ),
    T.TIPS_INPUT_PHONE: "Command tips: input_phone_verify_code -code=123456",
    T.PHONE_VERIFYING: "Verifying phone verification code",  # unverified
    T.PHONE_WRONG: "Phone verify code error, please enter it again",  # unverified
    T.PIC_NEEDED: "Graphic verification code required",
    T.PIC_DOWNLOADED: "Graphic verification code downloaded: {path}",
    T.TIPS_INPUT_PIC: "Command tips: input_pic_verify_code -code=1234",
    T.PIC_VERIFYING: "Verifying graphic verification code",  # unverified
    T.PIC_WRONG: "Graphic verification code error",  # unverified
    T.FAIL_PASSWORD: "Login failed,incorrect password",
    T.FAIL_EMPTY: "Login failed,login account or password is empty",  # unverified
    T.FAIL_NETWORK: "Login failed,network error, please try again later",  # unverified
    T.FAIL_MOOMOO_ID: (
        "Login failed,The account may be a moomoo ID. Before logging in, please re-download and "
        "install FutuOpenD via the moomoo official website."
    ),
    T.LOGIN_FAILED: "Login failed",
    T.DISCLAIMER: "Disclaimer not agreed",  # unverified
    T.FORCE_LOGOUT: "Force logout, the login status has expired, please log in again",  # unverified
    T.APPDATA_MISSING: "The program's own data does not exist",  # unverified
    T.EXITED: "Futu OpenD exited",  # unverified
    T.UNKNOWN_COMMAND: "Unknown command",
    T.NOT_NOW: "Command not available during the current period",
    T.TOO_FREQUENT: "Operation too frequent, please try again later",  # unverified
    T.BAD_PARAM: "Parameter error: {detail}",  # unverified
    T.PING: "Ping: {ms}ms",  # unverified
    T.NO_SUB: "No subscription",  # unverified
    T.QUOTE_RIGHT: "Request highest quote right successfully",  # unverified
    T.CONN_CLOSED: "Closed {count} API connection(s)",  # unverified
    T.DELAY_REPORT: "No delay statistics yet",  # unverified
    T.UPDATE_LATEST: "Already the latest version",  # unverified
    T.HELP_HEADER: "Command list:",  # unverified
}

_CHS: dict[T, str] = {
    T.VERSION: "Futu OpenD版本信息: {version}",
    T.START_TIME: "启动时间: {time}",
    T.RUNNING: "Futu OpenD运行中",
    T.CFG_LOADED: "加载配置文件成功",
    T.SERVER_STARTUP: "服务器启动",
    T.API_LISTEN: "API监听地址: {addr}",
    T.API_RSA: "API启用RSA: 否",
    T.API_FAILED: "API服务启动失败，{addr}可能已被占用",  # unverified
    T.TELNET_LISTEN: "Telnet监听地址: {addr}",
    T.TELNET_FAILED: "Telnet服务启动失败，{addr}可能已被占用",  # unverified
    T.LOGIN_METHOD: "登录方式: 账号密码登录",
    T.LOGGING_IN: "正在登录",
    T.LOGIN_OK: "登录成功",
    T.PHONE_NEEDED: "需要手机验证码",
    T.TIPS_REQ_PHONE: "命令提示: req_phone_verify_code",
    T.PHONE_REQUESTING: "正在请求手机验证码",
    T.PHONE_REQUESTED: "请求手机验证码成功",
    T.PHONE_TOO_FREQUENT: "请求手机验证码失败,短信请求过于频繁，请稍后再试",
    T.TIPS_INPUT_PHONE: "命令提示: input_phone_verify_code -code=123456",
    T.PHONE_VERIFYING: "正在验证手机验证码",
    T.PHONE_WRONG: "手机验证码错误，请重新输入",  # unverified
    T.PIC_NEEDED: "需要图形验证码",
    T.PIC_DOWNLOADED: "图形验证码已下载: {path}",  # unverified
    T.TIPS_INPUT_PIC: "命令提示: input_pic_verify_code -code=1234",
    T.PIC_VERIFYING: "正在验证图形验证码",  # unverified
    T.PIC_WRONG: "图形验证码错误",
    T.FAIL_PASSWORD: "登录失败,密码不匹配",
    T.FAIL_EMPTY: "登录失败,账号或密码为空",  # unverified
    T.FAIL_NETWORK: "登录失败,网络异常，请稍后再试",
    T.FAIL_MOOMOO_ID: "登录失败,该账号可能是moomoo号，请前往moomoo官网重新下载安装OpenD后登录",  # unverified
    T.LOGIN_FAILED: "登录失败",
    T.DISCLAIMER: "未同意免责声明",
    T.FORCE_LOGOUT: "强制退出登录，登录状态已失效，请重新登录",  # unverified
    T.APPDATA_MISSING: "程序自身数据不存在",
    T.EXITED: "Futu OpenD已退出",
    T.UNKNOWN_COMMAND: "未知命令",  # unverified
    T.NOT_NOW: "当前时段不可使用该命令",  # unverified
    T.TOO_FREQUENT: "操作过于频繁，请稍后再试",  # unverified
    T.BAD_PARAM: "参数错误: {detail}",  # unverified
    T.PING: "Ping: {ms}ms",
    T.NO_SUB: "没有订阅",  # unverified
    T.QUOTE_RIGHT: "获取最高行情权限成功",  # unverified
    T.CONN_CLOSED: "已关闭{count}个API连接",  # unverified
    T.DELAY_REPORT: "暂无延迟统计",  # unverified
    T.UPDATE_LATEST: "已是最新版本",  # unverified
    T.HELP_HEADER: "命令列表:",  # unverified
}

_TABLES: dict[Lang, dict[T, str]] = {Lang.EN: _EN, Lang.CHS: _CHS}

# Every key must exist in both languages; checked once at import so a missing line fails loudly.
for _lang, _table in _TABLES.items():
    _missing = set(T) - set(_table)
    if _missing:
        raise RuntimeError(f"opend_sim texts: {_lang} lacks {sorted(_missing)}")


def text(lang: Lang, key: T, **fields: object) -> str:
    return _TABLES[lang][key].format(**fields)
