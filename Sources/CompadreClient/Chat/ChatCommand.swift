import Foundation

/// What a line typed into a chat asks for. Lines starting with `/` are commands (case-insensitive);
/// `//` sends a message that starts with `/`.
public enum ChatCommand: Sendable, Hashable {
    /// Send the line as the user's message.
    case say(String)
    /// `/finish`: finish the conversation.
    case finish
    /// `/insights`: how the agent navigated during the last interaction.
    case insights
    /// `/events <text>`: send an external event (something that happened outside the chat).
    case event(String)
    /// `/help`
    case help
    /// `/quit`, `/exit`: leave, without finishing the conversation.
    case quit
    /// A known command given without its text, e.g. `/events` alone.
    case missingArgument(command: String)
    /// A `/word` that is no command.
    case unknown(String)

    /// The command of `line`; nil for a blank line, which asks for nothing.
    public static func parse(_ line: String) -> ChatCommand? {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        guard trimmed.hasPrefix("/") else { return .say(trimmed) }
        if trimmed.hasPrefix("//") { return .say(String(trimmed.dropFirst())) }

        let name = trimmed.prefix { !$0.isWhitespace }
        let argument = trimmed.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
        switch name.lowercased() {
        case "/finish": return .finish
        case "/insights": return .insights
        case "/events", "/event":
            return argument.isEmpty ? .missingArgument(command: "/events") : .event(argument)
        case "/help", "/?": return .help
        case "/quit", "/exit", "/q": return .quit
        default: return .unknown(String(name))
        }
    }

    /// What `/help` prints.
    public static let helpText = """
        Type a message and press return to send it.
          /events <text>  send an external event (e.g. /events the user opened the app)
          /insights       how the agent navigated during the last interaction
          /finish         finish the conversation
          /help           this help
          /quit           leave (the conversation stays open to resume)
        Start a message with // to send one beginning with /.
        """
}
