"""A small Prometheus registry: counters and gauges rendered in the text exposition format.

Small on purpose (no dependency): services count a few things — ticks published, ticks dropped,
orders, reconnects — and the hot path only does ``counter.inc()`` (one dict add, no lock: every
service runs its counters on one event loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = labels
        self.values: dict[tuple[str, ...], float] = {}

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        values = self.values or ({(): 0.0} if not self.label_names else {})
        for key, value in sorted(values.items()):
            lines.append(f"{self.name}{_labels(self.label_names, key)} {_number(value)}")
        return lines


class Counter(Metric):
    kind = "counter"

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)


class Gauge(Metric):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = (),
                 source: Callable[[], float] | None = None) -> None:
        super().__init__(name, help_text, labels)
        self._source = source

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = value

    def render(self) -> list[str]:
        if self._source is not None:
            self.values[()] = float(self._source())
        return super().render()


class Registry:
    def __init__(self, prefix: str = "tradebus") -> None:
        self.prefix = prefix
        self._metrics: dict[str, Metric] = {}

    def _add(self, metric: Metric) -> Metric:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> Counter:
        return self._add(Counter(f"{self.prefix}_{name}", help_text, labels))  # type: ignore[return-value]

    def gauge(self, name: str, help_text: str, labels: tuple[str, ...] = (),
              source: Callable[[], float] | None = None) -> Gauge:
        return self._add(Gauge(f"{self.prefix}_{name}", help_text, labels, source))  # type: ignore[return-value]

    def render(self) -> bytes:
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.render())
        return ("\n".join(lines) + "\n").encode()
