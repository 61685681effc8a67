import AmigoWire
import Foundation
import Hummingbird
import Storage
import Platform

extension Principal {
    /// The user ids this caller may see with `permission`: nil when every user is visible,
    /// otherwise the ids its conditional grants allow (for an ordinary user, only themself).
    func visibleUserIDs(_ permission: String) -> [String]? {
        let unconditional = role.permissionGrants.contains { $0.grants(permission) && $0.conditions.isEmpty }
        return unconditional ? nil : (can(permission, on: ["user_id": user.userID]) ? [user.userID] : [])
    }
}

/// Users: invitations, listing, profiles, variables, user models and memories.
struct UserController {
    let api: API

    func addRoutes(to router: Router<AppContext>) {
        let api = api
        let userSortFields = [
            "first_name": "first_name", "last_name": "last_name", "email": "email",
            "user_stats.num_conversations": "num_conversations", "user_stats.num_messages": "num_messages",
            "user_stats.last_message_time": "last_message_time",
        ]

        router.operation(.post, "/v1/:organization/user/", "create-invited-user", api: api) { call in
            let caller = try call.caller
            try caller.require("User:InviteUser")
            let body = try await call.body(CreateInvitedUserRequest.self)
            let orgID = call.orgID
            let userID = try await api.store.write { repositories -> String in
                guard let role = try await repositories.roles.get(name: body.roleName, orgID: orgID) else {
                    throw PlatformError.notFound("Role `\(body.roleName)` does not exist.")
                }
                try caller.requireCovers(role)
                if try await repositories.users.find(email: body.email, orgID: orgID) != nil {
                    throw PlatformError.conflict("A user with the email `\(body.email)` already exists in this organization.")
                }
                let organization = try await repositories.organizations.get(orgID)
                var user = User(
                    orgID: orgID, userID: ObjectID.generate(), firstName: body.firstName.trimmingCharacters(in: .whitespaces),
                    lastName: body.lastName.trimmingCharacters(in: .whitespaces), email: body.email, roleID: role.id,
                    preferences: body.userPreferences ?? organization?.defaultUserPreferences ?? Preferences(), createdAt: Date()
                )
                user.nonsensitiveVariables = body.nonsensitiveUserVariables
                user.sensitiveVariables = body.sensitiveUserVariables
                try await repositories.users.insert(user)
                return user.userID
            }
            return try .json(CreateInvitedUserResponse(userID: userID, verifyLink: nil), status: .created)
        }

        router.operation(.get, "/v1/:organization/user/", "get-users", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let emails = query.all("email")
            for (index, email) in emails.enumerated() where !FieldRule.isEmail(email) {
                throw PlatformError.validation(["query", "email", .index(index)], "value is not a valid email address", type: "value_error")
            }
            var filter = UserFilter(ids: Array(Set(query.all("user_id"))).sorted(), emails: emails)
            let page = try query.page(defaultLimit: 100, maxLimit: 100, minLimit: 0)
            let sort = try query.sort(allowed: userSortFields).map { SortKey(column: $0.column, ascending: $0.ascending) }
            if let visible = caller.visibleUserIDs("User:GetUserInfo") {
                filter.ids = filter.ids.isEmpty ? visible : filter.ids.filter(visible.contains)
                if filter.ids.isEmpty { return try .json(GetUsersResponse(users: [], hasMore: false, continuationToken: nil)) }
            }
            let orgID = call.orgID
            let userFilter = filter
            let (result, roles) = try await api.store.read { repositories in
                (try await repositories.users.list(orgID: orgID, filter: userFilter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset)),
                 try await repositories.roles.list(orgID: orgID))
            }
            let names = Dictionary(uniqueKeysWithValues: roles.map { ($0.id, $0.name) })
            let users = result.items.map { UserInstance(user: $0.0, roleName: names[$0.0.roleID] ?? "", stats: $0.1) }
            return try .json(GetUsersResponse(users: users, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.get, "/v1/:organization/user/search/", "search-users", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let text = try query.required("query")
            var ids = query.all("user_id")
            if let visible = caller.visibleUserIDs("User:GetUserInfo") {
                ids = ids.isEmpty ? visible : ids.filter(visible.contains)
                if ids.isEmpty { return try .json(SearchUsersResponse(users: [])) }
            }
            let orgID = call.orgID
            let searchIDs = ids
            let (found, roles) = try await api.store.read { repositories in
                (try await repositories.users.search(orgID: orgID, text: text, ids: searchIDs, limit: 100), try await repositories.roles.list(orgID: orgID))
            }
            let names = Dictionary(uniqueKeysWithValues: roles.map { ($0.id, $0.name) })
            return try .json(SearchUsersResponse(users: found.map { UserInstance(user: $0.0, roleName: names[$0.0.roleID] ?? "", stats: $0.1) }))
        }

        router.operation(.post, "/v1/:organization/user/:user_id", "update-user-info", api: api) { call in
            let userID = try call.parameter("user_id")
            try call.caller.require("User:UpdateUserInfo", on: ["user_id": userID])
            let body = try await call.body(UpdateUserInfoRequest.self)
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard var user = try await repositories.users.get(id: userID, orgID: orgID) else { throw PlatformError.notFound("User `\(userID)` does not exist.") }
                body.apply(to: &user)
                try await repositories.users.update(user)
            }
            return .empty(.noContent)
        }

        router.operation(.delete, "/v1/:organization/user/:user_id", "delete-user", api: api) { call in
            let userID = try call.parameter("user_id")
            try call.caller.require("User:DeleteUser", on: ["user_id": userID])
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard try await repositories.users.get(id: userID, orgID: orgID) != nil else { throw PlatformError.notFound("User `\(userID)` does not exist.") }
                try await repositories.users.delete(id: userID, orgID: orgID)
            }
            return .empty(.noContent)
        }

