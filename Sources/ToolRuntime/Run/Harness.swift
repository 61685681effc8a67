/// Compadre's Python harness, written into every tool environment as `harness.py` and run by the
/// environment's interpreter for each tool call.
///
/// Protocol, between ``ToolSandbox`` and the harness:
/// - arguments: `--entry module:function --memory-bytes N --cpu-seconds N`;
/// - standard input: one line with the byte count of the request, then the request, a JSON object
///   `{"input_parameters": {…}, "invocation_mode": "regular" | "conversation-simulation",
///   "nonsensitive_user_variables": {…}, "sensitive_user_variables": {…}}`. Standard input then stays
///   open: its end means Compadre died, and the harness kills its process group;
/// - standard output: exactly one JSON line, `{"output": "…"}` (exit code 0) or
///   `{"error": {"type", "message", "stack_trace": […]}}` (exit code 1). While the tool runs, its
///   standard output (file descriptor 1, so also that of processes it starts) goes to standard error.
///
/// Before importing the tool the harness resets ignored signals and the signal mask it may have
/// inherited and lowers its own limits (`RLIMIT_AS`, `RLIMIT_CPU`, no core files).
enum Harness {
    static let fileName = "harness.py"

    static func arguments(entry: String, limits: ToolLimits) -> [String] {
        ["--entry", entry, "--memory-bytes", String(limits.memoryBytes), "--cpu-seconds", String(limits.cpuSeconds)]
    }

    static let script = #"""
        # Compadre's tool harness: runs one call of a tool. Written by Compadre; edits are overwritten.
        # Only what every call needs is imported up front: each import is paid on every call.
        import importlib
        import json
        import os
        import resource
        import signal
        import sys
        import threading


        class ToolContext:
            """What a tool knows about the call besides its input parameters."""

            __slots__ = ("invocation_mode", "nonsensitive_user_variables", "sensitive_user_variables")

            def __init__(self, invocation_mode, nonsensitive_user_variables, sensitive_user_variables):
                self.invocation_mode = invocation_mode
                self.nonsensitive_user_variables = nonsensitive_user_variables
                self.sensitive_user_variables = sensitive_user_variables

            def __repr__(self):
                return (
                    f"ToolContext(invocation_mode={self.invocation_mode!r}, "
                    f"nonsensitive_user_variables={self.nonsensitive_user_variables!r}, "
                    f"sensitive_user_variables=<{len(self.sensitive_user_variables)} hidden>)"
                )


        def _options(argv):
            options = {"--entry": "", "--memory-bytes": "0", "--cpu-seconds": "0"}
            for name, value in zip(argv[::2], argv[1::2]):
                options[name] = value
            return options["--entry"], int(options["--memory-bytes"]), int(options["--cpu-seconds"])


        def _reset_signals():
            # A server may ignore or block signals (SIGTERM while it drains); the tool must not inherit that.
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            kept = {signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, getattr(signal, "SIGXFSZ", None)}
            for number in signal.valid_signals():
                if number in kept:
                    continue
                try:
                    if signal.getsignal(number) == signal.SIG_IGN:
                        signal.signal(number, signal.SIG_DFL)
                except (OSError, ValueError, TypeError):
                    pass


        def _limit(which, soft, hard):
            _, current = resource.getrlimit(which)
            if current != resource.RLIM_INFINITY:
                hard = min(hard, current)
                soft = min(soft, hard)
            resource.setrlimit(which, (soft, hard))


        def _read_request(fd):
            header = b""
            while not header.endswith(b"\n"):
                chunk = os.read(fd, 1)
                if not chunk or len(header) > 20:
                    raise ValueError("the request has no length line")
                header += chunk
            remaining = int(header)
            body = bytearray()
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 16))
                if not chunk:
                    raise ValueError("the request ended early")
                body += chunk
                remaining -= len(chunk)
            request = json.loads(body)
            if not isinstance(request, dict) or not isinstance(request.get("input_parameters", {}), dict):
                raise ValueError("the request must be an object with an object input_parameters")
            return request


        def _watch_lifeline(fd):
            # Compadre keeps our standard input open while it waits for us; its end means Compadre is gone.
            while True:
                try:
                    if not os.read(fd, 1 << 12):
                        break
                except InterruptedError:
                    continue
                except OSError:
                    break
            os.killpg(0, signal.SIGKILL)


        def _describe(error, memory_bytes):
            import traceback

            trace = error.__traceback__
            while trace is not None and trace.tb_frame.f_code.co_filename == __file__:
                trace = trace.tb_next
            lines = traceback.format_exception(type(error), error, trace)
            message = str(error)
            if isinstance(error, MemoryError) and not message:
                message = f"the tool needed more than {memory_bytes // (1 << 20)} MiB of memory"
            return {
                "type": type(error).__name__,
                "message": message,
                "stack_trace": [line for chunk in lines for line in chunk.rstrip("\n").split("\n")],
            }


        def _reply(fd, payload):
            data = memoryview((json.dumps(payload) + "\n").encode())
            while data:
                data = data[os.write(fd, data):]


        def _run(entry, request):
            module_name, _, function_path = entry.partition(":")
            function = importlib.import_module(module_name)
            for part in function_path.split("."):
                function = getattr(function, part)
            context = ToolContext(
                request.get("invocation_mode", "regular"),
                request.get("nonsensitive_user_variables") or {},
                request.get("sensitive_user_variables") or {},
            )
            result = function(request.get("input_parameters", {}), context)
            if hasattr(result, "__await__"):
                import asyncio

                async def wait():
                    return await result

                result = asyncio.run(wait())
            return result if isinstance(result, str) else json.dumps(result)


        def main():
            entry, memory_bytes, cpu_seconds = _options(sys.argv[1:])
            _reset_signals()
            if memory_bytes > 0:
                _limit(resource.RLIMIT_AS, memory_bytes, memory_bytes)
            if cpu_seconds > 0:
                _limit(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
            _limit(resource.RLIMIT_CORE, 0, 0)

            # The result channel is a private copy of fd 1 (not inherited by children); fd 1 itself, and
            # so every stray print of the tool or of a process it starts, goes to standard error.
            results = os.dup(1)
            os.dup2(2, 1)
            sys.stdout = sys.stderr
            lifeline = os.dup(0)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)

            code = 0
            try:
                request = _read_request(lifeline)
            except Exception as error:
                _reply(results, {"error": {"type": "InvalidToolInput", "message": str(error), "stack_trace": []}})
                os._exit(1)
            threading.Thread(target=_watch_lifeline, args=(lifeline,), daemon=True).start()
            try:
                reply = {"output": _run(entry, request)}
            except BaseException as error:
                reply = {"error": _describe(error, memory_bytes)}
                code = 1
            _reply(results, reply)
            sys.stderr.flush()
            os._exit(code)


        main()

        """#
}
