import AmigoWire
import Engine
import Foundation

/// A clinic graph that uses every passthrough state and a reference into a billing graph.
///
/// start ─(wants to book)→ triage ─(urgent)→ note → think → remember → book ─(booked)→ done
///                                └(billing)→ billing.intake ─(got it)→ billing.finish ⟶ jumpback → wrap ─→ done
enum Fixture {
    static let root = VersionInfo(id: String(repeating: "a", count: 24), version: 1)
    static let billing = VersionInfo(id: String(repeating: "b", count: 24), version: 2)

    static func exit(_ description: String, _ next: String) -> ExitCondition {
        ExitCondition(description: description, nextState: .internal(next))
    }

    static var clinic: ContextGraphDefinition {
        ContextGraphDefinition(
            description: "Clinic intake",
            states: [
                .action(ActionState(
                    name: "start", objective: "Welcome the patient",
                    actions: ["Greet the patient", "Ask how to help"],
                    intraStateNavigationGuidelines: ["Move on once the patient states a need"],
                    actionGuidelines: ["Be warm"],
                    exitConditions: [exit("The patient wants to book a visit", "triage")]
                )),
                .decision(DecisionState(
                    name: "triage", objective: "Route the patient",
                    exitConditions: [
                        exit("The need is urgent", "note"),
                        ExitCondition(
                            description: "The patient asks about a bill",
                            nextState: .external(externalState: "billing.intake", jumpback: "wrap")
                        ),
                    ],
                    audioFillerTriggeredAfter: 2
                )),
                .annotation(AnnotationState(name: "note", innerThought: "Urgent case: keep it short.", nextState: .internal("think"))),
                .reflection(ReflectionState(
                    name: "think", problem: "What does the patient need most?", wordLimit: 5,
                    nextState: .internal("remember"), audioFillerTriggeredAfter: 2
                )),
                .recall(RecallState(name: "remember", queries: ["Which clinic does the patient use?"], nextState: .internal("book"))),
                .action(ActionState(
                    name: "book", objective: "Book the visit", actions: ["Offer the next free time"],
                    exitConditions: [exit("The visit is booked", "done")]
                )),
                .action(ActionState(
                    name: "wrap", objective: "Wrap up", actions: ["Summarize"],
                    exitConditions: [exit("The patient is done", "done")]
                )),
                .action(ActionState(name: "done", objective: "Close", actions: ["Say goodbye"])),
            ],
            newUserInitialState: "start",
            returningUserInitialState: "wrap",
            terminalState: "done",
            references: ["billing": ReferenceTarget(graphID: billing.id, version: billing.version)],
            globalActionGuidelines: ["Never give medical advice"],
            globalBoundaryConstraints: ["Do not discuss prices"]
        )
    }

    static var billingGraph: ContextGraphDefinition {
        ContextGraphDefinition(
            description: "Billing questions",
            states: [
                .action(ActionState(
                    name: "intake", objective: "Understand the bill question", actions: ["Ask for the invoice number"],
                    exitConditions: [exit("The patient gave the invoice number", "finish")]
                )),
                .action(ActionState(name: "finish", objective: "Done with billing", actions: ["Thank the patient"])),
            ],
            newUserInitialState: "intake", returningUserInitialState: "intake", terminalState: "finish"
        )
    }

    static var graphs: GraphSet {
        GraphSet(root: root, graphs: [root: clinic, billing: billingGraph])
    }

    /// Two annotation states that point at each other: a graph that never reaches an action.
    static var runaway: GraphSet {
        let graph = ContextGraphDefinition(
            description: "Loops",
            states: [
                .action(ActionState(name: "start", objective: "Start", actions: ["Talk"], exitConditions: [exit("Always", "ping")])),
                .annotation(AnnotationState(name: "ping", innerThought: "ping", nextState: .internal("pong"))),
                .annotation(AnnotationState(name: "pong", innerThought: "pong", nextState: .internal("ping"))),
                .action(ActionState(name: "done", objective: "End", actions: ["Bye"])),
            ],
            newUserInitialState: "start", returningUserInitialState: "start", terminalState: "done"
        )
        return GraphSet(root: root, graphs: [root: graph])
    }

    static let persona = Persona(
        name: "Ada", role: "clinic assistant", developedBy: "Compadre Clinic",
        background: "Ada has helped patients book visits for years.",
        behaviors: ["Ask one question at a time"], communicationPatterns: ["Short sentences"]
    )

    static func message(_ type: MessageType, _ text: String, interaction: String = "0123456789abcdef01234567") -> MessageInstance {
        MessageInstance(
            id: ObjectID.generate(), interactionID: interaction, createdAt: Date(timeIntervalSince1970: 1_800_000_000),
            sender: type == .userMessage ? "user" : "agent", message: text, format: .text, messageType: type
        )
    }

    static func request(
        graphs: GraphSet = Fixture.graphs,
        at position: GraphPosition? = nil,
        saying text: String? = "I would like to book a visit",
        additionalContext: [String] = ["Prefers mornings"],
        facts: [String] = [],
        preferences: [String: LLMConfig] = [:]
    ) -> InteractionRequest {
        let interactionID = ObjectID.generate()
        let userMessage = text.map { message(.userMessage, $0, interaction: interactionID) }
        return InteractionRequest(
            conversationID: ObjectID.generate(),
            interactionID: interactionID,
            graphs: graphs,
            position: position ?? GraphPosition.initial(in: graphs, returningUser: false),
            context: PromptContext(
                persona: persona,
                user: UserProfile(name: "Grace", additionalContext: additionalContext),
                history: userMessage.map { [$0] } ?? []
            ),
            userMessage: userMessage,
            memoryFacts: facts,
            modelPreferences: preferences
        )
    }
}

/// Collects the events of a run.
actor EventLog {
    var events: [ConversationEvent] = []
    func append(_ event: ConversationEvent) { events.append(event) }

    var actionTypes: [String] {
        events.compactMap { if case .currentAgentAction(let action) = $0 { action.type } else { nil } }
    }
}

extension InteractionRunner {
    func run(_ request: InteractionRequest, into log: EventLog) async throws -> InteractionOutcome {
        try await run(request) { event in await log.append(event) }
    }
}
