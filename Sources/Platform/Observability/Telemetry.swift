import Engine
import Logging
import Metrics
import Synchronization

/// The platform's metrics, named in one place. They go to whatever `MetricsSystem` holds (Prometheus
/// in `compadre serve`; a private registry in a test that scopes its own factory), so metric objects are
/// made where they are used, never cached across factories.
///
/// | metric | kind | labels |
/// |---|---|---|
/// | `compadre_interactions_total` | counter | `outcome` (completed, interrupted, failed) |
/// | `compadre_interaction_duration_seconds` | histogram | |
/// | `compadre_interaction_server_added_seconds` | histogram | (duration minus time waiting for models) |
/// | `compadre_model_calls_total` | counter | `kind` (prompt kind), `outcome` (ok or the failure) |
/// | `compadre_model_call_duration_seconds` | histogram | `kind` |
/// | `compadre_model_output_tokens_total` | counter | `kind` (streamed pieces: one token a piece) |
/// | `compadre_tool_runs_total` | counter | `outcome` (succeeded, failed) |
/// | `compadre_tool_run_duration_seconds` | histogram | |
/// | `compadre_lease_conflicts_total` | counter | `lease` (conversation, create, realtime, tool) |
public enum Telemetry {
    static func interactionFinished(outcome: String, duration: Duration, modelTime: Duration) {
        Counter(label: "compadre_interactions_total", dimensions: [("outcome", outcome)]).increment()
        Metrics.Timer(label: "compadre_interaction_duration_seconds").record(duration: duration)
        Metrics.Timer(label: "compadre_interaction_server_added_seconds").record(duration: max(.zero, duration - modelTime))
    }

    static func modelCallFinished(kind: PromptKind, outcome: String, duration: Duration, pieces: Int) {
        Counter(label: "compadre_model_calls_total", dimensions: [("kind", kind.rawValue), ("outcome", outcome)]).increment()
        Metrics.Timer(label: "compadre_model_call_duration_seconds", dimensions: [("kind", kind.rawValue)]).record(duration: duration)
        if pieces > 0 {
            Counter(label: "compadre_model_output_tokens_total", dimensions: [("kind", kind.rawValue)]).increment(by: pieces)
        }
    }

    static func toolRunFinished(succeeded: Bool, duration: Duration) {
        Counter(label: "compadre_tool_runs_total", dimensions: [("outcome", succeeded ? "succeeded" : "failed")]).increment()
        Metrics.Timer(label: "compadre_tool_run_duration_seconds").record(duration: duration)
    }

    /// A lease another holder had: `lease` says which kind (the first part of its key).
    public static func leaseConflict(_ key: String) {
        let kind = key.split(separator: "/").first.map(String.init) ?? "other"
        Counter(label: "compadre_lease_conflicts_total", dimensions: [("lease", kind)]).increment()
    }
}

/// The time an interaction spent waiting for models, summed by every model call made in its task
/// tree (server-added latency = duration − model time).
final class ModelTime: Sendable {
    @TaskLocal static var current: ModelTime?

    private let total = Mutex<Duration>(.zero)

    func add(_ duration: Duration) { total.withLock { $0 += duration } }
    var value: Duration { total.withLock { $0 } }
}

/// The request a task works for, so that every log line of it carries `request_id`, also from code
/// that logs with a logger of its own (the platform's, a model's). Set by the Server per request and
/// carried into the interaction's tasks.
public enum RequestScope {
    @TaskLocal public static var id: String?

    /// Adds `request_id` to log lines written inside a request.
    public static let metadataProvider = Logger.MetadataProvider {
        guard let id else { return [:] }
        return ["request_id": .string(id)]
    }
}
