import AmigoWire
import CompadreClient
import Testing

@Suite("Event rendering")
struct EventRendererTests {
    static let graph = VersionInfo(id: "g", version: 1)
    static let dim = "\u{1B}[2m"
    static let red = "\u{1B}[31m"
    static let reset = "\u{1B}[0m"

    func piece(_ text: String, _ sequence: Int = 0) -> ConversationEvent {
        .newMessage(NewMessage(message: text, stop: false, sequenceNumber: sequence, messageID: "m"))
    }

    func complete(_ text: String, completed: Bool = false) -> ConversationEvent {
        .interactionComplete(InteractionComplete(messageID: "m", interactionID: "i", fullMessage: text, conversationCompleted: completed))
    }

    func render(_ events: [ConversationEvent], color: Bool = false) -> String {
        var renderer = EventRenderer(style: TerminalStyle(color: color))
        return events.map { renderer.render($0) }.joined()
    }

    @Test func theReplyStreamsOnOneLineThatEndsWithTheInteraction() {
        var renderer = EventRenderer(style: TerminalStyle(color: false))
        #expect(renderer.render(.userMessageAvailable(messageID: "u", userMessage: "hi")) == "")
        #expect(renderer.render(piece("Hel")) == "Hel")
        #expect(renderer.render(piece("lo!", 1)) == "lo!")
        #expect(renderer.render(complete("Hello!")) == "\n")
    }

    @Test func actionsAreDimmedOnePerLine() {
        let output = render([
            .currentAgentAction(.stateTransitioned(previousState: "greet", previousGraph: Self.graph, nextState: "triage", nextGraph: Self.graph)),
            .currentAgentAction(.decisionStarted),
            .currentAgentAction(.messageFragmentGenerated(index: 0, fragment: "Hi", isFinal: true)),
        ], color: true)
        #expect(output == """
            \(Self.dim)→ state transition: greet → triage\(Self.reset)
            \(Self.dim)· action: navigate-state-machine-decision-state-decision-started\(Self.reset)

            """)
    }

    @Test func anActionInTheMiddleOfTheReplyGetsALineOfItsOwn() {
        let output = render([
            piece("Let me check"),
            .currentAgentAction(.toolCallStarted(roundIndex: 0, toolID: "lookup", toolVersion: "1", inputParams: [:])),
            piece("Found it."),
            complete("Let me check Found it."),
        ])
        #expect(output == "Let me check\n· action: tool-call-started\nFound it.\n")
    }

    @Test func dynamicBehaviorSelectionThatSelectedNothingIsHiddenUnlessAsked() {
        let events: [ConversationEvent] = [
            .currentAgentAction(.selectDynamicBehaviorVectorGenerated),
            .currentAgentAction(.selectDynamicBehaviorRelevanceRetrievalCompleted),
            .currentAgentAction(.selectDynamicBehaviorCompleted(selected: nil, previous: nil)),
        ]
        #expect(render(events) == "")
        var verbose = EventRenderer(style: TerminalStyle(color: false), showsEveryAction: true)
        #expect(events.map { verbose.render($0) }.joined().split(separator: "\n").count == 3)
        let selected = ConversationEvent.currentAgentAction(.selectDynamicBehaviorCompleted(selected: Self.graph, previous: nil))
        #expect(render([selected]) == "· action: select-dynamic-behavior-completed\n")
    }

    @Test func errorsAreRed() {
        #expect(render([.error(httpErrorCode: 503, errorDescription: "model down")], color: true)
            == "\(Self.red)✗ error 503: model down\(Self.reset)\n")
        #expect(render([piece("Hal"), .error(httpErrorCode: 500, errorDescription: "boom")])
            == "Hal\n✗ error 500: boom\n")
    }

    @Test func aReplyThatCameOnlyWithTheCompletionIsWrittenWhole() {
        #expect(render([complete("Welcome back.")]) == "Welcome back.\n")
    }

    @Test func theEndOfTheConversationIsNoted() {
        #expect(render([piece("Bye."), complete("Bye.", completed: true)]) == "Bye.\n· the agent finished the conversation\n")
    }

    @Test func withoutColorThereAreNoEscapeCodes() {
        let output = render([
            .conversationCreated(conversationID: "c1"),
            .currentAgentAction(.decisionStarted),
            .error(httpErrorCode: 500, errorDescription: "x"),
        ])
        #expect(!output.contains("\u{1B}"))
        #expect(output == "· conversation c1\n· action: navigate-state-machine-decision-state-decision-started\n✗ error 500: x\n")
    }

    @Test func insightsAreCompact() {
        let log = StateTransitionLog(previousState: "greet", previousGraph: Self.graph, nextState: "triage", nextGraph: Self.graph, detail: .jumpback)
        var renderer = EventRenderer(style: TerminalStyle(color: false))
        let insights = InteractionInsights(
            currentStateName: "triage", currentStateAction: "ask what hurts", currentStateObjective: "find the problem",
            stateTransitionLogs: [log], reflections: ["the user is worried"])
        #expect(renderer.render(insights) == """
            state: triage (ask what hurts)
            objective: find the problem
            transitions: greet → triage
            reflection: the user is worried

            """)
    }

    @Test(arguments: [
        ([String: String](), true, true),
        ([:], false, false),
        (["NO_COLOR": "1"], true, false),
        (["NO_COLOR": ""], true, true),
        (["TERM": "dumb"], true, false),
        (["TERM": "xterm-256color"], true, true),
    ])
    func colorOnlyOnATerminalWithoutNoColor(environment: [String: String], isTerminal: Bool, color: Bool) {
        #expect(TerminalStyle(environment: environment, isTerminal: isTerminal).color == color)
    }
}
