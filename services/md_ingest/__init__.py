"""md_ingest: Futu and CTP quotes normalised onto ``md.tick.*``, ``md.bar.1m.*`` and ``md.status.*``.

``python -m md_ingest --config FILE --health-port N``. See ``docs/md_ingest.md``.
"""
