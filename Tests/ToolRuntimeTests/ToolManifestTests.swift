import Foundation
import Testing
import ToolRuntime

@Suite struct ToolManifestTests {
    @Test func theScaffoldsManifestNamesItsEntrySchemaAndVariables() async throws {
        let project = try TestTools.folder("manifest")
        try ToolScaffold.write(to: project)
        let manifest = try await ToolManifest.read(project: project)
        #expect(manifest.name == "my_tool")
        #expect(manifest.entry == "my_tool.main:run")
        #expect(manifest.requiredEnvvars == [])
        #expect(manifest.requiredSecretEnvvars == [])
        let schema = try #require(try JSONSerialization.jsonObject(with: manifest.inputSchema) as? [String: Any])
        #expect(schema["required"] as? [String] == ["name"])
    }

    @Test func declaredVariablesAreReadInOrder() async throws {
        let project = try TestTools.project([
            "pyproject.toml": TestTools.pyproject(
                compadre: """
                    entry = "probe.main:run"
                    input-schema = "schema/input.json"
                    envvars = ["WEATHER_API_BASE", "UNITS"]
                    secret-envvars = ["WEATHER_API_KEY"]
                    """
            ),
            "schema/input.json": TestTools.objectSchema,
        ])
        let manifest = try await ToolManifest.read(project: project)
        #expect(manifest.requiredEnvvars == ["WEATHER_API_BASE", "UNITS"])
        #expect(manifest.requiredSecretEnvvars == ["WEATHER_API_KEY"])
        #expect(String(decoding: manifest.inputSchema, as: UTF8.self) == TestTools.objectSchema)
    }

    @Test func aProjectWithoutPyprojectIsRejected() async throws {
        let project = try TestTools.project(["input_schema.json": TestTools.objectSchema])
        let error = await #expect(throws: ToolBuildError.self) { try await ToolManifest.read(project: project) }
        #expect(error?.message == "the project has no pyproject.toml")
    }

    static let invalidProjects: [(compadre: String, schema: String, message: String)] = [
        ("", TestTools.objectSchema, "pyproject.toml has no [tool.compadre] entry"),
        (#"entry = "probe.main""#, TestTools.objectSchema, "[tool.compadre] entry must read module:function"),
        (#"entry = "probe.main:run"\#nenvvars = ["api_key"]"#, TestTools.objectSchema, "[tool.compadre] envvars must list"),
        (#"entry = "probe.main:run"\#nsecret-envvars = "KEY""#, TestTools.objectSchema, "[tool.compadre] secret-envvars must list"),
        (#"entry = "probe.main:run"\#nenvvars = ["KEY"]\#nsecret-envvars = ["KEY"]"#, TestTools.objectSchema, "KEY is listed in both"),
        (#"entry = "probe.main:run""#, #"{"type": "array"}"#, #"must have "type": "object""#),
        (#"entry = "probe.main:run""#, "[1, 2]", "is not a JSON object"),
        (#"entry = "probe.main:run"\#ninput-schema = "missing.json""#, TestTools.objectSchema, "missing.json named by [tool.compadre] input-schema does not exist"),
        (#"entry = "probe.main:run"\#ninput-schema = "../outside.json""#, TestTools.objectSchema, "must be inside the project"),
        (#"entry = probe"#, TestTools.objectSchema, "pyproject.toml is not valid TOML"),
    ]

    @Test(arguments: invalidProjects)
    func anInvalidProjectIsRejectedWithAMessageSayingWhatToFix(compadre: String, schema: String, message: String) async throws {
        let project = try TestTools.project([
            "pyproject.toml": TestTools.pyproject(compadre: compadre),
            "input_schema.json": schema,
        ])
        let error = await #expect(throws: ToolBuildError.self) { try await ToolManifest.read(project: project) }
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
    }

    @Test func aProjectWithoutCompadreTableIsRejected() async throws {
        let project = try TestTools.project([
            "pyproject.toml": "[project]\nname = \"plain\"\n",
            "input_schema.json": TestTools.objectSchema,
        ])
        let error = await #expect(throws: ToolBuildError.self) { try await ToolManifest.read(project: project) }
        #expect(error?.message == "pyproject.toml has no [tool.compadre] table")
    }

    @Test func theManifestSurvivesAJSONRoundTripWithItsSchemaText() throws {
        let manifest = ToolManifest(
            name: "t", entry: "t.main:run", inputSchema: Data(TestTools.objectSchema.utf8), requiredEnvvars: ["A"],
            requiredSecretEnvvars: ["B"]
        )
        let data = try JSONEncoder().encode(manifest)
        #expect(try JSONDecoder().decode(ToolManifest.self, from: data) == manifest)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["input_schema"] as? String == TestTools.objectSchema)
    }
}
