import AmigoWire
import Foundation
import Storage
import ToolRepository
import ToolRuntime

extension Tools {
    /// How many versions of a tool may be active (not deprecated) at once.
    static let maxActiveVersions = 3

    /// Publishes the tip of `main` at `projectPath` as the next version: checks the rules, builds the
    /// environment, and records the version. Nothing is recorded unless the build succeeded.
    public func publish(
        toolID: String, orgID: String, projectPath: String, bump: ToolVersion.Bump, creator: UserInfo
    ) async throws -> ToolVersionInstance {
        let (tool, versions, envvars) = try await store.read { repositories in
            (try await repositories.tools.get(id: toolID, orgID: orgID),
             try await repositories.tools.versions(toolID: toolID, orgID: orgID),
             try await repositories.tools.envvars(toolID: toolID))
        }
        guard let tool, !tool.deprecated else { throw PlatformError.notFound("Tool `\(toolID)` does not exist.") }
        let latest = versions.map(\.version).max() ?? .zero
        if versions.isEmpty, bump != .major {
            throw PlatformError.badRequest("The first version of a tool must be published with `bump_type: major`.")
        }
        if versions.filter({ !$0.deprecated }).count >= Self.maxActiveVersions {
            throw PlatformError.badRequest("Tool `\(tool.name)` already has \(Self.maxActiveVersions) active versions; deprecate one first."
            )
        }
        _ = try await repositories.prepare(organization: orgID)
        guard let commit = try await repositories.commit(organization: orgID, branch: "main") else {
            throw PlatformError.notFound("The tool repository has no `main` branch.")
        }
        if let last = versions.max(by: { $0.createdAt < $1.createdAt }),
           !(try await repositories.isAncestor(organization: orgID, last.toolCommitHash, of: commit)) {
            throw PlatformError.badRequest("The tip of `main` (\(commit.prefix(12))) is older than the commit of the last published version."
            )
        }
        let version = latest.bumped(bump)
        let checkout = FileManager.default.temporaryDirectory.appendingPathComponent("compadre-publish-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: checkout) }
        let project = try await exportProject(orgID: orgID, commit: commit, projectPath: projectPath, to: checkout)

        let manifest = try await manifest(of: project)
        let active = envvars.filter { $0.deletedAt == nil }
        let missing = manifest.requiredEnvvars.filter { name in !active.contains { $0.name == name && !$0.isSecret } }
            + manifest.requiredSecretEnvvars.filter { name in !active.contains { $0.name == name && $0.isSecret } }
        if !missing.isEmpty {
            throw PlatformError.badRequest("The tool needs environment variables it does not have (add them first): \(missing.joined(separator: ", "))."
            )
        }
        let directory = environments.directory(orgID: orgID, toolID: toolID, version: version)
        try? FileManager.default.removeItem(at: directory)
        let environment: ToolEnvironment
        do {
            environment = try await builder.build(project: project, into: directory)
        } catch let error as ToolBuildError {
            try? FileManager.default.removeItem(at: directory)
            throw PlatformError.badRequest("The tool failed to build: \(error.description)")
        }
        await environments.remember(environment)
        let schema = (try? JSONDecoder().decode([String: JSONValue].self, from: manifest.inputSchema)) ?? [:]
        let record = ToolVersionInstance(
            id: ObjectID.generate(), orgID: orgID, createdAt: Date(), toolID: toolID, version: version,
            requiredEnvvars: manifest.requiredEnvvars, requiredSecretEnvvars: manifest.requiredSecretEnvvars,
            inputSchema: schema, toolCommitHash: commit, amigoScaffoldCommitHash: ToolScaffold.revision,
            projectDirectory: projectPath, lambdaVersion: versions.count + 1,
            creator: ToolVersionUserInfo(creator)
        )
        try await store.write { try await $0.tools.insert(record) }
        return record
    }

    /// Runs `inputs` against the tip of `branch` at `projectPath`, built in a throwaway environment,
    /// with the given variables (the `test` endpoint). Nothing is recorded.
    public func test(
        orgID: String, branch: String, projectPath: String, inputs: [ToolInvocationInput],
        variables: [String: String], secretVariables: [String: String]
    ) async throws -> [InvocationResult] {
        let both = Set(variables.keys).intersection(secretVariables.keys)
        if !both.isEmpty {
            throw PlatformError.badRequest("Variables cannot be both secret and not: \(both.sorted().joined(separator: ", "))."
            )
        }
        _ = try await repositories.prepare(organization: orgID)
        let tip: String?
        do {
            tip = try await repositories.commit(organization: orgID, branch: branch)
        } catch let error as ToolRepositoryError where error == .invalidReference {
            throw PlatformError.badRequest("`\(branch)` is not a valid branch name.")
        }
        guard let commit = tip else {
            throw PlatformError.notFound("The tool repository has no branch `\(branch)`.")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("compadre-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let project = try await exportProject(orgID: orgID, commit: commit, projectPath: projectPath, to: scratch.appendingPathComponent("checkout"))
        let manifest = try await manifest(of: project)
        let missing = manifest.requiredEnvvars.filter { variables[$0] == nil }
            + manifest.requiredSecretEnvvars.filter { secretVariables[$0] == nil }
        if !missing.isEmpty {
            throw PlatformError.badRequest("The tool needs environment variables that were not given: \(missing.joined(separator: ", ")).")
        }
        let schema = (try? JSONDecoder().decode([String: JSONValue].self, from: manifest.inputSchema)) ?? [:]
        for (index, input) in inputs.enumerated() {
            if let problem = InputSchemaCheck.problem(with: input.inputParameters, schema: schema) {
                throw PlatformError.badRequest("Input \(index): \(problem)")
            }
        }
        let environment: ToolEnvironment
        do {
            environment = try await builder.build(project: project, into: scratch.appendingPathComponent("environment"))
        } catch let error as ToolBuildError {
            throw PlatformError.badRequest("The tool failed to build: \(error.description)")
        }
        let all = variables.merging(secretVariables) { plain, _ in plain }
        var results: [InvocationResult] = []
        for input in inputs {
            let document = try WireCoding.encoder().encode(input)
            results.append(Self.invocationResult(await sandbox.run(environment, input: document, variables: all)))
        }
        return results
    }

    private func exportProject(orgID: String, commit: String, projectPath: String, to destination: URL) async throws -> URL {
        let path = projectPath.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        do {
            try await repositories.export(organization: orgID, commit: commit, projectPath: path, to: destination)
        } catch let error as ToolRepositoryError {
            throw PlatformError.notFound(error.description)
        }
        return destination
    }

    private func manifest(of project: URL) async throws -> ToolManifest {
        do {
            return try await ToolManifest.read(project: project, python: configuration.python)
        } catch let error as ToolBuildError {
            throw PlatformError.badRequest(error.description)
        }
    }
}

/// The checks of a JSON Schema that an input must pass before a tool runs: required properties and the
/// top-level types of the properties it declares. (The tool itself validates anything deeper.)
public enum InputSchemaCheck {
    public static func problem(with input: [String: JSONValue], schema: [String: JSONValue]) -> String? {
        if case .array(let required)? = schema["required"] {
            for case .string(let key) in required where input[key] == nil {
                return "the input lacks the required parameter `\(key)`."
            }
        }
        guard case .object(let properties)? = schema["properties"] else { return nil }
        for (key, value) in input {
            guard case .object(let property)? = properties[key] else {
                if case .bool(false)? = schema["additionalProperties"] { return "the tool takes no parameter `\(key)`." }
                continue
            }
            guard case .string(let type)? = property["type"] else { continue }
            if !matches(value, type: type) { return "the parameter `\(key)` must be of type \(type)." }
        }
        return nil
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("string", .string), ("boolean", .bool), ("number", .number), ("object", .object), ("array", .array), ("null", .null):
            true
        case ("integer", .number(let number)):
            number.rounded() == number
        default:
            false
        }
    }
}
