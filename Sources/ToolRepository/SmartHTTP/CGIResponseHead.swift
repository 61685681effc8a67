import Foundation

/// The header block a CGI program writes before its body (RFC 3875 §6.2): `Name: value` lines, CRLF
/// or LF terminated, up to an empty line. `Status: 404 Not Found` sets the status (200 without it).
struct CGIResponseHead: Sendable, Hashable {
    var status: Int
    var headers: [GitHTTPHeader]

    /// Collects the first bytes of a CGI program's output until the header block is complete.
    struct Parser {
        /// A header block longer than this is refused rather than buffered.
        static let maximumSize = 64 * 1024

        private var buffered: [UInt8] = []

        /// Adds `bytes`; returns the head and the body bytes that followed it once the empty line has
        /// arrived, nil while more is needed.
        mutating func consume(_ bytes: [UInt8]) throws -> (head: CGIResponseHead, body: [UInt8])? {
            let searchStart = max(0, buffered.count - 3)
            buffered.append(contentsOf: bytes)
            guard let (headEnd, bodyStart) = Self.endOfHead(in: buffered, from: searchStart) else {
                guard buffered.count <= Self.maximumSize else {
                    throw ToolRepositoryError.gitFailed("git http-backend wrote a header block over 64 KiB")
                }
                return nil
            }
            let head = try Self.head(from: buffered[..<headEnd])
            return (head, Array(buffered[bodyStart...]))
        }

        /// Where the empty line is: the end of the last header line and the first byte after it.
        private static func endOfHead(in bytes: [UInt8], from start: Int) -> (Int, Int)? {
            let lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
            var index = start
            while index < bytes.count {
                defer { index += 1 }
                guard bytes[index] == lf else { continue }
                // Output that starts with an empty line has no header fields at all.
                if index == 0 { return (0, 1) }
                if index == 1, bytes[0] == cr { return (0, 2) }
                // The line feed ends a line; the head ends if the next line is empty (LF or CRLF).
                if index + 1 < bytes.count, bytes[index + 1] == lf { return (index + 1, index + 2) }
                if index + 2 < bytes.count, bytes[index + 1] == cr, bytes[index + 2] == lf {
                    return (index + 1, index + 3)
                }
            }
            return nil
        }

        private static func head(from block: ArraySlice<UInt8>) throws -> CGIResponseHead {
            var head = CGIResponseHead(status: 200, headers: [])
            for rawLine in block.split(separator: UInt8(ascii: "\n")) {
                var line = String(decoding: rawLine, as: UTF8.self)
                if line.hasSuffix("\r") { line.removeLast() }
                guard !line.isEmpty else { continue }
                guard let colon = line.firstIndex(of: ":") else {
                    throw ToolRepositoryError.gitFailed("git http-backend wrote a malformed header line")
                }
                let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
                let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
                if name.lowercased() == "status" {
                    guard let code = Int(value.prefix(while: { $0 != " " })), (100...599).contains(code) else {
                        throw ToolRepositoryError.gitFailed("git http-backend wrote a malformed status '\(value)'")
                    }
                    head.status = code
                } else {
                    head.headers.append(GitHTTPHeader(name: name, value: value))
                }
            }
            return head
        }
    }
}
