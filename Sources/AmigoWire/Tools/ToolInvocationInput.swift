/// One run of a tool requested through the invoke or test endpoint (the API's `Input`): the parameters
/// the tool receives and the user variables it may read. All four fields are required on the wire.
public struct ToolInvocationInput: Codable, Sendable, Hashable {
    /// How the tool is told it is being run.
    public enum Mode: String, Codable, Sendable, Hashable, CaseIterable {
        case regular
        case conversationSimulation = "conversation-simulation"
    }

    /// Checked against the version's `input_schema` by the tool itself, not by this type.
    public var inputParameters: [String: JSONValue]
    public var invocationMode: Mode
    /// At most 20, names `^[a-z_][a-z0-9_]+$` (stripped when decoding).
    public var nonsensitiveUserVariables: [String: String]
    /// At most 20, names `^[a-z_][a-z0-9_]+$` (stripped when decoding). Never logged.
    public var sensitiveUserVariables: [String: String]

    public init(
        inputParameters: [String: JSONValue],
        invocationMode: Mode = .regular,
        nonsensitiveUserVariables: [String: String] = [:],
        sensitiveUserVariables: [String: String] = [:]
    ) {
        self.inputParameters = inputParameters
        self.invocationMode = invocationMode
        self.nonsensitiveUserVariables = nonsensitiveUserVariables
        self.sensitiveUserVariables = sensitiveUserVariables
    }

    enum CodingKeys: String, CodingKey {
        case inputParameters = "input_parameters"
        case invocationMode = "invocation_mode"
        case nonsensitiveUserVariables = "nonsensitive_user_variables"
        case sensitiveUserVariables = "sensitive_user_variables"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inputParameters = try c.decode([String: JSONValue].self, forKey: .inputParameters)
        invocationMode = try decodeLiteral(Mode.self, c, forKey: .invocationMode)
        nonsensitiveUserVariables = try decodeStrippedKeys(c, forKey: .nonsensitiveUserVariables)
        sensitiveUserVariables = try decodeStrippedKeys(c, forKey: .sensitiveUserVariables)
    }

    func validate(into c: inout ValidationCollector) {
        for (key, variables) in [(CodingKeys.nonsensitiveUserVariables, nonsensitiveUserVariables), (.sensitiveUserVariables, sensitiveUserVariables)] {
            c.maxProperties(variables.count, 20, at: [.key(key.stringValue)])
            for name in variables.keys.sorted() {
                c.strippedString(name, matching: FieldRule.isVariableName, pattern: "^[a-z_][a-z0-9_]+$", at: [.key(key.stringValue), .key(name), "[key]"])
            }
        }
    }
}

extension ValidationCollector {
    /// `inputs`: 1 to 10 items, each valid.
    mutating func toolInputs(_ inputs: [ToolInvocationInput], at path: [ValidationIssue.Location]) {
        itemCount(inputs.count, in: 1...10, at: path)
        for (index, input) in inputs.enumerated() {
            nested(path + [.index(index)]) { input.validate(into: &$0) }
        }
    }
}

/// Body of `POST /v1/{org}/tool/{tool_id}/version/{version}/invoke`: run a published version once per input.
public struct InvokeToolVersionRequest: Codable, Sendable, Hashable, ValidatableRequest {
    /// 1 to 10 runs.
    public var inputs: [ToolInvocationInput]

    public init(inputs: [ToolInvocationInput]) { self.inputs = inputs }

    public func validate(into c: inout ValidationCollector) {
        c.toolInputs(inputs, at: ["inputs"])
    }
}

/// Response of the invoke and test endpoints: one result per input, in input order.
public struct InvokeToolVersionResponse: Codable, Sendable, Hashable {
    public var invocationResults: [InvocationResult]

    public init(invocationResults: [InvocationResult]) { self.invocationResults = invocationResults }

    enum CodingKeys: String, CodingKey { case invocationResults = "invocation_results" }
}

/// Body of `POST /v1/{org}/tool/test`: run the tip of `commitBranch` of the tools repository, at
/// `projectPath`, without publishing it, with the environment given here instead of the tool's.
public struct TestToolRequest: Codable, Sendable, Hashable, ValidatableRequest {
    /// 1 to 10 runs.
    public var inputs: [ToolInvocationInput]
    public var commitBranch: String
    /// The directory holding the tool's `pyproject.toml`; `^[-\w\d_/]+$`.
    public var projectPath: String
    public var requiredEnvvars: [String: String]
    /// Never logged or stored.
    public var requiredSecretEnvvars: [String: String]

    public init(
        inputs: [ToolInvocationInput], commitBranch: String, projectPath: String,
        requiredEnvvars: [String: String] = [:], requiredSecretEnvvars: [String: String] = [:]
    ) {
        self.inputs = inputs
        self.commitBranch = commitBranch
        self.projectPath = projectPath
        self.requiredEnvvars = requiredEnvvars
        self.requiredSecretEnvvars = requiredSecretEnvvars
    }

    enum CodingKeys: String, CodingKey {
        case inputs
        case commitBranch = "commit_branch"
        case projectPath = "project_path"
        case requiredEnvvars = "required_envvars"
        case requiredSecretEnvvars = "required_secret_envvars"
    }

    public func validate(into c: inout ValidationCollector) {
        c.toolInputs(inputs, at: ["inputs"])
        c.projectPath(projectPath, at: ["project_path"])
    }
}

/// Response of `POST /v1/{org}/tool/test`, the same shape as the invoke response.
public typealias TestToolResponse = InvokeToolVersionResponse
