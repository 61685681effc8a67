import AmigoWire
import Foundation
import Testing

private let serviceID = "0123456789abcdef01234567"

// MARK: - Client frames

@Suite struct RealtimeClientMessageTests {
    struct Accepted: Sendable, CustomTestStringConvertible {
        var frame: String
        var message: RealtimeClientMessage
        var testDescription: String { frame }
    }

    static let accepted: [Accepted] = [
        Accepted(
            frame: #"{"type":"client.start-conversation","service_id":"\#(serviceID)","service_version_set_name":"edge"}"#,
            message: .startConversation(.init(serviceID: serviceID, serviceVersionSetName: "edge"))),
        Accepted(
            frame: #"{"type":"client.start-conversation","service_id":"\#(serviceID)"}"#,
            message: .startConversation(.init(serviceID: serviceID))),
        Accepted(
            frame: #"{"type":"client.start-conversation","service_id":"\#(serviceID)","initial_message":"  Hello  ","initial_message_type":"external-event","tags":{" topic ":" billing ","vip":null}}"#,
            message: .startConversation(.init(
                serviceID: serviceID, initialMessage: "Hello", initialMessageType: .externalEvent,
                tags: ["topic": "billing", "vip": nil]))),
        Accepted(
            frame: #"{"type":"client.start-conversation","service_id":"\#(serviceID)","initial_message":"Hi"}"#,
            message: .startConversation(.init(serviceID: serviceID, initialMessage: "Hi"))),
        Accepted(
            frame: #"{"type":"client.start-conversation","service_id":"\#(serviceID)","initial_message_type":"skip"}"#,
            message: .startConversation(.init(serviceID: serviceID, initialMessageType: .skip))),
        Accepted(
            frame: #"{"type":"client.continue-conversation","conversation_id":"\#(serviceID)"}"#,
            message: .continueConversation(conversationID: serviceID)),
        Accepted(
            frame: #"{"type":"client.new-text-message","text":" Hi there\n","message_type":"user-message"}"#,
            message: .newTextMessage(text: "Hi there", messageType: .userMessage, startInteraction: false)),
        Accepted(
            frame: #"{"type":"client.new-text-message","text":"Hi","message_type":"user-message","start_interaction":false}"#,
            message: .newTextMessage(text: "Hi", messageType: .userMessage, startInteraction: false)),
        Accepted(
            frame: #"{"type":"client.new-text-message","text":"{\"event\":\"ui.click\"}","message_type":"external-event"}"#,
            message: .newTextMessage(text: #"{"event":"ui.click"}"#, messageType: .externalEvent, startInteraction: false)),
        Accepted(
            frame: #"{"type":"client.new-text-message","text":"ALERT","message_type":"external-event","start_interaction":true}"#,
            message: .newTextMessage(text: "ALERT", messageType: .externalEvent, startInteraction: true)),
        Accepted(
            frame: #"{"type":"client.new-text-message","text":"ALERT","message_type":"external-event","start_interaction":null}"#,
            message: .newTextMessage(text: "ALERT", messageType: .externalEvent, startInteraction: false)),
        Accepted(
            frame: #"{"type":"client.new-audio-message","audio":"AAAA","audio_config":{"format":"pcm","sample_rate":16000,"sample_width":2,"n_channels":1,"frame_rate":16000}}"#,
            message: .newAudioMessage(audio: "AAAA", audioConfig: ["format": "pcm", "sample_rate": 16000, "sample_width": 2, "n_channels": 1, "frame_rate": 16000])),
        Accepted(
            frame: #"{"type":"client.new-audio-message","audio":null}"#,
            message: .newAudioMessage(audio: nil, audioConfig: nil)),
        Accepted(frame: #"{"type":"client.switch-vad-mode","vad_mode_on":true}"#, message: .switchVADMode(on: true)),
        Accepted(frame: #"{"type":"client.switch-vad-mode","vad_mode_on":false}"#, message: .switchVADMode(on: false)),
        Accepted(
            frame: #"{"type":"client.switch-vad-mode","vad_mode_on":true,"turn_detection":{"threshold":0.6,"silence_duration_ms":800}}"#,
            message: .switchVADMode(on: true, turnDetection: .init(threshold: 0.6, silenceDurationMs: 800))),
        Accepted(
            frame: #"{"type":"client.switch-vad-mode","vad_mode_on":true,"turn_detection":{"type":"semantic_vad"}}"#,
            message: .switchVADMode(on: true, turnDetection: .init(type: "semantic_vad"))),
        Accepted(frame: #"{"type":"client.extend-timeout"}"#, message: .extendTimeout),
        Accepted(frame: #"{"type":"client.finish-conversation"}"#, message: .finishConversation),
        Accepted(frame: #"{"type":"client.close-connection","reason":"ignored, as every unknown field"}"#, message: .closeConnection),
    ]

    @Test(arguments: accepted)
    func everyClientMessageTypeParses(_ sample: Accepted) throws {
        let parsed = try RealtimeClientMessage.parse(Array(sample.frame.utf8)).get()
        #expect(parsed == sample.message)
        #expect(sample.frame.contains(#""type":"\#(parsed.type)""#))
    }

    @Test func theFrameMayArriveAsDataOrAnyByteCollection() throws {
        let frame = #"{"type":"client.extend-timeout"}"#
        #expect(try RealtimeClientMessage.parse(Data(frame.utf8)).get() == .extendTimeout)
        #expect(try RealtimeClientMessage.parse(frame.utf8).get() == .extendTimeout)
        #expect(try RealtimeClientMessage.parse(ArraySlice(Array(frame.utf8))).get() == .extendTimeout)
    }

    struct Rejected: Sendable, CustomTestStringConvertible {
        var frame: String
        var reason: String
        var testDescription: String { frame }
    }

    static let rejected: [Rejected] = [
        Rejected(frame: "", reason: "The message is not valid JSON."),
        Rejected(
            frame: #"{"type":"client.switch-vad-mode","vad_mode_on":true,"turn_detection":{"threshold":1.5}}"#,
            reason: "`turn_detection.threshold` must be between 0 and 1."),
        Rejected(
            frame: #"{"type":"client.switch-vad-mode","vad_mode_on":true,"turn_detection":{"silence_duration_ms":10}}"#,
            reason: "`turn_detection.silence_duration_ms` must be between 100 and 5000."),
        Rejected(
            frame: #"{"type":"client.switch-vad-mode","vad_mode_on":true,"turn_detection":{"type":"semantic"}}"#,
            reason: "`turn_detection.type` must be server_vad or semantic_vad."),
        Rejected(
            frame: #"{"type":"client.switch-vad-mode","vad_mode_on":true,"turn_detection":"fast"}"#,
            reason: "`turn_detection` must be an object of valid knobs."),
        Rejected(frame: "{\"type\": ", reason: "The message is not valid JSON."),
        Rejected(frame: "hello", reason: "The message is not valid JSON."),
        Rejected(frame: "[1, 2]", reason: "The message must be a JSON object."),
        Rejected(frame: "\"client.extend-timeout\"", reason: "The message must be a JSON object."),
        Rejected(frame: "{}", reason: "The message has no `type`."),
        Rejected(frame: #"{"type": 3}"#, reason: "`type` must be a string."),
        Rejected(frame: #"{"type": null}"#, reason: "`type` must be a string."),
        Rejected(frame: #"{"type": "client.dance"}"#, reason: "Unknown message type 'client.dance'."),
        Rejected(frame: #"{"type": "new-text-message", "text": "Hi"}"#, reason: "Unknown message type 'new-text-message'."),
        Rejected(frame: #"{"type": "server.new-message"}"#, reason: "Unknown message type 'server.new-message'."),
        Rejected(
            frame: #"{"type": "\#(String(repeating: "x", count: 500))"}"#,
            reason: "Unknown message type '\(String(repeating: "x", count: 40))…'."),
        // start-conversation
        Rejected(frame: #"{"type": "client.start-conversation"}"#, reason: "`client.start-conversation` requires `service_id`."),
        Rejected(frame: #"{"type": "client.start-conversation", "service_id": 42}"#, reason: "`service_id` must be a string."),
        Rejected(frame: #"{"type": "client.start-conversation", "service_id": "nope"}"#, reason: "`service_id` must match ^[a-f0-9]{24}$."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "0123456789ABCDEF01234567"}"#,
            reason: "`service_id` must match ^[a-f0-9]{24}$."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "service_version_set_name": 1}"#,
            reason: "`service_version_set_name` must be a string."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "service_version_set_name": "a b"}"#,
            reason: "`service_version_set_name` must match ^[A-Za-z0-9_-]{1,40}$."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "initial_message": "   "}"#,
            reason: "`initial_message` must not be empty."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "initial_message": "Hi", "initial_message_type": "agent-message"}"#,
            reason: "`initial_message_type` must be 'user-message', 'external-event' or 'skip'."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "initial_message": "Hi", "initial_message_type": "skip"}"#,
            reason: "`initial_message` cannot be sent with `initial_message_type` 'skip'."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "initial_message_type": "user-message"}"#,
            reason: "`initial_message_type` 'user-message' or 'external-event' needs an `initial_message`."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "tags": ["a"]}"#,
            reason: "`tags` must be an object of strings or nulls."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "tags": {"a-b": "x"}}"#,
            reason: "`tags.a-b.[key]`: String should match pattern '^[\\w\\s_]+$'."),
        Rejected(
            frame: #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "tags": {"a": "  "}}"#,
            reason: "`tags.a`: String should have at least 1 character."),
        // continue-conversation
        Rejected(frame: #"{"type": "client.continue-conversation"}"#, reason: "`client.continue-conversation` requires `conversation_id`."),
        Rejected(frame: #"{"type": "client.continue-conversation", "conversation_id": null}"#, reason: "`client.continue-conversation` requires `conversation_id`."),
        Rejected(frame: #"{"type": "client.continue-conversation", "conversation_id": "abc"}"#, reason: "`conversation_id` must match ^[a-f0-9]{24}$."),
        // new-text-message
        Rejected(frame: #"{"type": "client.new-text-message", "message_type": "user-message"}"#, reason: "`client.new-text-message` requires `text`."),
        Rejected(frame: #"{"type": "client.new-text-message", "text": 5, "message_type": "user-message"}"#, reason: "`text` must be a string."),
        Rejected(frame: #"{"type": "client.new-text-message", "text": " \n\t ", "message_type": "user-message"}"#, reason: "`text` must not be empty."),
        Rejected(frame: #"{"type": "client.new-text-message", "text": "Hi"}"#, reason: "`client.new-text-message` requires `message_type`."),
        Rejected(
            frame: #"{"type": "client.new-text-message", "text": "Hi", "message_type": "agent-message"}"#,
            reason: "`message_type` must be 'user-message' or 'external-event'."),
        Rejected(
            frame: #"{"type": "client.new-text-message", "text": "Hi", "message_type": "skip"}"#,
            reason: "`message_type` must be 'user-message' or 'external-event'."),
        Rejected(
            frame: #"{"type": "client.new-text-message", "text": "Hi", "message_type": "user-message", "start_interaction": true}"#,
            reason: "`start_interaction` is only allowed for external events."),
        Rejected(
            frame: #"{"type": "client.new-text-message", "text": "Hi", "message_type": "external-event", "start_interaction": "yes"}"#,
            reason: "`start_interaction` must be a boolean."),
        // audio and VAD
        Rejected(
            frame: #"{"type": "client.new-audio-message"}"#,
            reason: "`client.new-audio-message` requires `audio` (base64, or null at the end)."),
        Rejected(frame: #"{"type": "client.new-audio-message", "audio": 12}"#, reason: "`audio` must be a string or null."),
        Rejected(frame: #"{"type": "client.new-audio-message", "audio": "AA", "audio_config": "pcm"}"#, reason: "`audio_config` must be an object."),
        Rejected(frame: #"{"type": "client.switch-vad-mode"}"#, reason: "`client.switch-vad-mode` requires `vad_mode_on`."),
        Rejected(frame: #"{"type": "client.switch-vad-mode", "vad_mode_on": "on"}"#, reason: "`vad_mode_on` must be a boolean."),
    ]

    @Test(arguments: rejected)
    func everyMalformedFrameIsRejectedWithOneSentence(_ sample: Rejected) {
        switch RealtimeClientMessage.parse(Array(sample.frame.utf8)) {
        case .success(let message):
            Issue.record("parsed as \(message)")
        case .failure(let error):
            #expect(error.message == sample.reason)
            #expect(error.description == sample.reason)
            #expect(error.message.utf8.count <= 123, "too long for a close reason")
        }
    }

    @Test func invalidUTF8IsNotJSON() {
        #expect(RealtimeClientMessage.parse([0x7B, 0xFF, 0xFE, 0x7D]) == .failure(RealtimeProtocolError("The message is not valid JSON.")))
    }

    @Test func tooManyTagsBreakTheRESTRule() {
        let tags = (0..<21).map { #""t\#($0)": "v""# }.joined(separator: ",")
        let frame = #"{"type": "client.start-conversation", "service_id": "\#(serviceID)", "tags": {\#(tags)}}"#
        guard case .failure(let error) = RealtimeClientMessage.parse(Array(frame.utf8)) else {
            Issue.record("21 tags were accepted")
            return
        }
        #expect(error.message.hasPrefix("`tags`: Dictionary should have at most 20 items"))
    }
}

// MARK: - Server frames

@Suite struct RealtimeServerMessageTests {
    static let golden: [WireSample<RealtimeServerMessage>] = [
        WireSample(
            "server.conversation-created", .conversationCreated(conversationID: "c1"),
            #"{"type":"server.conversation-created","conversation_id":"c1"}"#),
        WireSample(
            "server.conversation-continued", .conversationContinued(conversationID: "c1"),
            #"{"type":"server.conversation-continued","conversation_id":"c1"}"#),
        WireSample(
            "server.user-message-available", .event(.userMessageAvailable(messageID: "m1", userMessage: "Hello")),
            #"{"type":"server.user-message-available","message_id":"m1","user_message":"Hello"}"#),
        WireSample(
            "server.new-message", .event(.newMessage(NewMessage(message: "Hi", stop: false, sequenceNumber: 0, messageID: "m2"))),
            #"{"type":"server.new-message","message":"Hi","transcript_alignment":null,"stop":false,"sequence_number":0,"message_id":"m2"}"#),
        WireSample(
            "server.new-message",
            .event(.newMessage(NewMessage(
                message: "AAAA", transcriptAlignment: [TranscriptAlignment(ms: 0, character: "H")], stop: true,
                sequenceNumber: 4, messageID: "m2"))),
            #"{"type":"server.new-message","message":"AAAA","transcript_alignment":[[0,"H"]],"stop":true,"sequence_number":4,"message_id":"m2"}"#),
        WireSample(
            "server.interaction-complete",
            .event(.interactionComplete(InteractionComplete(messageID: "m2", interactionID: "i1", fullMessage: "Hi there", conversationCompleted: false))),
            #"{"type":"server.interaction-complete","message_id":"m2","interaction_id":"i1","full_message":"Hi there","conversation_completed":false}"#),
        WireSample(
            "server.current-agent-action", .event(.currentAgentAction(.actionSelected(action: "greet"))),
            #"{"type":"server.current-agent-action","action":{"type":"navigate-state-machine-action-state-action-selected","action":"greet"}}"#),
        WireSample(
            "server.current-agent-action", .event(.currentAgentAction(.messageFragmentGenerated(index: 1, fragment: "Hi", isFinal: true))),
            #"{"type":"server.current-agent-action","action":{"type":"engage-user-message-fragment-generated","index":1,"fragment":"Hi","is_final":true}}"#),
        WireSample(
            "server.error", .error(httpErrorCode: 415, errorDescription: "voice is not supported by this server yet"),
            #"{"type":"server.error","http_error_code":415,"error_description":"voice is not supported by this server yet"}"#),
        WireSample("server.vad-mode-switched", .vadModeSwitched(on: true), #"{"type":"server.vad-mode-switched","current_vad_mode_on":true}"#),
        WireSample("server.vad-speech-started", .vadSpeechStarted(tsStart: 1200), #"{"type":"server.vad-speech-started","ts_start":1200}"#),
        WireSample("server.vad-speech-ended", .vadSpeechEnded(tsEnd: 2400), #"{"type":"server.vad-speech-ended","ts_end":2400}"#),
        WireSample("server.vad-speech-reset-zero", .vadSpeechResetZero, #"{"type":"server.vad-speech-reset-zero"}"#),
    ]

    @Test(arguments: golden)
    func everyServerMessageEncodesToItsGoldenJSON(_ sample: WireSample<RealtimeServerMessage>) throws {
        let encoded = try sample.value.encoded()
        #expect(try value(encoded) == value(Data(sample.json.utf8)))
        #expect(sample.value.type == sample.type)
    }

    @Test(arguments: golden)
    func everyServerMessageDecodesFromItsGoldenJSON(_ sample: WireSample<RealtimeServerMessage>) throws {
        #expect(try JSONDecoder().decode(RealtimeServerMessage.self, from: Data(sample.json.utf8)) == sample.value)
    }

    @Test(arguments: golden.filter { $0.type != "server.current-agent-action" })
    func framesAreWrittenByteForByteWithTypeFirst(_ sample: WireSample<RealtimeServerMessage>) throws {
        #expect(String(decoding: try sample.value.encoded(), as: UTF8.self) == sample.json)
    }

    @Test(arguments: golden)
    func theFastWriterAgreesWithTheEncodableConformance(_ sample: WireSample<RealtimeServerMessage>) throws {
        #expect(try value(sample.value.encoded()) == value(JSONEncoder().encode(sample.value)))
    }

    @Test(arguments: [
        "plain", "", "quote \" and backslash \\", "new\nline\r\ttab\u{08}\u{0C}", "nul \u{00} and \u{1F}",
        "slash / stays", "ünïcødé 日本語 🙂", "\u{2028}\u{2029}", "\u{7F} delete",
    ])
    func stringsSurviveTheFastWriter(_ text: String) throws {
        let message = RealtimeServerMessage.event(.newMessage(NewMessage(
            message: text, transcriptAlignment: [TranscriptAlignment(ms: 5, character: text)], stop: true,
            sequenceNumber: 1, messageID: text)))
        let encoded = try message.encoded()
        #expect(try JSONDecoder().decode(RealtimeServerMessage.self, from: encoded) == message)
        #expect(try value(encoded) == value(JSONEncoder().encode(message)))
    }

    @Test func controlCharactersAreEscapedAsUnicode() throws {
        let text = String(decoding: try RealtimeServerMessage.error(httpErrorCode: 500, errorDescription: "a\u{01}b").encoded(), as: UTF8.self)
        #expect(text == #"{"type":"server.error","http_error_code":500,"error_description":"a\u0001b"}"#)
    }

    /// Every REST event type has a realtime twin that is the REST JSON with `server.` before the type.
    @Test(arguments: [
        ConversationEvent.conversationCreated(conversationID: "c"),
        .userMessageAvailable(messageID: "m", userMessage: "u/ü \"q\""),
        .newMessage(NewMessage(message: "x", stop: true, sequenceNumber: 9, messageID: "m")),
        .interactionComplete(InteractionComplete(messageID: "m", interactionID: "i", fullMessage: "f", conversationCompleted: true)),
        .currentAgentAction(.toolCallStarted(roundIndex: 0, toolID: "t", toolVersion: "1.0.0", inputParams: ["q": "a/b"])),
        .error(httpErrorCode: 500, errorDescription: "The model failed."),
    ])
    func everyRESTEventEncodesAsItselfWithAServerPrefix(_ event: ConversationEvent) throws {
        var rest = try value(WireCoding.encoder().encode(event))
        guard case .object(var object) = rest else {
            Issue.record("not an object")
            return
        }
        object["type"] = .string("server." + event.type)
        rest = .object(object)
        #expect(try value(RealtimeServerMessage.event(event).encoded()) == rest)
        #expect(RealtimeServerMessage.event(event).type == "server." + event.type)
    }

    @Test func restTwinsOfRealtimeMessagesEncodeTheSame() throws {
        #expect(try RealtimeServerMessage.event(.conversationCreated(conversationID: "c")).encoded()
            == RealtimeServerMessage.conversationCreated(conversationID: "c").encoded())
        #expect(try RealtimeServerMessage.event(.error(httpErrorCode: 400, errorDescription: "x")).encoded()
            == RealtimeServerMessage.error(httpErrorCode: 400, errorDescription: "x").encoded())
    }

    @Test func slashesAreNotEscaped() throws {
        let text = String(decoding: try RealtimeServerMessage.event(.userMessageAvailable(messageID: "m", userMessage: "a/b")).encoded(), as: UTF8.self)
        #expect(text.contains("a/b"))
    }

    @Test func anUnknownServerTypeIsADecodingError() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(RealtimeServerMessage.self, from: Data(#"{"type":"new-message"}"#.utf8))
        }
    }
}

private func value(_ data: Data) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: data)
}