        router.operation(.get, "/v1/:organization/user/:user_id/user_model", "get-user-model", api: api) { call in
            let userID = try call.parameter("user_id")
            try call.caller.require("User:GetUserModel", on: ["user_id": userID])
            let orgID = call.orgID
            let (user, model) = try await api.store.read { repositories in
                (try await repositories.users.get(id: userID, orgID: orgID), try await repositories.memories.userModel(userID: userID, orgID: orgID))
            }
            guard let user else { throw PlatformError.notFound("User `\(userID)` does not exist.") }
            try Visibility.requireUserModelVisible(of: user, to: call.caller)
            return try .json(GetUserModelResponse(userModels: model?.userModels ?? [], additionalContext: user.additionalContext))
        }

        router.operation(.get, "/v1/:organization/user/:user_id/memory", "get-memories", api: api) { call in
            let userID = try call.parameter("user_id")
            try call.caller.require("Conversation:GetMessage", on: ["user_id": userID])
            let query = call.query
            let ids = try query.objectIDs("id")
            let conversations = try query.objectIDs("conversation_id")
            let page = try query.page(defaultLimit: 50, maxLimit: 50, minLimit: 0)
            let sort = try query.sort(allowed: ["conversation_id": "conversation_id", "created_at": "created_at"])
            let orgID = call.orgID
            let caller = try call.caller
            let (user, result) = try await api.store.read { repositories -> (User?, PageResult<Memory>?) in
                guard let user = try await repositories.users.get(id: userID, orgID: orgID) else { return (nil, nil) }
                // Memories are the user's; reading them needs the messages they come from (the permission
                // above), which a user may hide from administrators.
                guard Visibility.conversationsVisible(of: user, to: caller) else { return (user, nil) }
                let result = try await repositories.memories.page(
                    userID: userID, orgID: orgID, ids: ids, conversationIDs: conversations,
                    sort: sort.map { SortKey(column: $0.column, ascending: $0.ascending) }, page: PageRequest(limit: page.limit, offset: page.offset)
                )
                return (user, result)
            }
            guard user != nil else { throw PlatformError.notFound("User `\(userID)` does not exist.") }
            guard let result else { return try .json(GetMemoriesResponse(memories: [], hasMore: false, continuationToken: nil)) }
            return try .json(GetMemoriesResponse(memories: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.post, "/v1/:organization/user/:user_id/variable", "modify-user-variables", api: api) { call in
            let userID = try call.parameter("user_id")
            try call.caller.require("User:UpdateUserInfo", on: ["user_id": userID])
            let body = try await call.body(ModifyUserVariablesRequest.self)
            let orgID = call.orgID
            try await api.store.write { repositories in
                guard var user = try await repositories.users.get(id: userID, orgID: orgID) else { throw PlatformError.notFound("User `\(userID)` does not exist.") }
                let missing = body.deletes.map(\.name).filter { user.nonsensitiveVariables[$0] == nil && user.sensitiveVariables[$0] == nil }
                if !missing.isEmpty { throw PlatformError.badRequest("Variables to delete do not exist: \(missing.joined(separator: ", ")).") }
                for delete in body.deletes {
                    user.nonsensitiveVariables[delete.name] = nil
                    user.sensitiveVariables[delete.name] = nil
                }
                for upsert in body.upserts {
                    if upsert.isSecret {
                        user.nonsensitiveVariables[upsert.name] = nil
                        user.sensitiveVariables[upsert.name] = upsert.value
                    } else {
                        user.sensitiveVariables[upsert.name] = nil
                        user.nonsensitiveVariables[upsert.name] = upsert.value
                    }
                }
                if user.nonsensitiveVariables.count > 20 { throw PlatformError.badRequest("A user can have at most 20 nonsensitive variables.") }
                if user.sensitiveVariables.count > 20 { throw PlatformError.badRequest("A user can have at most 20 sensitive variables.") }
                try await repositories.users.update(user)
            }
            return .empty(.noContent)
        }
    }
}
