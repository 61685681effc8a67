import Foundation

// MARK: - Client → server

/// A client frame of the realtime socket (`converse_realtime`): one JSON text frame discriminated by `type`.
///
/// Unknown fields are ignored; unknown types, missing or mistyped fields are protocol errors, which the
/// server answers by closing the socket with 4000 (see ``parse(_:)``).
public enum RealtimeClientMessage: Sendable, Hashable {
    /// `client.start-conversation`
    case startConversation(StartConversation)
    /// `client.continue-conversation`
    case continueConversation(conversationID: String)
    /// `client.new-text-message`: user text, or an external event (`messageType` is `.userMessage` or
    /// `.externalEvent`, nothing else). `startInteraction` is only ever `true` for external events. `text`
    /// is stripped of surrounding white space and never empty.
    case newTextMessage(text: String, messageType: MessageType, startInteraction: Bool)
    /// `client.new-audio-message`: a base64 chunk of the user's audio, or `nil` for the end of an utterance;
    /// the first chunk may carry `audio_config`. Decoded as sent; the audio is not checked here.
    case newAudioMessage(audio: String?, audioConfig: JSONValue?)
    /// `client.switch-vad-mode`, with this connection's turn-taking knobs when `turn_detection` is sent.
    case switchVADMode(on: Bool, turnDetection: TurnDetection? = nil)
    /// `client.extend-timeout`: resets the inactivity timer and does nothing else.
    case extendTimeout
    /// `client.finish-conversation`
    case finishConversation
    /// `client.close-connection`: closes the socket without finishing the conversation.
    case closeConnection

    /// The fields of `client.start-conversation`, validated as REST create-conversation validates its body.
    ///
    /// `initialMessageType` may also be `.skip` here (and only here): the conversation is created empty and
    /// the agent does not speak first; `initialMessage` must then be absent. Without an initial message and
    /// without `skip`, the agent speaks first.
    public struct StartConversation: Sendable, Hashable {
        /// 24 lowercase hex digits.
        public var serviceID: String
        /// `release` unless sent.
        public var serviceVersionSetName: String
        /// Stripped; non-empty when present.
        public var initialMessage: String?
        public var initialMessageType: InitialMessageType?
        /// Keys and values stripped, as REST create does.
        public var tags: [String: String?]

        public init(
            serviceID: String, serviceVersionSetName: String = "release", initialMessage: String? = nil,
            initialMessageType: InitialMessageType? = nil, tags: [String: String?] = [:]
        ) {
            self.serviceID = serviceID
            self.serviceVersionSetName = serviceVersionSetName
            self.initialMessage = initialMessage
            self.initialMessageType = initialMessageType
            self.tags = tags
        }
    }

    /// `turn_detection` of `client.switch-vad-mode` [ours]: this connection's turn-taking knobs, with the
    /// names OpenAI Realtime's `turn_detection` uses. An absent field keeps its value (the server's setting
    /// or an earlier override); a value out of its range is a protocol error.
    public struct TurnDetection: Sendable, Hashable, Decodable {
        /// Who ends the turn, OpenAI's names: `server_vad` (silence) or `semantic_vad` (the end-of-turn model).
        public var type: String?
        /// Speech probability at which speech starts: 0 < threshold < 1.
        public var threshold: Double?
        /// Audio kept from before the start of speech: 0…2,000 ms.
        public var prefixPaddingMs: Int?
        /// Silence that ends the user's turn: 100…5,000 ms.
        public var silenceDurationMs: Int?

        public init(type: String? = nil, threshold: Double? = nil, prefixPaddingMs: Int? = nil, silenceDurationMs: Int? = nil) {
            self.type = type
            self.threshold = threshold
            self.prefixPaddingMs = prefixPaddingMs
            self.silenceDurationMs = silenceDurationMs
        }

