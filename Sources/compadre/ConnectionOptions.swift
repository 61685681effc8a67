import ArgumentParser
import CompadreClient
import Foundation

/// How a client command reaches a server and signs in: flags, else the AMIGO_* environment variables
/// the official SDK reads, else ./compadre-credentials.json as `compadre init` writes it.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Server URL (default http://127.0.0.1:8080).") var url: String?
    @Option(help: "Organization id.") var org: String?
    @Option(name: .customLong("api-key"), help: "API key.") var apiKey: String?
    @Option(name: .customLong("api-key-id"), help: "API key id.") var apiKeyID: String?
    @Option(name: .customLong("user-id"), help: "User to sign in as.") var userID: String?
    @Option(help: "Credentials file (default ./compadre-credentials.json when present).") var credentials: String?

    struct CredentialsFile: Decodable {
        var organizationID: String?
        var userID: String?
        var apiKeyID: String?
        var apiKey: String?
        var serviceID: String?
        var baseURL: String?
        enum CodingKeys: String, CodingKey {
            case organizationID = "organization_id", userID = "user_id", apiKeyID = "api_key_id", apiKey = "api_key"
            case serviceID = "service_id", baseURL = "base_url"
        }
    }

    /// The client's configuration, and the credentials file when one was read.
    func resolve() throws -> (AmigoClient.Configuration, CredentialsFile?) {
        let environment = ProcessInfo.processInfo.environment
        let filePath = credentials ?? (FileManager.default.fileExists(atPath: "compadre-credentials.json") ? "compadre-credentials.json" : nil)
        let file = try filePath.map { try JSONDecoder().decode(CredentialsFile.self, from: Data(contentsOf: URL(fileURLWithPath: $0))) }
        func pick(_ flag: String?, _ variable: String, _ fromFile: String?, _ name: String) throws -> String {
            if let value = flag ?? environment[variable] ?? fromFile { return value }
            throw ValidationError("missing \(name): pass --\(name), set \(variable), or run in a folder with compadre-credentials.json")
        }
        let configuration = AmigoClient.Configuration(
            baseURL: url ?? environment["AMIGO_BASE_URL"] ?? file?.baseURL ?? "http://127.0.0.1:8080",
            organizationID: try pick(org, "AMIGO_ORGANIZATION_ID", file?.organizationID, "org"),
            apiKey: try pick(apiKey, "AMIGO_API_KEY", file?.apiKey, "api-key"),
            apiKeyID: try pick(apiKeyID, "AMIGO_API_KEY_ID", file?.apiKeyID, "api-key-id"),
            userID: try pick(userID, "AMIGO_USER_ID", file?.userID, "user-id")
        )
        return (configuration, file)
    }
}
