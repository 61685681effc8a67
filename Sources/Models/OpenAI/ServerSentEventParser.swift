/// Splits a `text/event-stream` body into the `data` of its events.
///
/// Bytes arrive in whatever pieces TCP delivers them: an event may be split across pieces and one piece
/// may hold several events. Lines end in LF, CRLF or CR (a CR at the end of one piece and an LF at the
/// start of the next are one line end). Comments (`: keepalive`) and the fields `event`, `id` and `retry`
/// are ignored; several `data` lines of one event are joined with LF, as the SSE specification says.
///
/// Performs no I/O: feed it bytes, take the events it returns.
struct ServerSentEventParser {
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var lastByteWasCR = false

    /// Lines that are neither a field nor a comment (an HTML page, a stack trace): a server that does
    /// not speak SSE. The first of them is kept for error messages.
    private(set) var unrecognizedLineCount = 0
    private(set) var firstUnrecognizedLine: String?

    /// Consumes `bytes` and returns the `data` of every event they complete, in order.
    mutating func consume(_ bytes: some Sequence<UInt8>) -> [String] {
        var events: [String] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n") where lastByteWasCR:
                lastByteWasCR = false
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                lastByteWasCR = byte == UInt8(ascii: "\r")
                if let event = endLine() { events.append(event) }
            default:
                lastByteWasCR = false
                line.append(byte)
            }
        }
        return events
    }

    /// Ends the stream: an unterminated last line and event still count (some servers close the
    /// connection right after their last `data:` line).
    mutating func finish() -> [String] {
        if !line.isEmpty { _ = endLine() }
        return dispatch().map { [$0] } ?? []
    }

    private mutating func endLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        guard !line.isEmpty else { return dispatch() }
        if line.first == UInt8(ascii: ":") { return nil }

        let colon = line.firstIndex(of: UInt8(ascii: ":"))
        let name = line[..<(colon ?? line.endIndex)]
        var value = colon.map { line[line.index(after: $0)...] } ?? line[line.endIndex...]
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }

        switch String(decoding: name, as: UTF8.self) {
        case "data":
            if hasData { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: value)
            hasData = true
        case "event", "id", "retry":
            break
        default:
            unrecognizedLineCount += 1
            if firstUnrecognizedLine == nil {
                firstUnrecognizedLine = String(decoding: line.prefix(200), as: UTF8.self)
            }
        }
        return nil
    }

    private mutating func dispatch() -> String? {
        guard hasData else { return nil }
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
        }
        return String(decoding: data, as: UTF8.self)
    }
}
