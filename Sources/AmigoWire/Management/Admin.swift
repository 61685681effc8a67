import Foundation

/// One language model of `get-models`: the API document's `{name, params_model_schema}` and, beside
/// them, what the model is and which prompt kinds each version set of the organization routes to it.
public struct ModelEntry: Codable, Sendable, Hashable {
    /// The `llm_name` that `llm_model_preferences` use (`default`: the model of every prompt kind without a preference).
    public var name: String
    public var paramsModelSchema: JSONValue
    /// The model at the endpoint.
    public var model: String
    public var isDefault: Bool
    public var routes: [ModelRoute]

    public init(name: String, paramsModelSchema: JSONValue, model: String, isDefault: Bool, routes: [ModelRoute]) {
        self.name = name
        self.paramsModelSchema = paramsModelSchema
        self.model = model
        self.isDefault = isDefault
        self.routes = routes
    }

    enum CodingKeys: String, CodingKey {
        case name
        case paramsModelSchema = "params_model_schema"
        case model
        case isDefault = "is_default"
        case routes
    }
}

/// The prompt kinds a version set of a service sends to a model.
public struct ModelRoute: Codable, Sendable, Hashable {
    public var serviceID: String
    public var versionSetName: String
    public var promptKinds: [String]

    public init(serviceID: String, versionSetName: String, promptKinds: [String]) {
        self.serviceID = serviceID
        self.versionSetName = versionSetName
        self.promptKinds = promptKinds
    }

    enum CodingKeys: String, CodingKey {
        case serviceID = "service_id"
        case versionSetName = "version_set_name"
        case promptKinds = "prompt_kinds"
    }
}
