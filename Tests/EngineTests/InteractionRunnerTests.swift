import AmigoWire
import Engine
import Testing
import EngineTesting

@Suite struct InteractionRunnerTests {
    let model = ScriptedModel()
    var runner: InteractionRunner { InteractionRunner(models: LanguageModels(default: model)) }

    @Test func anActionStateReplyStreamsPiecesAndReportsEachStep() async throws {
        let log = EventLog()
        let outcome = try await runner.run(Fixture.request(), into: log)

        #expect(await log.actionTypes == [
            "select-dynamic-behavior-vector-generated",
            "select-dynamic-behavior-relevance-retrieval-completed",
            "select-dynamic-behavior-completed",
            "check-if-active-memory-needed-completed",
            "navigate-state-machine-action-state-action-selected",
            "engage-user-message-fragment-generated",
            "engage-user-message-fragment-generated",
            "engage-user-message-fragment-generated",
            "engage-user-message-fragment-generated",
        ])
        let events = await log.events
        guard case .userMessageAvailable(_, let text) = events.first else {
            Issue.record("the first event should announce the user message")
            return
        }
        #expect(text == "I would like to book a visit")
        let pieces = events.compactMap { if case .newMessage(let piece) = $0 { piece } else { nil } }
        #expect(pieces.map(\.message) == ["Hello", ", how can", " I help?", ""])
        #expect(pieces.map(\.sequenceNumber) == [0, 1, 2, 3])
        #expect(pieces.map(\.stop) == [false, false, false, true])
        #expect(Set(pieces.map(\.messageID)) == [outcome.agentMessage.id])
        #expect(outcome.agentMessage.message == "Hello, how can I help?")
        #expect(outcome.insights.currentStateName == "start")
        #expect(outcome.insights.currentStateAction == "Greet the patient")
        #expect(!outcome.conversationCompleted)
    }

    @Test func everyPassthroughStateRunsAndIsLogged() async throws {
        model.script(.selectNextAction, .choice(3), .choice(1))
        model.script(.selectNextStateForDecisionState, .choice(1))
        model.script(.generateReflection, .text(["The patient needs a visit today, quickly please."]))
        let log = EventLog()
        let outcome = try await runner.run(Fixture.request(), into: log)

        #expect(outcome.position.state == "book")
        #expect(outcome.insights.stateTransitionLogs.map(\.detail.type) == ["action", "decision", "annotation", "reflection", "recall"])
        #expect(outcome.messages.map(\.messageType) == [.agentInnerThought, .agentInnerThought, .agentMessage])
        #expect(outcome.messages[0].message == "Urgent case: keep it short.")
        #expect(outcome.messages[1].message == "The patient needs a visit")
        #expect(outcome.insights.reflections == ["The patient needs a visit"])
        #expect(outcome.insights.workingMemory == [WorkingMemory(content: "Unknown", context: "Which clinic does the patient use?")])
        guard case .annotation(let noteID) = outcome.insights.stateTransitionLogs[2].detail else {
            Issue.record("the annotation log should name its inner thought")
            return
        }
        #expect(noteID == outcome.messages[0].id)

        let types = await log.actionTypes
        for expected in [
            "navigate-state-machine-exit-condition-selected", "navigate-state-machine-state-transitioned",
            "navigate-state-machine-decision-state-decision-started", "navigate-state-machine-annotation-state-annotation-retrieved",
            "navigate-state-machine-reflection-state-prompt-retrieved", "navigate-state-machine-reflection-state-reflection-generated",
            "navigate-state-machine-recall-state-static-queries-retrieved", "navigate-state-machine-recall-state-active-memory-retrieved",
        ] {
            #expect(types.contains(expected), "missing \(expected)")
        }
        // The reply was written with what the passthrough states produced.
        let engage = try #require(model.requests(of: .engageUser).last)
        #expect(engage.messages[0].content.contains("The patient needs a visit"))
    }

    @Test func recallAnswersFromTheUsersFacts() async throws {
        model.script(.selectNextAction, .choice(3), .choice(1))
        model.script(.extractActiveMemories, .raw(#"{"answers": ["The Riverside clinic"]}"#))
        let outcome = try await runner.run(Fixture.request(facts: ["Goes to the Riverside clinic"]), into: EventLog())
        #expect(outcome.insights.workingMemory == [WorkingMemory(content: "The Riverside clinic", context: "Which clinic does the patient use?")])
        let asked = try #require(model.requests(of: .extractActiveMemories).first)
        #expect(asked.messages[0].content.contains("Goes to the Riverside clinic"))
    }

    @Test func aReferencedGraphRunsAndJumpsBackAcrossInteractions() async throws {
        model.script(.selectNextAction, .choice(3), .choice(1))
        model.script(.selectNextStateForDecisionState, .choice(2))
        let first = try await runner.run(Fixture.request(), into: EventLog())
        #expect(first.position.graph == Fixture.billing)
        #expect(first.position.state == "intake")
        #expect(first.insights.currentStateAction == "Ask for the invoice number")

        model.script(.selectNextAction, .choice(2), .choice(1))
        let second = try await runner.run(Fixture.request(at: first.position, saying: "It is 42"), into: EventLog())
        #expect(second.position == GraphPosition(graph: Fixture.root, state: "wrap"))
        #expect(second.insights.stateTransitionLogs.map(\.detail.type) == ["action", "jumpback"])
        #expect(second.insights.stateTransitionLogs[1].previousGraph == Fixture.billing)
        #expect(second.insights.stateTransitionLogs[1].nextGraph == Fixture.root)
    }

    @Test func reachingTheTerminalStateCompletesTheConversation() async throws {
        model.script(.selectNextAction, .choice(2))
        let outcome = try await runner.run(
            Fixture.request(at: GraphPosition(graph: Fixture.root, state: "wrap"), saying: "That's all"), into: EventLog()
        )
        #expect(outcome.conversationCompleted)
        #expect(outcome.insights.currentStateAction == "Say goodbye")
        // The terminal state has one action and no exit: no model call was needed to choose it.
        #expect(model.requests(of: .selectNextAction).count == 1)
    }

    @Test func aRunawayGraphEndsWithAnErrorInsteadOfLooping() async throws {
        model.script(.selectNextAction, .choice(2))
        let runner = InteractionRunner(models: LanguageModels(default: model), maxTransitions: 12)
        let error = await #expect(throws: InteractionError.self) {
            try await runner.run(Fixture.request(graphs: Fixture.runaway), into: EventLog())
        }
        #expect(error?.kind == .navigationFailed)
        #expect(error?.message.contains("more than 12") == true)
    }

    @Test func aModelFailureMidReplyFailsTheInteraction() async throws {
        model.script(.engageUser, .failAfter(["Hel"], LanguageModelError(.httpStatus(500), "upstream broke")))
        let log = EventLog()
        let error = await #expect(throws: InteractionError.self) {
            try await runner.run(Fixture.request(), into: log)
        }
        #expect(error?.kind == .modelFailed)
        let pieces = await log.events.compactMap { if case .newMessage(let piece) = $0 { piece.message } else { nil } }
        #expect(pieces == ["Hel"])
    }

    @Test func anAnswerOutsideTheOptionsIsAnError() async throws {
        model.script(.selectNextAction, .raw("I am not sure"))
        let error = await #expect(throws: InteractionError.self) {
            try await runner.run(Fixture.request(), into: EventLog())
        }
        #expect(error?.kind == .modelFailed)
    }

    @Test func versionSetPreferencesRouteAPromptKindToANamedModel() async throws {
        let big = ScriptedModel(defaultReply: ["From the big model."])
        let runner = InteractionRunner(models: LanguageModels(default: model, named: ["big": big]))
        let preferences = ["engage-user": LLMConfig(llmName: "big", params: ["temperature": 0.2])]
        let outcome = try await runner.run(Fixture.request(preferences: preferences), into: EventLog())
        #expect(outcome.agentMessage.message == "From the big model.")
        #expect(big.requests.map(\.kind) == [.engageUser])
        #expect(big.requests.first?.parameters == ["temperature": 0.2])
        #expect(model.requests.map(\.kind) == [.selectNextAction])
    }

    @Test func aStateThatSkipsActiveMemoryEmitsNoMemoryEvent() async throws {
        var graphs = Fixture.graphs
        var clinic = Fixture.clinic
        if case .action(var start) = clinic.states[0] {
            start.skipActiveMemoryRetrieval = true
            clinic.states[0] = .action(start)
        }
        graphs.graphs[Fixture.root] = clinic
        let log = EventLog()
        _ = try await runner.run(Fixture.request(graphs: graphs), into: log)
        #expect(!(await log.actionTypes).contains("check-if-active-memory-needed-completed"))
    }
}

