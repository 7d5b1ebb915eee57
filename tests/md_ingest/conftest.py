"""md_ingest fixtures live in ``mdingest_helpers`` (importable by the tests too); re-exported here."""

from mdingest_helpers import ctp_front, harness_factory, opend

__all__ = ["ctp_front", "harness_factory", "opend"]
