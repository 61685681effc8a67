import Foundation

/// The bubblewrap (`bwrap`) command line a tool runs under with ``ToolSandbox/Isolation/bubblewrap``.
///
/// The tool sees a filesystem of its own: the system's programs and libraries (`/usr` and the `/bin`,
/// `/lib`… links or folders), the few files of `/etc` that name resolution, TLS and the dynamic linker
/// read, the Python installation its virtual environment points to and the environment itself, all
/// read-only; a fresh `/proc`, `/dev` and an empty `/tmp`; and its private working directory, writable.
/// Nothing else of the host: not Compadre's data, configuration or other tools. It gets new user, PID,
/// IPC, UTS and cgroup namespaces (the network is shared, tools call APIs), no capabilities, and a
/// session of its own. Its variables come through bwrap's own environment, never on the command line,
/// where other users could read them.
///
/// No `--die-with-parent`: bwrap implements it with `PR_SET_PDEATHSIG`, which fires when the *thread*
/// that spawned bwrap exits, and the threads of Swift's global pool exit when idle, so a tool would be
/// killed at random. The harness's standard-input lifeline ends the sandbox when Compadre dies instead.
struct Bubblewrap: Sendable {
    /// The `bwrap` executable, an absolute path.
    var path: String

    static let etcFiles = [
        "resolv.conf", "hosts", "host.conf", "nsswitch.conf", "gai.conf", "services", "protocols",
        "passwd", "group", "localtime", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl", "ca-certificates",
        "ca-certificates.conf", "pki", "alternatives", "mime.types",
    ]

    /// Arguments that run `command` inside the sandbox.
    func arguments(environment: ToolEnvironment, workDirectory: URL, command: [String]) -> [String] {
        var arguments = [
            "--unshare-all", "--unshare-user", "--share-net", "--cap-drop", "ALL",
            "--new-session",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--ro-bind", "/usr", "/usr",
        ]
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: top) {
                arguments += ["--symlink", target, top]
            } else if FileManager.default.fileExists(atPath: top) {
                arguments += ["--ro-bind", top, top]
            }
        }
        for file in Self.etcFiles {
            arguments += ["--ro-bind-try", "/etc/" + file, "/etc/" + file]
        }
        if let prefix = Self.pythonPrefix(of: environment), !prefix.hasPrefix("/usr/") {
            arguments += ["--ro-bind", prefix, prefix]
        }
        let directory = environment.directory.standardizedFileURL.path
        let work = workDirectory.standardizedFileURL.path
        arguments += ["--ro-bind", directory, directory, "--bind", work, work, "--chdir", work, "--"]
        return arguments + command
    }

    /// Arguments of the probe that tells whether bubblewrap works here (user namespaces allowed, and so on).
    static let probeArguments = [
        "--unshare-all", "--unshare-user", "--share-net", "--cap-drop", "ALL", "--new-session",
        "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--", "true",
    ]

    /// The installation the environment's interpreter belongs to (`/root/.pyenv/versions/3.11.7` for
    /// `…/bin/python3.11`): the virtual environment only links to it.
    static func pythonPrefix(of environment: ToolEnvironment) -> String? {
        let python = environment.python.resolvingSymlinksInPath()
        guard python.path != environment.python.path else { return nil }
        return python.deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// The first executable `name` in `PATH`.
    static func find(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in (path ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