extension StateTransitionLog.Detail {
    var type: String {
        switch self {
        case .action: "action"
        case .decision: "decision"
        case .recall: "recall"
        case .jumpback: "jumpback"
        case .annotation: "annotation"
        case .reflection: "reflection"
        case .toolCall: "tool-call"
        }
    }
}

@Suite struct OpeningTurnTests {
    @Test func theAgentsOpeningTurnNeverLeavesTheInitialState() async throws {
        let model = ScriptedModel()
        // Even a model that would pick the exit condition only sees the actions before anyone spoke.
        model.script(.selectNextAction, .choice(2))
        let runner = InteractionRunner(models: LanguageModels(default: model))
        let outcome = try await runner.run(Fixture.request(saying: nil), into: EventLog())
        #expect(outcome.position.state == "start")
        #expect(outcome.insights.currentStateAction == "Ask how to help")
        let asked = try #require(model.requests(of: .selectNextAction).first)
        #expect(!asked.messages[1].content.contains("Move on"))
    }
}

@Suite struct InterruptionTests {
    @Test(.timeLimit(.minutes(1))) func anInterruptedReplyKeepsOnlyWhatWasSent() async throws {
        let model = ScriptedModel()
        let gate = ScriptedModel.Gate()
        model.script(.engageUser, .held(gate, ["Hello", " there,", " friend."]))
        let runner = InteractionRunner(models: LanguageModels(default: model))
        let interruption = Interruption()
        let log = EventLog()
        let sent = AsyncStream<Void>.makeStream()
        async let outcome = runner.run(Fixture.request(), interruption: interruption) { event in
            await log.append(event)
            if case .newMessage(let piece) = event, !piece.message.isEmpty { sent.continuation.yield() }
        }
        await gate.waitUntilReached()
        for await _ in sent.stream { break }  // "Hello" has gone out
        interruption.interrupt()  // the reply stops at once: the model's held pieces never come
        let result = try await outcome
        gate.open()
        #expect(result.wasInterrupted)
        #expect(result.agentMessage.message == "Hello")
        let pieces = await log.events.compactMap { if case .newMessage(let piece) = $0 { piece.message } else { nil } }
        #expect(pieces == ["Hello", ""])
    }

    @Test func anInterruptionBeforeTheReplyMakesNoModelCallForIt() async throws {
        let model = ScriptedModel()
        let interruption = Interruption()
        interruption.interrupt()
        let runner = InteractionRunner(models: LanguageModels(default: model))
        let result = try await runner.run(Fixture.request(), interruption: interruption) { _ in }
        #expect(result.wasInterrupted)
        #expect(result.agentMessage.message.isEmpty)
        #expect(model.requests(of: .engageUser).isEmpty)
    }
}