        enum CodingKeys: String, CodingKey {
            case type, threshold, prefixPaddingMs = "prefix_padding_ms", silenceDurationMs = "silence_duration_ms"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.decodeIfPresent(String.self, forKey: .type)
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold)
            prefixPaddingMs = try c.decodeIfPresent(Int.self, forKey: .prefixPaddingMs)
            silenceDurationMs = try c.decodeIfPresent(Int.self, forKey: .silenceDurationMs)
            if let type, type != "server_vad", type != "semantic_vad" {
                throw RealtimeProtocolError("`turn_detection.type` must be server_vad or semantic_vad.")
            }
            if let threshold, !(threshold > 0 && threshold < 1) { throw RealtimeProtocolError("`turn_detection.threshold` must be between 0 and 1.") }
            if let prefixPaddingMs, !(0...2000).contains(prefixPaddingMs) {
                throw RealtimeProtocolError("`turn_detection.prefix_padding_ms` must be between 0 and 2000.")
            }
            if let silenceDurationMs, !(100...5000).contains(silenceDurationMs) {
                throw RealtimeProtocolError("`turn_detection.silence_duration_ms` must be between 100 and 5000.")
            }
        }
    }

    /// The wire `type`, e.g. `client.new-text-message`.
    public var type: String {
        switch self {
        case .startConversation: "client.start-conversation"
        case .continueConversation: "client.continue-conversation"
        case .newTextMessage: "client.new-text-message"
        case .newAudioMessage: "client.new-audio-message"
        case .switchVADMode: "client.switch-vad-mode"
        case .extendTimeout: "client.extend-timeout"
        case .finishConversation: "client.finish-conversation"
        case .closeConnection: "client.close-connection"
        }
    }

    /// Parses one text frame.
    ///
    /// A failure says in one short sentence what is wrong (invalid JSON, not an object, missing or unknown
    /// `type`, a missing, mistyped or invalid field); the server uses it as the reason of its 4000 close, so
    /// it never echoes more than a short prefix of what the client sent.
    public static func parse(_ frame: some Collection<UInt8>) -> Result<RealtimeClientMessage, RealtimeProtocolError> {
        let data = (frame as? Data) ?? Data(frame)
        do {
            return .success(try JSONDecoder().decode(Frame.self, from: data).message)
        } catch let error as RealtimeProtocolError {
            return .failure(error)
        } catch let error as DecodingError {
            return .failure(RealtimeProtocolError(decoding: error))
        } catch {
            return .failure(RealtimeProtocolError("The message is not valid JSON."))
        }
    }
}

/// Why a client frame was rejected: one sentence, short enough to be a WebSocket close reason.
public struct RealtimeProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    init(decoding error: DecodingError) {
        switch error {
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            self.init("The message must be a JSON object.")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            self.init("`\(context.codingPath.map(\.stringValue).joined(separator: "."))` has the wrong type.")
        case .keyNotFound(let key, _):
            self.init("`\(key.stringValue)` is required.")
        case .dataCorrupted:
            self.init("The message is not valid JSON.")
        @unknown default:
            self.init("The message is not valid JSON.")
        }
    }
}

/// Decodes a client frame, throwing ``RealtimeProtocolError``s with field-level sentences.
private struct Frame: Decodable {
    var message: RealtimeClientMessage

