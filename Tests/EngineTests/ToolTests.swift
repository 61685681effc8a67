import AmigoWire
import Engine
import Foundation
import Testing
import EngineTesting

/// A weather desk: the agent may look the weather up while answering (helper tool), and a tool-call
/// state fetches the forecast before the agent reports it.
///
/// start ─(asks for a forecast)→ fetch [forecast tool] → report ─(done)→ done
enum ToolFixture {
    static let weatherID = String(repeating: "1", count: 24)
    static let forecastID = String(repeating: "2", count: 24)
    static let clockID = String(repeating: "3", count: 24)

    static func spec(
        _ id: String, _ persistence: ResultPersistence = .persisted, fillers: [String] = [], after: Double = 1
    ) -> ToolCallSpec {
        ToolCallSpec(
            toolID: id, versionConstraint: ">=1.0.0", additionalInstruction: "Use it for real data.",
            audioFillers: fillers, audioFillerTriggeredAfter: after, resultPersistence: persistence
        )
    }

    static func graphs(
        actionTools: [ToolCallSpec] = [spec(weatherID)], exitTools: [ToolCallSpec] = [], designatedHelpers: [ToolCallSpec] = []
    ) -> GraphSet {
        let graph = ContextGraphDefinition(
            description: "Weather desk",
            states: [
                .action(ActionState(
                    name: "start", objective: "Help with the weather", actions: ["Answer the question"],
                    exitConditions: [Fixture.exit("The user asks for a forecast", "fetch")],
                    actionToolCallSpecs: actionTools, exitConditionToolCallSpecs: exitTools
                )),
                .toolCall(ToolCallState(
                    name: "fetch", nextState: .internal("report"), designatedTool: spec(forecastID),
                    designatedToolCallParamsGenerationAudioFillerTriggeredAfter: 1,
                    designatedToolCallObjective: "The forecast for the city the user named",
                    designatedToolCallContext: "The user asked for a forecast",
                    designatedToolCallGuidances: ["Use the city's English name"],
                    designatedToolCallValidations: ["city is not empty"],
                    toolCallSpecs: designatedHelpers
                )),
                .action(ActionState(
                    name: "report", objective: "Report the forecast", actions: ["Tell the forecast"],
                    exitConditions: [Fixture.exit("The user is done", "done")]
                )),
                .action(ActionState(name: "done", objective: "Close", actions: ["Say goodbye"])),
            ],
            newUserInitialState: "start", returningUserInitialState: "start", terminalState: "done"
        )
        return GraphSet(root: Fixture.root, graphs: [Fixture.root: graph])
    }

    static func tools() -> ScriptedTools {
        let tools = ScriptedTools()
        tools.add(.example(id: weatherID, name: "weather"), output: "Sunny, 21 C")
        tools.add(.example(id: forecastID, name: "forecast", version: "1.4.0"), output: "Rain tomorrow")
        tools.add(.example(id: clockID, name: "clock"), output: "It is 10:00")
        return tools
    }
}

@Suite struct ToolTests {
    let model = ScriptedModel()
    let tools = ToolFixture.tools()
    var runner: InteractionRunner { InteractionRunner(models: LanguageModels(default: model), tools: tools, maxToolRounds: 2) }

    func request(_ graphs: GraphSet, saying text: String = "What's the weather in Paris?") -> InteractionRequest {
        var request = Fixture.request(graphs: graphs, saying: text)
        request.userID = "user-1"
        return request
    }

