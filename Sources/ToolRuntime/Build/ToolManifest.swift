import Foundation

/// What Compadre records about a tool version, read from its project's `pyproject.toml`:
///
/// ```toml
/// [project]
/// name = "my_tool"
///
/// [tool.compadre]
/// entry = "my_tool.main:run"          # module:function called with (input_parameters, context)
/// input-schema = "input_schema.json"  # JSON Schema of the input; an object schema
/// envvars = ["WEATHER_API_BASE"]       # optional
/// secret-envvars = ["WEATHER_API_KEY"] # optional
/// ```
public struct ToolManifest: Sendable, Hashable {
    /// `[project].name`.
    public var name: String
    /// `module:function`, both dotted Python names.
    public var entry: String
    /// The input schema's JSON text, a JSON object with `"type": "object"`.
    public var inputSchema: Data
    /// Names of the plain environment variables the tool reads (`^[A-Z_]+$`).
    public var requiredEnvvars: [String]
    /// Names of the secret environment variables the tool reads (`^[A-Z_]+$`).
    public var requiredSecretEnvvars: [String]

    public init(
        name: String, entry: String, inputSchema: Data, requiredEnvvars: [String] = [], requiredSecretEnvvars: [String] = []
    ) {
        self.name = name
        self.entry = entry
        self.inputSchema = inputSchema
        self.requiredEnvvars = requiredEnvvars
        self.requiredSecretEnvvars = requiredSecretEnvvars
    }
}

extension ToolManifest: Codable {
    enum CodingKeys: String, CodingKey {
        case name, entry
        case inputSchema = "input_schema"
        case requiredEnvvars = "required_envvars"
        case requiredSecretEnvvars = "required_secret_envvars"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        entry = try c.decode(String.self, forKey: .entry)
        inputSchema = Data(try c.decode(String.self, forKey: .inputSchema).utf8)
        requiredEnvvars = try c.decode([String].self, forKey: .requiredEnvvars)
        requiredSecretEnvvars = try c.decode([String].self, forKey: .requiredSecretEnvvars)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(entry, forKey: .entry)
        try c.encode(String(decoding: inputSchema, as: UTF8.self), forKey: .inputSchema)
        try c.encode(requiredEnvvars, forKey: .requiredEnvvars)
        try c.encode(requiredSecretEnvvars, forKey: .requiredSecretEnvvars)
    }
}

extension ToolManifest {
    /// Reads and checks the manifest of the project in `project`, parsing `pyproject.toml` with Python's
    /// `tomllib` (Python 3.11 or later). Runs no code of the project.
    ///
    /// - Throws: ``ToolBuildError`` saying what to fix.
    public static func read(project: URL, python: String = "python3", timeout: Duration = .seconds(30)) async throws -> ToolManifest {
        let pyproject = project.appending(path: "pyproject.toml")
        guard FileManager.default.fileExists(atPath: pyproject.path) else {
            throw ToolBuildError.invalidProject("the project has no pyproject.toml")
        }
        let process = ChildProcess(
            executable: python,
            arguments: ["-I", "-c", tableReader, pyproject.path],
            environment: ToolBuilder.buildEnvironment(),
            workingDirectory: project,
            standardOutput: .head(4 << 20),
            timeout: timeout
        )
        let observation: ChildProcess.Observation
        do {
            observation = try await process.run()
        } catch {
            throw ToolBuildError.buildFailed("could not start \(python) to read pyproject.toml: \(error)", details: [])
        }
        guard observation.succeeded,
            let tables = try? JSONSerialization.jsonObject(with: observation.standardOutput.kept) as? [String: Any]
        else {
            throw ToolBuildError.buildFailed(
                "could not read pyproject.toml with \(python) (Python 3.11 or later is needed)",
                details: observation.standardError.lastLines(20)
            )
        }
        if let problem = tables["problem"] as? String {
            throw ToolBuildError.invalidProject(problem)
        }
        return try ToolManifest(project: project, tables: tables)
    }

