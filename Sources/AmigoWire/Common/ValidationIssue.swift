/// One reason a request was rejected, in the FastAPI/Pydantic shape the Amigo API uses for 422 bodies:
/// `{"loc": ["body", "states", 0, "name"], "msg": "...", "type": "..."}`.
public struct ValidationIssue: Codable, Sendable, Hashable {
    /// A path element of `loc`: a field name or an array index.
    public enum Location: Codable, Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        case key(String)
        case index(Int)

        public init(stringLiteral value: String) { self = .key(value) }
        public init(integerLiteral value: Int) { self = .index(value) }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let index = try? container.decode(Int.self) {
                self = .index(index)
            } else {
                self = .key(try container.decode(String.self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .key(let key): try container.encode(key)
            case .index(let index): try container.encode(index)
            }
        }
    }

    public var loc: [Location]
    public var msg: String
    public var type: String

    public init(loc: [Location], msg: String, type: String = "value_error") {
        self.loc = loc
        self.msg = msg
        self.type = type
    }
}

/// Collects validation issues under a location prefix, so nested validators report full paths.
public struct ValidationCollector: Sendable {
    public private(set) var issues: [ValidationIssue] = []
    private var prefix: [ValidationIssue.Location]

    public init(prefix: [ValidationIssue.Location] = ["body"]) {
        self.prefix = prefix
    }

    public mutating func add(_ path: [ValidationIssue.Location], _ msg: String, type: String = "value_error") {
        issues.append(ValidationIssue(loc: prefix + path, msg: msg, type: type))
    }

    /// Runs `body` with `path` appended to the prefix.
    public mutating func nested(_ path: [ValidationIssue.Location], _ body: (inout ValidationCollector) -> Void) {
        var inner = ValidationCollector(prefix: prefix + path)
        body(&inner)
        issues += inner.issues
    }

    public var isEmpty: Bool { issues.isEmpty }

    /// Throws a `RequestValidationError` when any issue was collected.
    public func check() throws(RequestValidationError) {
        if !issues.isEmpty { throw RequestValidationError(issues: issues) }
    }
}

/// A request that failed validation; the server answers it with 422 and `{"detail": issues}`.
public struct RequestValidationError: Error, Sendable {
    public var issues: [ValidationIssue]
    public init(issues: [ValidationIssue]) { self.issues = issues }
}
