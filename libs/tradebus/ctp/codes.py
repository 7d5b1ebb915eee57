"""CTP's one-character codes, by name: the single place a CTP code is spelt in tradebus.

CTP encodes every enumerated field as one ASCII character (``Direction '0'`` is buy). Each class below
holds one field's codes under CTP's own names written in UPPER_SNAKE (``THOST_FTDC_OST_NoTradeQueueing``
→ ``OrderStatus.NO_TRADE_QUEUEING``); ``tests/foundation/test_ctp_codes.py`` checks every one against
openctp-ctp's ``THOST_FTDC_*`` constants. Values are plain ``str`` (and ``int`` for the resume types),
so they go into a SWIG struct, a JSON body or a dict key unchanged. What the codes mean, and the CTP
facts the mapping relies on, are written down in docs/ctp.md.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CodeSet:
    """A CTP field's codes as class attributes; ``PREFIX`` names their openctp-ctp constants."""

    PREFIX: ClassVar[str] = ""

    @classmethod
    def members(cls) -> dict[str, Any]:
        """``{NAME: code}`` of every code of this field (not inherited helpers)."""
        return {k: v for k, v in vars(cls).items() if k.isupper() and k != "PREFIX"}

    @classmethod
    def values(cls) -> frozenset[Any]:
        return frozenset(cls.members().values())


class Direction(CodeSet):
    PREFIX = "THOST_FTDC_D_"
    BUY = "0"
    SELL = "1"


class OffsetFlag(CodeSet):
    """CombOffsetFlag (its first character) / OffsetFlag. The force-close flags are set by the broker."""

    PREFIX = "THOST_FTDC_OF_"
    OPEN = "0"
    CLOSE = "1"
    FORCE_CLOSE = "2"
    CLOSE_TODAY = "3"
    CLOSE_YESTERDAY = "4"
    FORCE_OFF = "5"
    LOCAL_FORCE_CLOSE = "6"


class OrderPriceType(CodeSet):
    PREFIX = "THOST_FTDC_OPT_"
    ANY_PRICE = "1"  # a market order
    LIMIT_PRICE = "2"
    BEST_PRICE = "3"
    LAST_PRICE = "4"


class TimeCondition(CodeSet):
    PREFIX = "THOST_FTDC_TC_"
    IOC = "1"  # immediate or cancel
    GFS = "2"  # good for section
    GFD = "3"  # good for day
    GTD = "4"
    GTC = "5"
    GFA = "6"  # good for auction


class VolumeCondition(CodeSet):
    PREFIX = "THOST_FTDC_VC_"
    AV = "1"  # any volume
    MV = "2"  # at least MinVolume
    CV = "3"  # complete volume


class OrderStatus(CodeSet):
    PREFIX = "THOST_FTDC_OST_"
    ALL_TRADED = "0"
    PART_TRADED_QUEUEING = "1"
    PART_TRADED_NOT_QUEUEING = "2"
    NO_TRADE_QUEUEING = "3"
    NO_TRADE_NOT_QUEUEING = "4"
    CANCELED = "5"
    UNKNOWN = "a"  # taken by the front, not yet answered by the exchange
    NOT_TOUCHED = "b"  # a conditional order waiting for its condition
    TOUCHED = "c"


class OrderSubmitStatus(CodeSet):
    PREFIX = "THOST_FTDC_OSS_"
    INSERT_SUBMITTED = "0"
    CANCEL_SUBMITTED = "1"
    MODIFY_SUBMITTED = "2"
    ACCEPTED = "3"
    INSERT_REJECTED = "4"
    CANCEL_REJECTED = "5"
    MODIFY_REJECTED = "6"


class HedgeFlag(CodeSet):
    PREFIX = "THOST_FTDC_HF_"
    SPECULATION = "1"
    ARBITRAGE = "2"
    HEDGE = "3"


class ContingentCondition(CodeSet):
    PREFIX = "THOST_FTDC_CC_"
    IMMEDIATELY = "1"


class ForceCloseReason(CodeSet):
    PREFIX = "THOST_FTDC_FCC_"
    NOT_FORCE_CLOSE = "0"


class ActionFlag(CodeSet):
    PREFIX = "THOST_FTDC_AF_"
    DELETE = "0"
    MODIFY = "3"


class OrderActionStatus(CodeSet):
    PREFIX = "THOST_FTDC_OAS_"
    SUBMITTED = "a"
    ACCEPTED = "b"
    REJECTED = "c"


class PosiDirection(CodeSet):
    PREFIX = "THOST_FTDC_PD_"
    NET = "1"
    LONG = "2"
    SHORT = "3"


class PositionDate(CodeSet):
    """Which part of a position an InvestorPosition row holds (SHFE/INE send one row per part)."""

    PREFIX = "THOST_FTDC_PSD_"
    TODAY = "1"
    HISTORY = "2"


class PositionDateType(CodeSet):
    """Whether an instrument's exchange keeps yesterday's position apart (``USE_HISTORY``)."""

    PREFIX = "THOST_FTDC_PDT_"
    USE_HISTORY = "1"
    NO_USE_HISTORY = "2"


class PositionType(CodeSet):
    PREFIX = "THOST_FTDC_PT_"
    NET = "1"
    GROSS = "2"


class ProductClass(CodeSet):
    PREFIX = "THOST_FTDC_PC_"
    FUTURES = "1"
    OPTIONS = "2"
    COMBINATION = "3"
    SPOT = "4"


class OrderType(CodeSet):
    PREFIX = "THOST_FTDC_ORDT_"
    NORMAL = "0"


class OrderSource(CodeSet):
    PREFIX = "THOST_FTDC_OSRC_"
    PARTICIPANT = "0"
    ADMINISTRATOR = "1"


