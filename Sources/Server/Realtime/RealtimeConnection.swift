import AmigoWire
import Engine
import Foundation
import Platform

/// The rules of one realtime socket (`converse_realtime`) as a state machine without I/O: the caller feeds
/// it client frames, clock ticks and the outcomes of the work it asked for, and performs the returned
/// ``Action``s in order. Time is passed in, never read, so tests drive it without sleeping.
///
/// The rules, from `spec/realtime.md` where it speaks and decided here where it is silent:
/// - **Limits** (checked for every frame, in this order): a frame larger than `maxMessageBytes` closes 4000;
///   a frame that does not parse closes 4000 with the parse error as reason; an audio frame whose decoded
///   bytes would pass `audioBytesPerMinute` within 60 s closes 4029 (audio frames do not count as
///   messages: a paced 20 ms PCM stream is 3,000 frames a minute); any other frame that would be the
///   `messagesPerMinute + 1`-th within 60 s (sliding window, a frame exactly 60 s old no longer counts)
///   closes 4029. Every frame, valid or not, resets the inactivity timer; `tick` closes 3008
///   once `inactivityTimeout` has passed without one. The clock counts client silence only, also while the
///   agent is answering, as the seed says ("30 s without any client message"): clients send
///   `client.extend-timeout` every ~15 s.
/// - **Before a conversation**: `client.start-conversation` / `client.continue-conversation` make the caller
///   create or check one (``Action/startConversation(_:)``, ``Action/continueConversation(conversationID:)``);
///   any other message gets `server.error` 400 and the socket stays open, except `client.extend-timeout` and
///   `client.close-connection`, which are always allowed. A second start or continue, while one is pending or
///   after one succeeded, gets `server.error` 400.
/// - **While a start is pending** (between the start action and `conversationStarted` /
///   `conversationContinued`), text messages and a finish request are held as if an interaction were running,
///   so a client may send its first message right after the start without waiting. If the start is rejected
///   (`startRejected`) they are dropped; the client learns it from the `server.error`.
/// - **User text**: while idle it runs an interaction at once with every buffered event; while an
///   interaction runs it is queued and each queued text runs as its own interaction, in order (never a 409).
/// - **User audio** (manual mode): `client.new-audio-message` chunks (base64) are appended to the utterance
///   being recorded; a chunk's `audio_config` (`{format: pcm, sample_rate|frame_rate, sample_width 2|4,
///   n_channels 1}` or `{format: mp3}`) says how to read it, by default 16 kHz 16-bit mono PCM (a WAV header
///   wins over both). `audio: null` ends the utterance, which then counts as one user message, queued like a
///   text (its transcript is the user message). A bad config closes 4015, bad base64 4000, an utterance
///   over `maxUtteranceBytes` 4000; `null` with nothing recorded gets `server.error` 400.
/// - **External events**: buffered with their wall-clock receipt time and handed to the next interaction that
///   starts, stored before its user message, in order. Events that arrive while an interaction runs go to the
///   next one. An event also starts an interaction (with no user text) when it carries `start_interaction`
///   or is the first message of an empty conversation (started with `initial_message_type: skip`).
/// - **`start_interaction` while an interaction runs**: the running reply is interrupted
///   (``Action/interruptInteraction``, once per interaction); when it finishes, the next interaction runs at
///   once. If user texts are queued, that next interaction is the first queued text together with all
///   buffered events (the urgent event included), so the agent sees the event as context of the user's
///   pending question instead of answering twice; otherwise it runs with the events alone.
/// - **`client.finish-conversation`**: while idle the caller finishes the conversation; while an interaction
///   runs (or texts are queued) the finish waits until every text sent before it has been answered. Text
///   messages after a finish request get `server.error` 400. `conversationFinished` closes 1000. Events still
///   buffered at that point have no interaction to belong to and are dropped.
/// - **`client.close-connection`** closes 1000 without finishing; a running interaction is interrupted first.
///   More generally, every close while an interaction runs is preceded by ``Action/interruptInteraction``.
/// - **An interaction that completes the conversation** closes 1000 after it; queued work is dropped.
/// - **VAD mode** (`client.switch-vad-mode`, answered `server.vad-mode-switched`; `server.error` 415 on a
///   server without a turn detector; its optional `turn_detection` [ours] sets this connection's
///   `type` (`server_vad` | `semantic_vad`), `threshold`, `prefix_padding_ms`, `silence_duration_ms` over
///   the server's, live when VAD is on; `semantic_vad` on a server without an end-of-turn model gets
///   `server.error` 415 and changes nothing): audio chunks go to the detector (``Action/detectSpeech(_:)``; the
///   caller answers with `voiceActivity(_:)`) instead of forming an utterance by hand, `audio: null` is
///   ignored, and the detector's turns (``VoiceActivity``) become `server.vad-speech-started`, then
///   `server.vad-speech-ended` with the utterance queued like a text, or `server.vad-speech-reset-zero`.
///   With `semantic_vad` the detector also asks the end-of-turn model (``Action/judgeTurn(check:audio:)``;
///   the caller answers with `turnJudged(check:complete:)`, nil when the model failed).
///   VAD needs PCM: turning it on after an MP3 config, or an MP3 config in VAD mode, closes 4015; PCM at
///   another rate is resampled to 16 kHz. Speech that starts while the agent answers interrupts the
///   answer (barge-in). An external event with `start_interaction` that arrives while the user speaks
///   waits for the end of speech and goes with the utterance. Turning VAD off drops speech in progress.
/// - **Shutdown** (the server drains): an interaction that runs may finish (the drain cancels it when
///   its grace period is over); then, or at once when none runs, the socket closes 1001 (going away).
///   Queued texts and a requested finish are dropped: the client sends them again to another server.
/// - After a close action every input returns no action.
struct RealtimeConnection {
    typealias Limits = RealtimeLimits

