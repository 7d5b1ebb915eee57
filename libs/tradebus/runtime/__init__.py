from tradebus.runtime.metrics import Counter, Gauge, Registry
from tradebus.runtime.service import Runtime, Service, run_service

__all__ = ["Counter", "Gauge", "Registry", "Runtime", "Service", "run_service"]
