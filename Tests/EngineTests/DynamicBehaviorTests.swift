import AmigoWire
import Engine
import Foundation
import Testing
import EngineTesting

/// Selection and application of dynamic behaviors in one interaction, with a scripted model and the
/// deterministic word embedder.
@Suite struct DynamicBehaviorTests {
    let model = ScriptedModel()
    let embedder = WordEmbedder()
    let tools = ToolFixture.tools()
    var runner: InteractionRunner { InteractionRunner(models: LanguageModels(default: model), tools: tools, maxToolRounds: 2) }

    static let coughID = VersionInfo(id: String(repeating: "c", count: 24), version: 3)
    static let billingID = VersionInfo(id: String(repeating: "d", count: 24), version: 1)

    func behavior(
        _ info: VersionInfo, triggers: [String], actions: [DynamicBehaviorAction]
    ) -> DynamicBehavior {
        DynamicBehavior(info: info, triggers: triggers, actions: actions, triggerVectors: triggers.map(embedder.vector))
    }

    func cough(overrides: Bool = false) -> DynamicBehavior {
        behavior(Self.coughID, triggers: ["The patient mentions a cough"], actions: [
            .injectInstruction(instruction: "Ask how long the cough has lasted.", overrides: overrides),
        ])
    }

    var billing: DynamicBehavior {
        behavior(Self.billingID, triggers: ["Questions about an invoice or payment"], actions: [
            .injectInstruction(instruction: "Mention the billing desk.", overrides: false),
        ])
    }

    func request(saying text: String, behaviors: [DynamicBehavior], previous: VersionInfo? = nil) -> InteractionRequest {
        var request = Fixture.request(saying: text)
        request.behaviors = BehaviorSelection(candidates: behaviors, previous: previous, embedder: embedder)
        return request
    }

    func selection(_ log: EventLog) async -> (selected: VersionInfo?, previous: VersionInfo?)? {
        for event in await log.events {
            if case .currentAgentAction(.selectDynamicBehaviorCompleted(let selected, let previous)) = event { return (selected, previous) }
        }
        return nil
    }

    @Test func aMatchingBehaviorIsSelectedAndItsInstructionJoinsTheReplyPrompt() async throws {
        model.script(.selectDynamicBehavior, .choice(1))
        model.script(.selectNextAction, .choice(1))
        let log = EventLog()
        let outcome = try await runner.run(request(saying: "My cough is bad", behaviors: [cough(), billing]), into: log)

        #expect(await selection(log)?.selected == Self.coughID)
        let types = await log.actionTypes
        #expect(types.contains("dynamic-behavior-triggered"))
        #expect(types.contains("engage-user-dynamic-behavior-override"))
        #expect(outcome.insights.triggeredDynamicBehaviorSetVersionInfo == Self.coughID)
        #expect(outcome.selectedBehavior == Self.coughID)
        // Only the cough behavior was retrieved: the selector saw one option and "none".
        let selector = try #require(model.requests(of: .selectDynamicBehavior).first)
        let question = selector.messages.last?.content ?? ""
        #expect(question.contains("cough"))
        #expect(question.contains("invoice") == false, "\(question)")
        let system = model.requests(of: .engageUser).first?.messages.first?.content ?? ""
        #expect(system.contains("Ask how long the cough has lasted."))
        #expect(system.contains("Greet the patient"))
    }

    @Test func anOverridingInstructionReplacesTheStatesAction() async throws {
        model.script(.selectDynamicBehavior, .choice(1))
        model.script(.selectNextAction, .choice(1))
        let outcome = try await runner.run(request(saying: "My cough is worse", behaviors: [cough(overrides: true)]), into: EventLog())
        #expect(outcome.selectedBehavior == Self.coughID)
        let system = model.requests(of: .engageUser).first?.messages.first?.content ?? ""
        #expect(system.contains("What to do in this reply: Ask how long the cough has lasted."))
        #expect(!system.contains("Greet the patient"))
    }