    enum CloseCode: UInt16, Sendable, Hashable {
        case normal = 1000
        case goingAway = 1001
        case unauthorized = 3000
        case forbidden = 3003
        case timeout = 3008
        case badRequest = 4000
        case notFound = 4004
        case conflict = 4009
        case unsupportedMedia = 4015
        case rateLimited = 4029
    }

    /// What the user said: typed text, or a recorded utterance to transcribe.
    enum UserInput: Sendable, Hashable {
        case text(String)
        case audio(AudioClip)
    }

    /// An external event waiting for the next interaction, with the wall-clock time it was received.
    struct BufferedEvent: Sendable, Hashable {
        var text: String
        var receivedAt: Date
    }

    enum Action: Sendable, Hashable {
        /// Send one frame.
        case send(RealtimeServerMessage)
        /// Close the socket; the reason fits a WebSocket close frame (at most 123 UTF-8 bytes).
        case close(CloseCode, reason: String)
        /// Create the conversation (lookups, leases), then call `conversationStarted`, `startRejected` or
        /// `startFailed`.
        case startConversation(RealtimeClientMessage.StartConversation)
        /// Check the conversation, then call `conversationContinued`, `startRejected` or `startFailed`.
        case continueConversation(conversationID: String)
        /// Run one interaction: store `events` as external-event messages (in order, with their receipt
        /// times) before the user message, if any, and stream the reply; then call `interactionFinished`.
        case runInteraction(user: UserInput?, events: [BufferedEvent])
        /// Stop the running reply at once, keeping what was already sent, then call `interactionFinished`.
        case interruptInteraction
        /// Finish the conversation as REST finish does, then call `conversationFinished`.
        case finishConversation
        /// Give this audio (PCM16 mono 16 kHz) to the turn detector, then call `voiceActivity(_:)` with its
        /// probabilities.
        case detectSpeech(Data)
        /// Ask the end-of-turn model whether the user has finished (this audio: the end of their speech),
        /// then call `turnJudged(check:complete:)`. Other input may be handled meanwhile.
        case judgeTurn(check: Int, audio: Data)
        /// VAD mode ended: the detector's stream may be closed.
        case stopDetecting
    }

