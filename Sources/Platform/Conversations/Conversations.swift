import AmigoWire
import Engine
import Foundation
import Logging
import Storage
import Tracing

/// Runs conversations: checks and loads what an operation needs, runs the Engine, and commits each
/// interaction in one transaction before `interaction-complete` is sent.
///
/// Every operation is split in two: `prepare…` does everything that can fail with a ``PlatformError``
/// (not found, forbidden, conflict, bad request) before a response starts; `run…` streams the
/// interaction into a ``ConversationEventSink`` and reports a failure there, having stored nothing.
public struct Conversations: Sendable {
    let store: Store
    let runner: InteractionRunner
    /// Held in the database, so they hold across every process sharing it.
    public let leases: LeaseKeeper
    /// Running interactions, drained on shutdown.
    public let workload: Workload
    let pinned = PinnedVersions()
    let histories = ConversationHistories()
    /// Audio fillers in agents' voices, synthesized before they are needed.
    let fillers = SpokenFillers()
    public let logger: Logger
    /// The organizations' tools (helper tools and tool-call states); `nil` without a tool subsystem.
    let tools: Tools?
    /// How far ahead of the server's clock (or behind the message it follows) a client may stamp an
    /// external event; such an event is stored at the server's receipt time.
    public var clockSkew: Duration = .seconds(10)
    /// Speech to text for voice messages, text to speech for voice replies; either may be absent.
    public var speech: SpeechEngines = .none
    /// The organizations' dynamic behavior sets, which every interaction may select from.
    public var behaviors: DynamicBehaviors
    /// What runs when a conversation ends: memories and the user model, as durable jobs.
    public var analysis: ConversationAnalysis
    /// How many earlier messages of a conversation the prompts see.
    let historyWindow = 60
    /// How many of the user's memories (newest first) a conversation's recall states may answer from.
    static let memoryFactLimit = 50
    /// How many earlier interactions are searched for persisted tool results.
    let toolResultInteractions = 20
    /// Where the model calls of interactions are logged (nil: nowhere).
    public var promptLogs: PromptLogRecorder?

    public init(
        store: Store, models: LanguageModels, tools: Tools? = nil, maxTransitions: Int = 25,
        leases: LeaseKeeper, workload: Workload = Workload(), logger: Logger
    ) {
        self.store = store
        self.leases = leases
        self.workload = workload
        self.runner = InteractionRunner(models: models.metered(), maxTransitions: maxTransitions)
        self.tools = tools
        self.logger = logger
        self.behaviors = DynamicBehaviors(store: store, embedder: nil, logger: logger)
        self.analysis = ConversationAnalysis(store: store, models: runner.models, embedder: nil, logger: logger)
    }

    public var models: LanguageModels { runner.models }

    // MARK: - Locks

    func lock(_ key: String) async throws -> Lease {
        guard let lease = try await leases.acquire(key) else {
            Telemetry.leaseConflict(key)
            throw PlatformError.conflict("A related operation is in progress for this conversation.")
        }
        return lease
    }

    /// Holds "one realtime connection per user and service"; nil when another connection has it.
    public func holdRealtimeConnection(orgID: String, userID: String, serviceID: String) async -> Lease? {
        let key = "realtime/\(orgID)/\(userID)/\(serviceID)"
        guard let lease = try? await leases.acquire(key) else {
            Telemetry.leaseConflict(key)
            return nil
        }
        return lease
    }

    // MARK: - Create

    /// An interaction about to run — a new conversation's first, or the next of an existing one — with
    /// everything it needs checked, loaded and held (its lease, its place in the workload). It runs when
    /// the response streams (``run(_:events:interruption:)``); a new conversation is stored with it.
    public struct PendingInteraction: Sendable {
        public var record: ConversationRecord
        var setting: ConversationSetting
        var input: [MessageInstance]
        var userMessage: MessageInstance?
        var isNew: Bool
        /// How the reply is spoken when the client asked for voice (`response_format=voice`).
        var voiceReply: VoiceReply?
        /// The audio of a voice user message, stored as its source.
        var userAudio: MessageAudio?
        /// The conversation's user when the caller is that user (the caller's record is kept current by
        /// `Principals`), so the interaction need not read it again.
        var user: User?
        var lease: Lease
        var ticket: Ticket
        /// The request that prepared it, for the logs of the interaction.
        var requestID = RequestScope.id
    }

