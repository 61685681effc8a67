/// The checks every name coming from a request passes before it reaches the file system or a git
/// command line: nothing may leave the repository root or be read by git as an option.
enum Names {
    /// An organization id: `^[A-Za-z0-9_-]{1,128}$`. It names the directory `<root>/<id>.git`.
    static func organization(_ id: String) throws -> String {
        guard (1...128).contains(id.utf8.count),
            id.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
        else { throw ToolRepositoryError.invalidOrganization("invalid organization id") }
        return id
    }

    /// The part of a request path after `/tool/git/` (`info/refs`, `git-upload-pack`): relative, without
    /// `.` or `..` components or control characters. Leading slashes are dropped.
    static func gitPath(_ path: String) throws -> String {
        let trimmed = String(path.drop(while: { $0 == "/" }))
        guard !trimmed.isEmpty else { throw ToolRepositoryError.invalidPath("empty git path") }
        return try relativePath(trimmed)
    }

    /// A directory of the repository: relative, without `.` or `..` components; `""` or `"."` is the
    /// repository root. Leading and trailing slashes are dropped.
    static func projectPath(_ path: String) throws -> String {
        var trimmed = Substring(path)
        while trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if trimmed.isEmpty || trimmed == "." { return "" }
        return try relativePath(String(trimmed))
    }

    /// A revision git may resolve (a commit hash, a branch name, `main~1`): never an option, a path
    /// (`rev:path`) or a range.
    static func revision(_ revision: String) throws -> String {
        guard (1...256).contains(revision.utf8.count),
            revision.first != "-",
            !revision.contains(":"), !revision.contains(".."),
            revision.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "\\") })
        else { throw ToolRepositoryError.invalidReference("invalid revision") }
        return revision
    }

    /// A branch name as `git check-ref-format --branch` accepts it (without the `@{-N}` shorthand).
    static func branch(_ name: String) throws -> String {
        let forbidden: Set<UInt8> = Set(" ~^:?*[\\".utf8)
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...256).contains(name.utf8.count),
            name != "@", name.first != "-",
            !name.contains(".."), !name.contains("@{"), !name.hasSuffix("."),
            name.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F && !forbidden.contains($0) }),
            components.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") && !$0.hasSuffix(".lock") })
        else { throw ToolRepositoryError.invalidReference("invalid branch name") }
        return name
    }

    private static func relativePath(_ path: String) throws -> String {
        guard path.utf8.count <= 1024,
            path.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "\\") }),
            path.split(separator: "/", omittingEmptySubsequences: false)
                .allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." })
        else { throw ToolRepositoryError.invalidPath("invalid path") }
        return path
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
