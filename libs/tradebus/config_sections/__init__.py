"""Per-service configuration sections, one file each, so each service's settings live in one place.

Every class here derives from :class:`tradebus.config.Section` (unknown keys are an error) and is a
field of :class:`tradebus.config.Config`; environment overrides are ``TRADEBUS_<SECTION>_<KEY>``.
"""