    /// Admits the work, takes the lease on `key`, and loads the interaction with `load` holding both;
    /// both are let go when anything fails.
    func prepare(
        isNew: Bool, holding key: String, caller: Principal, voiceReply: SpokenAudioFormat?,
        _ load: () async throws -> (ConversationRecord, ConversationSetting, [MessageInstance], MessageInstance?)
    ) async throws -> PendingInteraction {
        let ticket = try workload.admit()
        let lease: Lease
        do {
            lease = try await lock(key)
        } catch {
            ticket.end()
            throw error
        }
        do {
            let (record, setting, input, userMessage) = try await load()
            return PendingInteraction(
                record: record, setting: setting, input: input, userMessage: userMessage, isNew: isNew,
                voiceReply: try voiceReply.map { try self.voiceReply(for: setting, format: $0) },
                user: caller.user.userID == record.userID ? caller.user : nil, lease: lease, ticket: ticket
            )
        } catch {
            ticket.end()
            await lease.release()
            throw error
        }
    }

    public func prepareCreate(
        orgID: String, caller: Principal, request: CreateConversationRequest, voiceReply: SpokenAudioFormat? = nil
    ) async throws -> PendingInteraction {
        let userID = caller.user.userID
        let key = "create/\(orgID)/\(userID)/\(request.serviceID)"
        return try await prepare(isNew: true, holding: key, caller: caller, voiceReply: voiceReply) {
            let (setting, returning, userModel, memoryFacts) = try await store.read { repositories in
                if try await repositories.conversations.unfinished(orgID: orgID, userID: userID, serviceID: request.serviceID) != nil {
                    throw PlatformError.badRequest(
                        "The user already has an unfinished conversation for this service; finish it before starting another."
                    )
                }
                let setting = try await ConversationSetting.resolve(
                    serviceID: request.serviceID, versionSetName: request.serviceVersionSetName,
                    orgID: orgID, repositories: repositories
                )
                let returning = try await repositories.conversations.count(orgID: orgID, userID: userID, serviceID: request.serviceID) > 0
                let model = try await repositories.memories.userModel(userID: userID, orgID: orgID)
                let memories = try await repositories.memories.memories(userID: userID, orgID: orgID).prefix(Self.memoryFactLimit)
                return (setting, returning, model?.userModels.map(\.content) ?? [], memories.map(\.memory.content))
            }
            let now = Date()
            let conversationID = ObjectID.generate(now: now)
            let position = GraphPosition.initial(in: setting.graphs, returningUser: returning)
            var record = ConversationRecord(
                id: conversationID, orgID: orgID, userID: userID, serviceID: request.serviceID, createdAt: now,
                versionSetInfo: setting.versionSetInfo, tags: request.tags, position: try Self.encode(position)
            )
            // What earlier conversations taught: in this conversation's prompts and recall.
            record.userModel = userModel.isEmpty ? nil : userModel
            record.memoryFacts = memoryFacts.isEmpty ? nil : memoryFacts
            var input: [MessageInstance] = []
            var userMessage: MessageInstance?
            if let text = request.initialMessage {
                let type: MessageType = request.initialMessageType == .externalEvent ? .externalEvent : .userMessage
                let message = Self.message(type, text, at: now, sender: type == .userMessage ? userID : "external")
                input.append(message)
                if type == .userMessage { userMessage = message }
            }
            return (record, setting, input, userMessage)
        }
    }

    // MARK: - Interact

