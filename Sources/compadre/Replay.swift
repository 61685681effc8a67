import AmigoWire
import ArgumentParser
import AsyncHTTPClient
import CompadreClient
import Foundation

/// `compadre replay`: replays a recorded conversation against another version set of its service and
/// prints where the agent's path diverges.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a conversation's user turns against another version set and print where the agent's path diverges.",
        discussion: """
            The server plays the conversation's user messages and external events, interaction by interaction, \
            against the version set (a synthetic user, tools in simulation mode, no analysis), then this command \
            prints the interactions side by side, the first divergent transition and the metrics before and after. \
            Credentials as for `compadre chat`. Exits 0 when the replay completed, 1 otherwise.
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The conversation to replay.") var conversationID: String
    @Option(name: .customLong("version-set"), help: "The version set of the conversation's service to replay against.") var versionSet: String
    @Option(help: "Seconds to wait for the replay to finish.") var timeout: Int = 600
    @Flag(help: "Print the report as JSON instead of text.") var json = false

    func run() async throws {
        let (configuration, _) = try connection.resolve()
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: AmigoClient.recommendedHTTPClientConfiguration)
        let client = AmigoClient(configuration: configuration, httpClient: httpClient)
        do {
            try await replay(client)
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try? await httpClient.shutdown()
    }

    private func replay(_ client: AmigoClient) async throws {
        do {
            let id = try await client.startReplay(conversationID: conversationID, versionSetName: versionSet)
            let deadline = ContinuousClock.now + .seconds(timeout)
            var report = try await client.replay(id)
            while report.status == .running {
                guard ContinuousClock.now < deadline else {
                    throw ValidationError("the replay \(id) is still running after \(timeout) s; read it later at GET /v1/{org}/compadre/replay/\(id)/")
                }
                try await Task.sleep(for: .milliseconds(500))
                report = try await client.replay(id)
            }
            if json {
                print(String(decoding: try WireEncoder().encode(report), as: UTF8.self))
            } else {
                print(report.summary, terminator: "")
            }
            if report.status != .completed { throw ExitCode(1) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("compadre replay: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