    enum Key: String, CodingKey {
        case type
        case serviceID = "service_id"
        case serviceVersionSetName = "service_version_set_name"
        case initialMessage = "initial_message"
        case initialMessageType = "initial_message_type"
        case tags
        case conversationID = "conversation_id"
        case text
        case messageType = "message_type"
        case startInteraction = "start_interaction"
        case audio
        case audioConfig = "audio_config"
        case vadModeOn = "vad_mode_on"
        case turnDetection = "turn_detection"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        guard c.contains(.type) else { throw RealtimeProtocolError("The message has no `type`.") }
        let type: String
        do {
            type = try c.decode(String.self, forKey: .type)
        } catch {
            throw RealtimeProtocolError("`type` must be a string.")
        }
        let fields = Fields(c: c, type: type)
        switch type {
        case "client.start-conversation":
            message = .startConversation(try fields.startConversation())
        case "client.continue-conversation":
            let id = try fields.string(.conversationID)
            guard ObjectID.isValid(id) else {
                throw RealtimeProtocolError("`conversation_id` must match ^[a-f0-9]{24}$.")
            }
            message = .continueConversation(conversationID: id)
        case "client.new-text-message":
            message = try fields.newTextMessage()
        case "client.new-audio-message":
            guard c.contains(.audio) else {
                throw RealtimeProtocolError("`client.new-audio-message` requires `audio` (base64, or null at the end).")
            }
            let audio = try fields.optional(String.self, .audio, "a string or null")
            let config = try fields.optional(JSONValue.self, .audioConfig, "an object")
            if let config {
                guard case .object = config else { throw RealtimeProtocolError("`audio_config` must be an object.") }
            }
            message = .newAudioMessage(audio: audio, audioConfig: config)
        case "client.switch-vad-mode":
            message = .switchVADMode(
                on: try fields.bool(.vadModeOn), turnDetection: try fields.optional(RealtimeClientMessage.TurnDetection.self, .turnDetection, "an object of valid knobs")
            )
        case "client.extend-timeout":
            message = .extendTimeout
        case "client.finish-conversation":
            message = .finishConversation
        case "client.close-connection":
            message = .closeConnection
        default:
            let shown = type.count > 40 ? String(type.prefix(40)) + "…" : type
            throw RealtimeProtocolError("Unknown message type '\(shown)'.")
        }
    }

    /// Field readers that name the field and the message type in their errors.
    private struct Fields {
        var c: KeyedDecodingContainer<Key>
        var type: String

        func string(_ key: Key) throws -> String {
            guard c.contains(key), (try? c.decodeNil(forKey: key)) == false else {
                throw RealtimeProtocolError("`\(type)` requires `\(key.stringValue)`.")
            }
            guard let value = try? c.decode(String.self, forKey: key) else {
                throw RealtimeProtocolError("`\(key.stringValue)` must be a string.")
            }
            return value
        }

        func bool(_ key: Key) throws -> Bool {
            guard c.contains(key), (try? c.decodeNil(forKey: key)) == false else {
                throw RealtimeProtocolError("`\(type)` requires `\(key.stringValue)`.")
            }
            guard let value = try? c.decode(Bool.self, forKey: key) else {
                throw RealtimeProtocolError("`\(key.stringValue)` must be a boolean.")
            }
            return value
        }

        /// Absent and `null` both read as `nil`.
        func optional<T: Decodable>(_: T.Type, _ key: Key, _ expected: String) throws -> T? {
            do {
                return try c.decodeIfPresent(T.self, forKey: key)
            } catch let error as RealtimeProtocolError {
                throw error
            } catch {
                throw RealtimeProtocolError("`\(key.stringValue)` must be \(expected).")
            }
        }

        func nonEmptyText(_ key: Key) throws -> String {
            let text = FieldRule.stripped(try string(key))
            guard !text.isEmpty else { throw RealtimeProtocolError("`\(key.stringValue)` must not be empty.") }
            return text
        }

        func newTextMessage() throws -> RealtimeClientMessage {
            let text = try nonEmptyText(.text)
            let messageType: MessageType
            switch try string(.messageType) {
            case MessageType.userMessage.rawValue: messageType = .userMessage
            case MessageType.externalEvent.rawValue: messageType = .externalEvent
            default: throw RealtimeProtocolError("`message_type` must be 'user-message' or 'external-event'.")
            }
            let startInteraction = try optional(Bool.self, .startInteraction, "a boolean") ?? false
            if startInteraction, messageType != .externalEvent {
                throw RealtimeProtocolError("`start_interaction` is only allowed for external events.")
            }
            return .newTextMessage(text: text, messageType: messageType, startInteraction: startInteraction)
        }

