import Engine
import Foundation

/// Turns the events of a streamed chat completion (or one non-streamed response) into ``ModelOutput``.
///
/// Text is passed on as it arrives. Tool calls arrive as fragments keyed by `index` (the id and name
/// usually in the first, the arguments spread over many) and are returned whole, in index order, once
/// the stream finishes: on a `finish_reason`, on `[DONE]`, or when the body ends.
///
/// Performs no I/O.
struct ChatCompletionAssembler {
    enum Step: Equatable {
        /// Outputs to deliver; the stream goes on.
        case outputs([ModelOutput])
        /// Outputs to deliver, then the answer is complete.
        case finished([ModelOutput])
    }

    struct InvalidEvent: Error {
        var message: String
    }

    private struct PendingToolCall {
        var id = ""
        var name = ""
        var arguments = ""
    }

    private var toolCalls: [Int: PendingToolCall] = [:]
    private var isFinished = false
    /// Whether any event was understood; a body without one is not a chat completion.
    private(set) var receivedEvent = false

    /// Consumes the `data` of one server-sent event.
    mutating func consume(event data: String) throws(InvalidEvent) -> Step {
        guard !isFinished else { return .finished([]) }
        if data.trimmingCharacters(in: .whitespaces) == "[DONE]" {
            receivedEvent = true
            return .finished(finish())
        }
        let chunk = try Self.decode(data)
        receivedEvent = true
        var outputs: [ModelOutput] = []
        guard let choice = chunk.choices?.first else { return .outputs([]) }
        if let delta = choice.delta ?? choice.message {
            if let content = delta.content, !content.isEmpty { outputs.append(.text(content)) }
            for (position, fragment) in (delta.toolCalls ?? []).enumerated() {
                add(fragment, at: fragment.index ?? position)
            }
        }
        if choice.finishReason != nil {
            return .finished(outputs + finish())
        }
        return .outputs(outputs)
    }

    /// Consumes a whole non-streamed chat completion response.
    mutating func consume(response data: String) throws(InvalidEvent) -> [ModelOutput] {
        switch try consume(event: data) {
        case .outputs(let outputs): outputs + finish()
        case .finished(let outputs): outputs
        }
    }

    /// Ends the stream where the server closed it without `[DONE]` or a finish reason.
    mutating func finish() -> [ModelOutput] {
        guard !isFinished else { return [] }
        isFinished = true
        return toolCalls.sorted { $0.key < $1.key }.map { index, call in
            .toolCall(ToolCall(id: call.id.isEmpty ? "call_\(index)" : call.id, name: call.name, arguments: call.arguments))
        }
    }

    private mutating func add(_ fragment: Chunk.ToolCallDelta, at index: Int) {
        var call = toolCalls[index] ?? PendingToolCall()
        if let id = fragment.id, !id.isEmpty { call.id = id }
        if let name = fragment.function?.name { call.name += name }
        if let arguments = fragment.function?.arguments { call.arguments += arguments }
        toolCalls[index] = call
    }

    private static func decode(_ data: String) throws(InvalidEvent) -> Chunk {
        let chunk: Chunk
        do {
            chunk = try JSONDecoder().decode(Chunk.self, from: Data(data.utf8))
        } catch {
            throw InvalidEvent(message: "not a chat completion chunk: \(excerpt(data))")
        }
        if let error = chunk.error {
            throw InvalidEvent(message: "the server reported an error: \(error.message ?? excerpt(data))")
        }
        guard chunk.choices != nil else {
            throw InvalidEvent(message: "no choices in: \(excerpt(data))")
        }
        return chunk
    }
}

/// The fields of a chat completion (chunk) that matter here. `delta` in streamed chunks, `message` in
/// a non-streamed response; both have the same shape.
private struct Chunk: Decodable {
    struct Choice: Decodable {
        var delta: Delta?
        var message: Delta?
        var finishReason: String?

        enum CodingKeys: String, CodingKey {
            case delta, message
            case finishReason = "finish_reason"
        }
    }

    struct Delta: Decodable {
        var content: String?
        var toolCalls: [ToolCallDelta]?

        enum CodingKeys: String, CodingKey {
            case content
            case toolCalls = "tool_calls"
        }
    }

    struct ToolCallDelta: Decodable {
        struct Function: Decodable {
            var name: String?
            var arguments: String?
        }
        var index: Int?
        var id: String?
        var function: Function?
    }

    struct ErrorBody: Decodable {
        var message: String?
    }

    var choices: [Choice]?
    var error: ErrorBody?
}

/// The start of `text`, on one line, for error messages.
func excerpt(_ text: String, limit: Int = 200) -> String {
    let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
    return flat.count > limit ? String(flat.prefix(limit)) + "…" : flat
}
