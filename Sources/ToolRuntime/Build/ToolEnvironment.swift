import Foundation

/// A tool version's built environment, in a directory Compadre owns:
///
/// - `venv/`: a Python virtual environment with the project installed;
/// - `harness.py`: Compadre's harness, which runs one call (see ``ToolSandbox``);
/// - `manifest.json`: the ``ToolManifest``, written last, so its presence means the build completed.
///
/// Nothing of the project's source is needed once built; the environment can be reused after a restart
/// with ``load(from:)``.
public struct ToolEnvironment: Sendable, Hashable {
    public let directory: URL
    public let manifest: ToolManifest

    public init(directory: URL, manifest: ToolManifest) {
        self.directory = directory
        self.manifest = manifest
    }

    /// The environment built earlier in `directory`, or `nil` when no build completed there.
    ///
    /// Also brings `harness.py` up to date with this Compadre, so environments built by an older
    /// version run with the current harness.
    /// - Throws: when `manifest.json` exists but cannot be read.
    public static func load(from directory: URL) throws -> ToolEnvironment? {
        let manifestFile = directory.appending(path: manifestFileName)
        guard let data = FileManager.default.contents(atPath: manifestFile.path) else { return nil }
        let environment = ToolEnvironment(directory: directory, manifest: try JSONDecoder().decode(ToolManifest.self, from: data))
        if FileManager.default.contents(atPath: environment.harness.path) != Data(Harness.script.utf8) {
            try environment.writeHarness()
        }
        return environment
    }

    static let manifestFileName = "manifest.json"

    var venv: URL { directory.appending(path: "venv") }
    var python: URL { venv.appending(path: "bin/python") }
    var harness: URL { directory.appending(path: Harness.fileName) }

    func writeHarness() throws {
        try Data(Harness.script.utf8).write(to: harness, options: .atomic)
    }

    func writeManifest() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(manifest).write(to: directory.appending(path: Self.manifestFileName), options: .atomic)
    }
}
