import AmigoWire
import Foundation

/// Who the agent is, from its agent version.
public struct Persona: Sendable, Hashable {
    public var name: String
    public var role: String
    public var developedBy: String
    public var background: String
    public var behaviors: [String]
    public var communicationPatterns: [String]
    /// ISO 639-3 code of the language the agent speaks by default.
    public var language: String
    /// The agent version's `voice_config.voice_id`; nil when the agent has no voice.
    public var voiceID: String?

    public init(
        name: String, role: String, developedBy: String = "", background: String = "",
        behaviors: [String] = [], communicationPatterns: [String] = [], language: String = "eng", voiceID: String? = nil
    ) {
        self.name = name
        self.role = role
        self.developedBy = developedBy
        self.background = background
        self.behaviors = behaviors
        self.communicationPatterns = communicationPatterns
        self.language = language
        self.voiceID = voiceID
    }

    public init(_ version: AgentVersion) {
        self.init(
            name: version.identity.name,
            role: version.identity.role,
            developedBy: version.identity.developedBy,
            background: version.background,
            behaviors: version.behaviors,
            communicationPatterns: version.communicationPatterns,
            language: version.identity.defaultSpokenLanguage,
            voiceID: version.voiceConfig?.voiceID
        )
    }
}

/// What the agent knows about the user it talks to.
public struct UserProfile: Sendable, Hashable {
    public var name: String
    /// Facts the organization's systems wrote through `additional_context`; read fresh each interaction.
    public var additionalContext: [String]
    public var timezone: String?
    /// What analysis of earlier conversations says about the user (the user model's descriptions).
    public var model: [String]

    public init(name: String = "", additionalContext: [String] = [], timezone: String? = nil, model: [String] = []) {
        self.name = name
        self.additionalContext = additionalContext
        self.timezone = timezone
        self.model = model
    }
}

/// Everything the prompts of one interaction share.
public struct PromptContext: Sendable {
    public var persona: Persona
    public var user: UserProfile
    /// The conversation so far, oldest first, including this interaction's input messages.
    public var history: [MessageInstance]
    /// Recalled facts available to this interaction.
    public var workingMemory: [WorkingMemory]
    /// Reflections written earlier in this interaction.
    public var reflections: [String]
    /// Results of tool calls that later LLM calls may see: earlier interactions' persisted results and
    /// this interaction's, oldest first.
    public var toolResults: [ToolResultNote]
    public var now: Date

    public init(
        persona: Persona, user: UserProfile, history: [MessageInstance],
        workingMemory: [WorkingMemory] = [], reflections: [String] = [], toolResults: [ToolResultNote] = [],
        now: Date = Date()
    ) {
        self.persona = persona
        self.user = user
        self.history = history
        self.workingMemory = workingMemory
        self.reflections = reflections
        self.toolResults = toolResults
        self.now = now
    }
}
