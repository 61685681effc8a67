import Foundation

/// The JSON encoders and decoders of the wire format: dates as ISO 8601 with fractional seconds in UTC.
public enum WireCoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatDate(date))
        }
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let string = try container.decode(String.self)
            guard let date = parseDate(string) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "Input should be a valid datetime")
            }
            return date
        }
        return decoder
    }

    public static func formatDate(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted)).replacingOccurrences(of: "+0000", with: "Z")
    }

    public static func parseDate(_ string: String) -> Date? {
        if let date = try? Date(string, strategy: .iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted)) {
            return date
        }
        if let date = try? Date(string, strategy: .iso8601) { return date }
        return nil
    }
}

extension DecodingError {
    /// The 422 issue a client should see for a body that could not be decoded.
    public func validationIssue(prefix: [ValidationIssue.Location] = ["body"]) -> ValidationIssue {
        func path(_ codingPath: [any CodingKey]) -> [ValidationIssue.Location] {
            prefix + codingPath.map { key in
                if let index = key.intValue { .index(index) } else { .key(key.stringValue) }
            }
        }
        switch self {
        case .keyNotFound(let key, let context):
            return ValidationIssue(loc: path(context.codingPath + [key]), msg: "Field required", type: "missing")
        case .typeMismatch(let type, let context):
            return ValidationIssue(loc: path(context.codingPath), msg: "Input should be a valid \(Self.typeName(type))", type: "type_error")
        case .valueNotFound(let type, let context):
            return ValidationIssue(loc: path(context.codingPath), msg: "Input should be a valid \(Self.typeName(type)), not null", type: "type_error")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return ValidationIssue(loc: prefix, msg: "JSON decode error", type: "json_invalid")
            }
            return ValidationIssue(loc: path(context.codingPath), msg: context.debugDescription, type: "value_error")
        @unknown default:
            return ValidationIssue(loc: prefix, msg: "Invalid request body", type: "value_error")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "string"
        case is Int.Type, is Int64.Type: "integer"
        case is Double.Type: "number"
        case is Bool.Type: "boolean"
        default:
            String(describing: type).contains("Array") ? "list" : (String(describing: type).contains("Dictionary") ? "dictionary" : "object")
        }
    }
}