    private enum State {
        /// No conversation yet.
        case awaitingConversation
        /// The caller is creating or checking the conversation.
        case opening(Opening)
        case open(Session)
        case closed
    }

    /// Client input waiting for the agent.
    private struct Backlog {
        /// User messages (texts and utterances) not yet answered, in order.
        var userTexts: [UserInput] = []
        /// External events for the next interaction, in order.
        var events: [BufferedEvent] = []
        /// A `start_interaction` event arrived: an interaction must run even without user text.
        var eventWantsInteraction = false
        /// `client.finish-conversation` arrived; runs once the texts before it are answered.
        var finishRequested = false

        /// Queues a user text, or buffers an external event (noting whether it asked for an interaction).
        mutating func hold(_ text: String, type: MessageType, startInteraction: Bool, at wallClock: Date) {
            if type == .externalEvent {
                events.append(BufferedEvent(text: text, receivedAt: wallClock))
                if startInteraction { eventWantsInteraction = true }
            } else {
                userTexts.append(.text(text))
            }
        }
    }

    private struct Opening {
        var backlog = Backlog()
        /// A start without initial message: empty unless the agent speaks first.
        var mayBeEmpty: Bool
    }

    private struct Session {
        var conversationID: String
        var phase: Phase
        var backlog: Backlog
        /// The conversation has no message yet, so an external event starts an interaction.
        var isEmpty: Bool
    }

    private enum Phase: Equatable {
        case idle
        case interacting(interruptRequested: Bool)
        case finishing
    }

    /// The utterance being recorded (manual mode): its bytes so far and how to read them.
    private struct Utterance {
        var data = Data()
        var encoding: AudioClip.Encoding = .pcm(sampleRate: 16_000, channels: 1, sampleWidth: 2)
    }

    private let limits: Limits
    private var state: State = .awaitingConversation
    private var utterance: Utterance?
    private var audioWindow: ByteWindow
    /// The turn-taking knobs when this server has a detector (the server's, with this connection's
    /// overrides); nil: manual mode only.
    private var turnDetection: VoiceActivity.Settings?
    /// The server has an end-of-turn model (`semantic_vad` may be chosen).
    private let hasEndOfTurnModel: Bool
    /// VAD mode: the turns of the audio so far.
    private var voiceActivity: VoiceActivity?
    /// VAD-mode audio not yet given to the detector: it goes in batches of at least `detectionBatch`
    /// bytes (two 32 ms frames), so a stream of 20 ms chunks costs half the calls.
    private var undetected = Data()
    static let detectionBatch = VoiceActivity.frameSamples * 2 * 2
    /// How VAD-mode audio is read (PCM rate and width from `audio_config`).
    private var vadEncoding: AudioClip.Encoding = .pcm(sampleRate: 16_000, channels: 1, sampleWidth: 2)
    /// The server is shutting down: close once the running interaction has finished.
    private var isShuttingDown = false
    private var lastMessage: AnyClock.Instant
    private var rateWindow: RateWindow

    init(limits: Limits, now: AnyClock.Instant, turnDetection: VoiceActivity.Settings? = nil, hasEndOfTurnModel: Bool = false) {
        self.limits = limits
        self.turnDetection = turnDetection
        self.hasEndOfTurnModel = hasEndOfTurnModel
        self.lastMessage = now
        self.rateWindow = RateWindow(limit: limits.messagesPerMinute)
        self.audioWindow = ByteWindow(limit: limits.audioBytesPerMinute)
    }

    /// When `tick` must be called next: the inactivity deadline.
    var nextDeadline: AnyClock.Instant {
        lastMessage.advanced(by: limits.inactivityTimeout)
    }

    /// The conversation of this connection, once started or continued.
    var conversationID: String? {
        if case .open(let session) = state { session.conversationID } else { nil }
    }

    var isClosed: Bool {
        if case .closed = state { true } else { false }
    }

