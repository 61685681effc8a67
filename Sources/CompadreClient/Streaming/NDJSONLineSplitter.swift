/// Splits a newline-delimited JSON body into its lines.
///
/// Bytes arrive in whatever pieces TCP delivers them: a line may be split across pieces and one piece
/// may hold several lines. Lines end in LF or CRLF; surrounding whitespace is trimmed and blank lines
/// are skipped, as the Python SDK does. A last line without a line end counts once ``finish()`` is
/// called.
///
/// Performs no I/O: feed it bytes, take the lines it returns.
public struct NDJSONLineSplitter: Sendable {
    private var line: [UInt8] = []

    public init() {}

    /// Consumes `bytes` and returns every line they complete, in order.
    public mutating func consume(_ bytes: some Sequence<UInt8>) -> [String] {
        var lines: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if let complete = takeLine() { lines.append(complete) }
            } else {
                line.append(byte)
            }
        }
        return lines
    }

    /// Ends the body: returns its last line if it had no line end.
    public mutating func finish() -> String? {
        takeLine()
    }

    /// The current line, trimmed (a CR before the LF included); nil when it is blank.
    private mutating func takeLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        guard let first = line.firstIndex(where: { !Self.isWhitespace($0) }),
              let last = line.lastIndex(where: { !Self.isWhitespace($0) })
        else { return nil }
        return String(decoding: line[first...last], as: UTF8.self)
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }
}