    /// What the user (or the user's systems) contributes to one interaction.
    public struct Turn: Sendable {
        /// External events that happened before the message, oldest first, with when they happened.
        public var events: [(text: String, at: Date)] = []
        /// The message that starts the interaction; nil for a skip (the agent goes on).
        public var message: (type: MessageType, text: String)?
        /// The user's speech: the user message is its transcript (`message` is then ignored).
        public var audio: AudioClip?
        /// Whether event times must be in the past and not before the conversation's last message
        /// (REST clients send their own times; the socket stamps events itself on receipt).
        public var checksEventTimes = true

        public init(
            events: [(text: String, at: Date)] = [], message: (type: MessageType, text: String)?, audio: AudioClip? = nil,
            checksEventTimes: Bool = true
        ) {
            self.events = events
            self.message = message
            self.audio = audio
            self.checksEventTimes = checksEventTimes
        }
    }

    public func prepareInteract(
        orgID: String, conversationID: String, caller: Principal, turn: Turn, voiceReply: SpokenAudioFormat? = nil
    ) async throws -> PendingInteraction {
        if turn.audio != nil, speech.speechToText == nil {
            throw PlatformError.unsupportedMediaType(
                "This server has no speech-to-text engine, so it cannot take voice messages: run scripts/setup-voice or set COMPADRE_STT_BASE_URL."
            )
        }
        // The audio of the user's message, stored with it (set while loading).
        var userAudio: MessageAudio?
        var pending = try await prepare(isNew: false, holding: "conversation/\(conversationID)", caller: caller, voiceReply: voiceReply) {
            let (record, setting, lastMessageAt, keyterms) = try await store.read { repositories in
                let record = try await repositories.conversation(conversationID, orgID: orgID, caller: caller, requiring: "Conversation:InteractWithConversation")
                if record.isFinished { throw PlatformError.conflict("The conversation is already finished.") }
                let setting = try await ConversationSetting.load(record: record, repositories: repositories, pinned: pinned)
                // Words to expect in the user's speech: the service's and the user's key terms.
                var keyterms: [String] = []
                if turn.audio != nil {
                    keyterms += try await repositories.services.get(id: record.serviceID, orgID: orgID)?.keyterms ?? []
                    let owner = caller.user.userID == record.userID ? caller.user : try await repositories.users.get(id: record.userID, orgID: orgID)
                    keyterms += owner?.preferences.audioKeyterms ?? []
                }
                // The cached history ends with the conversation's last message when it is current.
                let last = if let cached = histories.messages(of: record), !cached.isEmpty {
                    cached.last
                } else {
                    try await repositories.conversations.recentMessages(conversationID: conversationID, orgID: orgID, limit: 1).first
                }
                return (record, setting, last?.createdAt, keyterms)
            }
            if let voiceReply { _ = try self.voiceReply(for: setting, format: voiceReply) }
            // Transcribed holding the conversation's lease (one interaction at a time), not a database session.
            var transcript: String?
            if let audio = turn.audio, let speechToText = speech.speechToText {
                let language = caller.user.preferences.preferredLanguage ?? setting.persona.language
                transcript = try await speechToText.transcribe(audio, language: language, keyterms: keyterms)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let now = Date()
            var input: [MessageInstance] = []
            var previous = lastMessageAt ?? .distantPast
            // Clients' clocks are not the server's: a time up to `clockSkew` in the future, or before the
            // message it follows, is taken as the server's receipt time, kept in order.
            let skew = clockSkew.timeInterval
            for event in turn.events {
                var at = event.at
                if turn.checksEventTimes {
                    if event.at > now + skew {
                        throw PlatformError.badRequest("External event timestamps must be in the past (this server allows \(Int(skew)) s of clock difference).")
                    }
                    if event.at < previous - skew {
                        throw PlatformError.badRequest(
                            "External event timestamps must be in chronological order and not earlier than the conversation's last message."
                        )
                    }
                    at = min(max(event.at, previous), now)
                    previous = at
                }
                input.append(Self.message(.externalEvent, event.text, at: at, sender: "external"))
            }
            var userMessage: MessageInstance?
            if let transcript {
                guard !transcript.isEmpty else { throw PlatformError.badRequest("The user message is empty: no speech was heard in the audio.") }
                let message = Self.message(.userMessage, transcript, at: now, sender: record.userID)
                input.append(message)
                userMessage = message
                if let audio = turn.audio {
                    userAudio = MessageAudio(messageID: message.id, conversationID: record.id, contentType: audio.contentType, data: audio.file.data)
                }
            } else if let (type, raw) = turn.message {
                let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !text.isEmpty else { throw PlatformError.badRequest("The user message is empty.") }
                if type == .userMessage {
                    let message = Self.message(.userMessage, text, at: now, sender: record.userID)
                    input.append(message)
                    userMessage = message
                } else {
                    input.append(Self.message(.externalEvent, text, at: now, sender: "external"))
                }
            }
            return (record, setting, input, userMessage)
        }
        pending.userAudio = userAudio
        return pending
    }

    /// Runs the interaction (announcing a new conversation first) and commits it; returns its outcome,
    /// nil when it failed and stored nothing.
    @discardableResult
    public func run(
        _ pending: PendingInteraction, events: some ConversationEventSink, interruption: Interruption? = nil,
        pacing: VoicePacing? = nil
    ) async -> InteractionOutcome? {
        if let voice = pending.voiceReply {
            fillers.prepare(pending.setting.graphs.audioFillers, voice: voice.voice, speech: voice.speech)
            let sink = VoiceReplySink(
                base: events, speech: voice.speech, voice: voice.voice, encoder: voice.encoder, fillers: fillers, pacing: pacing,
                interruption: interruption
            )
            return await runPending(pending, events: sink, interruption: interruption, spoken: sink)
        }
        return await runPending(pending, events: events, interruption: interruption, spoken: nil)
    }

    private func runPending(
        _ pending: PendingInteraction, events: some ConversationEventSink, interruption: Interruption?, spoken: (any SpokenReply)?
    ) async -> InteractionOutcome? {
        let outcome = await pending.ticket.run { () -> InteractionOutcome? in
            if pending.isNew {
                guard (try? await events.write(.conversationCreated(conversationID: pending.record.id))) != nil else { return nil }
            }
            return await runInteraction(pending, events: events, interruption: interruption, spoken: spoken)
        }
        await pending.lease.release()
        return outcome
    }

    // MARK: - Voice

    /// How a reply is spoken: the agent's voice through the server's text-to-speech engine, as PCM or
    /// (with an encoder) MP3.
    struct VoiceReply: Sendable {
        var speech: any TextToSpeech
        var voice: String?
        var encoder: (any AudioEncoder)?
    }

    /// The voice of replies in `setting`; 400 when the server cannot speak (or not in `format`) or the
    /// agent has no voice.
    func voiceReply(for setting: ConversationSetting, format: SpokenAudioFormat) throws -> VoiceReply {
        guard let textToSpeech = speech.textToSpeech else {
            throw PlatformError.badRequest(
                "This server has no text-to-speech engine, so it cannot answer in voice: run scripts/setup-voice or set COMPADRE_TTS_BASE_URL."
            )
        }
        guard let voiceID = setting.persona.voiceID else {
            throw PlatformError.badRequest("The agent does not have voice config specified.")
        }
        var encoder: (any AudioEncoder)?
        if format == .mp3 {
            guard let mp3 = speech.encoder else {
                throw PlatformError.badRequest(
                    "This server cannot encode MP3 (its embedded speech server does that): leave the audio format out or set it to pcm."
                )
            }
            encoder = mp3
        }
        return VoiceReply(speech: textToSpeech, voice: speech.voice(for: voiceID), encoder: encoder)
    }

    // MARK: - One interaction

    /// Runs one interaction inside its span, with its request's ID in the logs and its metrics.
    private func runInteraction(
        _ pending: PendingInteraction, events: some ConversationEventSink, interruption: Interruption?, spoken: (any SpokenReply)?
    ) async -> InteractionOutcome? {
        let record = pending.record
        let interactionID = ObjectID.generate()
        let modelTime = ModelTime()
        let clock = ContinuousClock()
        let started = clock.now
        let outcome = await RequestScope.$id.withValue(pending.requestID) {
            await ModelTime.$current.withValue(modelTime) {
                await withSpan("interaction") { span in
                    span.attributes["compadre.organization"] = record.orgID
                    span.attributes["compadre.conversation_id"] = record.id
                    span.attributes["compadre.interaction_id"] = interactionID
                    let perform = {
                        await performInteraction(
                            interactionID: interactionID, pending: pending, events: events, interruption: interruption, spoken: spoken
                        )
                    }
                    let outcome = if let promptLogs {
                        await PromptLogScope(
                            recorder: promptLogs, orgID: record.orgID, key: "conversation/\(record.id)/\(interactionID)", userID: record.userID,
                            conversationID: record.id
                        ).run(perform)
                    } else {
                        await perform()
                    }
                    if outcome == nil { span.setStatus(SpanStatus(code: .error)) }
                    return outcome
                }
            }
        }
        let result = outcome.map { $0.wasInterrupted ? "interrupted" : "completed" } ?? "failed"
        Telemetry.interactionFinished(outcome: result, duration: clock.now - started, modelTime: modelTime.value)
        return outcome
    }

    /// Runs the Engine and commits. Any failure becomes an `error` event and stores nothing.
    private func performInteraction(
        interactionID: String, pending: PendingInteraction, events: some ConversationEventSink, interruption: Interruption?,
        spoken: (any SpokenReply)?
    ) async -> InteractionOutcome? {
        let (record, setting, userMessage, isNew, knownUser, lease) = (
            pending.record, pending.setting, pending.userMessage, pending.isNew, pending.user, pending.lease
        )
        let input = pending.input.map { message in
            var message = message
            message.interactionID = interactionID
            return message
        }
        do {
            let orgID = record.orgID
            let usesTools = setting.graphs.usesTools
            let toolResultInteractions = toolResultInteractions
            let cached = isNew ? [] : histories.messages(of: record)
            let historyWindow = historyWindow
            // Persisted tool results of earlier interactions stay visible to later LLM calls.
            let readsToolResults = !isNew && usesTools
            var (history, user, earlier) = (cached ?? [], knownUser, [InteractionRecord]())
            if cached == nil || knownUser == nil || readsToolResults {
                (history, user, earlier) = try await store.read { repositories in
                    let history = if let cached {
                        cached
                    } else {
                        try await repositories.conversations.recentMessages(conversationID: record.id, orgID: orgID, limit: historyWindow)
                    }
                    let user = if let knownUser { knownUser } else { try await repositories.users.get(id: record.userID, orgID: orgID) }
                    let earlier = !readsToolResults ? [] : try await repositories.conversations.recentInteractions(
                        conversationID: record.id, orgID: orgID, limit: toolResultInteractions
                    )
                    return (history, user, earlier)
                }
            }
            let profile = UserProfile(
                name: [user?.firstName ?? "", user?.lastName ?? ""].filter { !$0.isEmpty }.joined(separator: " "),
                additionalContext: user?.additionalContext ?? [],
                timezone: user?.preferences.timezone,
                model: record.userModel ?? []
            )
            var request = InteractionRequest(
                conversationID: record.id,
                interactionID: interactionID,
                userID: record.userID,
                graphs: setting.graphs,
                position: try Self.decode(GraphPosition.self, record.position),
                context: PromptContext(
                    persona: setting.persona, user: profile, history: history + input,
                    workingMemory: record.workingMemory,
                    toolResults: ToolResultNote.persisted(in: earlier.map(\.insights)),
                    now: Date().addingTimeInterval(record.simulation?.clockOffset ?? 0)
                ),
                userMessage: userMessage.map { message in
                    input.first { $0.id == message.id } ?? message
                },
                memoryFacts: record.memoryFacts ?? [],
                modelPreferences: setting.versionSetInfo.llmModelPreferences,
                behaviors: try await behaviorSelection(for: record)
            )
            if record.memoryFacts?.isEmpty == false {
                request.memorySearch = UserMemories(store: store, userID: record.userID, orgID: orgID, embedder: analysis.embedder)
            }
            var runner = runner
            // Attached even when the graph names no tool: a selected dynamic behavior may offer one.
            if let tools { runner.tools = tools.runner(orgID: orgID, simulation: record.simulation) }
            var outcome = try await runner.run(request, interruption: interruption) { event in try await events.write(event) }
            // An interrupted spoken reply is stored as far as the listener heard it.
            if outcome.wasInterrupted, let spoken {
                let heard = spoken.heardText()
                outcome.agentMessage.message = heard
                outcome.messages = outcome.messages.map { $0.id == outcome.agentMessage.id ? outcome.agentMessage : $0 }
            }
            // Another process may own the conversation now (this one could not renew its lease in time).
            if lease.isLost {
                throw PlatformError.conflict("The conversation's lock was lost during the interaction; nothing was stored.")
            }
            var audio: [MessageAudio] = []
            if let userAudio = pending.userAudio { audio.append(userAudio) }
            if let spoken, let reply = spoken.recording() {
                audio.append(MessageAudio(messageID: outcome.agentMessage.id, conversationID: record.id, contentType: "audio/wav", data: reply))
            }
            try await commit(record: record, history: history, input: input, outcome: outcome, isNew: isNew, audio: audio)
            try await events.write(.interactionComplete(InteractionComplete(
                messageID: outcome.agentMessage.id, interactionID: interactionID,
                fullMessage: outcome.agentMessage.message, conversationCompleted: outcome.conversationCompleted
            )))
            return outcome
        } catch {
            var failure = PlatformError(error)
            if failure.kind == .cancelled, workload.isDraining {
                failure = .unavailable("The server is shutting down; this interaction was stopped and nothing of it was stored.")
            }
            logger.warning("interaction failed", metadata: [
                "conversation_id": "\(record.id)", "interaction_id": "\(interactionID)", "kind": "\(failure.kind)",
                "error": "\(failure.message)",
            ])
            // The client may already be gone; nothing else to do then. A cancelled interaction (cut by a
            // shutdown) still tells its client, from a task that is not cancelled.
            await Task { try? await events.fail(failure) }.value
            return nil
        }
    }

    /// Stores the interaction in one transaction: the conversation, its new messages (those with `audio`
    /// as voice messages), the interaction, the user's counters.
    private func commit(
        record: ConversationRecord, history: [MessageInstance], input: [MessageInstance], outcome: InteractionOutcome, isNew: Bool,
        audio: [MessageAudio] = []
    ) async throws {
        var record = record
        // An interrupted reply is stored as far as it was sent; one interrupted before its first piece not at all.
        let voiced = Set(audio.map(\.messageID))
        let messages = (input + outcome.messages.filter { !($0.messageType == .agentMessage && $0.message.isEmpty) }).map { message in
            var message = message
            if voiced.contains(message.id) { message.format = .voice }
            return message
        }
        record.numMessages += messages.filter { $0.messageType != .agentInnerThought }.count
        if !outcome.agentMessage.message.isEmpty { record.finalMessage = outcome.agentMessage.message }
        record.interactionCount += 1
        record.lastInteractionID = outcome.interactionID
        record.position = try Self.encode(outcome.position)
        record.workingMemory = outcome.insights.workingMemory
        if let selected = outcome.selectedBehavior { record.lastDynamicBehavior = selected }
        if outcome.conversationCompleted { record.isFinished = true }
        let final = record
        // The message that led to an invocation: the interaction's recorded message (a user message or
        // an external event), which follows the events sent with it.
        let initial = input.last
        let invocation = outcome.selectedBehavior.map { behavior in
            DynamicBehaviorInvocation(
                id: ObjectID.generate(now: outcome.agentMessage.createdAt), orgID: record.orgID, conversationID: record.id,
                serviceID: record.serviceID, userID: record.userID, initialMessageID: initial?.id ?? outcome.agentMessage.id,
                agentMessageID: outcome.agentMessage.message.isEmpty ? nil : outcome.agentMessage.id,
                agentInnerThoughtsIDs: outcome.messages.filter { $0.messageType == .agentInnerThought }.map(\.id),
                setVersion: behavior, invokedAt: outcome.agentMessage.createdAt,
                externalEventMessageIDs: input.filter { $0.messageType == .externalEvent && $0.id != initial?.id }.map(\.id)
            )
        }
        let interaction = InteractionRecord(
            id: outcome.interactionID, conversationID: record.id, createdAt: outcome.agentMessage.createdAt,
            insights: outcome.insights
        )
        let visible = messages.filter { $0.messageType != .agentInnerThought }.count
        try await store.write { repositories in
            if isNew {
                try await repositories.conversations.insert(final)
            } else {
                try await repositories.conversations.update(final)
            }
            try await repositories.conversations.append(messages, conversationID: final.id, orgID: final.orgID)
            try await repositories.conversations.insert(interaction, orgID: final.orgID)
            for clip in audio { try await repositories.conversations.insert(clip, orgID: final.orgID) }
            if let invocation { try await repositories.behaviors.insert(invocation) }
            try await repositories.users.recordActivity(
                userID: final.userID, orgID: final.orgID, conversations: isNew ? 1 : 0, messages: visible,
                at: outcome.agentMessage.createdAt
            )
            if outcome.conversationCompleted { try await conversationEnded(final, in: repositories) }
        }
        if outcome.conversationCompleted { analysis.doorbell.ring() }
        histories.store(history + messages, of: final, window: historyWindow)
    }

    /// The dynamic behaviors an interaction of `record` may select.
    func behaviorSelection(for record: ConversationRecord) async throws -> BehaviorSelection {
        let candidates = try await behaviors.candidates(serviceID: record.serviceID, orgID: record.orgID)
        return BehaviorSelection(
            candidates: candidates.map(\.behavior), previous: record.lastDynamicBehavior,
            embedder: candidates.isEmpty ? nil : behaviors.embedder
        )
    }

    // MARK: - Finish

    public func finish(orgID: String, conversationID: String, caller: Principal) async throws {
        let lease = try await lock("conversation/\(conversationID)")
        do {
            try await finishLocked(orgID: orgID, conversationID: conversationID, caller: caller)
        } catch {
            await lease.release()
            throw error
        }
        await lease.release()
    }

    private func finishLocked(orgID: String, conversationID: String, caller: Principal) async throws {
        try await store.write { [analysis] repositories in
            var record = try await repositories.conversation(conversationID, orgID: orgID, caller: caller, requiring: "Conversation:FinishConversation")
            if record.isFinished {
                // Finishing again retries an analysis that failed; one done or under way is a conflict.
                if try await analysis.retryFailed(record, in: repositories) { return }
                throw PlatformError.conflict("The conversation is already finished.")
            }
            if record.numMessages == 0 {
                try await repositories.conversations.delete(id: conversationID, orgID: orgID)
                return
            }
            if record.interactionCount == 0 { throw PlatformError.badRequest("The conversation has no interactions.") }
            record.isFinished = true
            try await repositories.conversations.update(record)
            try await conversationEnded(record, in: repositories)
        }
        analysis.doorbell.ring()
        histories.forget(conversationID)
    }

    /// A conversation ended — its user finished it, or its graph reached the terminal state — inside
    /// the transaction that records the end: its analysis is enqueued in the same transaction, so an
    /// ended conversation is analysed exactly once (see ``ConversationAnalysis``).
    private func conversationEnded(_ record: ConversationRecord, in repositories: Repositories) async throws {
        logger.debug("conversation ended", metadata: ["conversation_id": "\(record.id)", "interactions": "\(record.interactionCount)"])
        // A simulated conversation is judged by its run, not analysed.
        if record.simulation != nil { return }
        try await analysis.enqueue(record, in: repositories)
    }

    // MARK: - Helpers

    static func message(_ type: MessageType, _ text: String, at date: Date, sender: String) -> MessageInstance {
        MessageInstance(
            id: ObjectID.generate(now: date), interactionID: "", createdAt: date, sender: sender, message: text,
            format: .text, messageType: type
        )
    }

    static func encode(_ value: some Encodable) throws -> String {
        try WireEncoder().string(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}

/// What a conversation runs on: the versions its version set resolved to when it was created.
struct ConversationSetting: Sendable {
    var versionSetInfo: VersionSetInfo
    var persona: Persona
    var graphs: GraphSet
    var serviceDescription: String

    /// Resolves a service's version set to concrete versions (a new conversation pins them).
    static func resolve(
        serviceID: String, versionSetName: String, orgID: String, repositories: Repositories
    ) async throws -> ConversationSetting {
        guard let service = try await repositories.services.get(id: serviceID, orgID: orgID) else {
            throw PlatformError.notFound("Service `\(serviceID)` does not exist.")
        }
        guard service.isActive else { throw PlatformError.badRequest("Service `\(serviceID)` is not active.") }
        guard let set = service.versionSets[versionSetName] else {
            throw PlatformError.notFound("Service `\(serviceID)` has no version set named `\(versionSetName)`.")
        }
        guard let agent = try await repositories.agents.get(id: service.agentID, orgID: orgID),
              let agentNumber = set.agentVersionNumber ?? agent.latestVersion,
              let agentVersion = try await repositories.agents.version(agentNumber, of: service.agentID, orgID: orgID)
        else {
            throw PlatformError.notFound("The agent of service `\(serviceID)` has no such version.")
        }
        guard let graph = try await repositories.contextGraphs.get(id: service.contextGraphID, orgID: orgID),
              let graphNumber = set.contextGraphVersionNumber ?? graph.latestVersion
        else {
            throw PlatformError.notFound("The context graph of service `\(serviceID)` has no such version.")
        }
        let root = VersionInfo(id: service.contextGraphID, version: graphNumber)
        let graphs = try await loadGraphs(root: root, orgID: orgID, repositories: repositories)
        return ConversationSetting(
            versionSetInfo: VersionSetInfo(
                name: versionSetName,
                agentVersionInfo: VersionInfo(id: service.agentID, version: agentNumber),
                serviceHierarchicalStateMachineVersionInfo: root,
                llmModelPreferences: set.llmModelPreferences
            ),
            persona: Persona(agentVersion),
            graphs: graphs,
            serviceDescription: service.description
        )
    }

    /// The pinned versions of an existing conversation.
    static func load(record: ConversationRecord, repositories: Repositories, pinned: PinnedVersions) async throws -> ConversationSetting {
        let info = record.versionSetInfo
        let orgID = record.orgID
        let persona = try await pinned.persona(orgID: orgID, agent: info.agentVersionInfo) {
            guard let agentVersion = try await repositories.agents.version(
                info.agentVersionInfo.version, of: info.agentVersionInfo.id, orgID: orgID
            ) else {
                throw PlatformError.notFound("The agent version of this conversation no longer exists.")
            }
            return Persona(agentVersion)
        }
        let graphs = try await pinned.graphs(orgID: orgID, root: info.serviceHierarchicalStateMachineVersionInfo) {
            try await loadGraphs(root: info.serviceHierarchicalStateMachineVersionInfo, orgID: orgID, repositories: repositories)
        }
        return ConversationSetting(versionSetInfo: info, persona: persona, graphs: graphs, serviceDescription: "")
    }

    static func loadGraphs(root: VersionInfo, orgID: String, repositories: Repositories) async throws -> GraphSet {
        do {
            return try await GraphSet.load(root: root) { info in
                try await repositories.contextGraphs.version(info.version, of: info.id, orgID: orgID)?.definition
            }
        } catch let error as GraphSetError {
            throw PlatformError.notFound("\(error)")
        }
    }
}

/// Where the events of an interaction go: an NDJSON response, or a realtime socket.
public protocol ConversationEventSink: Sendable {
    func write(_ event: ConversationEvent) async throws
    /// The interaction failed and stored nothing; the sink tells its client in its own terms.
    func fail(_ error: PlatformError) async throws
}
