import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Platform

/// The largest JSON body a management endpoint accepts.
let maximumJSONBodySize = 2 * 1024 * 1024

extension Request {
    /// Decodes and validates a JSON body: 422 naming each failing field, never a partial decode.
    mutating func decodeBody<Body: ValidatableRequest>(_ type: Body.Type, context: some RequestContext) async throws -> Body {
        let buffer = try await collectJSONBody()
        guard buffer.readableBytes > 0 else {
            throw PlatformError.validation(["body"], "Field required", type: "missing")
        }
        let value: Body
        do {
            value = try WireJSON.decoder.decode(Body.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw PlatformError.validation([error.validationIssue()])
        }
        var collector = ValidationCollector()
        value.validate(into: &collector)
        if !collector.isEmpty { throw PlatformError.validation(collector.issues) }
        return value
    }
}

extension Request {
    /// The whole body of a JSON request, or 413 past `maximumJSONBodySize` (the body is then not read
    /// further). The body stays readable again through `body`.
    mutating func collectJSONBody() async throws -> ByteBuffer {
        do {
            return try await collectBody(upTo: maximumJSONBodySize)
        } catch {
            throw PlatformError.payloadTooLarge("Request body exceeds \(maximumJSONBodySize) bytes.")
        }
    }
}

/// The shared, configured JSON decoder of the wire format (encoding is ``WireEncoder``'s).
enum WireJSON {
    nonisolated(unsafe) static let decoder = WireCoding.decoder()
}

extension Response {
    /// A JSON response in the wire format.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let bytes = try WireEncoder().encode(value)
        ResponseCapture.current?.bytes = bytes
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// An empty-bodied response (204).
    static func empty(_ status: HTTPResponse.Status) -> Response {
        Response(status: status)
    }

    /// The document's 200s whose schema is empty: JSON `null`, as the reference (FastAPI) answers them.
    static var null: Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "null")))
    }
}

/// Typed access to query parameters with 422s in the API's shape.
struct Query {
    let parameters: [(String, String)]

    /// Parses the query as HTML forms (and FastAPI) do: `+` is a space, then `%XX` escapes are decoded.
    init(_ request: Request) {
        guard let query = request.uri.query, !query.isEmpty else {
            parameters = []
            return
        }
        parameters = query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : "")
        }
    }

    static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    func all(_ name: String) -> [String] {
        parameters.filter { $0.0 == name }.map(\.1)
    }

    func string(_ name: String) -> String? {
        parameters.first { $0.0 == name }?.1
    }

    func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = string(name) else { return value }
        guard let number = Int(text) else {
            throw PlatformError.validation(["query", .key(name)], "Input should be a valid integer, unable to parse string as an integer", type: "int_parsing")
        }
        guard range.contains(number) else {
            throw PlatformError.validation(["query", .key(name)], "Input should be between \(range.lowerBound) and \(range.upperBound)", type: "less_than_equal")
        }
        return number
    }

    func bool(_ name: String) throws -> Bool? {
        guard let text = string(name) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw PlatformError.validation(["query", .key(name)], "Input should be a valid boolean, unable to interpret input", type: "bool_parsing")
        }
    }

    /// A required parameter: 422 `missing` without it, and with `nonBlank` 422 when it is only white space.
    func required(_ name: String, nonBlank: Bool = false) throws -> String {
        guard let text = string(name) else { throw PlatformError.validation(["query", .key(name)], "Field required", type: "missing") }
        if nonBlank, text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw PlatformError.validation(["query", .key(name)], "String should have at least 1 character", type: "string_too_short")
        }
        return text
    }

    /// An ISO 8601 date-time (``WireCoding/parseDate(_:)``), nil when absent.
    func date(_ name: String) throws -> Date? {
        guard let text = string(name) else { return nil }
        guard let date = WireCoding.parseDate(text) else {
            throw PlatformError.validation(["query", .key(name)], "Input should be a valid datetime", type: "datetime_from_date_parsing")
        }
        return date
    }

    /// Repeated `name` values that must be 24-hex object ids.
    func objectIDs(_ name: String) throws -> [String] {
        let values = all(name)
        var issues: [ValidationIssue] = []
        for (index, value) in values.enumerated() where !ObjectID.isValid(value) {
            issues.append(ValidationIssue(loc: ["query", .key(name), .index(index)], msg: "String should match pattern '^[a-f0-9]{24}$'", type: "string_pattern_mismatch"))
        }
        if !issues.isEmpty { throw PlatformError.validation(issues) }
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }

    /// The `key:value` entries of parameter `name` (tag filters), split at the first `:` — a Unicode
    /// scalar, so a colon followed by a combining mark still splits.
    func keyValues(_ name: String) throws -> [(key: String, value: String)] {
        try all(name).enumerated().map { index, raw in
            guard let colon = raw.unicodeScalars.firstIndex(of: ":") else {
                throw PlatformError.validation(["query", .key(name), .index(index)], "Tags must be written as key:value", type: "value_error")
            }
            return (String(raw.unicodeScalars[..<colon]), String(raw.unicodeScalars[raw.unicodeScalars.index(after: colon)...]))
        }
    }

    /// `limit` and `continuation_token` as an offset page.
    func page(defaultLimit: Int, maxLimit: Int, minLimit: Int = 1) throws -> PageParameters {
        let limit = try int("limit", default: defaultLimit, range: minLimit...maxLimit)
        let token = try int("continuation_token", default: 0, range: 0...Int(Int32.max))
        return PageParameters(limit: limit, offset: token)
    }

    /// `sort_by` entries (`+field` / `-field` / `field`), mapped through `allowed` (field → column).
    func sort(allowed: [String: String]) throws -> [(column: String, ascending: Bool)] {
        var keys: [(String, Bool)] = []
        for (index, raw) in all("sort_by").enumerated() {
            var field = Substring(raw.trimmingCharacters(in: .whitespaces))
            var ascending = true
            if field.first == "+" { field = field.dropFirst() } else if field.first == "-" { ascending = false; field = field.dropFirst() }
            guard let column = allowed[String(field)] else {
                let names = allowed.keys.sorted().map { "`\($0)`" }.joined(separator: ", ")
                throw PlatformError.validation(["query", "sort_by", .index(index)], "Unsupported sort field '\(field)'; supported fields are \(names)", type: "value_error")
            }
            keys.append((column, ascending))
        }
        return keys
    }
}

struct PageParameters {
    var limit: Int
    var offset: Int
}
