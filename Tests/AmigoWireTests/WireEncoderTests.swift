import AmigoWire
import Foundation
import Testing

/// The fast encoder must write what Foundation's wire encoder writes: the same scalars byte for byte,
/// the same objects (Foundation on Linux orders an object's keys by hash; this one as they are encoded).
@Suite struct WireEncoderTests {
    private func expectSameBytes<Value: Encodable>(_ value: Value, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fast = String(decoding: try WireEncoder().encode(value), as: UTF8.self)
        let foundation = String(decoding: try WireCoding.encoder().encode(value), as: UTF8.self)
        #expect(fast == foundation, sourceLocation: sourceLocation)
    }

    private func expectSameJSON<Value: Encodable>(_ value: Value, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fast = try JSONSerialization.jsonObject(with: Data(try WireEncoder().encode(value)), options: .fragmentsAllowed)
        let foundation = try JSONSerialization.jsonObject(with: WireCoding.encoder().encode(value), options: .fragmentsAllowed)
        #expect(NSArray(array: [fast]).isEqual(NSArray(array: [foundation])), "\(fast) != \(foundation)", sourceLocation: sourceLocation)
    }

    @Test func aFullContextGraphIsWrittenAsFoundationWritesIt() throws {
        let graph = try JSONDecoder().decode(ContextGraphDefinition.self, from: Data(GraphJSON.full.utf8))
        try expectSameJSON(graph)
    }

    @Test func everyConversationEventIsWrittenAsFoundationWritesIt() throws {
        let events: [ConversationEvent] = [
            .conversationCreated(conversationID: "6650f0c2a1b2c3d4e5f60718"),
            .userMessageAvailable(messageID: "m1", userMessage: "Hi \"there\"\n\tsee /path\\"),
            .newMessage(NewMessage(
                message: "Sure, here it is.", transcriptAlignment: [TranscriptAlignment(ms: 0, character: "S"), TranscriptAlignment(ms: 40, character: "u")],
                stop: false, sequenceNumber: 3, messageID: "m2"
            )),
            .newMessage(NewMessage(message: "", stop: true, sequenceNumber: 4, messageID: "m2")),
            .interactionComplete(InteractionComplete(messageID: "m2", interactionID: "i1", fullMessage: "Sure.", conversationCompleted: false)),
            .error(httpErrorCode: 503, errorDescription: "The model is unavailable."),
        ]
        for event in events { try expectSameJSON(event) }
        try expectSameJSON(events)
    }

    @Test func keysFollowTheOrderInWhichTheTypeEncodesThem() throws {
        let event = ConversationEvent.newMessage(NewMessage(message: "Hi", stop: false, sequenceNumber: 1, messageID: "m"))
        let text = String(decoding: try WireEncoder().encode(event), as: UTF8.self)
        #expect(text == #"{"type":"new-message","message":"Hi","transcript_alignment":null,"stop":false,"sequence_number":1,"message_id":"m"}"#)
    }

    @Test func stringsEscapeQuotesBackslashesAndControlCharactersButNotSlashesOrUnicode() throws {
        let controls = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        let strings = [controls, "quote \" backslash \\ slash / end", "héllo wörld — ✓ 🎉 \u{2028}\u{7F}", "", "plain"]
        for string in strings { try expectSameBytes(string) }
        try expectSameJSON(["key \"with\" / and \n": strings])
    }

    @Test func numbersDatesDataAndURLsAreWrittenAsFoundationWritesThem() throws {
        let doubles: [Double] = [0, -0.0, 1, 1.5, -2.25, 0.1, 1e21, 1e22, 1e-7, 123456789012345678, 3.141592653589793, 2.5e-300]
        try expectSameBytes(doubles)
        try expectSameBytes([Float(1), 0.1, 1e10])
        try expectSameBytes([Int.min, -1, 0, Int.max])
        try expectSameBytes([UInt8(255)])
        try expectSameBytes([Date(timeIntervalSince1970: 1_780_000_000.1234), Date(timeIntervalSince1970: -1.5)])
        try expectSameBytes([Data([0, 1, 2, 250, 255])])
        try expectSameBytes([URL(string: "https://example.com/a/b?c=d")!])
    }

    @Test func optionalsDictionariesAndNestedArraysAreWrittenAsFoundationWritesThem() throws {
        try expectSameBytes([Int?.none, 1])
        try expectSameBytes(Int?.none)
        try expectSameBytes([[1, 2], [], [3]])
        try expectSameJSON([3: "three", 1: "one"])
        try expectSameJSON(["b": ["x": [true, false]], "a": [:]])
        try expectSameJSON(Sample(name: "n", nested: .init(values: [1, 2]), optional: nil, empty: Empty(), tags: ["k": "v"]))
    }

    @Test func aNestedValueThatEncodesNothingIsAnEmptyObject() throws {
        let bytes = try WireEncoder().encode(["empty": Empty()])
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"empty":{}}"#)
    }

    @Test func writingToAClosedContainerFallsBackToTheSameOutput() throws {
        try expectSameJSON(Interleaved())
        let bytes = try WireEncoder().encode(Interleaved())
        let tree = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        #expect((tree?["inner"] as? [String: Int]) == ["a": 1, "b": 2])
    }

    @Test func appendingKeepsWhatWasThereBeforeTheValue() throws {
        var bytes = Array("prefix ".utf8)
        try WireEncoder().encode(Interleaved(), appendingTo: &bytes)
        try WireEncoder().encode(["x": 1], appendingTo: &bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("prefix {"))
        #expect(text.hasSuffix(#"{"x":1}"#))
    }

    @Test func aNonFiniteNumberFailsAsWithFoundation() {
        #expect(throws: EncodingError.self) { try WireEncoder().encode([Double.nan]) }
    }
}

private struct Empty: Encodable {
    func encode(to encoder: any Encoder) throws {}
}

private struct Sample: Encodable {
    struct Nested: Encodable { var values: [Int] }
    var name: String
    var nested: Nested
    var optional: String?
    var empty: Empty
    var tags: [String: String]
}

/// Writes into a nested container after its parent wrote again: legal, and not streamable.
private struct Interleaved: Encodable {
    enum Keys: String, CodingKey { case inner, after, a, b }
    func encode(to encoder: any Encoder) throws {
        var outer = encoder.container(keyedBy: Keys.self)
        var inner = outer.nestedContainer(keyedBy: Keys.self, forKey: .inner)
        try inner.encode(1, forKey: .a)
        try outer.encode("x", forKey: .after)
        try inner.encode(2, forKey: .b)
    }
}
