import AmigoWire
import CompadreClient
import Foundation
import Testing

@Suite("NDJSON streams")
struct NDJSONTests {
    /// LF and CRLF line ends, blank lines (one of spaces), multi-byte characters, no final newline.
    static let sample = "{\"a\":1}\n{\"b\":\"é…\"}\r\n\n   \n{\"c\":3}\r\n{\"d\":4}"
    static let lines = [#"{"a":1}"#, #"{"b":"é…"}"#, #"{"c":3}"#, #"{"d":4}"#]

    private func split(_ chunks: [ArraySlice<UInt8>]) -> [String] {
        var splitter = NDJSONLineSplitter()
        var lines: [String] = []
        for chunk in chunks { lines += splitter.consume(chunk) }
        if let last = splitter.finish() { lines.append(last) }
        return lines
    }

    @Test func linesAreTheSameWhereverTheBodyIsCut() {
        let bytes = Array(Self.sample.utf8)
        for cut in 0...bytes.count {
            #expect(split([bytes[..<cut], bytes[cut...]]) == Self.lines, "cut at \(cut)")
        }
        for first in 0...bytes.count {
            for second in first...bytes.count {
                let chunks = [bytes[..<first], bytes[first..<second], bytes[second...]]
                #expect(split(chunks) == Self.lines, "cuts at \(first), \(second)")
            }
        }
    }

    @Test func aBodyFedByteByByteGivesEveryLine() {
        let bytes = Array(Self.sample.utf8)
        #expect(split(bytes.indices.map { bytes[$0...$0] }) == Self.lines)
    }

    @Test func aCompleteLineIsReturnedAsSoonAsItsNewlineArrives() {
        var splitter = NDJSONLineSplitter()
        #expect(splitter.consume(Array("{\"a\":".utf8)) == [])
        #expect(splitter.consume(Array("1}\n{\"b\"".utf8)) == [#"{"a":1}"#])
        #expect(splitter.consume(Array(":2}\r\n".utf8)) == [#"{"b":2}"#])
        #expect(splitter.finish() == nil)
    }

    @Test func anEmptyBodyHasNoLines() {
        var splitter = NDJSONLineSplitter()
        #expect(splitter.consume([UInt8]()) == [])
        #expect(splitter.finish() == nil)
    }
}

@Suite("Conversation event decoding")
struct ConversationEventDecodingTests {
    static let events: [ConversationEvent] = [
        .conversationCreated(conversationID: "6650a1b2c3d4e5f601234567"),
        .userMessageAvailable(messageID: "m1", userMessage: "I have a headache"),
        .currentAgentAction(.stateTransitioned(
            previousState: "greet", previousGraph: VersionInfo(id: "g", version: 2),
            nextState: "triage", nextGraph: VersionInfo(id: "g", version: 2))),
        .currentAgentAction(.messageFragmentGenerated(index: 0, fragment: "Sorry", isFinal: false)),
        .newMessage(NewMessage(message: "Sorry to hear that. ", stop: false, sequenceNumber: 0, messageID: "m2")),
        .newMessage(NewMessage(message: "Since when?", stop: true, sequenceNumber: 1, messageID: "m2")),
        .interactionComplete(InteractionComplete(messageID: "m2", interactionID: "i1", fullMessage: "Sorry to hear that. Since when?", conversationCompleted: false)),
        .error(httpErrorCode: 503, errorDescription: "The model is unavailable."),
    ]

    static var body: [UInt8] {
        let encoder = WireCoding.encoder()
        return Array(events.map { String(decoding: try! encoder.encode($0), as: UTF8.self) }.joined(separator: "\n").utf8)
    }

    private func decode(_ chunks: [ArraySlice<UInt8>]) throws -> [ConversationEvent] {
        var decoder = ConversationEventDecoder()
        var events: [ConversationEvent] = []
        for chunk in chunks { events += try decoder.consume(chunk) }
        if let last = try decoder.finish() { events.append(last) }
        return events
    }

    @Test func everyEventDecodesWhereverTheBodyIsCut() throws {
        let body = Self.body
        for cut in stride(from: 0, through: body.count, by: 1) {
            #expect(try decode([body[..<cut], body[cut...]]) == Self.events)
        }
    }

    @Test func aServerLineDecodes() throws {
        let line = #"{"type":"interaction-complete","message_id":"m","interaction_id":"i","full_message":"Hi","conversation_completed":true}"#
        #expect(try decode([Array(line.utf8)[...]]) == [
            .interactionComplete(InteractionComplete(messageID: "m", interactionID: "i", fullMessage: "Hi", conversationCompleted: true))
        ])
    }

    @Test func eventsAndActionsOfUnknownTypesAreSkipped() throws {
        let body = """
            {"type":"conversation-created","conversation_id":"c"}
            {"type":"something-new","x":1}
            {"type":"current-agent-action","action":{"type":"a-new-kind-of-action"}}
            {"type":"error","http_error_code":500,"error_description":"boom"}

            """
        var decoder = ConversationEventDecoder()
        let events = try decoder.consume(Array(body.utf8))
        #expect(events == [.conversationCreated(conversationID: "c"), .error(httpErrorCode: 500, errorDescription: "boom")])
        #expect(decoder.skippedUnknownEvents == 2)
    }

    @Test(arguments: ["not json", #"{"type":"new-message","message":"no other fields"}"#, #"{"no":"type"}"#])
    func aMalformedLineFailsTheStream(line: String) throws {
        var decoder = ConversationEventDecoder()
        let error = try #require(throws: AmigoClientError.self) { _ = try decoder.consume(Array((line + "\n").utf8)) }
        #expect(error.isInvalidResponse)
    }
}
