"""fmz_edge: Futu and CTP as an exchange on the FMZ platform (custom-protocol REST plug-in).

``python -m fmz_edge --config FILE``. See ``docs/fmz_edge.md``.
"""