    static let vadUnsupported = "this server has no voice activity detection; send audio in manual mode"
    static let endOfTurnUnsupported = "this server has no end-of-turn model: use turn_detection.type server_vad"

    // MARK: Inputs

    /// One client frame, received at `now` (`wallClock` timestamps buffered external events).
    mutating func received(frame: some Collection<UInt8>, at now: AnyClock.Instant, wallClock: Date) -> [Action] {
        guard !isClosed else { return [] }
        lastMessage = now
        guard frame.count <= limits.maxMessageBytes else {
            return close(.badRequest, "The message is larger than \(limits.maxMessageBytes) bytes.")
        }
        let message: RealtimeClientMessage
        switch RealtimeClientMessage.parse(frame) {
        case .failure(let error):
            return close(.badRequest, error.message)
        case .success(let parsed):
            message = parsed
        }
        if case .newAudioMessage(let audio, let config) = message {
            return self.audio(audio, config: config, at: now, wallClock: wallClock)
        }
        guard rateWindow.admit(now) else {
            return close(.rateLimited, "More than \(limits.messagesPerMinute) messages in a minute.")
        }
        return handle(message, wallClock: wallClock)
    }

    /// A chunk of the user's utterance, or its end (`audio == nil`).
    private mutating func audio(_ audio: String?, config: JSONValue?, at now: AnyClock.Instant, wallClock: Date) -> [Action] {
        if case .awaitingConversation = state { return [Self.error(400, "Start or continue a conversation first.")] }
        if voiceActivity != nil { return detect(audio, config: config, at: now) }
        var recording = utterance ?? Utterance()
        if let config {
            guard let encoding = Self.encoding(of: config) else {
                return close(.unsupportedMedia, "audio_config must be {format: pcm, sample_rate, sample_width 2 or 4, n_channels 1} or {format: mp3}.")
            }
            recording.encoding = encoding
        }
        guard let audio else {
            utterance = nil
            guard !recording.data.isEmpty else { return [Self.error(400, "No audio was sent before the end of the audio message.")] }
            let clip = WAV.isWAV(recording.data)
                ? AudioClip(data: recording.data, encoding: .wav) : AudioClip(data: recording.data, encoding: recording.encoding)
            return userMessage(.audio(clip), wallClock: wallClock)
        }
        guard let bytes = Data(base64Encoded: audio) else { return close(.badRequest, "`audio` is not valid base64.") }
        guard audioWindow.admit(bytes.count, at: now) else {
            return close(.rateLimited, "More than \(limits.audioBytesPerMinute) bytes of audio in a minute.")
        }
        guard recording.data.count + bytes.count <= limits.maxUtteranceBytes else {
            return close(.badRequest, "The audio message is larger than \(limits.maxUtteranceBytes) bytes.")
        }
        recording.data.append(bytes)
        utterance = recording
        return []
    }

    /// VAD mode: a chunk for the detector.
    private mutating func detect(_ audio: String?, config: JSONValue?, at now: AnyClock.Instant) -> [Action] {
        if let config {
            guard let encoding = Self.encoding(of: config), encoding != .mp3 else {
                return close(.unsupportedMedia, "VAD mode needs PCM audio: audio_config {format: pcm, sample_rate, sample_width 2 or 4, n_channels 1}.")
            }
            vadEncoding = encoding
        }
        guard let audio else { return [] }
        guard let bytes = Data(base64Encoded: audio) else { return close(.badRequest, "`audio` is not valid base64.") }
        guard audioWindow.admit(bytes.count, at: now) else {
            return close(.rateLimited, "More than \(limits.audioBytesPerMinute) bytes of audio in a minute.")
        }
        var pcm = bytes
        if case .pcm(let rate, _, let width) = vadEncoding, rate != 16_000 || width != 2 {
            pcm = WAV.pcm16Mono16k(WAV.Contents(sampleRate: rate, channels: 1, bitsPerSample: width * 8, samples: bytes)) ?? Data()
        }
        voiceActivity?.append(pcm)
        undetected.append(pcm)
        guard undetected.count >= Self.detectionBatch else { return [] }
        defer { undetected = Data() }
        return [.detectSpeech(undetected)]
    }

