"""Login scenarios of the simulated OpenD (docs/simulators.md, '`opend_sim`').

How a scenario meets the device lock (Device.dat; docs/auth_broker.md, 'Device lock'):

* ``ok``, ``crash_after_ok``, ``force_logout``, ``disclaimer``: the real rule. No trusted
  ``F3CNN/Device.dat`` means a new device, so OpenD auto-requests an SMS code (the usual path);
  once a code is accepted the device is trusted and later runs log straight in.
* ``sms``, ``sms_auto``, ``sms_wrong_*``, ``sms_rate_limited``, ``pic_then_sms``: the code is demanded
  on every login even with a trusted Device.dat, as after a server-side re-trigger (whitelist expiry,
  new network). Device.dat is still written when the login completes.
* ``fail_*``, ``hang``, ``exit_immediately``: the login never reaches the device check.

A wrong SMS code is refused with an error line in every scenario; ``sms_wrong_silent`` prints only
that line, all others print it followed by the input tip again (the re-prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LoginEnd(StrEnum):
    OK = "ok"
    FAIL_PASSWORD = "fail_password"
    FAIL_NETWORK = "fail_network"
    FAIL_MOOMOO_ID = "fail_moomoo_id"
    HANG = "hang"


class SmsStyle(StrEnum):
    MANUAL = "manual"  # "Need a phone verification code" + tip to run req_phone_verify_code
    AUTO = "auto"  # OpenD requests the SMS itself, then tips input_phone_verify_code
    AUTO_RATE_LIMITED = "auto_rate_limited"  # the automatic request is refused as too frequent


class AfterLogin(StrEnum):
    NOTHING = "nothing"
    CRASH = "crash"  # the process dies (exit code 3, like Kael's mock) a moment after the login
    FORCE_LOGOUT = "force_logout"  # the server ends the session; a new SMS check is needed
    DISCLAIMER = "disclaimer"  # disclaimer not agreed: OpenD exits right after the login


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    end: LoginEnd = LoginEnd.OK
    force_sms: bool = False
    sms_style: SmsStyle = SmsStyle.AUTO
    reprompt_on_wrong_code: bool = True
    pic_first: bool = False
    after_login: AfterLogin = AfterLogin.NOTHING
    exit_at_start: bool = False


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("ok"),
        Scenario("sms", force_sms=True, sms_style=SmsStyle.MANUAL),
        Scenario("sms_auto", force_sms=True, sms_style=SmsStyle.AUTO),
        Scenario("sms_wrong_reprompt", force_sms=True, sms_style=SmsStyle.MANUAL),
        Scenario("sms_wrong_silent", force_sms=True, sms_style=SmsStyle.MANUAL, reprompt_on_wrong_code=False),
        Scenario("sms_rate_limited", force_sms=True, sms_style=SmsStyle.AUTO_RATE_LIMITED),
        Scenario("pic_then_sms", force_sms=True, sms_style=SmsStyle.MANUAL, pic_first=True),
        Scenario("fail_password", end=LoginEnd.FAIL_PASSWORD),
        Scenario("fail_network", end=LoginEnd.FAIL_NETWORK),
        Scenario("fail_moomoo_id", end=LoginEnd.FAIL_MOOMOO_ID),
        Scenario("crash_after_ok", after_login=AfterLogin.CRASH),
        Scenario("force_logout", after_login=AfterLogin.FORCE_LOGOUT),
        Scenario("disclaimer", after_login=AfterLogin.DISCLAIMER),
        Scenario("hang", end=LoginEnd.HANG),
        Scenario("exit_immediately", exit_at_start=True),
    )
}


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