        func startConversation() throws -> RealtimeClientMessage.StartConversation {
            let serviceID = try string(.serviceID)
            guard ObjectID.isValid(serviceID) else {
                throw RealtimeProtocolError("`service_id` must match ^[a-f0-9]{24}$.")
            }
            let versionSet = try optional(String.self, .serviceVersionSetName, "a string") ?? "release"
            guard FieldRule.isVersionSetName(versionSet) else {
                throw RealtimeProtocolError("`service_version_set_name` must match ^[A-Za-z0-9_-]{1,40}$.")
            }
            let initialMessage = try optional(String.self, .initialMessage, "a string").map(FieldRule.stripped)
            if let initialMessage, initialMessage.isEmpty {
                throw RealtimeProtocolError("`initial_message` must not be empty.")
            }
            var initialMessageType: InitialMessageType?
            if let raw = try optional(String.self, .initialMessageType, "a string") {
                guard let parsed = InitialMessageType(rawValue: raw) else {
                    throw RealtimeProtocolError("`initial_message_type` must be 'user-message', 'external-event' or 'skip'.")
                }
                initialMessageType = parsed
            }
            switch (initialMessageType, initialMessage) {
            case (.skip, .some):
                throw RealtimeProtocolError("`initial_message` cannot be sent with `initial_message_type` 'skip'.")
            case (.userMessage, nil), (.externalEvent, nil):
                throw RealtimeProtocolError("`initial_message_type` 'user-message' or 'external-event' needs an `initial_message`.")
            default:
                break
            }
            let tags: [String: String?]
            do {
                tags = try decodeStrippedTags(c, forKey: .tags)
            } catch {
                throw RealtimeProtocolError("`tags` must be an object of strings or nulls.")
            }
            // The REST rules for tags (at most 20, `^[\w\s]+$` keys, 1–100 character values).
            var collector = ValidationCollector(prefix: [])
            CreateConversationRequest(serviceID: serviceID, tags: tags).validate(into: &collector)
            if let issue = collector.issues.first {
                let path = issue.loc.map { location in
                    switch location {
                    case .key(let key): key
                    case .index(let index): String(index)
                    }
                }
                let shown = path.joined(separator: ".")
                throw RealtimeProtocolError("`\(shown.count > 40 ? String(shown.prefix(40)) + "…" : shown)`: \(issue.msg).")
            }
            return .init(
                serviceID: serviceID, serviceVersionSetName: versionSet, initialMessage: initialMessage,
                initialMessageType: initialMessageType, tags: tags
            )
        }
    }
}

// MARK: - Server → client

/// A server frame of the realtime socket: every ``ConversationEvent`` of REST with a `server.` type prefix,
/// plus the realtime-only messages.
///
/// `.event(.conversationCreated)` and `.event(.error)` encode exactly as `.conversationCreated` and `.error`;
/// decoding yields the latter. Encoding writes the keys straight into one keyed container, as
/// ``ConversationEvent`` does: it runs for every streamed piece of a reply.
public enum RealtimeServerMessage: Sendable, Hashable, Codable {
    /// `server.conversation-created`
    case conversationCreated(conversationID: String)
    /// `server.conversation-continued`
    case conversationContinued(conversationID: String)
    /// A REST conversation event as `server.<type>` with the REST fields.
    case event(ConversationEvent)
    /// `server.vad-mode-switched {current_vad_mode_on}`
    case vadModeSwitched(on: Bool)
    /// `server.vad-speech-started {ts_start}`: milliseconds into the input stream.
    case vadSpeechStarted(tsStart: Int)
    /// `server.vad-speech-ended {ts_end}`
    case vadSpeechEnded(tsEnd: Int)
    /// `server.vad-speech-reset-zero`: a detected segment was discarded as noise or too short.
    case vadSpeechResetZero
    /// `server.error {http_error_code, error_description}`
    case error(httpErrorCode: Int, errorDescription: String)

    /// The wire `type`, e.g. `server.new-message`.
    public var type: String {
        switch self {
        case .conversationCreated, .event(.conversationCreated): "server.conversation-created"
        case .conversationContinued: "server.conversation-continued"
        case .event(.userMessageAvailable): "server.user-message-available"
        case .event(.newMessage): "server.new-message"
        case .event(.interactionComplete): "server.interaction-complete"
        case .event(.currentAgentAction): "server.current-agent-action"
        case .error, .event(.error): "server.error"
        case .vadModeSwitched: "server.vad-mode-switched"
        case .vadSpeechStarted: "server.vad-speech-started"
        case .vadSpeechEnded: "server.vad-speech-ended"
        case .vadSpeechResetZero: "server.vad-speech-reset-zero"
        }
    }

