import Foundation
import Subprocess

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ToolRunResult {
    /// The verdict on a finished run. In order: cancelled, timed out, too much output; then the
    /// harness's JSON line when there is one; then how the process ended.
    ///
    /// `exitCodesReportSignals`: bubblewrap exits with 128 + N when the tool was killed by signal N.
    init(_ observation: ChildProcess.Observation, limits: ToolLimits, exitCodesReportSignals: Bool) {
        let duration = observation.duration
        let stderr = observation.standardError.lastLines(20)
        func failed(_ type: String, _ message: String, _ trace: [String] = []) -> ToolRunResult {
            .failed(ToolFailure(type: type, message: message, stackTrace: trace), duration: duration)
        }
        if observation.cancelled {
            self = failed("ToolCancelled", "the tool run was cancelled")
            return
        }
        if observation.timedOut {
            self = failed("ToolTimeout", "the tool did not finish within \(limits.timeout.secondsText)")
            return
        }
        if observation.standardOutput.overflowed {
            self = failed("ToolOutputTooLarge", "the tool's output passed the limit of \(limits.maxOutputBytes) bytes")
            return
        }
        let output = observation.standardOutput.kept
        switch HarnessReply(output) {
        case .output(let text):
            self = .succeeded(output: text, duration: duration)
            return
        case .error(let failure):
            self = .failed(failure, duration: duration)
            return
        case nil:
            break
        }
        var signal: Int32?
        switch observation.status {
        case .signaled(let number):
            signal = number
        case .exited(let code) where exitCodesReportSignals && code > 128 && code < 128 + 65:
            signal = code - 128
        case .exited(let code) where code != 0:
            self = failed("ToolCrashed", "the tool exited with code \(code) without a result", stderr)
            return
        default:
            break
        }
        if let signal {
            var message = "the tool was killed by signal \(signal)"
            if signal == SIGXCPU {
                message += " (it used more than \(limits.cpuSeconds) s of CPU time)"
            }
            self = failed("ToolCrashed", message, stderr)
        } else if output.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            self = failed("InvalidToolOutput", "the tool exited without a result", stderr)
        } else {
            let start = String(decoding: output.prefix(200), as: UTF8.self)
            self = failed("InvalidToolOutput", "the tool wrote something other than its result: \(start)", stderr)
        }
    }
}

/// The harness's one JSON line: `{"output": "…"}` or `{"error": {"type", "message", "stack_trace"}}`.
enum HarnessReply: Equatable {
    case output(String)
    case error(ToolFailure)

    init?(_ data: Data) {
        let lines = data.split(separator: UInt8(ascii: "\n")).filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x0D } }
        guard lines.count == 1,
            let object = (try? JSONSerialization.jsonObject(with: Data(lines[0]))) as? [String: Any],
            object.count == 1
        else { return nil }
        if let output = object["output"] as? String {
            self = .output(output)
        } else if let error = object["error"] as? [String: Any], let type = error["type"] as? String {
            self = .error(
                ToolFailure(
                    type: type,
                    message: error["message"] as? String ?? "",
                    stackTrace: error["stack_trace"] as? [String] ?? []
                )
            )
        } else {
            return nil
        }
    }
}
