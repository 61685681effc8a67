/// What one run of a tool may use. Exceeding any of them ends the run as a failure.
public struct ToolLimits: Sendable, Hashable {
    /// Wall-clock time from start to exit; the whole process tree is killed when it passes.
    public var timeout: Duration
    /// Address space of the tool's process (`RLIMIT_AS`); Python raises `MemoryError` beyond it.
    public var memoryBytes: Int
    /// CPU time of the tool's process (`RLIMIT_CPU`); the kernel kills it beyond that.
    public var cpuSeconds: Int
    /// Bytes of result the tool may write; a larger result kills the tool.
    public var maxOutputBytes: Int

    public init(
        timeout: Duration = .seconds(30),
        memoryBytes: Int = 512 << 20,
        cpuSeconds: Int = 30,
        maxOutputBytes: Int = 1 << 20
    ) {
        self.timeout = timeout
        self.memoryBytes = memoryBytes
        self.cpuSeconds = cpuSeconds
        self.maxOutputBytes = maxOutputBytes
    }
}

extension Duration {
    /// `2 s`, `1.5 s`: how limits and waits read in messages.
    var secondsText: String {
        let (seconds, attoseconds) = components
        if attoseconds == 0 { return "\(seconds) s" }
        let value = Double(seconds) + Double(attoseconds) / 1e18
        return "\((value * 1000).rounded() / 1000) s"
    }
}