    /// The message as one JSON text frame (UTF-8), keys in the order of the REST event (`type` first).
    public func encoded() throws -> Data {
        Data(try WireEncoder().encode(self))
    }

    private enum RealtimeKeys: String, CodingKey {
        case type
        case currentVADModeOn = "current_vad_mode_on"
        case tsStart = "ts_start"
        case tsEnd = "ts_end"
    }

    public func encode(to encoder: any Encoder) throws {
        typealias Key = ConversationEvent.CodingKeys
        switch self {
        case .vadModeSwitched(let on):
            var c = encoder.container(keyedBy: RealtimeKeys.self)
            try c.encode(type, forKey: .type)
            try c.encode(on, forKey: .currentVADModeOn)
            return
        case .vadSpeechStarted(let ms):
            var c = encoder.container(keyedBy: RealtimeKeys.self)
            try c.encode(type, forKey: .type)
            try c.encode(ms, forKey: .tsStart)
            return
        case .vadSpeechEnded(let ms):
            var c = encoder.container(keyedBy: RealtimeKeys.self)
            try c.encode(type, forKey: .type)
            try c.encode(ms, forKey: .tsEnd)
            return
        case .vadSpeechResetZero:
            var c = encoder.container(keyedBy: RealtimeKeys.self)
            try c.encode(type, forKey: .type)
            return
        default:
            break
        }
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .conversationCreated(let id), .conversationContinued(let id), .event(.conversationCreated(let id)):
            try c.encode(id, forKey: .conversationID)
        case .event(.userMessageAvailable(let messageID, let userMessage)):
            try c.encode(messageID, forKey: .messageID)
            try c.encode(userMessage, forKey: .userMessage)
        case .event(.newMessage(let message)):
            try message.encodeFields(into: &c)
        case .event(.interactionComplete(let complete)):
            try complete.encodeFields(into: &c)
        case .event(.currentAgentAction(let action)):
            try c.encode(action, forKey: .action)
        case .error(let code, let description), .event(.error(let code, let description)):
            try c.encode(code, forKey: .httpErrorCode)
            try c.encode(description, forKey: .errorDescription)
        case .vadModeSwitched, .vadSpeechStarted, .vadSpeechEnded, .vadSpeechResetZero:
            break
        }
    }

    /// Reads a server frame, for clients and tests.
    public init(from decoder: any Decoder) throws {
        typealias Key = ConversationEvent.CodingKeys
        let c = try decoder.container(keyedBy: Key.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "server.conversation-created":
            self = .conversationCreated(conversationID: try c.decode(String.self, forKey: .conversationID))
        case "server.conversation-continued":
            self = .conversationContinued(conversationID: try c.decode(String.self, forKey: .conversationID))
        case "server.user-message-available":
            self = .event(.userMessageAvailable(
                messageID: try c.decode(String.self, forKey: .messageID),
                userMessage: try c.decode(String.self, forKey: .userMessage)))
        case "server.new-message":
            self = .event(.newMessage(try NewMessage(from: c)))
        case "server.interaction-complete":
            self = .event(.interactionComplete(try InteractionComplete(from: c)))
        case "server.current-agent-action":
            self = .event(.currentAgentAction(try c.decode(AgentAction.self, forKey: .action)))
        case "server.error":
            self = .error(
                httpErrorCode: try c.decode(Int.self, forKey: .httpErrorCode),
                errorDescription: try c.decode(String.self, forKey: .errorDescription))
        case "server.vad-mode-switched":
            self = .vadModeSwitched(on: try decoder.container(keyedBy: RealtimeKeys.self).decode(Bool.self, forKey: .currentVADModeOn))
        case "server.vad-speech-started":
            self = .vadSpeechStarted(tsStart: try decoder.container(keyedBy: RealtimeKeys.self).decode(Int.self, forKey: .tsStart))
        case "server.vad-speech-ended":
            self = .vadSpeechEnded(tsEnd: try decoder.container(keyedBy: RealtimeKeys.self).decode(Int.self, forKey: .tsEnd))
        case "server.vad-speech-reset-zero":
            self = .vadSpeechResetZero
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "Unknown realtime server message type '\(type)'")
        }
    }
}