    @Test func theReplyUsesAHelperToolsResult() async throws {
        model.script(.selectNextAction, .choice(1))
        model.script(.engageUser, .call("weather", #"{"city": "Paris"}"#), .text(["It is sunny", " in Paris."]))
        let log = EventLog()
        let outcome = try await runner.run(request(ToolFixture.graphs()), into: log)

        #expect(outcome.agentMessage.message == "It is sunny in Paris.")
        let types = await log.actionTypes
        #expect(types.filter { $0.hasPrefix("tool-call") } == ["tool-call-started", "tool-call-ended"])
        let engage = model.requests(of: .engageUser)
        #expect(engage.count == 2)
        #expect(engage[0].tools.map(\.name) == ["weather"])
        #expect(engage[0].tools[0].description.contains("Use it for real data."))
        #expect(engage[1].messages.last == ChatMessage(role: .tool, content: "Sunny, 21 C", toolCallID: "call-1"))
        let logs = outcome.insights.engageUserToolCallLogs
        #expect(logs.count == 1)
        #expect(logs.first?.first?.toolName == "weather")
        #expect(logs.first?.first?.input == ["city": "Paris"])
        #expect(logs.first?.first?.output == "Sunny, 21 C")
        let invocation = try #require(tools.invocations.first)
        #expect(invocation.call.site == .engageUser(graph: Fixture.root, round: 0))
        #expect(invocation.call.userID == "user-1")
        #expect(invocation.call.interactionID == outcome.interactionID)
    }

    @Test func aToolCallStateGeneratesParametersRunsTheToolAndTheReplySeesItsOutput() async throws {
        model.script(.selectNextAction, .choice(2), .choice(1))
        model.script(.generateToolParams, .raw(#"{"city": "Paris"}"#))
        let log = EventLog()
        let outcome = try await runner.run(request(ToolFixture.graphs()), into: log)

        #expect(outcome.position.state == "report")
        let types = await log.actionTypes
        let toolSteps = types.filter { $0.contains("tool") || $0.hasSuffix("state-transitioned") }
        #expect(toolSteps == [
            "navigate-state-machine-state-transitioned",
            "designated-tool-retrieved",
            "designated-tool-call-params-generated",
            "tool-call-started",
            "tool-call-ended",
            "navigate-state-machine-tool-call-state-tool-output-available",
            "navigate-state-machine-state-transitioned",
        ])
        let events = await log.events
        let available = events.compactMap { event -> (String, String, [String: JSONValue])? in
            guard case .currentAgentAction(.toolOutputAvailable(let id, let version, let output, _, let input)) = event else { return nil }
            return (id + "@" + version, output, input)
        }
        #expect(available.first?.0 == ToolFixture.forecastID + "@1.4.0")
        #expect(available.first?.1 == "Rain tomorrow")
        #expect(available.first?.2 == ["city": "Paris"])

        guard case .toolCall(let helpers, let designated) = outcome.insights.stateTransitionLogs[1].detail else {
            Issue.record("the second transition should leave the tool-call state")
            return
        }
        #expect(helpers.isEmpty)
        #expect(designated.toolName == "forecast")
        #expect(designated.output == "Rain tomorrow")
        #expect(tools.invocations.first?.call.site == .toolCallState(graph: Fixture.root, state: "fetch"))

        let params = try #require(model.requests(of: .generateToolParams).first)
        let system = params.messages[0].content
        #expect(system.contains("The forecast for the city the user named"))
        #expect(system.contains("city is not empty"))
        // The designated tool's result is persisted: the reply's prompt shows it.
        let engage = try #require(model.requests(of: .engageUser).first)
        #expect(engage.messages[0].content.contains("Rain tomorrow"))
    }

    @Test func parametersMissingARequiredPropertyFailTheInteraction() async throws {
        model.script(.selectNextAction, .choice(2))
        model.script(.generateToolParams, .raw(#"{"town": "Paris"}"#))
        await #expect(throws: InteractionError.self) {
            try await runner.run(request(ToolFixture.graphs()), into: EventLog())
        }
        #expect(tools.invocations.isEmpty)
    }

    @Test func ephemeralResultsAreSeenOnlyByTheirOwnCallAndPersistedOnesLater() async throws {
        let graphs = ToolFixture.graphs(actionTools: [
            ToolFixture.spec(ToolFixture.weatherID, .ephemeral), ToolFixture.spec(ToolFixture.clockID, .persisted),
        ])
        model.script(.selectNextAction, .choice(1), .choice(1))
        model.script(
            .engageUser,
            .toolCalls([
                ToolCall(id: "a", name: "weather", arguments: #"{"city": "Paris"}"#),
                ToolCall(id: "b", name: "clock", arguments: #"{"city": "Paris"}"#),
            ]),
            .text(["Sunny at ten."]),
            .text(["Anything else?"])
        )
        let first = try await runner.run(request(graphs), into: EventLog())
        let logs = first.insights.engageUserToolCallLogs.joined()
        #expect(logs.map(\.output) == [nil, "It is 10:00"])
        let within = model.requests(of: .engageUser)[1].messages.filter { $0.role == .tool }.map(\.content)
        #expect(within == ["Sunny, 21 C", "It is 10:00"])

        // The next turn: the Server loads the persisted results of earlier interactions.
        var next = request(graphs, saying: "Thanks")
        next.context.toolResults = ToolResultNote.persisted(in: [first.insights])
        _ = try await runner.run(next, into: EventLog())
        let prompt = model.requests(of: .engageUser)[2].messages[0].content
        #expect(prompt.contains("It is 10:00"))
        #expect(!prompt.contains("Sunny, 21 C"))
    }

    @Test func aSlowHelperToolBringsExactlyOneFiller() async throws {
        let clock = ManualClock()
        let tools = ScriptedTools(clock: AnyClock(clock))
        tools.add(.example(id: ToolFixture.weatherID, name: "weather"), output: "Sunny", delay: .milliseconds(1_500))
        let graphs = ToolFixture.graphs(actionTools: [
            ToolFixture.spec(ToolFixture.weatherID, fillers: ["Let me check.", "One moment."], after: 0.1),
        ])
        model.script(.selectNextAction, .choice(1))
        model.script(.engageUser, .call("weather", #"{"city": "Paris"}"#), .text(["Sunny."]))
        let log = EventLog()
        let runner = InteractionRunner(models: LanguageModels(default: model), tools: tools, clock: AnyClock(clock))
        let request = request(graphs)
        let run = Task { try await runner.run(request, into: log) }
        await clock.sleepers(atLeast: 2)  // the filler's timer and the slow tool
        clock.advance(by: .milliseconds(1_500))
        _ = try await run.value

        let fillers = await log.events.compactMap { event -> (String, JSONValue)? in
            guard case .currentAgentAction(.actionTooLong(let filler, let started)) = event else { return nil }
            return (filler, started)
        }
        #expect(fillers.count == 1)
        #expect(["Let me check.", "One moment."].contains(fillers.first?.0 ?? ""))
        guard case .object(let started)? = fillers.first?.1 else {
            Issue.record("the filler should name the event that is taking long")
            return
        }
        #expect(started["type"] == "tool-call-started")
        // The filler comes between the tool call's start and end.
        let types = await log.actionTypes
        let start = try #require(types.firstIndex(of: "tool-call-started"))
        let filler = try #require(types.firstIndex(of: "action-too-long"))
        let end = try #require(types.firstIndex(of: "tool-call-ended"))
        #expect(start < filler && filler < end)
    }

    @Test func aFastToolBringsNoFiller() async throws {
        let graphs = ToolFixture.graphs(actionTools: [ToolFixture.spec(ToolFixture.weatherID, fillers: ["Let me check."], after: 5)])
        model.script(.selectNextAction, .choice(1))
        model.script(.engageUser, .call("weather", #"{"city": "Paris"}"#), .text(["Sunny."]))
        let log = EventLog()
        let clock = ManualClock()
        let runner = InteractionRunner(models: LanguageModels(default: model), tools: tools, maxToolRounds: 2, clock: AnyClock(clock))
        _ = try await runner.run(request(graphs), into: log)
        #expect(await !log.actionTypes.contains("action-too-long"))
        // The tool answered within its 5 s, and the filler's timer stopped with it.
        #expect(clock.sleeperCount == 0)
    }

    @Test func toolRoundsAreBoundedAndTheLastAnswerComesWithoutTools() async throws {
        model.script(.selectNextAction, .choice(1))
        model.script(
            .engageUser,
            .call("weather", #"{"city": "Paris"}"#, id: "1"), .call("weather", #"{"city": "Lyon"}"#, id: "2"),
            .text(["Done looking."])
        )
        let outcome = try await runner.run(request(ToolFixture.graphs()), into: EventLog())
        let engage = model.requests(of: .engageUser)
        #expect(engage.map(\.tools.count) == [1, 1, 0])
        #expect(outcome.insights.engageUserToolCallLogs.count == 2)
        #expect(outcome.agentMessage.message == "Done looking.")
    }

    @Test func aFailingToolIsAnErrorTheModelSeesNotAFailedInteraction() async throws {
        let tools = ScriptedTools()
        tools.add(.example(id: ToolFixture.weatherID, name: "weather")) { _ in
            ToolResult(output: "Error (ToolTimeout): the tool did not finish within 30 s", succeeded: false, duration: 30)
        }
        model.script(.selectNextAction, .choice(1))
        model.script(.engageUser, .call("weather", #"{"city": "Paris"}"#), .text(["Sorry, I cannot check now."]))
        let runner = InteractionRunner(models: LanguageModels(default: model), tools: tools)
        let outcome = try await runner.run(request(ToolFixture.graphs()), into: EventLog())
        #expect(outcome.agentMessage.message == "Sorry, I cannot check now.")
        #expect(model.requests(of: .engageUser)[1].messages.last?.content.contains("ToolTimeout") == true)
    }

    @Test func callsTheModelGotWrongAreAnsweredWithAnErrorAndRunNothing() async throws {
        model.script(.selectNextAction, .choice(1))
        model.script(
            .engageUser,
            .toolCalls([
                ToolCall(id: "x", name: "teleport", arguments: "{}"),
                ToolCall(id: "y", name: "weather", arguments: "Paris"),
            ]),
            .text(["Let me answer directly."])
        )
        _ = try await runner.run(request(ToolFixture.graphs()), into: EventLog())
        #expect(tools.invocations.isEmpty)
        let answers = model.requests(of: .engageUser)[1].messages.filter { $0.role == .tool }.map(\.content)
        #expect(answers.count == 2)
        #expect(answers[0].contains("no tool named `teleport`"))
        #expect(answers[1].contains("JSON object"))
    }

    @Test func exitConditionToolsRunWhileChoosingAndAreLoggedWithTheTransition() async throws {
        let graphs = ToolFixture.graphs(exitTools: [ToolFixture.spec(ToolFixture.clockID)])
        model.script(.selectNextAction, .call("clock", #"{"city": "Paris"}"#), .choice(2), .choice(1))
        model.script(.generateToolParams, .raw(#"{"city": "Paris"}"#))
        let outcome = try await runner.run(request(graphs), into: EventLog())

        #expect(outcome.insights.selectNextActionToolCallLogs.joined().map(\.toolName) == ["clock"])
        guard case .action(_, let logs) = outcome.insights.stateTransitionLogs[0].detail else {
            Issue.record("the first transition should leave the action state")
            return
        }
        #expect(logs.joined().map(\.output) == ["It is 10:00"])
        #expect(tools.invocations.first?.call.site == .stateTransition(
            graph: Fixture.root, state: "start", stateTransitionIndex: 1, round: 0
        ))
    }

    @Test func aToolWithoutAUsableVersionFailsTheInteraction() async throws {
        let graphs = ToolFixture.graphs(actionTools: [ToolFixture.spec(String(repeating: "9", count: 24))])
        model.script(.selectNextAction, .choice(1))
        let error = await #expect(throws: InteractionError.self) {
            try await runner.run(request(graphs), into: EventLog())
        }
        #expect(error?.kind == .toolUnusable)
    }

    @Test func anOverlongPersistedResultIsReplacedByAnError() async throws {
        let tools = ScriptedTools()
        tools.add(.example(id: ToolFixture.weatherID, name: "weather"), output: String(repeating: "x", count: 6_000))
        model.script(.selectNextAction, .choice(1))
        model.script(.engageUser, .call("weather", #"{"city": "Paris"}"#), .text(["Hm."]))
        let runner = InteractionRunner(models: LanguageModels(default: model), tools: tools)
        let outcome = try await runner.run(request(ToolFixture.graphs()), into: EventLog())
        let output = outcome.insights.engageUserToolCallLogs.joined().first?.output ?? ""
        #expect(output.hasPrefix("Error: the tool's result has 6000 characters"))
    }
}