    /// Prints `{"project": {…}, "compadre": {…}}` of the pyproject at argv[1], or `{"problem": "…"}`.
    private static let tableReader = """
        import json, sys, tomllib
        try:
            with open(sys.argv[1], "rb") as file:
                data = tomllib.load(file)
        except tomllib.TOMLDecodeError as error:
            print(json.dumps({"problem": f"pyproject.toml is not valid TOML: {error}"}))
            sys.exit(0)
        project = data.get("project")
        tool = data.get("tool")
        print(json.dumps({
            "project": project if isinstance(project, dict) else None,
            "compadre": tool.get("compadre") if isinstance(tool, dict) else None,
        }, default=str))
        """

    /// Checks the `[project]` and `[tool.compadre]` tables and reads the input schema they name.
    init(project: URL, tables: [String: Any]) throws {
        guard let name = (tables["project"] as? [String: Any])?["name"] as? String, !name.isEmpty else {
            throw ToolBuildError.invalidProject("pyproject.toml has no [project] name")
        }
        guard let compadre = tables["compadre"] as? [String: Any] else {
            throw ToolBuildError.invalidProject("pyproject.toml has no [tool.compadre] table")
        }
        guard let entry = compadre["entry"] as? String else {
            throw ToolBuildError.invalidProject("pyproject.toml has no [tool.compadre] entry")
        }
        guard Self.isEntry(entry) else {
            throw ToolBuildError.invalidProject(
                "[tool.compadre] entry must read module:function, like my_tool.main:run (got \"\(entry)\")"
            )
        }
        let envvars = try Self.names(compadre["envvars"], key: "envvars")
        let secretEnvvars = try Self.names(compadre["secret-envvars"], key: "secret-envvars")
        if let both = envvars.first(where: secretEnvvars.contains) {
            throw ToolBuildError.invalidProject("\(both) is listed in both envvars and secret-envvars of [tool.compadre]")
        }
        let schemaPath = compadre["input-schema"] ?? "input_schema.json"
        guard let schemaPath = schemaPath as? String, !schemaPath.isEmpty else {
            throw ToolBuildError.invalidProject("[tool.compadre] input-schema must be the path of a JSON file")
        }
        self.init(
            name: name,
            entry: entry,
            inputSchema: try Self.inputSchema(at: schemaPath, in: project),
            requiredEnvvars: envvars,
            requiredSecretEnvvars: secretEnvvars
        )
    }

    private static func inputSchema(at path: String, in project: URL) throws -> Data {
        let root = project.standardizedFileURL.resolvingSymlinksInPath().path
        let file = project.appending(path: path).standardizedFileURL.resolvingSymlinksInPath()
        guard file.path.hasPrefix(root + "/") else {
            throw ToolBuildError.invalidProject("the input schema \(path) must be inside the project")
        }
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw ToolBuildError.invalidProject("the input schema \(path) named by [tool.compadre] input-schema does not exist")
        }
        guard let schema = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ToolBuildError.invalidProject("the input schema \(path) is not a JSON object")
        }
        guard schema["type"] as? String == "object" else {
            throw ToolBuildError.invalidProject("the input schema \(path) must have \"type\": \"object\"")
        }
        return Data(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).utf8)
    }

    private static func names(_ value: Any?, key: String) throws -> [String] {
        guard let value else { return [] }
        guard let names = value as? [String], names.allSatisfy(isEnvvarName) else {
            throw ToolBuildError.invalidProject(
                "[tool.compadre] \(key) must list environment variable names made of A-Z and _, like WEATHER_API_KEY"
            )
        }
        return names
    }

    /// `^[A-Z_]+$`, as the API requires of tool environment variables.
    static func isEnvvarName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || $0 == "_" }
    }

    /// `dotted.module:dotted.function` of Python identifiers (ASCII).
    static func isEntry(_ entry: String) -> Bool {
        let halves = entry.split(separator: ":", omittingEmptySubsequences: false)
        return halves.count == 2 && halves.allSatisfy { half in
            half.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isIdentifier)
        }
    }

    private static func isIdentifier(_ name: Substring) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.isASCIILetter else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || ("0"..."9").contains($0) || $0 == "_" }
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
