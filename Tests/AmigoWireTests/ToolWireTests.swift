import AmigoWire
import Foundation
import Testing

// MARK: - Round trips

@Suite struct ToolWireRoundTripTests {
    /// A JSON body as the API document and the official SDK's models shape it, and the type it decodes to.
    /// Every sample was validated with the SDK's pydantic models, which dump it back unchanged.
    struct Sample: Sendable, CustomTestStringConvertible {
        var name: String
        var json: String
        var roundTrip: @Sendable (Data) throws -> Data

        init<Value: Codable & Sendable>(_ type: Value.Type, _ json: String) {
            self.name = String(describing: type)
            self.json = json
            self.roundTrip = { data in try WireCoding.encoder().encode(WireCoding.decoder().decode(Value.self, from: data)) }
        }

        var testDescription: String { name }
    }

    static let toolInstance = #"""
        {"id": "6650a1b2c3d4e5f601234567", "org_id": "acme", "created_at": "2025-05-24T10:00:00.123Z", "updated_at": "2025-05-25T11:30:00.250Z",
         "name": "get_weather", "description": "Looks up the weather for a city.", "deprecated": false,
         "envvars": ["WEATHER_API_URL"], "secret_envvars": ["WEATHER_API_KEY"],
         "tags": [{"key": "team", "value": "core"}, {"key": "beta", "value": null}],
         "creator": {"org_id": "acme", "user_id": "u1"}, "updated_by": {"org_id": "acme", "user_id": "u2"}}
        """#

    static let toolVersionInstance = #"""
        {"id": "6650a1b2c3d4e5f601234999", "org_id": "acme", "created_at": "2025-05-24T10:00:00.123Z", "updated_at": "2025-05-24T10:00:00.123Z",
         "tool_id": "6650a1b2c3d4e5f601234567", "version": {"major": 1, "minor": 2, "patch": 3},
         "required_envvars": ["WEATHER_API_URL"], "required_secret_envvars": ["WEATHER_API_KEY"],
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "default": 1}}, "required": ["city"]},
         "tool_commit_hash": "9f2c4e1", "amigo_scaffold_commit_hash": "a1b2c3d", "project_directory": "tools/get_weather",
         "lambda_version": 7, "creator": {"user_id": "u1", "user_org_id": "acme"}, "updated_by": {"user_id": "u2", "user_org_id": "acme"},
         "deprecated": false}
        """#

    static let succeededInvocation = #"""
        {"id": "6650a1b2c3d4e5f60123aaaa", "org_id": "acme", "created_at": "2025-05-24T10:00:00.123Z", "updated_at": "2025-05-24T10:00:00.123Z",
         "invocation_status": {"succeeded": true, "output": "Sunny, 21°C"},
         "invocation_source": {"type": "regular-conversation", "user_id": "u1", "conversation_id": "6650a1b2c3d4e5f60123cccc", "interaction_id": null,
                               "invocation_metadata": {"type": "state-transition", "current_state_machine_and_version": ["6650a1b2c3d4e5f60123dddd", 3],
                                                       "state_name": "greet", "state_transition_index": 1, "tool_call_round_index": 0}},
         "duration_ms": 412, "tool_id": "6650a1b2c3d4e5f601234567", "tool_version": {"major": 1, "minor": 2, "patch": 3},
         "inputs": {"city": "Paris", "days": 3, "units": null, "flags": [true, false], "nested": {"x": 1.5}}}
        """#

    static let failedInvocation = #"""
        {"id": "6650a1b2c3d4e5f60123bbbb", "org_id": "acme", "created_at": "2025-05-24T10:00:01.000Z", "updated_at": "2025-05-24T10:00:02.500Z",
         "invocation_status": {"succeeded": false, "exception_message": "city not found", "exception_type": "ValueError",
                               "exception_stack_trace": ["Traceback (most recent call last):", "  File \"main.py\", line 3", "ValueError: city not found"]},
         "invocation_source": {"type": "simulation-conversation", "simulation_unit_test_set_run_id": "6650a1b2c3d4e5f60123eeee", "unit_test_id": null, "run_index": 2,
                               "invocation_metadata": {"type": "engage-user", "current_state_machine_and_version": ["6650a1b2c3d4e5f60123dddd", 3], "tool_call_round_index": 1}},
         "duration_ms": 30000, "tool_id": "6650a1b2c3d4e5f601234567", "tool_version": {"major": 2, "minor": 0, "patch": 0}, "inputs": {}}
        """#

    static let toolCallStateInvocation = #"""
        {"id": "6650a1b2c3d4e5f60123ffff", "org_id": "acme", "created_at": "2025-05-24T10:00:01.000Z", "updated_at": "2025-05-24T10:00:01.000Z",
         "invocation_status": {"succeeded": true, "output": ""},
         "invocation_source": {"type": "regular-conversation", "user_id": "u1", "conversation_id": null, "interaction_id": "i1",
                               "invocation_metadata": {"type": "tool-call-state", "current_state_machine_and_version": ["6650a1b2c3d4e5f60123dddd", 1], "state_name": "lookup"}},
         "duration_ms": 5, "tool_id": "6650a1b2c3d4e5f601234567", "tool_version": {"major": 0, "minor": 1, "patch": 0}, "inputs": {"q": "x"}}
        """#

    static let invokeResponse = #"""
        {"invocation_results": [
            {"succeeded": true, "output": "{\"temperature\": 21}", "duration_ms": 380},
            {"succeeded": false, "exception_message": "boom", "exception_type": "RuntimeError", "exception_stack_trace": [], "duration_ms": 12}]}
        """#

    static let samples: [Sample] = [
        Sample(ToolInstance.self, toolInstance),
        Sample(ToolVersionInstance.self, toolVersionInstance),
        Sample(ToolInvocationInstance.self, succeededInvocation),
        Sample(ToolInvocationInstance.self, failedInvocation),
        Sample(ToolInvocationInstance.self, toolCallStateInvocation),
        Sample(InvokeToolVersionResponse.self, invokeResponse),
        Sample(GetToolsResponse.self, #"{"tools": [\#(toolInstance)], "has_more": true, "continuation_token": 10, "filter_values": {"tags": ["team:core", "beta:"]}}"#),
        Sample(GetToolsResponse.self, #"{"tools": [], "has_more": false, "continuation_token": null, "filter_values": null}"#),
        Sample(GetToolVersionsResponse.self, #"{"tool_versions": [\#(toolVersionInstance)], "has_more": false, "continuation_token": null, "filter_values": {"creators": [{"user_id": "u1", "user_org_id": "acme"}]}}"#),
        Sample(GetToolVersionsResponse.self, #"{"tool_versions": [], "has_more": true, "continuation_token": 50, "filter_values": null}"#),
        Sample(GetToolInvocationsResponse.self, #"{"tool_invocations": [\#(succeededInvocation), \#(failedInvocation)], "has_more": true, "continuation_token": 100}"#),
        Sample(GetToolInvocationsResponse.self, #"{"tool_invocations": [], "has_more": false, "continuation_token": null}"#),
        Sample(SearchToolInvocationsResponse.self, #"{"tool_invocations": [\#(toolCallStateInvocation)]}"#),
        Sample(PublishToolVersionResponse.self, #"{"new_version": "1.3.0"}"#),
        Sample(CreateToolResponse.self, #"{"id": "6650a1b2c3d4e5f601234567"}"#),
        Sample(CreateToolRequest.self, #"{"name": "get_weather", "description": "Looks up the weather.", "tags": {"team": "core", "beta": null}}"#),
        Sample(CreateToolRequest.self, #"{"name": "get_weather", "description": "Looks up the weather.", "tags": {}}"#),
        Sample(ModifyToolRequest.self, #"{"description": "Looks up the weather and the forecast."}"#),
        Sample(ModifyToolRequest.self, #"{"tags": {"team": "platform"}}"#),
        Sample(ModifyToolEnvvarsRequest.self, #"""
            {"inserts": [{"name": "WEATHER_API_KEY", "value": "s3cret", "is_secret": true}],
             "updates": [{"name": "WEATHER_API_URL", "value": "https://api.example.com/v2"}],
             "deletes": [{"name": "OLD_FLAG"}]}
            """#),
        Sample(ModifyToolEnvvarsRequest.self, #"{"inserts": [], "updates": [], "deletes": []}"#),
        Sample(PublishToolVersionRequest.self, #"{"project_path": "tools/get_weather", "bump_type": "minor"}"#),
        Sample(InvokeToolVersionRequest.self, #"""
            {"inputs": [{"input_parameters": {"city": "Paris"}, "invocation_mode": "regular",
                         "nonsensitive_user_variables": {"first_name": "Ada"}, "sensitive_user_variables": {"_ssn": "123"}},
                        {"input_parameters": {}, "invocation_mode": "conversation-simulation", "nonsensitive_user_variables": {}, "sensitive_user_variables": {}}]}
            """#),
        Sample(TestToolRequest.self, #"""
            {"inputs": [{"input_parameters": {"city": "Paris"}, "invocation_mode": "regular", "nonsensitive_user_variables": {}, "sensitive_user_variables": {}}],
             "commit_branch": "feature/forecast", "project_path": "tools/get_weather",
             "required_envvars": {"WEATHER_API_URL": "https://api.example.com"}, "required_secret_envvars": {"WEATHER_API_KEY": "k"}}
            """#),
    ]

    @Test(arguments: samples)
    func aBodyDecodesAndEncodesBackWithTheSameKeysAndValues(_ sample: Sample) throws {
        let encoded = try sample.roundTrip(Data(sample.json.utf8))
        #expect(try toolJSON(encoded) == toolJSON(sample.json))
    }

    @Test func aSucceededInvocationDecodesToItsParts() throws {
        let invocation = try decodeTool(ToolInvocationInstance.self, Self.succeededInvocation)
        #expect(invocation.invocationStatus == .succeeded(output: "Sunny, 21°C"))
        #expect(invocation.invocationSource == .regularConversation(
            userID: "u1", conversationID: "6650a1b2c3d4e5f60123cccc", interactionID: nil,
            metadata: .stateTransition(contextGraph: VersionInfo(id: "6650a1b2c3d4e5f60123dddd", version: 3), stateName: "greet", stateTransitionIndex: 1, toolCallRoundIndex: 0)
        ))
        #expect(invocation.toolVersion == ToolVersion(major: 1, minor: 2, patch: 3))
        #expect(invocation.inputs["days"] == 3)
        #expect(WireCoding.formatDate(invocation.createdAt) == "2025-05-24T10:00:00.123Z")
    }

    @Test func aFailedInvocationKeepsTheExceptionAndTheSimulationRun() throws {
        let invocation = try decodeTool(ToolInvocationInstance.self, Self.failedInvocation)
        guard case .failed(let failure) = invocation.invocationStatus else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.exceptionType == "ValueError")
        #expect(failure.exceptionStackTrace.count == 3)
        #expect(invocation.invocationSource.kind == .simulationConversation)
        #expect(invocation.invocationSource.metadata == .engageUser(contextGraph: VersionInfo(id: "6650a1b2c3d4e5f60123dddd", version: 3), toolCallRoundIndex: 1))
    }

    @Test func invocationResultsAreTaggedBySucceeded() throws {
        let response = try decodeTool(InvokeToolVersionResponse.self, Self.invokeResponse)
        #expect(response.invocationResults == [
            .succeeded(output: #"{"temperature": 21}"#, durationMs: 380),
            .failed(ToolFailure(exceptionMessage: "boom", exceptionType: "RuntimeError"), durationMs: 12),
        ])
        #expect(response.invocationResults.map(\.succeeded) == [true, false])
        let result = InvocationResult(status: .failed(ToolFailure(exceptionMessage: "m", exceptionType: "T", exceptionStackTrace: ["a"])), durationMs: 9)
        #expect(try toolJSON(WireCoding.encoder().encode(result)) == [
            "succeeded": false, "exception_message": "m", "exception_type": "T", "exception_stack_trace": ["a"], "duration_ms": 9,
        ])
        #expect(try toolJSON(WireCoding.encoder().encode(InvocationResult.succeeded(output: "ok", durationMs: 1))) == ["succeeded": true, "output": "ok", "duration_ms": 1])
    }

    @Test func requiredNullableFieldsAreEncodedAsNull() throws {
        let response = GetToolsResponse(tools: [], hasMore: false, continuationToken: nil, filterValues: nil)
        #expect(try toolJSON(WireCoding.encoder().encode(response)) == ["tools": [], "has_more": false, "continuation_token": nil, "filter_values": nil])
        let source = InvocationSource.simulationConversation(
            simulationUnitTestSetRunID: nil, unitTestID: nil, runIndex: nil,
            metadata: .toolCallState(contextGraph: VersionInfo(id: "g", version: 1), stateName: "s")
        )
        #expect(try toolJSON(WireCoding.encoder().encode(source)) == [
            "type": "simulation-conversation", "simulation_unit_test_set_run_id": nil, "unit_test_id": nil, "run_index": nil,
            "invocation_metadata": ["type": "tool-call-state", "current_state_machine_and_version": ["g", 1], "state_name": "s"],
        ])
    }

    @Test func anInvocationSourceMissingARequiredNullableFieldIsRejected() {
        #expect(throws: DecodingError.self) {
            try decodeTool(InvocationSource.self, #"{"type": "regular-conversation", "user_id": "u", "conversation_id": null, "invocation_metadata": {"type": "engage-user", "current_state_machine_and_version": ["g", 1], "tool_call_round_index": 0}}"#)
        }
    }

    @Test func anUnknownTagNamesTheExpectedOnes() {
        let error = #expect(throws: DecodingError.self) {
            try decodeTool(InvocationMetadata.self, #"{"type": "mystery", "current_state_machine_and_version": ["g", 1]}"#)
        }
        #expect(error?.validationIssue().msg == "Input tag 'mystery' found using 'type' does not match any of the expected tags: 'state-transition', 'engage-user', 'tool-call-state'")
    }

    @Test func toolVersionCreatorsUseOtherKeysThanToolCreators() throws {
        let user = UserInfo(orgID: "acme", userID: "u1")
        #expect(try toolJSON(WireCoding.encoder().encode(ToolVersionUserInfo(user))) == ["user_id": "u1", "user_org_id": "acme"])
        #expect(try toolJSON(WireCoding.encoder().encode(user)) == ["org_id": "acme", "user_id": "u1"])
        #expect(ToolVersionUserInfo(user).userInfo == user)
    }

    @Test func aNewToolDefaultsItsUpdateFieldsToItsCreation() {
        let creator = UserInfo(orgID: "acme", userID: "u1")
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let tool = ToolInstance(id: "t", orgID: "acme", createdAt: now, name: "get_weather", description: "d", creator: creator)
        #expect(tool.updatedAt == now)
        #expect(tool.updatedBy == creator)
        #expect(!tool.deprecated)
    }
}

// MARK: - Request validation

@Suite struct ToolRequestValidationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var validate: @Sendable () throws -> [ValidationIssue]
        var expected: [String]

        /// `expected` as `"loc.joined(by: /) type"`, in report order.
        init<Request: ValidatableRequest & Sendable>(_ name: String, _ type: Request.Type, _ body: String, _ expected: [String]) {
            self.name = name
            self.validate = {
                var collector = ValidationCollector()
                try decodeTool(Request.self, body).validate(into: &collector)
                return collector.issues
            }
            self.expected = expected
        }

        var testDescription: String { name }
    }

    static let input = #"{"input_parameters": {}, "invocation_mode": "regular", "nonsensitive_user_variables": {}, "sensitive_user_variables": {}}"#

    static func tags(_ count: Int) -> String {
        "{" + (0..<count).map { #""k\#($0)": "v""# }.joined(separator: ", ") + "}"
    }

    static func variables(_ count: Int) -> String {
        "{" + (0..<count).map { #""var_\#($0)": "v""# }.joined(separator: ", ") + "}"
    }

    static let cases: [Case] = [
        Case("a valid new tool", CreateToolRequest.self, #"{"name": " get_weather_2 ", "description": " Weather ", "tags": {" team ": " core ", "beta": null}}"#, []),
        Case("a tool name with capitals or dashes", CreateToolRequest.self, #"{"name": "Get-Weather", "description": "d", "tags": {}}"#, ["body/name string_pattern_mismatch"]),
        Case("a blank tool name and description", CreateToolRequest.self, #"{"name": "  ", "description": "\n", "tags": {}}"#, ["body/name string_too_short", "body/description string_too_short"]),
        Case("21 tags", CreateToolRequest.self, #"{"name": "t", "description": "d", "tags": \#(tags(21))}"#, ["body/tags too_long"]),
        Case("a tag key or value outside \\w\\s", CreateToolRequest.self, #"{"name": "t", "description": "d", "tags": {"a-b": "ok", "ok": "c/d"}}"#, ["body/tags/a-b/[key] string_pattern_mismatch", "body/tags/ok string_pattern_mismatch"]),
        Case("an empty modification", ModifyToolRequest.self, "{}", []),
        Case("null fields of a modification", ModifyToolRequest.self, #"{"description": null, "tags": null}"#, []),
        Case("a blank new description", ModifyToolRequest.self, #"{"description": "  "}"#, ["body/description string_too_short"]),
        Case("21 new tags", ModifyToolRequest.self, #"{"tags": \#(tags(21))}"#, ["body/tags too_long"]),
        Case("no envvar changes", ModifyToolEnvvarsRequest.self, "{}", []),
        Case("envvar names outside A-Z and _", ModifyToolEnvvarsRequest.self, #"{"inserts": [{"name": "api_key", "value": "", "is_secret": false}], "updates": [{"name": "OK_NAME", "value": "v"}, {"name": "KEY2", "value": "v"}], "deletes": [{"name": " "}]}"#,
             ["body/inserts/0/name string_pattern_mismatch", "body/updates/1/name string_pattern_mismatch", "body/deletes/0/name string_too_short"]),
        Case("a valid publish", PublishToolVersionRequest.self, #"{"project_path": "tools/get-weather_2/src", "bump_type": "major"}"#, []),
        Case("a project path with dots", PublishToolVersionRequest.self, #"{"project_path": "../etc", "bump_type": "patch"}"#, ["body/project_path string_pattern_mismatch"]),
        Case("an empty project path", PublishToolVersionRequest.self, #"{"project_path": "", "bump_type": "patch"}"#, ["body/project_path string_pattern_mismatch"]),
        Case("no inputs", InvokeToolVersionRequest.self, #"{"inputs": []}"#, ["body/inputs too_short"]),
        Case("ten inputs", InvokeToolVersionRequest.self, #"{"inputs": [\#(Array(repeating: input, count: 10).joined(separator: ","))]}"#, []),
        Case("eleven inputs", InvokeToolVersionRequest.self, #"{"inputs": [\#(Array(repeating: input, count: 11).joined(separator: ","))]}"#, ["body/inputs too_long"]),
        Case("bad user variable names", InvokeToolVersionRequest.self, #"{"inputs": [\#(input), {"input_parameters": {}, "invocation_mode": "regular", "nonsensitive_user_variables": {"FirstName": "Ada", "a": "x", " ok_name ": "y"}, "sensitive_user_variables": {"1st": "z"}}]}"#,
             ["body/inputs/1/nonsensitive_user_variables/FirstName/[key] string_pattern_mismatch", "body/inputs/1/nonsensitive_user_variables/a/[key] string_pattern_mismatch", "body/inputs/1/sensitive_user_variables/1st/[key] string_pattern_mismatch"]),
        Case("21 sensitive user variables", InvokeToolVersionRequest.self, #"{"inputs": [{"input_parameters": {}, "invocation_mode": "regular", "nonsensitive_user_variables": \#(variables(20)), "sensitive_user_variables": \#(variables(21))}]}"#,
             ["body/inputs/0/sensitive_user_variables too_long"]),
        Case("a test with no inputs and a bad path", TestToolRequest.self, #"{"inputs": [], "commit_branch": "main", "project_path": "tools/a b", "required_envvars": {}, "required_secret_envvars": {}}"#,
             ["body/inputs too_short", "body/project_path string_pattern_mismatch"]),
    ]

    @Test(arguments: cases)
    func eachBrokenRuleIsReportedWhereItIs(_ testCase: Case) throws {
        let issues = try testCase.validate()
        let found = issues.map { issue in
            issue.loc.map { if case .key(let key) = $0 { key } else if case .index(let index) = $0 { String(index) } else { "?" } }.joined(separator: "/") + " " + issue.type
        }
        #expect(found == testCase.expected)
    }

    @Test func decodingStripsNamesDescriptionsTagsAndVariableNames() throws {
        let create = try decodeTool(CreateToolRequest.self, #"{"name": " get_weather ", "description": " Weather \n", "tags": {" team ": " core ", "beta": null}}"#)
        #expect(create.name == "get_weather")
        #expect(create.description == "Weather")
        #expect(create.tagList == [Tag(key: "beta", value: nil), Tag(key: "team", value: "core")])
        let envvars = try decodeTool(ModifyToolEnvvarsRequest.self, #"{"inserts": [{"name": " API_KEY ", "value": " keep spaces ", "is_secret": true}]}"#)
        #expect(envvars.inserts == [.init(name: "API_KEY", value: " keep spaces ", isSecret: true)])
        #expect(envvars.updates.isEmpty && envvars.deletes.isEmpty)
        let input = try decodeTool(ToolInvocationInput.self, #"{"input_parameters": {"a": 1}, "invocation_mode": "conversation-simulation", "nonsensitive_user_variables": {" name ": " Ada "}, "sensitive_user_variables": {}}"#)
        #expect(input.nonsensitiveUserVariables == ["name": " Ada "])
        #expect(input.invocationMode == .conversationSimulation)
    }

    @Test func aModificationWithoutTagsLeavesThemAlone() throws {
        #expect(try decodeTool(ModifyToolRequest.self, "{}").tagList == nil)
        #expect(try decodeTool(ModifyToolRequest.self, #"{"tags": {}}"#).tagList == [])
    }

    @Test func missingRequiredFieldsAreDecodingErrors() {
        #expect(throws: DecodingError.self) { try decodeTool(CreateToolRequest.self, #"{"name": "t", "description": "d"}"#) }
        #expect(throws: DecodingError.self) { try decodeTool(CreateToolRequest.self, #"{"name": "t", "description": "d", "tags": null}"#) }
        #expect(throws: DecodingError.self) { try decodeTool(ToolInvocationInput.self, #"{"input_parameters": {}, "invocation_mode": "regular", "nonsensitive_user_variables": {}}"#) }
        #expect(throws: DecodingError.self) { try decodeTool(TestToolRequest.self, #"{"inputs": [], "commit_branch": "main", "project_path": "p", "required_envvars": {}}"#) }
        #expect(throws: DecodingError.self) { try decodeTool(ModifyToolEnvvarsRequest.self, #"{"inserts": [{"name": "A", "value": "v"}]}"#) }
    }

    @Test func anUnknownEnumValueListsTheAllowedOnes() {
        let bump = #expect(throws: DecodingError.self) { try decodeTool(PublishToolVersionRequest.self, #"{"project_path": "p", "bump_type": "huge"}"#) }
        #expect(bump?.validationIssue().msg == "Input should be 'major', 'minor' or 'patch'")
        #expect(bump?.validationIssue().loc == ["body", "bump_type"])
        let mode = #expect(throws: DecodingError.self) { try decodeTool(ToolInvocationInput.self, #"{"input_parameters": {}, "invocation_mode": "simulation", "nonsensitive_user_variables": {}, "sensitive_user_variables": {}}"#) }
        #expect(mode?.validationIssue().msg == "Input should be 'regular' or 'conversation-simulation'")
    }

    @Test func publishingAnswersTheNewVersionAsText() throws {
        let response = PublishToolVersionResponse(newVersion: ToolVersion(major: 1, minor: 0, patch: 0).bumped(.minor))
        #expect(try toolJSON(WireCoding.encoder().encode(response)) == ["new_version": "1.1.0"])
    }
}

// MARK: - Helpers

private func toolJSON(_ text: String) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
}

private func toolJSON(_ data: Data) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: data)
}

private func decodeTool<T: Decodable>(_ type: T.Type, _ body: String) throws -> T {
    try WireCoding.decoder().decode(type, from: Data(body.utf8))
}
