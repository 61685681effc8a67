import AmigoWire
import Foundation
import Testing

// MARK: - Streamed events

@Suite struct ConversationEventWireTests {
    @Test(arguments: ConversationGolden.events)
    func everyEventEncodesToItsGoldenJSON(_ sample: WireSample<ConversationEvent>) throws {
        #expect(try json(encoding: sample.value) == json(sample.json))
    }

    @Test(arguments: ConversationGolden.events)
    func everyEventDecodesFromItsGoldenJSON(_ sample: WireSample<ConversationEvent>) throws {
        let decoded = try WireCoding.decoder().decode(ConversationEvent.self, from: Data(sample.json.utf8))
        #expect(decoded == sample.value)
        #expect(decoded.type == sample.type)
    }

    @Test(arguments: ConversationGolden.actions)
    func everyAgentActionEncodesToItsGoldenJSON(_ sample: WireSample<AgentAction>) throws {
        #expect(try json(encoding: sample.value) == json(sample.json))
        #expect(sample.value.type == sample.type)
    }

    @Test(arguments: ConversationGolden.actions)
    func everyAgentActionRoundTripsInsideACurrentAgentActionEvent(_ sample: WireSample<AgentAction>) throws {
        let event = ConversationEvent.currentAgentAction(sample.value)
        let encoded = try WireCoding.encoder().encode(event)
        #expect(try WireCoding.decoder().decode(ConversationEvent.self, from: encoded) == event)
        #expect(try json(encoded) == json(#"{"type": "current-agent-action", "action": \#(sample.json)}"#))
    }

    @Test func theGoldenActionsCoverEveryActionTypeOfTheAPI() {
        #expect(Set(ConversationGolden.actions.map(\.type)) == ConversationGolden.allActionTypes)
        #expect(ConversationGolden.actions.count == ConversationGolden.allActionTypes.count)
    }

    @Test func aTextMessageSendsItsMissingAlignmentAsNull() throws {
        let event = ConversationEvent.newMessage(NewMessage(message: "Hi", stop: true, sequenceNumber: 3, messageID: "m"))
        let text = String(decoding: try WireCoding.encoder().encode(event), as: UTF8.self)
        #expect(text.contains(#""transcript_alignment":null"#))
    }

    @Test func newMessageAndInteractionCompleteEncodeAsWholeEventsOnTheirOwn() throws {
        let message = NewMessage(message: "Hi", stop: false, sequenceNumber: 0, messageID: "m")
        #expect(try json(encoding: message) == json(encoding: ConversationEvent.newMessage(message)))
        #expect(try WireCoding.decoder().decode(NewMessage.self, from: WireCoding.encoder().encode(message)) == message)
        let complete = InteractionComplete(messageID: "m", interactionID: "i", fullMessage: "Hi", conversationCompleted: true)
        #expect(try json(encoding: complete) == json(encoding: ConversationEvent.interactionComplete(complete)))
        #expect(try WireCoding.decoder().decode(InteractionComplete.self, from: WireCoding.encoder().encode(complete)) == complete)
    }