    /// The detector's probabilities for the audio of ``Action/detectSpeech(_:)``, in order.
    mutating func voiceActivity(_ probabilities: [Float], wallClock: Date) -> [Action] {
        guard !isClosed, var detector = voiceActivity else { return [] }
        let events = detector.consume(probabilities)
        voiceActivity = detector
        return actions(for: events, wallClock: wallClock)
    }

    /// The end-of-turn model's verdict on ``Action/judgeTurn(check:audio:)`` `check`: nil when it failed.
    mutating func turnJudged(check: Int, complete: Bool?, wallClock: Date) -> [Action] {
        guard !isClosed, var detector = voiceActivity else { return [] }
        let events = detector.turnJudged(check: check, complete: complete)
        voiceActivity = detector
        return actions(for: events, wallClock: wallClock)
    }

    private mutating func actions(for events: [VoiceActivity.Event], wallClock: Date) -> [Action] {
        var actions: [Action] = []
        for event in events {
            switch event {
            case .speechStarted(let ms):
                actions.append(.send(.vadSpeechStarted(tsStart: ms)))
                // Barge-in: the user speaks over the agent.
                if case .open(var session) = state, session.phase == .interacting(interruptRequested: false) {
                    session.phase = .interacting(interruptRequested: true)
                    state = .open(session)
                    actions.append(.interruptInteraction)
                }
            case .speechEnded(let ms, let audio):
                actions.append(.send(.vadSpeechEnded(tsEnd: ms)))
                actions += userMessage(.audio(AudioClip(data: audio, encoding: .pcm(sampleRate: 16_000, channels: 1, sampleWidth: 2))), wallClock: wallClock)
            case .judgeTurn(let check, let audio):
                actions.append(.judgeTurn(check: check, audio: audio))
            case .discarded:
                actions.append(.send(.vadSpeechResetZero))
                // An event that waited for the end of speech runs now.
                if case .open(var session) = state, session.phase == .idle {
                    actions += Self.drain(&session)
                    state = .open(session)
                }
            }
        }
        return actions
    }

    private mutating func switchVAD(_ on: Bool, overrides: RealtimeClientMessage.TurnDetection?) -> [Action] {
        guard var turnDetection else { return [Self.error(415, Self.vadUnsupported)] }
        if let overrides {
            if let raw = overrides.type, let turnEnd = VoiceActivity.TurnEnd(rawValue: raw) {
                guard turnEnd == .silence || hasEndOfTurnModel else { return [Self.error(415, Self.endOfTurnUnsupported)] }
                turnDetection.turnEnd = turnEnd
            }
            if let threshold = overrides.threshold { turnDetection.threshold = Float(threshold) }
            if let padding = overrides.prefixPaddingMs { turnDetection.prefixPadding = .milliseconds(padding) }
            if let silence = overrides.silenceDurationMs { turnDetection.silenceDuration = .milliseconds(silence) }
            self.turnDetection = turnDetection
            // Speech in progress keeps its detector; the knobs apply from the next frame.
            voiceActivity?.settings = turnDetection
        }
        if on {
            if utterance?.encoding == .mp3 || vadEncoding == .mp3 {
                return close(.unsupportedMedia, "VAD mode needs PCM audio, and this connection sends MP3.")
            }
            if voiceActivity == nil { voiceActivity = VoiceActivity(settings: turnDetection) }
            utterance = nil
            return [.send(.vadModeSwitched(on: true))]
        }
        let wasOn = voiceActivity != nil
        voiceActivity = nil
        undetected = Data()
        return [.send(.vadModeSwitched(on: false))] + (wasOn ? [.stopDetecting] : [])
    }

    /// How `audio_config` says to read the audio (rules: ``AudioConfig``); nil when it is not a config this
    /// server reads.
    static func encoding(of config: JSONValue) -> AudioClip.Encoding? {
        try? AudioConfig.encoding(of: config, requiresAllFields: false, sampleRates: AudioConfig.socketSampleRates).get()
    }

