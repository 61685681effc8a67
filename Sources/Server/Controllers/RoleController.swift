import AmigoWire
import Foundation
import Hummingbird
import Storage
import Platform

/// Roles and their assignment.
struct RoleController {
    let api: API

    func addRoutes(to router: Router<AppContext>) {
        let api = api

        router.operation(.post, "/v1/:organization/role/temporary_permission_grant/", "create-temporary-permission-grant", api: api) { call in
            let caller = try call.caller
            try caller.require("Role:CreateTemporaryPermissionGrant")
            let body = try await call.body(CreateTemporaryPermissionGrantRequest.self)
            // No one grants what their own role does not allow.
            try caller.requireCovers(Role(
                id: "", name: "the grant", description: "", frontendView: .client, permissionGrants: [body.permissionGrant]
            ))
            let orgID = call.orgID
            let now = Date()
            let grant = TemporaryPermissionGrant(
                id: ObjectID.generate(now: now), orgID: orgID, createdAt: now, userID: body.userID,
                expiresAt: now.addingTimeInterval(body.durationSeconds ?? 0), permissionGrant: body.permissionGrant,
                justification: body.justification.stripped, creator: caller.userInfo, tags: body.tags.strippedTags
            )
            try await api.store.write { repositories in
                guard try await repositories.users.get(id: body.userID, orgID: orgID) != nil else {
                    throw PlatformError.notFound("User `\(body.userID)` does not exist.")
                }
                try await repositories.roles.insert(grant)
            }
            return try .json(CreateTemporaryPermissionGrantResponse(temporaryPermissionGrantID: grant.id, expiresAt: grant.expiresAt), status: .created)
        }

        router.operation(.get, "/v1/:organization/role/temporary_permission_grants/", "get-temporary-permission-grants", api: api) { call in
            let caller = try call.caller
            let query = call.query
            var filter = TemporaryGrantFilter()
            filter.ids = try query.objectIDs("id")
            filter.userIDs = query.all("user_id")
            filter.permissionName = query.string("permission_grant_name")
            filter.isExpired = try query.bool("is_expired")
            filter.now = Date()
            filter.creators = query.all("creator")
            filter.tags = try query.keyValues("tag").map { TagMatch(key: $0.key, value: $0.value) }
            let sort = try query.sort(allowed: ["user_id": "user_id", "expires_at": "expires_at", "permission_grant.permission_name": "permission_name"])
                .map { SortKey(column: $0.column, ascending: $0.ascending) }
            let page = try query.page(defaultLimit: 10, maxLimit: 10, minLimit: 0)
            guard caller.can("Role:GetTemporaryPermissionGrant") else {
                return try .json(Page<TemporaryPermissionGrant>(itemsKey: "temporary_permission_grants", items: [], hasMore: false, continuationToken: nil))
            }
            let orgID = call.orgID
            let result = try await api.store.read { [filter] in
                try await $0.roles.grants(orgID: orgID, filter: filter, sort: sort, page: PageRequest(limit: page.limit, offset: page.offset))
            }
            return try .json(Page(itemsKey: "temporary_permission_grants", items: result.items, hasMore: result.hasMore, continuationToken: result.nextToken))
        }

        router.operation(.post, "/v1/:organization/role/", "create-role", api: api) { call in
            let caller = try call.caller
            try caller.require("Role:CreateRole")
            let body = try await call.body(CreateRoleRequest.self)
            let orgID = call.orgID
            let role = Role(
                id: ObjectID.generate(), name: body.roleName.trimmingCharacters(in: .whitespacesAndNewlines),
                description: body.description.trimmingCharacters(in: .whitespacesAndNewlines), frontendView: body.frontendView,
                permissionGrants: body.permissionGrants
            )
            try await api.store.write { repositories in
                if try await repositories.roles.get(name: role.name, orgID: orgID) != nil {
                    throw PlatformError.conflict("A role named `\(role.name)` already exists.")
                }
                try await repositories.roles.insert(role, orgID: orgID)
            }
            return try .json(RoleIDResponse(roleID: role.id), status: .created)
        }

        router.operation(.get, "/v1/:organization/role/", "get-roles", api: api) { call in
            let caller = try call.caller
            let query = call.query
            let ids = try query.objectIDs("id")
            let names = query.all("name")
            let withGrants = try query.bool("return_permission_grants") ?? false
            let orgID = call.orgID
            let roles = try await api.store.read { try await $0.roles.list(orgID: orgID, ids: ids, names: names) }
            let visible = roles.filter { caller.can("Role:GetRole", on: ["role_id": $0.id, "name": $0.name]) || $0.id == caller.role.id }
                .map { role in
                    var role = role
                    if !withGrants { role.permissionGrants = [] }
                    return role
                }
            return try .json(GetRolesResponse(roles: visible))
        }

        router.operation(.post, "/v1/:organization/role/:role_name", "modify-role", api: api) { call in
            let caller = try call.caller
            try caller.require("Role:ModifyRole")
            let name = try call.parameter("role_name")
            let body = try await call.body(ModifyRoleRequest.self)
            let orgID = call.orgID
            let roleID = try await api.store.write { repositories -> String in
                guard var role = try await repositories.roles.get(name: name, orgID: orgID) else {
                    throw PlatformError.notFound("Role `\(name)` does not exist.")
                }
                if let description = body.description { role.description = description.trimmingCharacters(in: .whitespacesAndNewlines) }
                if body.permissionGrants != nil || body.frontendView != nil {
                    if let grants = body.permissionGrants { role.permissionGrants = grants }
                    if let view = body.frontendView { role.frontendView = view }
                    // Changing what a role allows must not grant more than the caller has.
                    try caller.requireCovers(role)
                }
                try await repositories.roles.update(role, orgID: orgID)
                return role.id
            }
            return try .json(RoleIDResponse(roleID: roleID))
        }

        router.operation(.post, "/v1/:organization/role/:role_name/assign", "assign-role", api: api) { call in
            let caller = try call.caller
            let name = try call.parameter("role_name")
            let body = try await call.body(AssignRoleRequest.self)
            let orgID = call.orgID
            let roleID = try await api.store.write { repositories -> String in
                guard let role = try await repositories.roles.get(name: name, orgID: orgID) else {
                    throw PlatformError.notFound("Role `\(name)` does not exist.")
                }
                try caller.requireCovers(role)
                guard var user = try await repositories.users.get(id: body.userID, orgID: orgID) else {
                    throw PlatformError.notFound("User `\(body.userID)` does not exist.")
                }
                if let current = try await repositories.roles.get(id: user.roleID, orgID: orgID) { try caller.requireCovers(current) }
                user.roleID = role.id
                try await repositories.users.update(user)
                return role.id
            }
            return try .json(RoleIDResponse(roleID: roleID))
        }
    }
}
