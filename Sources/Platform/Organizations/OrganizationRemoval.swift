import AmigoWire
import Foundation
import Logging
import Storage

/// Deleting an organization: every row of it in every table, the leases its conversations and users
/// hold, its tool repository and built tool environments.
///
/// Rules:
/// - The organization counts as deleted from the first call (its row goes first, in its own
///   transaction): its callers fail from then on. The rest is erased table by table; a failure leaves
///   the rest for the next call, which resumes (the API document's contract: call again until it succeeds).
/// - Files go last: the tool repository and the built environments.
public struct OrganizationRemoval: Sendable {
    let store: Store
    let tools: Tools?
    let logger: Logger

    public init(store: Store, tools: Tools?, logger: Logger) {
        self.store = store
        self.tools = tools
        self.logger = logger
    }

    public func delete(_ orgID: String) async throws {
        let existed = try await store.write { try await $0.organizations.removeRow(orgID) }
        if !existed, try await store.read({ try await $0.organizations.remainingRows(of: orgID) }) == 0 {
            throw PlatformError.notFound("Organization `\(orgID)` does not exist.")
        }
        try await store.write { try await $0.organizations.eraseToolsAndLeases(of: orgID) }
        for table in OrganizationRepository.erasableTables {
            try await store.write { try await $0.organizations.erase(table, of: orgID) }
        }
        if let tools { try tools.removeFiles(of: orgID) }
        logger.notice("organization deleted", metadata: ["org_id": "\(orgID)"])
    }
}
