import Foundation

/// Bytes kept from a stream: the first `limit` (and whether more came) or the last `limit`.
struct CapturedBytes: Sendable {
    enum Mode: Sendable {
        /// Keep the first bytes; anything past the limit is an overflow.
        case head(Int)
        /// Keep the last bytes.
        case tail(Int)
    }

    let mode: Mode
    private(set) var bytes = Data()
    private(set) var overflowed = false

    init(_ mode: Mode) {
        self.mode = mode
    }

    /// Returns `false` once a `head` capture has overflowed.
    mutating func append(_ chunk: UnsafeRawBufferPointer) -> Bool {
        switch mode {
        case .head(let limit):
            guard !overflowed else { return false }
            if bytes.count + chunk.count > limit {
                bytes.append(contentsOf: chunk.prefix(limit - bytes.count))
                overflowed = true
                return false
            }
            bytes.append(contentsOf: chunk)
        case .tail(let limit):
            bytes.append(contentsOf: chunk.suffix(limit))
            if bytes.count > 2 * limit {
                bytes = Data(bytes.suffix(limit))
                overflowed = true
            }
        }
        return true
    }

    /// The kept bytes, trimmed to the limit for a tail.
    var kept: Data {
        switch mode {
        case .head: bytes
        case .tail(let limit): bytes.count > limit ? Data(bytes.suffix(limit)) : bytes
        }
    }

    /// The last `count` lines of the kept text, without empty trailing lines.
    func lastLines(_ count: Int) -> [String] {
        let text = String(decoding: kept, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        return Array(lines.suffix(count))
    }
}
