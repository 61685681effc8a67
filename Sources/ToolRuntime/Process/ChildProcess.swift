import Foundation
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One child process run to its end: builds, probes and tool runs all go through here.
///
/// Contract:
/// - the child starts in a session of its own, with signal handlers and mask reset and no descriptor of
///   ours but its three standard streams;
/// - standard output and standard error are drained concurrently, so neither can fill up and stall it;
/// - when `timeout` passes, when standard output passes its limit, or when the calling task is cancelled,
///   the child's whole process group is killed with `SIGKILL`; whatever is left of the group when the
///   child exits is killed too;
/// - `run()` never waits longer than `timeout` plus the time the kernel takes to kill.
struct ChildProcess: Sendable {
    var executable: String
    var arguments: [String]
    /// The complete environment: nothing of ours is inherited.
    var environment: [String: String]
    var workingDirectory: URL?
    /// Written to standard input.
    var input: Data = Data()
    /// Keep standard input open until the child exits instead of closing it after `input`: the harness
    /// takes the end of file as the sign that Compadre died.
    var holdsStandardInputOpen = false
    var standardOutput: CapturedBytes.Mode = .tail(64 << 10)
    var standardError: CapturedBytes.Mode = .tail(64 << 10)
    var timeout: Duration

    /// What was seen of a finished child.
    struct Observation: Sendable {
        /// `nil` when it was not observed: the run timed out or was cancelled.
        var status: TerminationStatus?
        var standardOutput: CapturedBytes
        var standardError: CapturedBytes
        var timedOut: Bool
        var cancelled: Bool
        /// From spawning to the child's exit.
        var duration: Duration

        /// Exited by itself with code 0.
        var succeeded: Bool { status == .exited(0) }
    }

    /// Throws only when the child could not be started.
    func run() async throws -> Observation {
        let start = ContinuousClock.now
        let outcome = await withTaskGroup(of: Event.self) { group in
            group.addTask {
                do {
                    return .finished(.success(try await self.spawnAndDrain()))
                } catch {
                    return .finished(.failure(error))
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: self.timeout)
                    return .deadlinePassed
                } catch {
                    return .cancelled
                }
            }
            var finished: Result<Drained, any Error>?
            var timedOut = false
            var cancelled = false
            while let event = await group.next() {
                switch event {
                case .finished(let result):
                    finished = result
                    group.cancelAll()
                case .deadlinePassed:
                    // Cancelling the run task tears the child down: its teardown kills the process group.
                    timedOut = true
                    group.cancelAll()
                case .cancelled:
                    if finished == nil {
                        cancelled = true
                        group.cancelAll()
                    }
                }
            }
            return (finished!, timedOut, cancelled)
        }
        let duration = ContinuousClock.now - start
        let (finished, timedOut, cancelled) = outcome
        switch finished {
        case .success(let drained):
            return Observation(
                status: timedOut || cancelled ? nil : drained.status,
                standardOutput: drained.standardOutput,
                standardError: drained.standardError,
                timedOut: timedOut,
                cancelled: cancelled,
                duration: drained.duration
            )
        case .failure(let error):
            if timedOut || cancelled {
                return Observation(
                    status: nil,
                    standardOutput: CapturedBytes(standardOutput),
                    standardError: CapturedBytes(standardError),
                    timedOut: timedOut,
                    cancelled: cancelled,
                    duration: duration
                )
            }
            throw error
        }
    }

    private enum Event: Sendable {
        case finished(Result<Drained, any Error>)
        case deadlinePassed
        case cancelled
    }

    private struct Drained: Sendable {
        var status: TerminationStatus
        var standardOutput: CapturedBytes
        var standardError: CapturedBytes
        var duration: Duration
    }

    private func spawnAndDrain() async throws -> Drained {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .zero)]
        let start = ContinuousClock.now
        let result = try await Subprocess.run(
            executable.contains("/") ? .path(FilePath(executable)) : .name(executable),
            arguments: Arguments(arguments),
            environment: .custom(Dictionary(uniqueKeysWithValues: environment.map { (.init(rawValue: $0.key)!, $0.value) })),
            workingDirectory: workingDirectory.map { FilePath($0.path) },
            platformOptions: options,
            input: .inputWriter,
            output: .sequence,
            error: .sequence
        ) { execution in
            await withTaskGroup(of: Stream.self) { group in
                group.addTask {
                    var captured = CapturedBytes(self.standardOutput)
                    do {
                        for try await buffer in execution.standardOutput {
                            guard buffer.withUnsafeBytes({ captured.append($0) }) else {
                                try? execution.send(signal: .kill, toProcessGroup: true)
                                break
                            }
                        }
                    } catch {}
                    return .output(captured)
                }
                group.addTask {
                    var captured = CapturedBytes(self.standardError)
                    do {
                        for try await buffer in execution.standardError {
                            buffer.withUnsafeBytes { _ = captured.append($0) }
                        }
                    } catch {}
                    return .error(captured)
                }
                group.addTask {
                    let writer = execution.standardInputWriter
                    if !self.input.isEmpty {
                        _ = try? await writer.write(Array(self.input))
                    }
                    if !self.holdsStandardInputOpen {
                        try? await writer.finish()
                    }
                    return .inputWritten
                }
                var output = CapturedBytes(self.standardOutput)
                var error = CapturedBytes(self.standardError)
                for await stream in group {
                    switch stream {
                    case .output(let captured): output = captured
                    case .error(let captured): error = captured
                    case .inputWritten: break
                    }
                }
                return (output, error)
            }
        }
        let duration = ContinuousClock.now - start
        // Leftovers of the group (a background child of the tool) die with it. The group's id is the
        // child's pid, which the kernel does not hand out again while the group has members.
        _ = kill(-result.processIdentifier.value, SIGKILL)
        let (output, error) = result.closureResult
        return Drained(status: result.terminationStatus, standardOutput: output, standardError: error, duration: duration)
    }

    private enum Stream: Sendable {
        case output(CapturedBytes)
        case error(CapturedBytes)
        case inputWritten
    }
}