    @Test func theNavigationPromptCarriesTheInstructionAndSaysSo() async throws {
        model.script(.selectDynamicBehavior, .choice(1))
        model.script(.selectNextAction, .choice(1))
        let log = EventLog()
        _ = try await runner.run(request(saying: "A cough keeps me up", behaviors: [cough()]), into: log)
        let navigation = model.requests(of: .selectNextAction).first?.messages.first?.content ?? ""
        #expect(navigation.contains("Ask how long the cough has lasted."))
        #expect(navigation.contains("Move on once the patient states a need"))
        #expect(await log.actionTypes.filter { $0 == "navigate-state-machine-dynamic-behavior-override" }.count == 1)
    }

    @Test func aToolCandidateBehaviorMakesItsToolCallableInTheReply() async throws {
        let clock = behavior(VersionInfo(id: String(repeating: "e", count: 24), version: 1), triggers: ["Asks what time it is"], actions: [
            .changeToolCandidates(specs: [DynamicBehaviorToolCallSpec(spec: ToolFixture.spec(ToolFixture.clockID), toolName: "clock")], overrides: false),
        ])
        model.script(.selectDynamicBehavior, .choice(1))
        model.script(.selectNextAction, .choice(1))
        model.script(.engageUser, .call("clock", "{}"), .text(["It is ten."]))
        var request = Fixture.request(graphs: ToolFixture.graphs(), saying: "What time is it?")
        request.behaviors = BehaviorSelection(candidates: [clock], embedder: embedder)
        let outcome = try await runner.run(request, into: EventLog())
        #expect(model.requests(of: .engageUser).first?.tools.map(\.name) == ["weather", "clock"])
        #expect(outcome.insights.engageUserToolCallLogs.first?.first?.toolName == "clock")
        #expect(outcome.agentMessage.message == "It is ten.")
    }

    @Test func aBehaviorWhoseTriggersShareNothingIsNotRetrievedAndTheModelIsNotAsked() async throws {
        model.script(.selectNextAction, .choice(1))
        let log = EventLog()
        let outcome = try await runner.run(request(saying: "I would like to book a visit", behaviors: [billing], previous: Self.coughID), into: log)
        #expect(await selection(log)?.selected == nil)
        #expect(await selection(log)?.previous == Self.coughID)
        #expect(model.requests(of: .selectDynamicBehavior).isEmpty)
        #expect(outcome.selectedBehavior == nil)
        #expect(!(await log.actionTypes).contains("dynamic-behavior-triggered"))
        #expect(embedder.calls.count == 1)
    }

    @Test func theModelMayChooseNoneOfTheRetrievedBehaviors() async throws {
        model.script(.selectDynamicBehavior, .choice(2))
        model.script(.selectNextAction, .choice(1))
        let outcome = try await runner.run(request(saying: "I have a cough", behaviors: [cough()]), into: EventLog())
        #expect(outcome.selectedBehavior == nil)
        #expect(outcome.insights.triggeredDynamicBehaviorSetVersionInfo == nil)
        let system = model.requests(of: .engageUser).first?.messages.first?.content ?? ""
        #expect(system.contains("Greet the patient"))
        #expect(system.contains("cough has lasted") == false)
    }

    @Test func withoutCandidatesNothingIsEmbeddedAndAFailingEmbedderSelectsNothing() async throws {
        model.script(.selectNextAction, .choice(1))
        _ = try await runner.run(request(saying: "I have a cough", behaviors: []), into: EventLog())
        #expect(embedder.calls.isEmpty)

        embedder.fail()
        model.script(.selectNextAction, .choice(1))
        let log = EventLog()
        let outcome = try await runner.run(request(saying: "I have a cough", behaviors: [cough()]), into: log)
        #expect(outcome.selectedBehavior == nil)
        #expect(await log.actionTypes.prefix(3) == [
            "select-dynamic-behavior-vector-generated", "select-dynamic-behavior-relevance-retrieval-completed", "select-dynamic-behavior-completed",
        ])
    }
}