    @Test func anUnknownEventTypeIsADecodingError() {
        #expect(throws: DecodingError.self) {
            try WireCoding.decoder().decode(ConversationEvent.self, from: Data(#"{"type": "mystery"}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try WireCoding.decoder().decode(AgentAction.self, from: Data(#"{"type": "mystery"}"#.utf8))
        }
    }

    @Test func actionTooLongKeepsAnArbitraryPreviousEvent() throws {
        let action = AgentAction.actionTooLong(filler: "One moment", previouslyStartedEvent: .null)
        #expect(try json(encoding: action) == json(#"{"type": "action-too-long", "filler": "One moment", "previously_started_event": null}"#))
        #expect(try WireCoding.decoder().decode(AgentAction.self, from: WireCoding.encoder().encode(action)) == action)
        #expect(throws: DecodingError.self) {
            try WireCoding.decoder().decode(AgentAction.self, from: Data(#"{"type": "action-too-long", "filler": "x"}"#.utf8))
        }
    }

    @Test func versionInfoIsATwoElementArray() throws {
        #expect(try json(encoding: VersionInfo(id: "abc", version: 2)) == json(#"["abc", 2]"#))
        #expect(throws: DecodingError.self) { try WireCoding.decoder().decode(VersionInfo.self, from: Data(#"["abc", 2, 3]"#.utf8)) }
        #expect(throws: DecodingError.self) { try WireCoding.decoder().decode(VersionInfo.self, from: Data(#"["abc"]"#.utf8)) }
    }
}

// MARK: - Insights

@Suite struct InteractionInsightsWireTests {
    @Test(arguments: ConversationGolden.transitions)
    func everyStateTransitionLogEncodesToItsGoldenJSON(_ sample: WireSample<StateTransitionLog>) throws {
        #expect(try json(encoding: sample.value) == json(sample.json))
        #expect(sample.value.detail.type == sample.type)
    }

    @Test(arguments: ConversationGolden.transitions)
    func everyStateTransitionLogDecodesFromItsGoldenJSON(_ sample: WireSample<StateTransitionLog>) throws {
        #expect(try WireCoding.decoder().decode(StateTransitionLog.self, from: Data(sample.json.utf8)) == sample.value)
    }

    @Test func theGoldenTransitionsCoverEveryStateType() {
        #expect(ConversationGolden.transitions.map(\.type) == ["action", "decision", "recall", "jumpback", "annotation", "reflection", "tool-call"])
    }

    @Test func insightsSendEveryFieldWithExplicitNulls() throws {
        let insights = InteractionInsights(
            currentStateName: "greet", currentStateAction: "Say hello", currentStateObjective: "Welcome the user",
            stateTransitionLogs: [ConversationGolden.transitions[3].value],
            workingMemory: [WorkingMemory(content: "Likes tea", context: "asked about drinks")],
            reflections: ["The user is in a hurry"],
            selectNextActionToolCallLogs: [[ConversationGolden.toolCallLog]])
        #expect(try json(encoding: insights) == json(ConversationGolden.insightsJSON))
        #expect(try WireCoding.decoder().decode(InteractionInsights.self, from: Data(ConversationGolden.insightsJSON.utf8)) == insights)

        var triggered = insights
        triggered.triggeredDynamicBehaviorSetVersionInfo = VersionInfo(id: "dbs", version: 4)
        #expect(try WireCoding.decoder().decode(InteractionInsights.self, from: WireCoding.encoder().encode(triggered)) == triggered)
    }
}

// MARK: - Conversations and messages

@Suite struct ConversationInstanceWireTests {
    @Test func aConversationUsesTheAPIFieldNamesWithExplicitNulls() throws {
        let conversation = ConversationGolden.conversation
        #expect(try json(encoding: conversation) == json(ConversationGolden.conversationJSON))
        #expect(try WireCoding.decoder().decode(ConversationInstance.self, from: Data(ConversationGolden.conversationJSON.utf8)) == conversation)
    }

    @Test func aConversationWithAVersionSetRoundTrips() throws {
        var conversation = ConversationGolden.conversation
        conversation.versionSetInfo = VersionSetInfo(
            name: "release", agentVersionInfo: VersionInfo(id: "agent", version: 3),
            serviceHierarchicalStateMachineVersionInfo: VersionInfo(id: "graph", version: 7),
            llmModelPreferences: ["engage_user": LLMConfig(llmName: "scripted", params: ["temperature": .number(0.5)])])
        let encoded = try WireCoding.encoder().encode(conversation)
        #expect(try WireCoding.decoder().decode(ConversationInstance.self, from: encoded) == conversation)
        guard case .object(let fields) = try json(encoded), case .object(let info) = fields["version_set_info"] else {
            Issue.record("version_set_info should be an object")
            return
        }
        #expect(info["agent_version_info"] == .array([.string("agent"), .number(3)]))
        #expect(info["service_hierarchical_state_machine_version_info"] == .array([.string("graph"), .number(7)]))
    }

    @Test func aMessageUsesTheAPIFieldNames() throws {
        #expect(try json(encoding: ConversationGolden.message) == json(ConversationGolden.messageJSON))
        #expect(try WireCoding.decoder().decode(MessageInstance.self, from: Data(ConversationGolden.messageJSON.utf8)) == ConversationGolden.message)
        #expect(MessageType.allCases.map(\.rawValue) == ["user-message", "agent-message", "agent-inner-thought", "external-event"])
    }

    @Test func startersAndRecommendationsUseTheAPIFieldNames() throws {
        let starters = ConversationStarterResponse(prompts: [ConversationStarter(prompt: "How do I sleep better?", facets: ["sleep"])])
        #expect(try json(encoding: starters) == json(#"{"prompts": [{"prompt": "How do I sleep better?", "facets": ["sleep"]}]}"#))
        let recommended = RecommendResponsesResponse(recommendedResponses: ["Yes", "No"])
        #expect(try json(encoding: recommended) == json(#"{"recommended_responses": ["Yes", "No"]}"#))
    }
}

// MARK: - Request validation

@Suite struct ConversationRequestValidationTests {
    static let serviceID = "0123456789abcdef01234567"

    @Test func aMinimalCreateRequestGetsTheDefaults() throws {
        let request = try decode(CreateConversationRequest.self, #"{"service_id": "\#(Self.serviceID)"}"#)
        #expect(request.serviceVersionSetName == "release")
        #expect(request.initialMessage == nil)
        #expect(request.initialMessageType == nil)
        #expect(request.tags.isEmpty)
        #expect(request.isTest == false)
        #expect(issues(of: request).isEmpty)
    }

    @Test func aFullCreateRequestIsStrippedAndValid() throws {
        let request = try decode(CreateConversationRequest.self, #"""
            {"service_id": "\#(Self.serviceID)", "service_version_set_name": "edge", "initial_message": "  Hello  ",
             "initial_message_type": "external-event", "tags": {" topic ": "  sleep-tips ", "vip": null}, "is_test": true}
            """#)
        #expect(request.serviceVersionSetName == "edge")
        #expect(request.initialMessage == "Hello")
        #expect(request.initialMessageType == .externalEvent)
        #expect(request.tags == ["topic": "sleep-tips", "vip": nil] as [String: String?])
        #expect(request.isTest)
        #expect(issues(of: request).isEmpty)
    }

    @Test(arguments: [
        RuleCase("service id is not an object id", #"{"service_id": "nope"}"#, [(["body", "service_id"], "string_pattern_mismatch")]),
        RuleCase("service id is missing", #"{}"#, [(["body", "service_id"], "missing")]),
        RuleCase("initial message is blank", #"{"service_id": "\#(serviceID)", "initial_message": "  \n "}"#, [(["body", "initial_message"], "string_too_short")]),
        RuleCase("initial message type is skip", #"{"service_id": "\#(serviceID)", "initial_message": "hi", "initial_message_type": "skip"}"#,
                 [(["body", "initial_message_type"], "literal_error")]),
        RuleCase("initial message type is unknown", #"{"service_id": "\#(serviceID)", "initial_message": "hi", "initial_message_type": "shout"}"#,
                 [(["body", "initial_message_type"], "value_error")]),
        RuleCase("initial message type comes without a message", #"{"service_id": "\#(serviceID)", "initial_message_type": "user-message"}"#,
                 [(["body"], "value_error")]),
        RuleCase("more than 20 tags", #"{"service_id": "\#(serviceID)", "tags": {\#((0...20).map { "\"t\($0)\": null" }.joined(separator: ", "))}}"#,
                 [(["body", "tags"], "too_long")]),
        RuleCase("a tag key has punctuation", #"{"service_id": "\#(serviceID)", "tags": {"a-b": "x"}}"#, [(["body", "tags", "a-b", "[key]"], "string_pattern_mismatch")]),
        RuleCase("a tag key is blank", #"{"service_id": "\#(serviceID)", "tags": {"  ": "x"}}"#, [(["body", "tags", "", "[key]"], "string_too_short")]),
        RuleCase("a tag value is blank", #"{"service_id": "\#(serviceID)", "tags": {"k": "   "}}"#, [(["body", "tags", "k"], "string_too_short")]),
        RuleCase("a tag value is too long", #"{"service_id": "\#(serviceID)", "tags": {"k": "\#(String(repeating: "v", count: 101))"}}"#,
                 [(["body", "tags", "k"], "string_too_long")]),
        RuleCase("several fields are wrong", #"{"service_id": "x", "initial_message": " ", "tags": {"k!": " "}}"#, [
            (["body", "service_id"], "string_pattern_mismatch"), (["body", "initial_message"], "string_too_short"),
            (["body", "tags", "k!", "[key]"], "string_pattern_mismatch"), (["body", "tags", "k!"], "string_too_short"),
        ]),
    ])
    func createRequestRules(_ rule: RuleCase) throws {
        #expect(issues(CreateConversationRequest.self, rule.body).map(IssueKey.init) == rule.expected)
    }

    @Test func aTagValueOfExactly100CharactersIsAccepted() throws {
        let request = try decode(CreateConversationRequest.self, #"{"service_id": "\#(Self.serviceID)", "tags": {"k": "\#(String(repeating: "-", count: 100))"}}"#)
        #expect(issues(of: request).isEmpty)
    }

    @Test func anEmptyTagUpdateIsValid() throws {
        let request = try decode(ModifyConversationTagsRequest.self, "{}")
        #expect(request.updates.isEmpty && request.deletes.isEmpty)
        #expect(issues(of: request).isEmpty)
    }

    @Test func tagUpdatesAreStrippedAndDeletesDeduplicated() throws {
        let request = try decode(ModifyConversationTagsRequest.self, #"{"updates": {" mood ": " calm ", "vip": null}, "deletes": ["a", " b ", "a", "b"]}"#)
        #expect(request.updates == ["mood": "calm", "vip": nil] as [String: String?])
        #expect(request.deletes == ["a", "b"])
        #expect(issues(of: request).isEmpty)
    }

    @Test(arguments: [
        RuleCase("more than 20 updates", #"{"updates": {\#((0...20).map { "\"t\($0)\": \"v\"" }.joined(separator: ", "))}}"#, [(["body", "updates"], "too_long")]),
        RuleCase("an update key has punctuation", #"{"updates": {"a.b": "v"}}"#, [(["body", "updates", "a.b", "[key]"], "string_pattern_mismatch")]),
        RuleCase("an update value has punctuation", #"{"updates": {"k": "v!"}}"#, [(["body", "updates", "k"], "string_pattern_mismatch")]),
        RuleCase("an update value is blank", #"{"updates": {"k": " "}}"#, [(["body", "updates", "k"], "string_too_short")]),
        RuleCase("a delete is blank", #"{"deletes": ["x", "  "]}"#, [(["body", "deletes", 1], "string_too_short")]),
    ])
    func modifyTagsRules(_ rule: RuleCase) throws {
        #expect(issues(ModifyConversationTagsRequest.self, rule.body).map(IssueKey.init) == rule.expected)
    }

    @Test func aStarterRequestGetsTheReleaseVersionSetAndIsStripped() throws {
        let request = try decode(ConversationStarterRequest.self, #"""
            {"service_id": "\#(Self.serviceID)", "facets": [" sleep "], "min_count": 1, "max_count": 10, "generation_instructions": " Be brief "}
            """#)
        #expect(request.serviceVersionSetName == "release")
        #expect(request.facets == ["sleep"])
        #expect(request.generationInstructions == "Be brief")
        #expect(issues(of: request).isEmpty)
    }

    @Test(arguments: [
        RuleCase("no facets", starter(facets: "[]"), [(["body", "facets"], "too_short")]),
        RuleCase("a blank facet", starter(facets: #"["ok", " "]"#), [(["body", "facets", 1], "string_too_short")]),
        RuleCase("min count is zero", starter(minCount: 0), [(["body", "min_count"], "greater_than")]),
        RuleCase("max count is eleven", starter(maxCount: 11), [(["body", "max_count"], "less_than_equal")]),
        RuleCase("min count exceeds max count", starter(minCount: 5, maxCount: 3), [(["body"], "value_error")]),
        RuleCase("blank instructions", starter(instructions: "  "), [(["body", "generation_instructions"], "string_too_short")]),
        RuleCase("service id is not an object id", starter(serviceID: "ABC"), [(["body", "service_id"], "string_pattern_mismatch")]),
        RuleCase("facets are missing", #"{"service_id": "\#(serviceID)", "min_count": 1, "max_count": 2, "generation_instructions": "x"}"#,
                 [(["body", "facets"], "missing")]),
    ])
    func starterRules(_ rule: RuleCase) throws {
        #expect(issues(ConversationStarterRequest.self, rule.body).map(IssueKey.init) == rule.expected)
    }

    @Test(arguments: ["{}", "null", #"{"context": null}"#])
    func aMissingRecommendationContextIsTheDefault(_ body: String) throws {
        let request = try decode(RecommendResponsesRequest.self, body)
        #expect(request.context == RecommendResponsesRequest.defaultContext)
        #expect(issues(of: request).isEmpty)
    }

    @Test(arguments: ["", " \n"])
    func anAbsentRecommendationBodyIsTheDefault(_ body: String) throws {
        #expect(try RecommendResponsesRequest.decoding(Data(body.utf8)).context == RecommendResponsesRequest.defaultContext)
        #expect(try RecommendResponsesRequest.decoding(Data(#"{"context": "Busy parent"}"#.utf8)).context == "Busy parent")
    }

    /// What `amigo_sdk` sends for its default models (`model_dump(mode="json", exclude_none=True)`).
    @Test func theSDKsDefaultBodiesAreValid() throws {
        let create = try decode(CreateConversationRequest.self, #"{"service_id": "\#(Self.serviceID)", "service_version_set_name": "release", "tags": {}, "is_test": false}"#)
        #expect(issues(of: create).isEmpty)
        let modify = try decode(ModifyConversationTagsRequest.self, #"{"updates": {}, "deletes": []}"#)
        #expect(issues(of: modify).isEmpty)
        let starter = try decode(ConversationStarterRequest.self, #"""
            {"service_id": "\#(Self.serviceID)", "service_version_set_name": "release", "facets": ["x"], "min_count": 1, "max_count": 2, "generation_instructions": "g"}
            """#)
        #expect(issues(of: starter).isEmpty)
    }

    @Test func theDefaultRecommendationContextIsTheAPIs() {
        #expect(RecommendResponsesRequest.defaultContext == "\nPERSONA:\nName: User\nBackground: A typical person seeking this service.\n---\nSCENARIO:\nName: Complete Service\nObjective: Successfully complete the service interaction.\nInstructions: Engage naturally with the agent to achieve the service objective.\n")
        #expect(RecommendResponsesRequest().context == RecommendResponsesRequest.defaultContext)
    }

    @Test func aRecommendationContextIsStrippedAndMustNotBeBlank() throws {
        #expect(try decode(RecommendResponsesRequest.self, #"{"context": "  A nervous patient \n"}"#).context == "A nervous patient")
        #expect(issues(RecommendResponsesRequest.self, #"{"context": " \n "}"#).map(IssueKey.init) == [IssueKey(["body", "context"], "string_too_short")])
    }

    static func starter(serviceID: String = serviceID, facets: String = #"["sleep"]"#, minCount: Int = 1, maxCount: Int = 3, instructions: String = "Be kind") -> String {
        #"{"service_id": "\#(serviceID)", "facets": \#(facets), "min_count": \#(minCount), "max_count": \#(maxCount), "generation_instructions": "\#(instructions)"}"#
    }
}

// MARK: - Helpers

/// A value and the exact JSON the API document (and the official SDK) expects for it.
struct WireSample<Value: Sendable>: Sendable, CustomTestStringConvertible {
    var type: String
    var value: Value
    var json: String
    init(_ type: String, _ value: Value, _ json: String) {
        self.type = type
        self.value = value
        self.json = json
    }
    var testDescription: String { type }
}

struct IssueKey: Equatable, CustomStringConvertible {
    var loc: [ValidationIssue.Location]
    var type: String
    init(_ loc: [ValidationIssue.Location], _ type: String) {
        self.loc = loc
        self.type = type
    }
    init(_ issue: ValidationIssue) { self.init(issue.loc, issue.type) }
    var description: String { "\(loc.map { if case .key(let key) = $0 { key } else if case .index(let index) = $0 { String(index) } else { "?" } }) \(type)" }
}

struct RuleCase: Sendable, CustomTestStringConvertible {
    var name: String
    var body: String
    var expectedPairs: [([ValidationIssue.Location], String)]
    init(_ name: String, _ body: String, _ expected: [([ValidationIssue.Location], String)]) {
        self.name = name
        self.body = body
        self.expectedPairs = expected
    }
    var expected: [IssueKey] { expectedPairs.map { IssueKey($0.0, $0.1) } }
    var testDescription: String { name }
}

private func json(_ text: String) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
}

private func json(_ data: Data) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: data)
}

private func json(encoding value: some Encodable) throws -> JSONValue {
    try json(WireCoding.encoder().encode(value))
}

private func decode<T: Decodable>(_ type: T.Type, _ body: String) throws -> T {
    try WireCoding.decoder().decode(type, from: Data(body.utf8))
}

private func issues(of request: some ValidatableRequest) -> [ValidationIssue] {
    var collector = ValidationCollector()
    request.validate(into: &collector)
    return collector.issues
}

private func issues<R: ValidatableRequest>(_ type: R.Type, _ body: String) -> [ValidationIssue] {
    do {
        return issues(of: try decode(type, body))
    } catch let error as DecodingError {
        return [error.validationIssue()]
    } catch {
        return [ValidationIssue(loc: ["body"], msg: "\(error)", type: "unexpected")]
    }
}

// MARK: - Golden JSON
// Every `#"…"#` JSON string below is also checked against the official SDK's pydantic models.

enum ConversationGolden {
    static let graph = VersionInfo(id: "67a1b2c3d4e5f6a7b8c9d0e1", version: 2)
    static let otherGraph = VersionInfo(id: "67a1b2c3d4e5f6a7b8c9d0e2", version: 5)
    static let toolCallLog = ToolCallLog(toolName: "lookup", toolID: "tool-1", toolVersion: "1.2.0", input: ["zip": .string("94110")], output: nil, duration: 0.25)
    static let designatedLog = ToolCallLog(toolName: "book", toolID: "tool-2", toolVersion: "0.1.0", input: [:], output: "booked", duration: 1.5)

    static let allActionTypes: Set<String> = [
        "select-dynamic-behavior-vector-generated", "select-dynamic-behavior-relevance-retrieval-completed", "select-dynamic-behavior-completed",
        "check-if-active-memory-needed-completed", "extract-active-memories-completed",
        "navigate-state-machine-dynamic-behavior-override", "navigate-state-machine-action-state-action-selected",
        "navigate-state-machine-decision-state-decision-started", "navigate-state-machine-exit-condition-selected",
        "navigate-state-machine-recall-state-dynamic-queries-generated", "navigate-state-machine-recall-state-static-queries-retrieved",
        "navigate-state-machine-recall-state-active-memory-retrieved", "navigate-state-machine-reflection-state-prompt-retrieved",
        "navigate-state-machine-reflection-state-reflection-generated", "navigate-state-machine-annotation-state-annotation-retrieved",
        "navigate-state-machine-state-transitioned", "navigate-state-machine-tool-call-state-tool-output-available",
        "engage-user-dynamic-behavior-override", "engage-user-message-fragment-generated", "tool-call-started", "tool-call-ended",
        "action-too-long", "designated-tool-retrieved", "designated-tool-call-params-generated",
    ]

    static let events: [WireSample<ConversationEvent>] = [
        WireSample("conversation-created", .conversationCreated(conversationID: "67a1b2c3d4e5f6a7b8c9d0ff"),
                   #"{"type": "conversation-created", "conversation_id": "67a1b2c3d4e5f6a7b8c9d0ff"}"#),
        WireSample("user-message-available", .userMessageAvailable(messageID: "m1", userMessage: "I can't sleep"),
                   #"{"type": "user-message-available", "message_id": "m1", "user_message": "I can't sleep"}"#),
        WireSample("new-message", .newMessage(NewMessage(message: "Hello", stop: false, sequenceNumber: 0, messageID: "m2")),
                   #"{"type": "new-message", "message": "Hello", "transcript_alignment": null, "stop": false, "sequence_number": 0, "message_id": "m2"}"#),
        WireSample("new-message", .newMessage(NewMessage(message: "UklGRg==", transcriptAlignment: [TranscriptAlignment(ms: 0, character: "H"), TranscriptAlignment(ms: 85, character: "i")], stop: true, sequenceNumber: 4, messageID: "m2")),
                   #"{"type": "new-message", "message": "UklGRg==", "transcript_alignment": [[0, "H"], [85, "i"]], "stop": true, "sequence_number": 4, "message_id": "m2"}"#),
        WireSample("interaction-complete", .interactionComplete(InteractionComplete(messageID: "m2", interactionID: "i1", fullMessage: "Hello there", conversationCompleted: false)),
                   #"{"type": "interaction-complete", "message_id": "m2", "interaction_id": "i1", "full_message": "Hello there", "conversation_completed": false}"#),
        WireSample("current-agent-action", .currentAgentAction(.reflectionGenerated(reflection: "They are anxious")),
                   #"{"type": "current-agent-action", "action": {"type": "navigate-state-machine-reflection-state-reflection-generated", "reflection": "They are anxious"}}"#),
        WireSample("error", .error(httpErrorCode: 503, errorDescription: "The model is unavailable"),
                   #"{"type": "error", "http_error_code": 503, "error_description": "The model is unavailable"}"#),
    ]

    static let actions: [WireSample<AgentAction>] = [
        WireSample("select-dynamic-behavior-vector-generated", .selectDynamicBehaviorVectorGenerated,
                   #"{"type": "select-dynamic-behavior-vector-generated"}"#),
        WireSample("select-dynamic-behavior-relevance-retrieval-completed", .selectDynamicBehaviorRelevanceRetrievalCompleted,
                   #"{"type": "select-dynamic-behavior-relevance-retrieval-completed"}"#),
        WireSample("select-dynamic-behavior-completed", .selectDynamicBehaviorCompleted(selected: VersionInfo(id: "dbs1", version: 3), previous: nil),
                   #"{"type": "select-dynamic-behavior-completed", "selected_dynamic_behavior_set_version_info": ["dbs1", 3], "previous_selected_dynamic_behavior_set_version_info": null}"#),
        WireSample("check-if-active-memory-needed-completed", .checkIfActiveMemoryNeededCompleted(queries: ["sleep habits"]),
                   #"{"type": "check-if-active-memory-needed-completed", "queries": ["sleep habits"]}"#),
        WireSample("extract-active-memories-completed", .extractActiveMemoriesCompleted(queriesAndResponses: [QueryAndResponse(query: "sleep habits", response: "Sleeps at 2am")]),
                   #"{"type": "extract-active-memories-completed", "queries_and_responses": [["sleep habits", "Sleeps at 2am"]]}"#),
        WireSample("navigate-state-machine-dynamic-behavior-override", .navigateDynamicBehaviorOverride(overridingInstructions: true, overridingToolCandidates: false),
                   #"{"type": "navigate-state-machine-dynamic-behavior-override", "overriding_instructions": true, "overriding_tool_candidates": false}"#),
        WireSample("navigate-state-machine-action-state-action-selected", .actionSelected(action: "Ask about their evening routine"),
                   #"{"type": "navigate-state-machine-action-state-action-selected", "action": "Ask about their evening routine"}"#),
        WireSample("navigate-state-machine-decision-state-decision-started", .decisionStarted,
                   #"{"type": "navigate-state-machine-decision-state-decision-started"}"#),
        WireSample("navigate-state-machine-exit-condition-selected", .exitConditionSelected(exitCondition: "The user is ready", nextGraph: graph, nextStateName: "plan"),
                   #"{"type": "navigate-state-machine-exit-condition-selected", "exit_condition": "The user is ready", "next_state_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "next_state_name": "plan"}"#),
        WireSample("navigate-state-machine-recall-state-dynamic-queries-generated", .dynamicQueriesGenerated(dynamicQueries: ["caffeine intake"], requestedInformation: "What they drink"),
                   #"{"type": "navigate-state-machine-recall-state-dynamic-queries-generated", "dynamic_queries": ["caffeine intake"], "requested_information": "What they drink"}"#),
        WireSample("navigate-state-machine-recall-state-static-queries-retrieved", .staticQueriesRetrieved(staticQueries: ["bedtime"]),
                   #"{"type": "navigate-state-machine-recall-state-static-queries-retrieved", "static_queries": ["bedtime"]}"#),
        WireSample("navigate-state-machine-recall-state-active-memory-retrieved", .activeMemoryRetrieved(queriesAndResponses: [QueryAndResponse(query: "bedtime", response: "Around 1am")]),
                   #"{"type": "navigate-state-machine-recall-state-active-memory-retrieved", "queries_and_responses": [["bedtime", "Around 1am"]]}"#),
        WireSample("navigate-state-machine-reflection-state-prompt-retrieved", .reflectionPromptRetrieved(prompt: "What worries them?"),
                   #"{"type": "navigate-state-machine-reflection-state-prompt-retrieved", "prompt": "What worries them?"}"#),
        WireSample("navigate-state-machine-reflection-state-reflection-generated", .reflectionGenerated(reflection: "Work stress"),
                   #"{"type": "navigate-state-machine-reflection-state-reflection-generated", "reflection": "Work stress"}"#),
        WireSample("navigate-state-machine-annotation-state-annotation-retrieved", .annotationRetrieved(annotation: "Be gentle"),
                   #"{"type": "navigate-state-machine-annotation-state-annotation-retrieved", "annotation": "Be gentle"}"#),
        WireSample("navigate-state-machine-state-transitioned", .stateTransitioned(previousState: "greet", previousGraph: graph, nextState: "billing.intake", nextGraph: otherGraph),
                   #"{"type": "navigate-state-machine-state-transitioned", "prev_state": "greet", "prev_state_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "next_state": "billing.intake", "next_state_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e2", 5]}"#),
        WireSample("navigate-state-machine-tool-call-state-tool-output-available", .toolOutputAvailable(toolID: "tool-2", toolVersion: "0.1.0", toolOutput: "booked", duration: 1.5, inputArguments: ["day": .string("Mon"), "slots": .array([.number(9), .number(10)])]),
                   #"{"type": "navigate-state-machine-tool-call-state-tool-output-available", "tool_id": "tool-2", "tool_version": "0.1.0", "tool_output": "booked", "duration": 1.5, "input_arguments": {"day": "Mon", "slots": [9, 10]}}"#),
        WireSample("engage-user-dynamic-behavior-override", .engageUserDynamicBehaviorOverride(overridingInstructions: false, overridingToolCandidates: true),
                   #"{"type": "engage-user-dynamic-behavior-override", "overriding_instructions": false, "overriding_tool_candidates": true}"#),
        WireSample("engage-user-message-fragment-generated", .messageFragmentGenerated(index: 2, fragment: "Try a wind-down", isFinal: false),
                   #"{"type": "engage-user-message-fragment-generated", "index": 2, "fragment": "Try a wind-down", "is_final": false}"#),
        WireSample("tool-call-started", .toolCallStarted(roundIndex: 0, toolID: "tool-1", toolVersion: "1.2.0", inputParams: ["zip": .string("94110")]),
                   #"{"type": "tool-call-started", "tool_round_index": 0, "tool_id": "tool-1", "tool_version": "1.2.0", "input_params": {"zip": "94110"}}"#),
        WireSample("tool-call-ended", .toolCallEnded(roundIndex: 0, toolID: "tool-1", toolVersion: "1.2.0", inputParameters: ["zip": .string("94110")], result: "Sunny", duration: 0.25),
                   #"{"type": "tool-call-ended", "tool_round_index": 0, "tool_id": "tool-1", "tool_version": "1.2.0", "input_parameters": {"zip": "94110"}, "result": "Sunny", "duration": 0.25}"#),
        WireSample("action-too-long", .actionTooLong(filler: "Let me check that", previouslyStartedEvent: .object(["type": .string("tool-call-started"), "tool_round_index": .number(0)])),
                   #"{"type": "action-too-long", "filler": "Let me check that", "previously_started_event": {"type": "tool-call-started", "tool_round_index": 0}}"#),
        WireSample("designated-tool-retrieved", .designatedToolRetrieved(toolID: "tool-2", toolVersion: "0.1.0"),
                   #"{"type": "designated-tool-retrieved", "tool_id": "tool-2", "tool_version": "0.1.0"}"#),
        WireSample("designated-tool-call-params-generated", .designatedToolCallParamsGenerated(toolID: "tool-2", toolVersion: "0.1.0", toolCallParams: ["day": .string("Mon"), "confirm": .bool(true)]),
                   #"{"type": "designated-tool-call-params-generated", "tool_id": "tool-2", "tool_version": "0.1.0", "tool_call_params": {"day": "Mon", "confirm": true}}"#),
    ]

    static let transitions: [WireSample<StateTransitionLog>] = [
        WireSample("action", StateTransitionLog(previousState: "greet", previousGraph: graph, nextState: "plan", nextGraph: graph,
                                                detail: .action(exitConditionDescription: "The user said hello", toolCallLogs: [[toolCallLog]])),
                   #"{"previous_state": "greet", "previous_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "next_state": "plan", "next_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "type": "action", "previous_state_exit_condition_description": "The user said hello", "tool_call_logs": [[{"tool_name": "lookup", "tool_id": "tool-1", "tool_version": "1.2.0", "input": {"zip": "94110"}, "output": null, "duration": 0.25}]]}"#),
        WireSample("decision", StateTransitionLog(previousState: "route", previousGraph: graph, nextState: "plan", nextGraph: graph,
                                                  detail: .decision(exitConditionDescription: "Needs a plan", toolCallLogs: [])),
                   #"{"previous_state": "route", "previous_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "next_state": "plan", "next_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "type": "decision", "previous_state_exit_condition_description": "Needs a plan", "tool_call_logs": []}"#),
        WireSample("recall", StateTransitionLog(previousState: "remember", previousGraph: graph, nextState: "plan", nextGraph: graph,
                                                detail: .recall(performedQueries: ["bedtime"])),
                   #"{"previous_state": "remember", "previous_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "next_state": "plan", "next_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "type": "recall", "performed_queries": ["bedtime"]}"#),
        WireSample("jumpback", StateTransitionLog(previousState: "billing.done", previousGraph: otherGraph, nextState: "plan", nextGraph: graph, detail: .jumpback),
                   #"{"previous_state": "billing.done", "previous_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e2", 5], "next_state": "plan", "next_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "type": "jumpback"}"#),
        WireSample("annotation", StateTransitionLog(previousState: "note", previousGraph: graph, nextState: "plan", nextGraph: graph,
                                                    detail: .annotation(innerThoughtMessageID: "t1")),
                   #"{"previous_state": "note", "previous_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "next_state": "plan", "next_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "type": "annotation", "inner_thought_message_id": "t1"}"#),
        WireSample("reflection", StateTransitionLog(previousState: "think", previousGraph: graph, nextState: "plan", nextGraph: graph,
                                                    detail: .reflection(innerThoughtMessageID: "t2", toolCallLogs: [[], [toolCallLog]])),
                   #"{"previous_state": "think", "previous_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "next_state": "plan", "next_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "type": "reflection", "inner_thought_message_id": "t2", "tool_call_logs": [[], [{"tool_name": "lookup", "tool_id": "tool-1", "tool_version": "1.2.0", "input": {"zip": "94110"}, "output": null, "duration": 0.25}]]}"#),
        WireSample("tool-call", StateTransitionLog(previousState: "book", previousGraph: graph, nextState: "confirm", nextGraph: graph,
                                                   detail: .toolCall(toolCallLogs: [], designatedToolCallLog: designatedLog)),
                   #"{"previous_state": "book", "previous_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "next_state": "confirm", "next_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "type": "tool-call", "tool_call_logs": [], "designated_tool_call_log": {"tool_name": "book", "tool_id": "tool-2", "tool_version": "0.1.0", "input": {}, "output": "booked", "duration": 1.5}}"#),
    ]

    static let insightsJSON = #"""
        {"current_state_name": "greet", "current_state_action": "Say hello", "current_state_objective": "Welcome the user",
         "state_transition_logs": [{"previous_state": "billing.done", "previous_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e2", 5], "next_state": "plan", "next_service_hierarchical_state_machine_version_info": ["67a1b2c3d4e5f6a7b8c9d0e1", 2], "type": "jumpback"}],
         "working_memory": [{"content": "Likes tea", "context": "asked about drinks"}], "reflections": ["The user is in a hurry"],
         "triggered_dynamic_behavior_set_version_info": null,
         "select_next_action_tool_call_logs": [[{"tool_name": "lookup", "tool_id": "tool-1", "tool_version": "1.2.0", "input": {"zip": "94110"}, "output": null, "duration": 0.25}]],
         "engage_user_tool_call_logs": []}
        """#

    static let conversation = ConversationInstance(
        id: "67a1b2c3d4e5f6a7b8c9d0ff", userID: "user-1", createdAt: Date(timeIntervalSince1970: 1_735_787_045.5),
        isFinished: true, isAnalyzed: false, completedPostProcessings: ["extract-memories"], finalMessage: "Goodbye",
        serviceID: "0123456789abcdef01234567", versionSetInfo: nil, numMessages: 6, tags: ["topic": "sleep", "vip": nil])

    static let conversationJSON = #"""
        {"id": "67a1b2c3d4e5f6a7b8c9d0ff", "user_id": "user-1", "created_at": "2025-01-02T03:04:05.500Z", "is_finished": true, "is_analyzed": false,
         "completed_post_processings": ["extract-memories"], "final_message": "Goodbye", "service_id": "0123456789abcdef01234567",
         "version_set_info": null, "num_messages": 6, "tags": {"topic": "sleep", "vip": null}}
        """#

    static let message = MessageInstance(
        id: "m1", interactionID: "i1", createdAt: Date(timeIntervalSince1970: 1_735_787_045.25), sender: "user-1",
        message: "I can't sleep", format: .voice, messageType: .userMessage)

    static let messageJSON = #"""
        {"id": "m1", "interaction_id": "i1", "created_at": "2025-01-02T03:04:05.250Z", "sender": "user-1", "message": "I can't sleep", "format": "voice", "message_type": "user-message"}
        """#
}

@Suite struct WireDateTests {
    @Test(arguments: [
        ("2026-11-21T12:46:19.834567+00:00", "2026-11-21T12:46:19.835Z"),
        ("2026-11-21T12:46:19.834Z", "2026-11-21T12:46:19.834Z"),
        ("2026-11-21T12:46:19Z", "2026-11-21T12:46:19.000Z"),
        ("2026-11-21T14:46:19.5+02:00", "2026-11-21T12:46:19.500Z"),
        ("2026-11-21T07:46:19.9996-0500", "2026-11-21T12:46:20.000Z"),
        ("2026-11-21T12:46:19.1", "2026-11-21T12:46:19.100Z"),
    ])
    func datesKeepTheirTimeToTheMillisecond(input: String, output: String) throws {
        let date = try #require(WireCoding.parseDate(input))
        #expect(WireCoding.formatDate(date) == output)
    }

    @Test(arguments: ["", "2026-13-01T00:00:00Z", "2026-11-21", "2026-11-21T12:46:19.Z", "yesterday", "2026-11-21T12:46:19+0"])
    func malformedDatesAreRejected(input: String) {
        #expect(WireCoding.parseDate(input) == nil)
    }
}
