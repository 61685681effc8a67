import Foundation

/// Compadre's template of a tool project, served as `GET /tool/amigo_tool_scaffold.tar.gz`: a working
/// tool (it greets someone by name) laid out as the contract in ``ToolManifest`` asks.
public enum ToolScaffold {
    /// The folder every path of the archive starts with.
    public static let folder = "amigo_tool_scaffold"

    /// The template's files, paths relative to the project folder.
    public static let files: [(path: String, contents: String)] = [
        (".gitignore", gitignore),
        ("README.md", readme),
        ("input_schema.json", inputSchema),
        ("pyproject.toml", pyproject),
        ("src/my_tool/__init__.py", initPy),
        ("src/my_tool/main.py", mainPy),
    ]

    /// A stable short hash of the template (FNV-1a, 64 bits, of every path and contents), recorded on
    /// published versions as `amigo_scaffold_commit_hash`.
    public static let revision: String = {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (path, contents) in files {
            for byte in Array(path.utf8) + [0] + Array(contents.utf8) + [0] {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }()

    /// The template as a gzip'd tar archive under `amigo_tool_scaffold/`. The same bytes every time
    /// (fixed modification times and owners), so the response can be cached.
    public static func tarball() throws -> Data {
        var archive = TarArchive()
        var folders: Set<String> = []
        try archive.appendFolder(folder)
        for (path, contents) in files {
            let parts = path.split(separator: "/").dropLast()
            for depth in parts.indices {
                let parent = parts[...depth].joined(separator: "/")
                if folders.insert(parent).inserted {
                    try archive.appendFolder("\(folder)/\(parent)")
                }
            }
            try archive.appendFile("\(folder)/\(path)", contents: Data(contents.utf8))
        }
        return Gzip.stored(archive.finished())
    }

    /// Writes the template's files into `directory` (the project folder itself, not a parent).
    public static func write(to directory: URL) throws {
        for (path, contents) in files {
            let file = directory.appending(path: path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: file)
        }
    }
}
