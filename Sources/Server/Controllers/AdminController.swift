import AmigoWire
import Foundation
import Hummingbird
import NIOCore
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

        let queries = SQLQueries(store: api.store, python: api.tools?.configuration.python ?? "python3")
        router.operation(.post, "/v1/:organization/admin/sql_query", "submit-sql-query", api: api) { call in
            let caller = try call.caller
            try caller.require("Admin:SubmitSQLQuery")
            // More privileged than an organization's administrator.
            try caller.requireAmigoAdministrator()
            let body = try await call.body(SubmitSQLQueryRequest.self)
            return try .json(try await queries.run(body.sqlQuery, orgID: call.orgID))
        }

        let downloads = PromptLogDownloads(store: api.store)
        router.operation(.get, "/v1/:organization/admin/get_prompt_logs/", "get-prompt-logs", api: api) { call in
            let caller = try call.caller
            try caller.require("Admin:GetPromptLogs")
            let prefix = try call.query.required("prompt_log_prefix")
            // The logs of this process's latest calls are written first.
            await api.promptLogs?.flush()
            let zip = try await downloads.zip(prefix: prefix, caller: caller)
            return Response(
                status: .ok,
                headers: [.contentType: "application/zip", .contentDisposition: "attachment; filename=\"prompt-logs.zip\""],
                body: .init(byteBuffer: ByteBuffer(bytes: zip))
            )
        }
    }
}
