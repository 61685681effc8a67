import Foundation

/// An `[id, version]` pair: which version of an agent, context graph or dynamic behavior set was used.
/// The API sends it as a two-element JSON array (`agent_version_info`, `*_state_machine_version_info`,
/// dynamic behavior set version info).
public struct VersionInfo: Codable, Sendable, Hashable {
    public var id: String
    public var version: Int

    public init(id: String, version: Int) {
        self.id = id
        self.version = version
    }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        id = try c.decode(String.self)
        version = try c.decode(Int.self)
        if !c.isAtEnd {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "Tuple should have at most 2 items")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(id)
        try c.encode(version)
    }
}

/// The versions a conversation runs with, resolved from the service's version set when it was created.
public struct VersionSetInfo: Codable, Sendable, Hashable {
    public var name: String
    public var agentVersionInfo: VersionInfo
    public var serviceHierarchicalStateMachineVersionInfo: VersionInfo
    public var llmModelPreferences: [String: LLMConfig]

    public init(name: String, agentVersionInfo: VersionInfo, serviceHierarchicalStateMachineVersionInfo: VersionInfo, llmModelPreferences: [String: LLMConfig] = [:]) {
        self.name = name
        self.agentVersionInfo = agentVersionInfo
        self.serviceHierarchicalStateMachineVersionInfo = serviceHierarchicalStateMachineVersionInfo
        self.llmModelPreferences = llmModelPreferences
    }

    enum CodingKeys: String, CodingKey {
        case name
        case agentVersionInfo = "agent_version_info"
        case serviceHierarchicalStateMachineVersionInfo = "service_hierarchical_state_machine_version_info"
        case llmModelPreferences = "llm_model_preferences"
    }
}
