"""td_exec: event-sourced order execution on Futu, CTP and the in-process sim venue (``docs/td_exec.md``)."""
