import AmigoWire
import Foundation
import Hummingbird
import Platform

/// The admin endpoints under `/v1/{organization}/admin/`.
struct AdminController {
    let api: API

    func addRoutes(to router: Router<AppContext>) {
        let api = api
        let catalog = ModelCatalog(store: api.store, models: api.conversations.models)

        router.operation(.get, "/v1/:organization/admin/get_models/", "get-models", api: api) { call in
            let caller = try call.caller
            try caller.require("Admin:GetModels")
            return try .json(["models": try await catalog.entries(orgID: call.orgID)])
        }
    }
}
