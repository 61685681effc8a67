/// Body of `POST /v1/{org}/tool/{tool_id}/envvar`: environment variables to add, change and remove.
/// A version can only be published once the variables it requires exist on the tool.
///
/// Each list defaults to `[]` when absent (or `null`, as the SDK's model allows). Decoding strips the
/// names; values are kept as sent. Whether a name already exists, is missing, or is still required by a
/// non-deprecated version is for the server to decide (409/400), not this type.
public struct ModifyToolEnvvarsRequest: Codable, Sendable, Hashable, ValidatableRequest {
    /// A new variable; `isSecret` variables are stored encrypted and never returned.
    public struct Insert: Codable, Sendable, Hashable {
        public var name: String
        public var value: String
        public var isSecret: Bool

        public init(name: String, value: String, isSecret: Bool) {
            self.name = name
            self.value = value
            self.isSecret = isSecret
        }

        enum CodingKeys: String, CodingKey {
            case name, value
            case isSecret = "is_secret"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = FieldRule.stripped(try c.decode(String.self, forKey: .name))
            value = try c.decode(String.self, forKey: .value)
            isSecret = try c.decode(Bool.self, forKey: .isSecret)
        }
    }

    /// A new value for an existing variable (it stays secret or not).
    public struct Update: Codable, Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }

        enum CodingKeys: String, CodingKey { case name, value }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = FieldRule.stripped(try c.decode(String.self, forKey: .name))
            value = try c.decode(String.self, forKey: .value)
        }
    }

    /// A variable to remove.
    public struct Delete: Codable, Sendable, Hashable {
        public var name: String

        public init(name: String) { self.name = name }

        enum CodingKeys: String, CodingKey { case name }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = FieldRule.stripped(try c.decode(String.self, forKey: .name))
        }
    }

    public var inserts: [Insert]
    public var updates: [Update]
    public var deletes: [Delete]

    public init(inserts: [Insert] = [], updates: [Update] = [], deletes: [Delete] = []) {
        self.inserts = inserts
        self.updates = updates
        self.deletes = deletes
    }

    enum CodingKeys: String, CodingKey { case inserts, updates, deletes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inserts = try c.decodeIfPresentNotNull([Insert].self, forKey: .inserts) ?? []
        updates = try c.decodeIfPresentNotNull([Update].self, forKey: .updates) ?? []
        deletes = try c.decodeIfPresentNotNull([Delete].self, forKey: .deletes) ?? []
    }

    public func validate(into c: inout ValidationCollector) {
        let names: [(CodingKeys, [String])] = [(.inserts, inserts.map(\.name)), (.updates, updates.map(\.name)), (.deletes, deletes.map(\.name))]
        for (list, values) in names {
            for (index, name) in values.enumerated() {
                c.strippedString(name, matching: FieldRule.isEnvvarName, pattern: "^[A-Z_]+$", at: [.key(list.stringValue), .index(index), "name"])
            }
        }
    }
}

/// Body of `POST /v1/{org}/tool/{tool_id}/version`: publish the tool project at `projectPath` of the
/// tools repository as the latest version bumped by `bumpType` (the first version uses `major`).
public struct PublishToolVersionRequest: Codable, Sendable, Hashable, ValidatableRequest {
    /// The directory holding the tool's `pyproject.toml`; `^[-\w\d_/]+$`.
    public var projectPath: String
    public var bumpType: ToolVersion.Bump

    public init(projectPath: String, bumpType: ToolVersion.Bump) {
        self.projectPath = projectPath
        self.bumpType = bumpType
    }

    enum CodingKeys: String, CodingKey {
        case projectPath = "project_path"
        case bumpType = "bump_type"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        projectPath = try c.decode(String.self, forKey: .projectPath)
        bumpType = try decodeLiteral(ToolVersion.Bump.self, c, forKey: .bumpType)
    }

    public func validate(into c: inout ValidationCollector) {
        c.projectPath(projectPath, at: ["project_path"])
    }
}

/// `{"new_version": "1.2.0"}` — the response of `POST /v1/{org}/tool/{tool_id}/version` (201).
public struct PublishToolVersionResponse: Codable, Sendable, Hashable {
    /// `major.minor.patch`.
    public var newVersion: String

    public init(newVersion: String) { self.newVersion = newVersion }
    public init(newVersion: ToolVersion) { self.newVersion = newVersion.description }

    enum CodingKeys: String, CodingKey { case newVersion = "new_version" }
}

extension ValidationCollector {
    /// `project_path`: `^[-\w\d_/]+$`, not stripped.
    mutating func projectPath(_ value: String, at path: [ValidationIssue.Location]) {
        if !FieldRule.isProjectPath(value) {
            add(path, "String should match pattern '^[-\\w\\d_/]+$'", type: "string_pattern_mismatch")
        }
    }
}