    /// The caller's timer fired (at or after ``nextDeadline``).
    mutating func tick(at now: AnyClock.Instant) -> [Action] {
        guard !isClosed, now >= nextDeadline else { return [] }
        return close(.timeout, "No message for \(limits.inactivityTimeout.components.seconds) seconds.")
    }

    /// The conversation was created. With `agentSpeaksFirst` the caller is already running the opening
    /// interaction (and calls `interactionFinished` for it); the returned `server.conversation-created`
    /// goes out before anything of that interaction.
    mutating func conversationStarted(id: String, agentSpeaksFirst: Bool) -> [Action] {
        guard case .opening(let opening) = state else { return [] }
        var session = Session(
            conversationID: id, phase: agentSpeaksFirst ? .interacting(interruptRequested: false) : .idle,
            backlog: opening.backlog, isEmpty: opening.mayBeEmpty && !agentSpeaksFirst
        )
        var actions: [Action] = [.send(.conversationCreated(conversationID: id))]
        if agentSpeaksFirst {
            if session.backlog.eventWantsInteraction {
                session.phase = .interacting(interruptRequested: true)
                actions.append(.interruptInteraction)
            }
        } else {
            actions += Self.drain(&session)
        }
        state = .open(session)
        return actions
    }

    /// The conversation was found and may be continued; the agent does not speak first.
    mutating func conversationContinued(id: String) -> [Action] {
        guard case .opening(let opening) = state else { return [] }
        var session = Session(conversationID: id, phase: .idle, backlog: opening.backlog, isEmpty: false)
        let actions: [Action] = [.send(.conversationContinued(conversationID: id))] + Self.drain(&session)
        state = .open(session)
        return actions
    }

    /// Starting or continuing failed in a way that ends the socket (unknown service → 4004, finished
    /// conversation → 4009, another connection → 4009, …).
    mutating func startFailed(_ code: CloseCode, reason: String) -> [Action] {
        guard !isClosed else { return [] }
        return close(code, reason)
    }

    /// Starting failed in a way the client can recover from on the same socket (the user already has an
    /// unfinished conversation for the service → 400): sends `server.error` and waits for another start.
    /// Messages held while the start was pending are dropped.
    mutating func startRejected(httpErrorCode: Int, description: String) -> [Action] {
        guard case .opening = state else { return [] }
        state = .awaitingConversation
        return [.send(.error(httpErrorCode: httpErrorCode, errorDescription: description))]
    }

    /// The running interaction ended (completed, failed or interrupted). Runs what waits next: a queued user
    /// text, an interaction for a `start_interaction` event, or the requested finish; a conversation the
    /// interaction completed closes 1000.
    mutating func interactionFinished(conversationCompleted: Bool) -> [Action] {
        guard case .open(var session) = state, case .interacting = session.phase else { return [] }
        if conversationCompleted {
            state = .closed
            return [.close(.normal, reason: "The conversation is finished.")]
        }
        if isShuttingDown {
            state = .closed
            return [.close(.goingAway, reason: Self.shuttingDown)]
        }
        session.phase = .idle
        let actions = Self.drain(&session)
        state = .open(session)
        return actions
    }

    /// The server is shutting down: close 1001 now, or once the running interaction has finished.
    mutating func shutdown() -> [Action] {
        guard !isClosed else { return [] }
        if case .open(let session) = state, case .interacting = session.phase {
            isShuttingDown = true
            return []
        }
        state = .closed
        return [.close(.goingAway, reason: Self.shuttingDown)]
    }

    static let shuttingDown = "The server is shutting down."

    /// The caller finished the conversation: close 1000.
    mutating func conversationFinished() -> [Action] {
        guard case .open(let session) = state, session.phase == .finishing else { return [] }
        state = .closed
        return [.close(.normal, reason: "The conversation is finished.")]
    }

    // MARK: Rules

