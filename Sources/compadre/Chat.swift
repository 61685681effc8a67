import AmigoWire
import ArgumentParser
import AsyncHTTPClient
import CompadreClient
import Dispatch
import Engine
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `compadre chat`: talk to a service of any Amigo-compatible server from the terminal.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk to a service from the terminal (any Amigo-compatible server).",
        discussion: """
            Credentials come from the flags, else the AMIGO_* environment variables the official SDK reads \
            (AMIGO_BASE_URL, AMIGO_ORGANIZATION_ID, AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID), else \
            ./compadre-credentials.json as `compadre init` writes it. Commands in the chat: /finish, \
            /insights, /events <text>, /help, /quit; Ctrl-C stops a reply, or leaves at the prompt.
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Service id or name (default: the only active service, or the credentials file's).") var service: String?
    @Flag(help: "Start a new conversation even if one is unfinished.") var new = false
    @Flag(help: "Show every agent action, including empty dynamic-behavior selections.") var verbose = false
    @Option(name: .customLong("voice-in"), help: "Say this WAV (or .mp3) file as one voice message, print the reply, and exit.") var voiceIn: String?
    @Option(name: .customLong("voice-out"), help: "With --voice-in: ask for a spoken reply and write it to this WAV file.") var voiceOut: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let (configuration, file) = try connection.resolve()
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: AmigoClient.recommendedHTTPClientConfiguration)
        let client = AmigoClient(configuration: configuration, httpClient: httpClient)
        let style = TerminalStyle(environment: environment, isTerminal: isatty(STDOUT_FILENO) == 1)
        do {
            try await converse(client: client, style: style, fallbackService: file?.serviceID)
        } catch {
            FileHandle.standardError.write(Data("compadre chat: \(error)\n".utf8))
            try? await httpClient.shutdown()
            throw ExitCode(1)
        }
        try? await httpClient.shutdown()
    }

    func validate() throws {
        if voiceOut != nil, voiceIn == nil { throw ValidationError("--voice-out needs --voice-in (the voice message to answer)") }
    }

    private func converse(client: AmigoClient, style: TerminalStyle, fallbackService: String?) async throws {
        let serviceID = try await resolveService(client, fallback: fallbackService)
        let actions = ".*"
        var session: ChatSession
        let interrupts = Interrupts()
        if !new, let open = try await client.unfinishedConversation(serviceID: serviceID) {
            session = ChatSession(conversationID: open.id, style: style, showsEveryAction: verbose)
            write(style.dim("· continuing conversation \(open.id) (\(open.numMessages) messages; --new starts another)\n"))
            if !open.finalMessage.isEmpty { write("\(open.finalMessage)\n") }
        } else {
            session = ChatSession(style: style, showsEveryAction: verbose)
            try await stream(client.createConversation(serviceID: serviceID, currentAgentActionType: actions), into: &session, interrupts: interrupts)
        }
        if let voiceIn, let conversationID = session.conversationID {
            return try await speak(voiceIn, in: conversationID, client: client, style: style)
        }
        write(style.dim("· /help for commands\n"))
        while true {
            write(style.bold("you › "))
            guard let line = readLine() else { write("\n"); return }
            guard let command = ChatCommand.parse(line) else { continue }
            switch session.handle(command) {
            case .write(let text):
                write(text.hasSuffix("\n") ? text : text + "\n")
            case .quit:
                return
            case .interact(let conversationID, let text, let type):
                let events = client.interact(
                    conversationID: conversationID, text: text, messageType: type, currentAgentActionType: actions
                )
                try await stream(events, into: &session, interrupts: interrupts)
            case .finish(let conversationID):
                do {
                    try await client.finish(conversationID: conversationID)
                    write(session.didFinish() + "\n")
                } catch {
                    write(session.failed(error) + "\n")
                }
            case .fetchInsights(let conversationID, let interactionID):
                do {
                    write(session.render(try await client.insights(conversationID: conversationID, interactionID: interactionID)) + "\n")
                } catch {
                    write(session.failed(error) + "\n")
                }
            }
        }
    }

    /// `--voice-in`: sends the file as one voice message, prints what was heard and the reply, and with
    /// `--voice-out` writes the spoken reply as a WAV file (PCM16 mono 16 kHz).
    private func speak(_ path: String, in conversationID: String, client: AmigoClient, style: TerminalStyle) async throws {
        let audio = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let contentType = path.lowercased().hasSuffix(".mp3") ? "audio/mpeg" : "audio/wav"
        var reply = Data()
        var failure: String?
        for try await event in client.interact(conversationID: conversationID, audio: audio, contentType: contentType, spokenReply: voiceOut != nil) {
            switch event {
            case .userMessageAvailable(_, let heard):
                write(style.bold("you (heard) › ") + heard + "\n")
            case .newMessage(let piece) where voiceOut != nil:
                reply.append(Data(base64Encoded: piece.message) ?? Data())
            case .newMessage(let piece):
                write(piece.message)
            case .interactionComplete(let complete):
                write(voiceOut != nil ? complete.fullMessage + "\n" : "\n")
            case .error(let code, let description):
                failure = "\(code): \(description)"
            default:
                break
            }
        }
        if let failure { throw ValidationError("the voice interaction failed (\(failure))") }
        if let voiceOut {
            try WAV.file(pcm: reply, sampleRate: 16_000).write(to: URL(fileURLWithPath: voiceOut))
            write(style.dim("· the spoken reply (\(reply.count / 32_000) s) is in \(voiceOut)\n"))
        }
    }

    /// Prints a streamed interaction as it arrives; Ctrl-C stops it.
    private func stream(
        _ events: AsyncThrowingStream<ConversationEvent, any Error>, into session: inout ChatSession, interrupts: Interrupts
    ) async throws {
        let (rendered, continuation) = AsyncStream<Result<ConversationEvent, any Error>>.makeStream()
        let reader = Task {
            do {
                for try await event in events { continuation.yield(.success(event)) }
            } catch {
                continuation.yield(.failure(error))
            }
            continuation.finish()
        }
        interrupts.onInterrupt { reader.cancel() }
        defer { interrupts.onInterrupt(nil) }
        for await item in rendered {
            switch item {
            case .success(let event): write(session.receive(event))
            case .failure(let error) where error is CancellationError || reader.isCancelled:
                write("\n" + session.failed(ChatStopped()) + "\n")
            case .failure(let error): write("\n" + session.failed(error) + "\n")
            }
        }
        if reader.isCancelled { write("\n") }
    }

    private func resolveService(_ client: AmigoClient, fallback: String?) async throws -> String {
        if let service, ObjectID.isValid(service) { return service }
        let services = try await client.services().filter(\.isActive)
        if let service {
            guard let match = services.first(where: { $0.name == service }) else {
                throw ValidationError("no active service named \(service); active: \(services.map(\.name).joined(separator: ", "))")
            }
            return match.id
        }
        if let fallback { return fallback }
        guard services.count == 1, let only = services.first else {
            throw ValidationError("choose a service with --service; active: \(services.map { "\($0.name) (\($0.id))" }.joined(separator: ", "))")
        }
        return only.id
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

struct ChatStopped: Error, CustomStringConvertible {
    var description: String { "stopped" }
}

/// Ctrl-C: stops the reply being streamed, or quits when none is.
final class Interrupts: @unchecked Sendable {  // the signal source is set once and only resumed
    private let handler = Mutex<(@Sendable () -> Void)?>(nil)
    private let source: any DispatchSourceSignal

    init() {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [unowned self] in
            if let action = self.handler.withLock({ $0 }) {
                action()
            } else {
                FileHandle.standardOutput.write(Data("\n".utf8))
                exit(0)
            }
        }
        source.resume()
    }

    func onInterrupt(_ action: (@Sendable () -> Void)?) {
        handler.withLock { $0 = action }
    }
}
