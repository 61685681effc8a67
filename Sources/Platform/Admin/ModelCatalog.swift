import AmigoWire
import Engine
import Foundation
import Storage

/// `get-models`: the server's language models, and which prompt kinds each version set of the
/// organization's services sends to which model (a preference naming a model the server lacks falls
/// back to the default, as the Engine routes it).
public struct ModelCatalog: Sendable {
    let store: Store
    let models: LanguageModels

    public init(store: Store, models: LanguageModels) {
        self.store = store
        self.models = models
    }

    /// The parameters a preference's `params` may set: passed to the model's endpoint as they are.
    static let parameters: JSONValue = .object([
        "type": "object",
        "properties": .object([
            "temperature": .object(["type": "number", "minimum": 0, "maximum": 2]),
            "top_p": .object(["type": "number", "minimum": 0, "maximum": 1]),
            "max_tokens": .object(["type": "integer", "minimum": 1]),
            "presence_penalty": .object(["type": "number", "minimum": -2, "maximum": 2]),
            "frequency_penalty": .object(["type": "number", "minimum": -2, "maximum": 2]),
            "seed": .object(["type": "integer"]),
            "stop": .object(["type": "array", "items": .object(["type": "string"])]),
        ]),
        "additionalProperties": true,
    ])

    public func entries(orgID: String) async throws -> [ModelEntry] {
        let services = try await store.read { repositories in
            try await repositories.services.list(orgID: orgID, filter: ServiceFilter(), sort: [], page: PageRequest(limit: 10_000, offset: 0)).items
        }
        var routes: [String: [ModelRoute]] = [:]
        for service in services {
            for (setName, set) in service.versionSets.sorted(by: { $0.key < $1.key }) {
                var kindsByModel: [String: [String]] = [:]
                for kind in PromptKind.all {
                    let preferred = set.llmModelPreferences[kind.rawValue]?.llmName
                    let target = preferred.flatMap { models.named[$0] == nil ? nil : $0 } ?? "default"
                    kindsByModel[target, default: []].append(kind.rawValue)
                }
                for (model, kinds) in kindsByModel {
                    routes[model, default: []].append(ModelRoute(serviceID: service.id, versionSetName: setName, promptKinds: kinds))
                }
            }
        }
        let names = ["default"] + models.named.keys.sorted()
        return names.map { name in
            ModelEntry(
                name: name, paramsModelSchema: Self.parameters, model: models.descriptions[name] ?? name, isDefault: name == "default",
                routes: routes[name] ?? []
            )
        }
    }
}
