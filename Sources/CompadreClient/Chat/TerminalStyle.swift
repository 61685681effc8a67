/// Whether terminal output is colored, and how.
public struct TerminalStyle: Sendable, Hashable {
    public var color: Bool

    public init(color: Bool) {
        self.color = color
    }

    /// Colors only on a terminal, and never when `NO_COLOR` is set to anything non-empty
    /// (https://no-color.org) or `TERM` is `dumb`.
    public init(environment: [String: String], isTerminal: Bool) {
        let noColor = !(environment["NO_COLOR"] ?? "").isEmpty
        color = isTerminal && !noColor && environment["TERM"] != "dumb"
    }

    public func dim(_ text: String) -> String { wrap(text, "2") }
    public func red(_ text: String) -> String { wrap(text, "31") }
    public func bold(_ text: String) -> String { wrap(text, "1") }

    private func wrap(_ text: String, _ code: String) -> String {
        color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}
