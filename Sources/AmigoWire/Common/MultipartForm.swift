/// A `multipart/form-data` body, fields in the order they were added: what Compadre's client sends to
/// the interact endpoint and what its speech provider sends to `/audio/transcriptions`.
public struct MultipartForm: Sendable {
    private struct Part: Sendable {
        var name: String
        var filename: String?
        var contentType: String?
        var value: [UInt8]
    }

    public let boundary: String
    private var parts: [Part] = []

    public init(boundary: String = "compadre-" + String(UInt64.random(in: .min ... .max), radix: 36)) {
        self.boundary = boundary
    }

    public var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    public mutating func add(_ name: String, _ value: String) {
        parts.append(Part(name: name, value: Array(value.utf8)))
    }

    public mutating func addFile(_ name: String, filename: String, contentType: String, _ value: String) {
        parts.append(Part(name: name, filename: filename, contentType: contentType, value: Array(value.utf8)))
    }

    public mutating func addFile(_ name: String, filename: String, contentType: String, bytes: some Sequence<UInt8>) {
        parts.append(Part(name: name, filename: filename, contentType: contentType, value: Array(bytes)))
    }

    /// The body's bytes.
    public func encoded() -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(parts.reduce(64) { $0 + $1.value.count + 128 })
        for part in parts {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(Self.quoted(part.name))\"".utf8
            if let filename = part.filename { body += "; filename=\"\(Self.quoted(filename))\"".utf8 }
            body += "\r\n".utf8
            if let contentType = part.contentType { body += "Content-Type: \(contentType)\r\n".utf8 }
            body += "\r\n".utf8
            body += part.value
            body += "\r\n".utf8
        }
        body += "--\(boundary)--\r\n".utf8
        return body
    }

    /// Never let a name or a filename break out of its quotes.
    private static func quoted(_ text: String) -> String {
        var quoted = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "%22"
            case "\r": quoted += "%0D"
            case "\n": quoted += "%0A"
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted
    }
}
