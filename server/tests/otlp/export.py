"""Exports a counter, a histogram, an observable gauge and an up-down counter to srebot's
/v1/metrics with the official OpenTelemetry Python SDK and its OTLP/HTTP (protobuf) exporter.
Usage: export.py BASE_URL [TOKEN]. Exits non-zero when the export failed."""
import sys

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

base = sys.argv[1]
headers = {"Authorization": "Bearer " + sys.argv[2]} if len(sys.argv) > 2 else {}
exporter = OTLPMetricExporter(endpoint=base + "/v1/metrics", headers=headers, timeout=10)
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
provider = MeterProvider(
    resource=Resource.create(
        {
            "service.name": "checkout",
            "service.instance.id": "checkout-0",
            "deployment.environment": "test",
        }
    ),
    metric_readers=[reader],
)
meter = provider.get_meter("shop.checkout", "1.2.0")
requests = meter.create_counter("http.server.requests", unit="{request}", description="Requests served")
requests.add(5, {"http.route": "/pay", "http.response.status_code": 200})
duration = meter.create_histogram("http.server.request.duration", unit="s")
for value in (0.01, 0.2, 0.7):
    duration.record(value, {"http.route": "/pay"})
meter.create_observable_gauge(
    "queue.depth", callbacks=[lambda _options: [Observation(7, {"queue": "orders"})]], unit="{item}"
)
sessions = meter.create_up_down_counter("active.sessions")
sessions.add(3)
ok = reader.force_flush(timeout_millis=10_000)
provider.shutdown()
print("exported" if ok else "export failed")
sys.exit(0 if ok else 1)
