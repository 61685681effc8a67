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

    /// `2026-11-21T12:46:19.834Z`: UTC, milliseconds, rounded (not truncated) from the stored instant.
    public static func formatDate(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, milliseconds) = totalMilliseconds.quotientAndRemainder(dividingBy: 1000)
        let whole = milliseconds < 0 ? seconds - 1 : seconds
        let fraction = milliseconds < 0 ? milliseconds + 1000 : milliseconds
        let parts = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(whole)))
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2))T\(pad(parts.hour, 2)):\(pad(parts.minute, 2)):\(pad(parts.second, 2)).\(pad(Int(fraction), 3))Z"
    }

    /// Parses ISO 8601 date-times as clients send them: `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z`,
    /// `±HH:MM`, `±HHMM` or no offset (UTC). The fraction keeps its full precision (Python sends
    /// microseconds), so a time read and written back moves by less than half a millisecond.
    public static func parseDate(_ string: String) -> Date? {
        let text = Array(string.utf8)
        var index = 0
        func number(_ digits: Int) -> Int? {
            guard index + digits <= text.count else { return nil }
            var value = 0
            for _ in 0..<digits {
                let byte = text[index]
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
                index += 1
            }
            return value
        }
        func expect(_ characters: UInt8...) -> Bool {
            guard index < text.count, characters.contains(text[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(0x2D), let month = number(2), expect(0x2D), let day = number(2),
              expect(0x54, 0x74, 0x20), let hour = number(2), expect(0x3A), let minute = number(2)
        else { return nil }
        var second = 0
        var fraction = 0.0
        if expect(0x3A) {
            guard let value = number(2) else { return nil }
            second = value
            if expect(0x2E, 0x2C) {
                var scale = 0.1
                var digits = 0
                while index < text.count, (0x30...0x39).contains(text[index]) {
                    fraction += Double(text[index] - 0x30) * scale
                    scale /= 10
                    digits += 1
                    index += 1
                }
                guard digits > 0 else { return nil }
            }
        }
        var offset = 0
        if index < text.count {
            if expect(0x5A, 0x7A) {
                offset = 0
            } else if text[index] == 0x2B || text[index] == 0x2D {
                let sign = text[index] == 0x2D ? -1 : 1
                index += 1
                guard let hours = number(2) else { return nil }
                _ = expect(0x3A)
                guard let minutes = number(2) else { return nil }
                offset = sign * (hours * 3600 + minutes * 60)
            } else {
                return nil
            }
        }
        guard index == text.count, (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else {
            return nil
        }
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let base = utc.date(from: components) else { return nil }
        return base.addingTimeInterval(fraction - Double(offset))
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
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

extension KeyedDecodingContainer {
    /// An optional field that may not be `null`: absent gives nil, `null` fails as a value of the
    /// wrong type would (the reference's Pydantic models refuse it: 422).
    public func decodeIfPresentNotNull<Value: Decodable>(_ type: Value.Type, forKey key: Key) throws -> Value? {
        guard contains(key) else { return nil }
        return try decode(type, forKey: key)
    }
}