    private mutating func handle(_ message: RealtimeClientMessage, wallClock: Date) -> [Action] {
        switch message {
        case .extendTimeout:
            return []
        case .closeConnection:
            return close(.normal, "The client closed the connection.")
        default:
            break
        }
        switch state {
        case .awaitingConversation:
            switch message {
            case .startConversation(let start):
                state = .opening(Opening(mayBeEmpty: start.initialMessage == nil))
                return [.startConversation(start)]
            case .continueConversation(let id):
                state = .opening(Opening(mayBeEmpty: false))
                return [.continueConversation(conversationID: id)]
            default:
                return [Self.error(400, "Start or continue a conversation first.")]
            }

        case .opening(var opening):
            switch message {
            case .startConversation, .continueConversation:
                return [Self.error(400, "A conversation is already being started on this connection.")]
            case .switchVADMode(let on, let overrides):
                return switchVAD(on, overrides: overrides)
            case .newAudioMessage:
                return []
            case .newTextMessage(let text, let type, let startInteraction):
                guard !opening.backlog.finishRequested else { return [Self.finishingError] }
                opening.backlog.hold(text, type: type, startInteraction: startInteraction, at: wallClock)
                state = .opening(opening)
                return []
            case .finishConversation:
                opening.backlog.finishRequested = true
                state = .opening(opening)
                return []
            case .extendTimeout, .closeConnection:
                return []
            }

        case .open(var session):
            let actions: [Action]
            switch message {
            case .startConversation, .continueConversation:
                return [Self.error(400, "This connection already has a conversation.")]
            case .switchVADMode(let on, let overrides):
                return switchVAD(on, overrides: overrides)
            case .newAudioMessage:
                return []
            case .newTextMessage(let text, let type, let startInteraction):
                guard !session.backlog.finishRequested, session.phase != .finishing else { return [Self.finishingError] }
                if voiceActivity?.isSpeaking == true, type == .externalEvent {
                    // The user is speaking: the event goes with what they are saying.
                    session.backlog.hold(text, type: type, startInteraction: false, at: wallClock)
                    if startInteraction { session.backlog.eventWantsInteraction = true }
                    actions = []
                } else {
                    actions = Self.text(text, type: type, startInteraction: startInteraction, at: wallClock, in: &session)
                }
            case .finishConversation:
                switch session.phase {
                case .idle:
                    session.phase = .finishing
                    actions = [.finishConversation]
                case .interacting:
                    session.backlog.finishRequested = true
                    actions = []
                case .finishing:
                    actions = []
                }
            case .extendTimeout, .closeConnection:
                actions = []
            }
            state = .open(session)
            return actions

        case .closed:
            return []
        }
    }

    /// A finished utterance: queued like a user text (before a conversation, held like one).
    private mutating func userMessage(_ input: UserInput, wallClock: Date) -> [Action] {
        switch state {
        case .awaitingConversation:
            return [Self.error(400, "Start or continue a conversation first.")]
        case .opening(var opening):
            guard !opening.backlog.finishRequested else { return [Self.finishingError] }
            opening.backlog.userTexts.append(input)
            state = .opening(opening)
            return []
        case .open(var session):
            guard !session.backlog.finishRequested, session.phase != .finishing else { return [Self.finishingError] }
            session.backlog.userTexts.append(input)
            let actions = Self.afterHolding(&session)
            state = .open(session)
            return actions
        case .closed:
            return []
        }
    }

    private static func text(
        _ text: String, type: MessageType, startInteraction: Bool, at wallClock: Date, in session: inout Session
    ) -> [Action] {
        session.backlog.hold(text, type: type, startInteraction: startInteraction, at: wallClock)
        return afterHolding(&session)
    }

    /// Runs what was just held when idle, or interrupts for an event that asked for an interaction.
    private static func afterHolding(_ session: inout Session) -> [Action] {
        switch session.phase {
        case .idle:
            return drain(&session)
        case .interacting(interruptRequested: false) where session.backlog.eventWantsInteraction:
            session.phase = .interacting(interruptRequested: true)
            return [.interruptInteraction]
        case .interacting, .finishing:
            return []
        }
    }

