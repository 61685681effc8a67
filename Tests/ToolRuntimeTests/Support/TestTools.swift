import Foundation
import Logging
import ToolRuntime

/// Tool projects the tests build, and the environments built from them (once per test process).
enum TestTools {
    static let logger = Logger(label: "ToolRuntimeTests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Everything the tests write, replaced at the start of each test process.
    static let root: URL = {
        let root = FileManager.default.temporaryDirectory.appending(path: "compadre-toolruntime-tests")
        try? FileManager.default.removeItem(at: root)
        try! FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }()

    /// A fresh folder under ``root``.
    static func folder(_ name: String) throws -> URL {
        let folder = root.appending(path: "\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Writes a project with the given files (path → contents) and returns its folder.
    static func project(_ files: [String: String]) throws -> URL {
        let project = try folder("project")
        for (path, contents) in files {
            let file = project.appending(path: path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: file)
        }
        return project
    }

    static func pyproject(name: String = "probe", compadre: String) -> String {
        """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "\(name)"
        version = "1.0.0"
        requires-python = ">=3.11"
        dependencies = []

        [tool.compadre]
        \(compadre)
        """
    }

    static let objectSchema = #"{"type": "object", "properties": {"action": {"type": "string"}}}"#

    /// The probe tool: does what `input_parameters["action"]` says, to show one behaviour of the sandbox.
    static let probeProject: [String: String] = [
        "pyproject.toml": pyproject(
            compadre: """
                entry = "probe.main:run"
                input-schema = "input_schema.json"
                envvars = ["PROBE_GREETING"]
                secret-envvars = ["PROBE_TOKEN"]
                """
        ),
        "input_schema.json": objectSchema,
        "src/probe/__init__.py": "",
        "src/probe/main.py": probeMain,
    ]

    static let probeMain = #"""
        import json, os, signal, stat, subprocess, sys, time


        def _result_channel():
            # The harness's private copy of the real standard output: the only write-only pipe above fd 2.
            import fcntl
            for fd in range(3, 64):
                try:
                    if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                        return fd
                except OSError:
                    pass
            raise RuntimeError("no result channel")


        def run(input_parameters, context):
            action = input_parameters["action"]
            if action == "echo":
                return json.dumps({
                    "input": input_parameters,
                    "mode": context.invocation_mode,
                    "nonsensitive": context.nonsensitive_user_variables,
                    "sensitive": context.sensitive_user_variables,
                })
            if action == "dict":
                return {"answer": 42}
            if action == "async":
                async def later():
                    return "awaited"
                return later()
            if action == "environment":
                return json.dumps({"environment": dict(os.environ), "cwd": os.getcwd()})
            if action == "read_env":
                return os.environ[input_parameters["name"]]
            if action == "raise":
                raise ValueError("the value is wrong")
            if action == "stray_print":
                print("noise from print")
                os.system("echo noise from a child process")
                sys.stdout.flush()
                return "clean"
            if action == "sleep":
                time.sleep(input_parameters["seconds"])
                return "slept"
            if action == "sleep_with_child":
                subprocess.Popen(["sleep", input_parameters["marker"]])
                time.sleep(60)
                return "slept"
            if action == "crash":
                sys.stderr.write("about to crash\n")
                sys.stderr.flush()
                os._exit(3)
            if action == "kill_self":
                os.kill(os.getpid(), signal.SIGKILL)
            if action == "segfault":
                import ctypes
                ctypes.string_at(0)
            if action == "garbage":
                os.write(_result_channel(), b"this is not json\n")
                os._exit(0)
            if action == "big_result":
                return "x" * input_parameters["size"]
            if action == "flood":
                fd = _result_channel()
                chunk = b"x" * 65536
                while True:
                    os.write(fd, chunk)
            if action == "chatty_stderr":
                line = "e" * 1023 + "\n"
                for _ in range(input_parameters["kilobytes"]):
                    sys.stderr.write(line)
                return "done"
            if action == "allocate":
                block = bytearray(input_parameters["bytes"])
                return str(len(block))
            if action == "spin":
                while True:
                    pass
            if action == "signals":
                return json.dumps({
                    "sigterm_is_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
                    "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
                })
            if action == "read_file":
                with open(input_parameters["path"]) as file:
                    return file.read()
            if action == "write_file":
                with open(input_parameters["path"], "w") as file:
                    file.write("written by the tool")
                return "written"
            raise NotImplementedError(action)
        """#

    /// The probe tool, built once per test process.
    static func probe() async throws -> ToolEnvironment {
        try await probeBuild.value
    }

    private static let probeBuild = Task {
        try await ToolBuilder(logger: logger).build(project: try project(probeProject), into: try folder("probe-environment"))
    }

    /// The scaffold, unpacked from its tarball and built once per test process, with the build's duration.
    static func scaffold() async throws -> (ToolEnvironment, Duration) {
        try await scaffoldBuild.value
    }

    private static let scaffoldBuild = Task {
        let unpacked = try folder("scaffold")
        let archive = unpacked.appending(path: "scaffold.tar.gz")
        try ToolScaffold.tarball().write(to: archive)
        let tar = Process()
        tar.executableURL = URL(filePath: "/bin/tar")
        tar.arguments = ["-xzf", archive.path, "-C", unpacked.path]
        try tar.run()
        tar.waitUntilExit()
        let start = ContinuousClock.now
        let environment = try await ToolBuilder(logger: logger)
            .build(project: unpacked.appending(path: ToolScaffold.folder), into: try folder("scaffold-environment"))
        return (environment, ContinuousClock.now - start)
    }

    /// Sandboxes, one per isolation; `.bubblewrap` needs `apt-get install bubblewrap`.
    static func sandbox(_ isolation: ToolSandbox.Isolation, limits: ToolLimits = ToolLimits()) async throws -> ToolSandbox {
        try await ToolSandbox(
            configuration: .init(isolation: isolation, limits: limits, workRoot: root.appending(path: "work")),
            logger: logger
        )
    }

    /// The harness request for `parameters`.
    static func request(
        _ parameters: [String: Any], mode: String = "regular", nonsensitive: [String: String] = [:],
        sensitive: [String: String] = [:]
    ) -> Data {
        try! JSONSerialization.data(withJSONObject: [
            "input_parameters": parameters,
            "invocation_mode": mode,
            "nonsensitive_user_variables": nonsensitive,
            "sensitive_user_variables": sensitive,
        ])
    }

    /// Processes whose command line contains `marker`.
    static func processes(containing marker: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(marker)
        }
    }
}

extension ToolRunResult {
    var output: String? {
        if case .succeeded(let output, _) = self { output } else { nil }
    }

    var failure: ToolFailure? {
        if case .failed(let failure, _) = self { failure } else { nil }
    }

    /// The output parsed as a JSON object.
    var json: [String: Any]? {
        output.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}
