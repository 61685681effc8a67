import AmigoWire
import Foundation
import Hummingbird
import MultipartKit
import NIOCore
import NIOHTTP1
import Platform
import HTTPTypes

/// The multipart form of `interact`: what the user sent, and external events to insert before it.
struct InteractForm: Sendable {
    var initialMessageType: InitialMessageType
    /// The text of the user message or external event (empty for `skip`).
    var recordedMessage: String
    var externalEventContents: [String]
    var externalEventTimestamps: [Date]
    /// The `recorded_message` part as sent, with its declared content type (a voice message's audio).
    var recordedBody = ByteBuffer()
    var recordedContentType: String?

    /// The largest form `interact` reads with a text message.
    static let maximumSize = 1024 * 1024
    /// The largest form with a voice message: about five minutes of 16 kHz PCM16, or far more MP3.
    static let maximumVoiceSize = 10 * 1024 * 1024

    /// Reads and validates the form: 422 for a malformed form or field, naming the field.
    static func read(from request: inout Request, voice: Bool = false) async throws -> InteractForm {
        let maximumSize = voice ? maximumVoiceSize : maximumSize
        guard let contentType = request.headers[.contentType],
              contentType.lowercased().hasPrefix("multipart/form-data"),
              let boundary = boundary(in: contentType)
        else {
            throw PlatformError.validation(
                ["header", "content-type"], "String should match pattern '^multipart\\/form-data; boundary=.+$'",
                type: "string_pattern_mismatch"
            )
        }
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maximumSize)
        } catch {
            throw PlatformError.payloadTooLarge("The form exceeds \(maximumSize) bytes.")
        }
        let fields = try parts(of: body, boundary: boundary).map { part in
            (name: part.headers.first(name: "content-disposition").flatMap(fieldName(in:)), body: part.body,
             contentType: part.headers.first(name: "content-type"))
        }
        func texts(_ name: String) -> [String] {
            fields.filter { $0.name == name }.map { String(buffer: $0.body) }
        }

        var issues: [ValidationIssue] = []
        var type = InitialMessageType.userMessage
        if let raw = texts("initial_message_type").first {
            if let parsed = InitialMessageType(rawValue: raw) {
                type = parsed
            } else {
                issues.append(ValidationIssue(
                    loc: ["body", "initial_message_type"],
                    msg: "Input should be 'user-message', 'external-event' or 'skip'", type: "enum"
                ))
            }
        } else {
            issues.append(ValidationIssue(loc: ["body", "initial_message_type"], msg: "Field required", type: "missing"))
        }
        guard let recorded = texts("recorded_message").first else {
            issues.append(ValidationIssue(loc: ["body", "recorded_message"], msg: "Field required", type: "missing"))
            throw PlatformError.validation(issues)
        }
        let contents = texts("external_event_message_content")
        var timestamps: [Date] = []
        for (index, text) in texts("external_event_message_timestamp").enumerated() {
            if let date = WireCoding.parseDate(text) {
                timestamps.append(date)
            } else {
                issues.append(ValidationIssue(
                    loc: ["body", "external_event_message_timestamp", .index(index)],
                    msg: "Input should be a valid datetime", type: "datetime_from_date_parsing"
                ))
            }
        }
        for (index, content) in contents.enumerated() where content.isEmpty {
            issues.append(ValidationIssue(
                loc: ["body", "external_event_message_content", .index(index)],
                msg: "String should have at least 1 character", type: "string_too_short"
            ))
        }
        if type == .skip {
            if !recorded.isEmpty {
                issues.append(ValidationIssue(
                    loc: ["body", "recorded_message"], msg: "String should have at most 0 characters", type: "string_too_long"
                ))
            }
            if !contents.isEmpty || !timestamps.isEmpty {
                issues.append(ValidationIssue(
                    loc: ["body", "external_event_message_content"],
                    msg: "External events cannot be sent with a skip", type: "too_long"
                ))
            }
        }
        if !issues.isEmpty { throw PlatformError.validation(issues) }
        let recordedPart = fields.first { $0.name == "recorded_message" }
        return InteractForm(
            initialMessageType: type, recordedMessage: recorded,
            externalEventContents: contents, externalEventTimestamps: timestamps,
            recordedBody: recordedPart?.body ?? ByteBuffer(),
            recordedContentType: recordedPart?.contentType
        )
    }

    static func boundary(in contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            let value = pair[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// The field name of a part's `Content-Disposition: form-data; name="…"` (read once per part: this is
    /// on every interaction's path).
    static func fieldName(in disposition: String) -> String? {
        for parameter in disposition.utf8.split(separator: UInt8(ascii: ";")).dropFirst() {
            let trimmed = parameter.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            guard trimmed.count > 5, trimmed.prefix(5).elementsEqual("name=".utf8) else { continue }
            var value = trimmed.dropFirst(5)
            while let last = value.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { value = value.dropLast() }
            if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                value = value.dropFirst().dropLast()
            }
            return String(decoding: value, as: UTF8.self)
        }
        return nil
    }

    /// The most parts a form may have: its fields, one per external event (with a timestamp each).
    static let maximumParts = 1000

    static func parts(of body: ByteBuffer, boundary: String) throws -> [MultipartPart] {
        let parser = MultipartParser(boundary: boundary)
        var parts: [MultipartPart] = []
        var headers = HTTPHeaders()
        var content = ByteBuffer()
        parser.onHeader = { name, value in headers.add(name: name, value: value) }
        parser.onBody = { chunk in content.writeBuffer(&chunk) }
        struct TooManyParts: Error {}
        parser.onPartComplete = {
            parts.append(MultipartPart(headers: headers, body: content))
            headers = HTTPHeaders()
            content = ByteBuffer()
        }
        do {
            // Parsed a slice at a time so a form of thousands of tiny parts stops at the limit.
            var remaining = body
            while remaining.readableBytes > 0 {
                let slice = remaining.readSlice(length: min(remaining.readableBytes, 4096))!
                try parser.execute(slice)
                if parts.count > maximumParts { throw TooManyParts() }
            }
        } catch is TooManyParts {
            throw PlatformError.payloadTooLarge("The form has more than \(maximumParts) parts.")
        } catch {
            throw PlatformError.validation(["body"], "The multipart form could not be parsed: \(error)", type: "value_error")
        }
        return parts
    }
}

extension Conversations.Turn {
    /// The turn of a REST interact form.
    init(form: InteractForm) throws {
        let contents = form.externalEventContents
        let timestamps = form.externalEventTimestamps
        if contents.count != timestamps.count {
            throw PlatformError.badRequest(
                "external_event_message_content has \(contents.count) entries but external_event_message_timestamp has \(timestamps.count); they must match."
            )
        }
        let message: (type: MessageType, text: String)? = switch form.initialMessageType {
        case .skip: nil
        case .userMessage: (.userMessage, form.recordedMessage)
        case .externalEvent: (.externalEvent, form.recordedMessage)
        }
        self.init(events: zip(contents, timestamps).map { (text: $0, at: $1) }, message: message)
    }
}