    /// What runs next once nothing is running: a queued user text (with the buffered events), else an
    /// interaction for events that asked for one, else the requested finish; otherwise the session idles.
    private static func drain(_ session: inout Session) -> [Action] {
        var backlog = session.backlog
        defer { session.backlog = backlog }
        if !backlog.userTexts.isEmpty {
            let input = backlog.userTexts.removeFirst()
            return [run(user: input, backlog: &backlog, session: &session)]
        }
        if backlog.eventWantsInteraction || (session.isEmpty && !backlog.events.isEmpty) {
            return [run(user: nil, backlog: &backlog, session: &session)]
        }
        if backlog.finishRequested {
            backlog.finishRequested = false
            session.phase = .finishing
            return [.finishConversation]
        }
        session.phase = .idle
        return []
    }

    private static func run(user: UserInput?, backlog: inout Backlog, session: inout Session) -> Action {
        let events = backlog.events
        backlog.events = []
        backlog.eventWantsInteraction = false
        session.isEmpty = false
        session.phase = .interacting(interruptRequested: false)
        return .runInteraction(user: user, events: events)
    }

    /// Closes, interrupting a running interaction first unless that was already asked for.
    private mutating func close(_ code: CloseCode, _ reason: String) -> [Action] {
        var actions: [Action] = []
        if case .open(let session) = state, session.phase == .interacting(interruptRequested: false) {
            actions.append(.interruptInteraction)
        }
        state = .closed
        actions.append(.close(code, reason: Self.closeReason(reason)))
        return actions
    }

    /// A WebSocket close reason holds at most 123 bytes of UTF-8; longer ones are cut with an ellipsis.
    static func closeReason(_ reason: String) -> String {
        guard reason.utf8.count > 123 else { return reason }
        var result = ""
        for character in reason {
            guard result.utf8.count + character.utf8.count <= 120 else { break }
            result.append(character)
        }
        return result + "…"
    }

    private static func error(_ code: Int, _ description: String) -> Action {
        .send(.error(httpErrorCode: code, errorDescription: description))
    }

    private static let finishingError = error(400, "The conversation is being finished; no more messages are accepted.")
}

/// Admits at most `limit` arrivals in any 60 seconds (a sliding window): keeps the instants of the
/// arrivals of the last 60 s, so memory follows the traffic, not the configured limit.
private struct RateWindow {
    private static let window: Duration = .seconds(60)
    private let limit: Int
    private var arrivals: [AnyClock.Instant] = []
    /// Index of the oldest arrival still in the window.
    private var head = 0

    init(limit: Int) {
        self.limit = max(limit, 0)
    }

    mutating func admit(_ now: AnyClock.Instant) -> Bool {
        while head < arrivals.count, arrivals[head].duration(to: now) >= Self.window {
            head += 1
        }
        if head > 32, head * 2 > arrivals.count {
            arrivals.removeFirst(head)
            head = 0
        }
        guard arrivals.count - head < limit else { return false }
        arrivals.append(now)
        return true
    }
}

/// Admits at most `limit` bytes in any 60 seconds (a sliding window over the arrivals of the last 60 s).
private struct ByteWindow {
    private static let window: Duration = .seconds(60)
    private let limit: Int
    private var arrivals: [(at: AnyClock.Instant, bytes: Int)] = []
    private var head = 0
    private var total = 0

    init(limit: Int) {
        self.limit = max(limit, 0)
    }

    mutating func admit(_ bytes: Int, at now: AnyClock.Instant) -> Bool {
        while head < arrivals.count, arrivals[head].at.duration(to: now) >= Self.window {
            total -= arrivals[head].bytes
            head += 1
        }
        if head > 32, head * 2 > arrivals.count {
            arrivals.removeFirst(head)
            head = 0
        }
        guard total + bytes <= limit else { return false }
        arrivals.append((now, bytes))
        total += bytes
        return true
    }
}
