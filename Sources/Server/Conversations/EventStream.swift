import AmigoWire
import Foundation
import Hummingbird
import NIOCore
import Platform

/// Which `current-agent-action` events a client receives: those whose type matches the
/// `current_agent_action_type` regex (searched, as Python's `re.search`), and none at all for callers
/// without `Conversation:GetInteractionInsights` on the conversation.
///
/// On REST streams an action the official SDK cannot parse (``AgentAction/isUnknownToTheSDK``) is sent
/// only when the filter is not the match-everything default the SDK always sends (`^.*$`): a client
/// asks for it by naming it, and an SDK client's stream never breaks on it.
struct AgentActionFilter: @unchecked Sendable {
    // `Regex` is not Sendable; the filter is used by one stream at a time.
    private let regex: Regex<AnyRegexOutput>?
    /// Whether the caller may see agent actions at all.
    var allowed: Bool
    /// Whether actions unknown to the SDK need a filter that is not the default (REST streams).
    let guardsSDK: Bool
    private var verdicts: [String: Bool] = [:]

    /// Compiles `pattern`; an invalid one is a 422 on the query parameter.
    init(pattern: String?, allowed: Bool, guardsSDK: Bool = true) throws {
        self.allowed = allowed
        self.guardsSDK = guardsSDK
        guard let pattern, pattern != "^.*$", pattern != ".*" else {
            regex = nil
            return
        }
        do {
            regex = try Regex(pattern)
        } catch {
            throw PlatformError.validation(
                ["query", "current_agent_action_type"], "Invalid regular expression: \(error)", type: "value_error"
            )
        }
    }

    mutating func passes(_ event: ConversationEvent) -> Bool {
        guard case .currentAgentAction(let action) = event else { return true }
        guard allowed else { return false }
        guard let regex else { return !(guardsSDK && action.isUnknownToTheSDK) }
        let type = action.type
        if let verdict = verdicts[type] { return verdict }
        let verdict = (try? regex.firstMatch(in: type)) != nil
        verdicts[type] = verdict
        return verdict
    }
}

/// Writes conversation events to a streamed HTTP response as newline-delimited JSON.
///
/// Used from one task at a time (the interaction's), so the writer needs no lock.
final class NDJSONEventWriter: ConversationEventSink, @unchecked Sendable {
    private var writer: any ResponseBodyWriter
    private var filter: AgentActionFilter

    init(_ writer: any ResponseBodyWriter, filter: AgentActionFilter) {
        self.writer = writer
        self.filter = filter
    }

    func write(_ event: ConversationEvent) async throws {
        guard filter.passes(event) else { return }
        var bytes = try WireEncoder().encode(event)
        bytes.append(UInt8(ascii: "\n"))
        try await writer.write(ByteBuffer(bytes: bytes))
    }

    func fail(_ error: PlatformError) async throws {
        try await write(WireError(error).event)
    }

    func finish() async throws {
        try await writer.finish(nil)
    }
}

extension Response {
    /// A streamed NDJSON response whose body `produce` writes.
    static func ndjson(
        status: HTTPResponse.Status, filter: AgentActionFilter,
        _ produce: @escaping @Sendable (NDJSONEventWriter) async throws -> Void
    ) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/x-ndjson", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                let events = NDJSONEventWriter(writer, filter: filter)
                try await produce(events)
                try await events.finish()
            }
        )
    }
}
