import AmigoWire
import Foundation

/// Turns the bytes of a conversation's NDJSON stream into ``ConversationEvent``s.
///
/// Events of a type this client does not know (a newer server's event or agent action) are skipped
/// and counted rather than failing the stream, so a chat keeps working against a newer API. A line
/// that is not a valid event of a known type fails with ``AmigoClientError``.
public struct ConversationEventDecoder {
    private var splitter = NDJSONLineSplitter()
    private let decoder = WireCoding.decoder()

    /// How many lines were skipped because their event or action `type` is unknown.
    public private(set) var skippedUnknownEvents = 0

    public init() {}

    /// Consumes a piece of the body and returns the events it completes, in order.
    public mutating func consume(_ bytes: some Sequence<UInt8>) throws(AmigoClientError) -> [ConversationEvent] {
        var events: [ConversationEvent] = []
        for line in splitter.consume(bytes) {
            if let event = try decode(line) { events.append(event) }
        }
        return events
    }

    /// Ends the body: the event of a last line that had no line end.
    public mutating func finish() throws(AmigoClientError) -> ConversationEvent? {
        guard let line = splitter.finish() else { return nil }
        return try decode(line)
    }

    private mutating func decode(_ line: String) throws(AmigoClientError) -> ConversationEvent? {
        do {
            return try decoder.decode(ConversationEvent.self, from: Data(line.utf8))
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.last?.stringValue == "type" {
            skippedUnknownEvents += 1
            return nil
        } catch {
            throw .invalidResponse("an undecodable event line (\(error)): \(line.prefix(200))")
        }
    }
}
