/// How one run of a tool ended. `duration` is the time from starting the process to its exit.
public enum ToolRunResult: Sendable, Equatable {
    case succeeded(output: String, duration: Duration)
    case failed(ToolFailure, duration: Duration)

    public var duration: Duration {
        switch self {
        case .succeeded(_, let duration), .failed(_, let duration): duration
        }
    }
}

/// Why a run failed: the tool's own exception (`type` is its Python class name, such as `KeyError`),
/// or one of the sandbox's verdicts:
/// - `ToolTimeout`: it did not finish within the time limit;
/// - `ToolCrashed`: it exited or was killed without reporting a result (the stack trace holds the last
///   lines it wrote to standard error);
/// - `InvalidToolOutput`: it wrote something other than the harness's one JSON line to standard output;
/// - `ToolOutputTooLarge`: its result passed the output limit;
/// - `ToolNotStarted`: the process could not be started;
/// - `ToolCancelled`: the caller's task was cancelled;
/// - `ToolIsolationUnavailable`: the server has no working sandbox and was not told to run tools without one.
public struct ToolFailure: Sendable, Hashable, Error {
    public var type: String
    public var message: String
    public var stackTrace: [String]

    public init(type: String, message: String, stackTrace: [String] = []) {
        self.type = type
        self.message = message
        self.stackTrace = stackTrace
    }
}
