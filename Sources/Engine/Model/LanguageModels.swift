import AmigoWire

/// The models a server is configured with: one default and any number of named ones.
///
/// A version set's `llm_model_preferences` maps prompt kinds to `LLMConfig`s; a config whose `llm_name`
/// names a configured model routes that prompt kind to it (with its `params`), anything else goes to
/// the default model.
public struct LanguageModels: Sendable {
    public var defaultModel: any LanguageModel
    public var named: [String: any LanguageModel]
    /// What each model is, for `get-models`: the endpoint's model name by `llm_name` (`default` for the
    /// default model).
    public var descriptions: [String: String] = [:]

    public init(default defaultModel: any LanguageModel, named: [String: any LanguageModel] = [:]) {
        self.defaultModel = defaultModel
        self.named = named
    }

    /// The model and extra parameters to use for `kind` under `preferences`.
    public func route(
        _ kind: PromptKind,
        preferences: [String: LLMConfig]
    ) -> (model: any LanguageModel, parameters: [String: JSONValue]) {
        if let config = preferences[kind.rawValue], let model = named[config.llmName] {
            return (model, config.params)
        }
        return (defaultModel, [:])
    }

    /// The call to make for `kind` under `preferences`: the routed model with the preference's parameters.
    public func call(_ kind: PromptKind, preferences: [String: LLMConfig]) -> ModelCall {
        let (model, parameters) = route(kind, preferences: preferences)
        return ModelCall(model: model, parameters: parameters)
    }
}

/// The model of a server that has none configured: every call fails at once with `reason`, so
/// conversations end with a clear error event instead of hanging.
public struct UnconfiguredModel: LanguageModel {
    public var reason: String

    public init(reason: String) { self.reason = reason }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
        AsyncThrowingStream { $0.finish(throwing: LanguageModelError(.unreachable, reason)) }
    }
}
