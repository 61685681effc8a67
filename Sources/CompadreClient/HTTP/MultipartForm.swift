import Foundation
import NIOCore

/// A `multipart/form-data` body, fields in the order they were added, as the interact endpoint reads it.
struct MultipartForm: Sendable {
    private struct Part: Sendable {
        var name: String
        var filename: String?
        var contentType: String?
        var value: [UInt8]
    }

    let boundary: String
    private var parts: [Part] = []

    init(boundary: String = "compadre-" + String(UInt64.random(in: .min ... .max), radix: 36)) {
        self.boundary = boundary
    }

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    mutating func add(_ name: String, _ value: String) {
        parts.append(Part(name: name, value: Array(value.utf8)))
    }

    mutating func addFile(_ name: String, filename: String, contentType: String, _ value: String) {
        parts.append(Part(name: name, filename: filename, contentType: contentType, value: Array(value.utf8)))
    }

    mutating func addFile(_ name: String, filename: String, contentType: String, bytes: [UInt8]) {
        parts.append(Part(name: name, filename: filename, contentType: contentType, value: bytes))
    }

    func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        for part in parts {
            buffer.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(Self.quoted(part.name))\"")
            if let filename = part.filename { buffer.writeString("; filename=\"\(Self.quoted(filename))\"") }
            buffer.writeString("\r\n")
            if let contentType = part.contentType { buffer.writeString("Content-Type: \(contentType)\r\n") }
            buffer.writeString("\r\n")
            buffer.writeBytes(part.value)
            buffer.writeString("\r\n")
        }
        buffer.writeString("--\(boundary)--\r\n")
        return buffer
    }

    /// Names and filenames are ours; still, never let one break out of its quotes.
    private static func quoted(_ text: String) -> String {
        text.replacingOccurrences(of: "\"", with: "%22").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
    }
}
