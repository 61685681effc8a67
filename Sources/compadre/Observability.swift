import Foundation
import Logging
import Metrics
import OTel
import Platform
import Prometheus
import ServiceLifecycle
import Tracing

/// The process-wide observability of `compadre serve`: Prometheus metrics (shown at `GET /metrics`)
/// and, when an OTLP endpoint is configured, traces exported over OTLP/HTTP.
enum Observability {
    /// The registry `GET /metrics` shows; the metrics system writes to it once bootstrapped.
    static let registry = PrometheusCollectorRegistry()

    /// Sets up metrics, once per process.
    static let metrics: Void = {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
            .seconds(10), .seconds(30), .seconds(60),
        ]
        MetricsSystem.bootstrap(factory)
    }()

    /// The OTLP trace exporter as a service, when `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` names a collector (and `OTEL_SDK_DISABLED` is not true);
    /// nil otherwise, and spans cost nothing. The `OTEL_*` variables configure it (protocol
    /// `http/protobuf` or `http/json`, headers, sampler, batch delays).
    static func tracing(logger: Logger) throws -> (any Service)? {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil,
              environment["OTEL_SDK_DISABLED"]?.lowercased() != "true"
        else { return nil }
        if environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc" || environment["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] == "grpc" {
            throw SettingError(key: "OTEL_EXPORTER_OTLP_PROTOCOL", message: "grpc is not supported; use http/protobuf or http/json")
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "compadre"
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        logger.info("exporting traces over OTLP")
        return backend.service
    }
}
