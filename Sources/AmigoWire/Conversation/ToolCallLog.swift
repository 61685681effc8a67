import Foundation

/// One tool call the agent made while thinking, as recorded in interaction insights.
public struct ToolCallLog: Codable, Sendable, Hashable {
    public var toolName: String
    public var toolID: String
    public var toolVersion: String
    public var input: [String: JSONValue]
    /// `null` when the call failed or produced nothing; always encoded.
    public var output: String?
    /// Seconds.
    public var duration: Double

    public init(toolName: String, toolID: String, toolVersion: String, input: [String: JSONValue], output: String?, duration: Double) {
        self.toolName = toolName
        self.toolID = toolID
        self.toolVersion = toolVersion
        self.input = input
        self.output = output
        self.duration = duration
    }

    enum CodingKeys: String, CodingKey {
        case toolName = "tool_name"
        case toolID = "tool_id"
        case toolVersion = "tool_version"
        case input, output, duration
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(toolName, forKey: .toolName)
        try c.encode(toolID, forKey: .toolID)
        try c.encode(toolVersion, forKey: .toolVersion)
        try c.encode(input, forKey: .input)
        try c.encode(output, forKey: .output)
        try c.encode(duration, forKey: .duration)
    }
}

/// A piece of the user's memory that was active during an interaction, with why it was recalled.
public struct WorkingMemory: Codable, Sendable, Hashable {
    public var content: String
    public var context: String

    public init(content: String, context: String) {
        self.content = content
        self.context = context
    }
}
