import Testing

@testable import Models

@Suite("ServerSentEventParser")
struct ServerSentEventParserTests {
    static let stream = "data: {\"a\":1}\r\n\r\n: keepalive\n\nevent: message\nid: 7\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
    static let events = [#"{"a":1}"#, #"{"b":2}"#, "[DONE]"]

    @Test(arguments: 0...stream.utf8.count)
    func eventsSplitAnywhereAcrossChunksArriveWhole(splitAt offset: Int) {
        let bytes = Array(Self.stream.utf8)
        var parser = ServerSentEventParser()
        let events = parser.consume(bytes[..<offset]) + parser.consume(bytes[offset...]) + parser.finish()
        #expect(events == Self.events)
    }

    @Test func byteByByteGivesTheSameEvents() {
        var parser = ServerSentEventParser()
        var events: [String] = []
        for byte in Self.stream.utf8 { events += parser.consume([byte]) }
        #expect(events + parser.finish() == Self.events)
    }

    @Test func carriageReturnsAloneEndLines() {
        var parser = ServerSentEventParser()
        #expect(parser.consume(Array("data: x\r\rdata: y\r\r".utf8)) == ["x", "y"])
    }

    @Test func severalDataLinesAreJoinedWithNewlines() {
        var parser = ServerSentEventParser()
        #expect(parser.consume(Array("data: one\ndata:two\n\n".utf8)) == ["one\ntwo"])
    }

    @Test func anUnterminatedLastEventStillCounts() {
        var parser = ServerSentEventParser()
        #expect(parser.consume(Array("data: [DONE]".utf8)).isEmpty)
        #expect(parser.finish() == ["[DONE]"])
    }

    @Test func linesThatAreNotSSEAreNoticed() {
        var parser = ServerSentEventParser()
        #expect(parser.consume(Array("<html>\n<body>oops</body>\n\n".utf8)).isEmpty)
        #expect(parser.unrecognizedLineCount == 2)
        #expect(parser.firstUnrecognizedLine == "<html>")
    }
}
