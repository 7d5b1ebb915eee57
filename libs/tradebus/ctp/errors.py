"""CTP's error ids and the texts its fronts send with them in ``RspInfo`` (docs/ctp.md, "Error ids").

The texts are the fronts' own (``CTP:`` and the Chinese text, GB18030 on the wire); a client that shows
``ErrorMsg`` shows these. The market-data front answers a success in English (:data:`MD_SUCCESS_TEXT`).
"""

from __future__ import annotations


class ErrorId:
    SUCCESS = 0
    INVALID_LOGIN = 3  # bad BrokerID / UserID / Password
    DUPLICATE_LOGIN = 5
    NOT_LOGGED_IN = 6
    NO_PERMISSION = 9
    OTHERS_PASSWORD = 10  # a password change for another user
    INVESTOR_NOT_FOUND = 13
    OLD_PASSWORD_MISMATCH = 14
    BAD_ORDER_FIELD = 15
    INSTRUMENT_NOT_FOUND = 16
    DUPLICATE_ORDER = 22  # an OrderRef this session already used
    ORDER_NOT_FOUND = 25  # a cancel of an order the front does not know
    ORDER_NOT_ACTIVE = 26  # a cancel of an order already filled or cancelled
    OVER_CLOSE_POSITION = 30  # closing more than the position
    INSUFFICIENT_MONEY = 31
    SETTLEMENT_NOT_CONFIRMED = 42  # an order before the day's settlement was confirmed
    OVER_CLOSE_TODAY = 50  # closing more of today's position than there is
    OVER_CLOSE_YESTERDAY = 51  # closing more of yesterday's position than there is
    AUTH_FAILED = 63  # ReqAuthenticate refused (AppID / AuthCode)
    LOGIN_FORBIDDEN = 75  # too many failed logins in a row
    NO_SUCH_FUNCTION = 77
    WEAK_PASSWORD = 131


ERROR_TEXT: dict[int, str] = {
    ErrorId.SUCCESS: "CTP:正确",
    ErrorId.INVALID_LOGIN: "CTP:不合法的登录",
    ErrorId.DUPLICATE_LOGIN: "CTP:重复的登录",
    ErrorId.NOT_LOGGED_IN: "CTP:还没有登录",
    ErrorId.NO_PERMISSION: "CTP:无此权限",
    ErrorId.OTHERS_PASSWORD: "CTP:修改别人的口令",
    ErrorId.INVESTOR_NOT_FOUND: "CTP:找不到投资者",
    ErrorId.OLD_PASSWORD_MISMATCH: "CTP:原口令不匹配",
    ErrorId.BAD_ORDER_FIELD: "CTP:报单字段有误",
    ErrorId.INSTRUMENT_NOT_FOUND: "CTP:找不到合约",
    ErrorId.DUPLICATE_ORDER: "CTP:报单错误：不允许重复报单",
    ErrorId.ORDER_NOT_FOUND: "CTP:撤单找不到相应报单",
    ErrorId.ORDER_NOT_ACTIVE: "CTP:报单已全成交或已撤销，不能再撤",
    ErrorId.OVER_CLOSE_POSITION: "CTP:平仓量超过持仓量",
    ErrorId.INSUFFICIENT_MONEY: "CTP:资金不足",
    ErrorId.SETTLEMENT_NOT_CONFIRMED: "CTP:结算结果未确认",
    ErrorId.OVER_CLOSE_TODAY: "CTP:平今仓位不足",
    ErrorId.OVER_CLOSE_YESTERDAY: "CTP:平昨仓位不足",
    ErrorId.AUTH_FAILED: "CTP:客户端认证失败",
    ErrorId.LOGIN_FORBIDDEN: "CTP:连续登录失败次数超限，登录被禁止",
    ErrorId.NO_SUCH_FUNCTION: "CTP:无此功能",
    ErrorId.WEAK_PASSWORD: "CTP:口令强度不够",
}
MD_SUCCESS_TEXT = "CTP:No Error"  # the market-data front's text for ErrorID 0