class TradeType(CodeSet):
    PREFIX = "THOST_FTDC_TRDT_"
    COMMON = "0"


class PriceSource(CodeSet):
    PREFIX = "THOST_FTDC_PSRC_"
    LAST_PRICE = "0"


class TradeSource(CodeSet):
    PREFIX = "THOST_FTDC_TSRC_"
    NORMAL = "0"
    QUERY = "1"


class BizType(CodeSet):
    PREFIX = "THOST_FTDC_BZTP_"
    FUTURE = "1"
    STOCK = "2"


class InstLifePhase(CodeSet):
    PREFIX = "THOST_FTDC_IP_"
    NOT_START = "0"
    STARTED = "1"
    PAUSE = "2"
    EXPIRED = "3"


class MaxMarginSideAlgorithm(CodeSet):
    PREFIX = "THOST_FTDC_MMSA_"
    NO = "0"
    YES = "1"


class CombinationType(CodeSet):
    PREFIX = "THOST_FTDC_COMBT_"
    FUTURE = "0"


class TradingRole(CodeSet):
    PREFIX = "THOST_FTDC_ER_"
    BROKER = "1"
    HOST = "2"
    MAKER = "3"


class ExchangeProperty(CodeSet):
    PREFIX = "THOST_FTDC_EXP_"
    NORMAL = "0"


class AppType(CodeSet):
    PREFIX = "THOST_FTDC_APP_TYPE_"
    INVESTOR = "1"


class IdentifiedCardType(CodeSet):
    PREFIX = "THOST_FTDC_ICT_"
    IDCARD = "1"  # CTP's name is IDCard


class ClientIdType(CodeSet):
    PREFIX = "THOST_FTDC_CIDT_"
    SPECULATION = "1"


class InvestorRange(CodeSet):
    PREFIX = "THOST_FTDC_IR_"
    ALL = "1"
    GROUP = "2"
    SINGLE = "3"


class CloseDealType(CodeSet):
    PREFIX = "THOST_FTDC_CDT_"
    NORMAL = "0"


class MortgageFundUseRange(CodeSet):
    PREFIX = "THOST_FTDC_MFUR_"
    NONE = "0"


class OrderFreqControlLevel(CodeSet):
    PREFIX = "THOST_FTDC_OFCL_"
    NONE = "0"


class ResumeType(CodeSet):
    """How a login replays the private / public flow (``SubscribePrivateTopic``); ints, not chars."""

    PREFIX = "THOST_TERT_"
    RESTART = 0  # the whole trading day again
    RESUME = 1  # from the last sequence this client saw
    QUICK = 2  # from now on
    NONE = 3  # not at all


CODE_SETS: tuple[type[CodeSet], ...] = (
    Direction, OffsetFlag, OrderPriceType, TimeCondition, VolumeCondition, OrderStatus, OrderSubmitStatus,
    HedgeFlag, ContingentCondition, ForceCloseReason, ActionFlag, OrderActionStatus, PosiDirection,
    PositionDate, PositionDateType, PositionType, ProductClass, OrderType, OrderSource, TradeType,
    PriceSource, TradeSource, BizType, InstLifePhase, MaxMarginSideAlgorithm, CombinationType, TradingRole,
    ExchangeProperty, AppType, IdentifiedCardType, ClientIdType, InvestorRange, ResumeType,
    CloseDealType, MortgageFundUseRange, OrderFreqControlLevel,
)  # fmt: skip


class StatusMsg:
    """The ``StatusMsg`` texts a CTP front sends with an order's status (GB18030 on the wire)."""

    SUBMITTED = "报单已提交"  # OrderStatus UNKNOWN: the front has it
    NO_TRADE_QUEUEING = "未成交"
    PART_TRADED = "部分成交"
    ALL_TRADED = "全部成交"
    CANCELED = "已撤单"
    # An exchange's refusal reads "已撤单报单被拒绝<ExchangeID>:<the exchange's reason>".
    EXCHANGE_REJECTED = "已撤单报单被拒绝"


def exchange_rejected_msg(exchange: str, reason: str) -> str:
    return f"{StatusMsg.EXCHANGE_REJECTED}{exchange}:{reason}"


# OrderStatus → the StatusMsg a front sends with it.
STATUS_MSG: dict[str, str] = {
    OrderStatus.UNKNOWN: StatusMsg.SUBMITTED,
    OrderStatus.NO_TRADE_QUEUEING: StatusMsg.NO_TRADE_QUEUEING,
    OrderStatus.PART_TRADED_QUEUEING: StatusMsg.PART_TRADED,
    OrderStatus.ALL_TRADED: StatusMsg.ALL_TRADED,
    OrderStatus.CANCELED: StatusMsg.CANCELED,
}

# The reason codes of ``OnFrontDisconnected(nReason)``.
DISCONNECT_REASONS: dict[int, str] = {
    0x1001: "network read failure",
    0x1002: "network write failure",
    0x2001: "heartbeat timeout",
    0x2002: "heartbeat send failure",
    0x2003: "bad packet received",
}
REASON_READ_FAILURE, REASON_WRITE_FAILURE = 0x1001, 0x1002
REASON_HEARTBEAT_TIMEOUT, REASON_HEARTBEAT_SEND_FAILURE, REASON_BAD_PACKET = 0x2001, 0x2002, 0x2003


def disconnect_text(reason: int) -> str:
    """``front disconnected: heartbeat timeout (0x2001)``: the operator's words for a reason code."""
    code = int(reason)
    return f"front disconnected: {DISCONNECT_REASONS.get(code, 'reason')} ({code:#x})"


# What a ``Req…`` call returns before anything is sent.
RC_OK, RC_NOT_CONNECTED, RC_IN_FLIGHT, RC_TOO_FAST = 0, -1, -2, -3
