import AmigoWire

/// The rules of a chat with one conversation, with no I/O, so that a terminal front end only reads
/// lines, performs the returned ``Action``s with an ``AmigoClient`` and writes the returned text.
///
/// It remembers the conversation and its last interaction (for `/insights`) from the events it is
/// shown, refuses to send into a finished conversation, and renders through an ``EventRenderer``.
public struct ChatSession: Sendable {
    /// What the front end does next.
    public enum Action: Sendable, Hashable {
        /// Stream `AmigoClient.interact(conversationID:text:messageType:)` and pass each event to
        /// ``ChatSession/receive(_:)``.
        case interact(conversationID: String, text: String, messageType: InitialMessageType)
        /// Call `AmigoClient.finish(conversationID:)`, then ``ChatSession/didFinish()``.
        case finish(conversationID: String)
        /// Call `AmigoClient.insights(conversationID:interactionID:)`, then ``ChatSession/render(_:)``.
        case fetchInsights(conversationID: String, interactionID: String)
        /// Write this text.
        case write(String)
        /// Leave the chat.
        case quit
    }

    public private(set) var conversationID: String?
    /// The last interaction that completed: what `/insights` describes.
    public private(set) var lastInteractionID: String?
    public private(set) var isFinished = false
    private var renderer: EventRenderer

    /// - Parameter conversationID: a conversation being resumed; nil when the first events will come
    ///   from creating one.
    public init(conversationID: String? = nil, style: TerminalStyle, showsEveryAction: Bool = false) {
        self.conversationID = conversationID
        self.renderer = EventRenderer(style: style, showsEveryAction: showsEveryAction)
    }

    public mutating func handle(_ command: ChatCommand) -> Action {
        switch command {
        case .help:
            return .write(renderer.note(ChatCommand.helpText))
        case .quit:
            return .quit
        case .unknown(let name):
            return .write(renderer.failure("unknown command \(name); /help lists them"))
        case .missingArgument(let name):
            return .write(renderer.failure("\(name) needs a text, e.g. \(name) the user opened the app"))
        case .say(let text):
            return sending(text, as: .userMessage)
        case .event(let text):
            return sending(text, as: .externalEvent)
        case .finish:
            guard let conversationID else { return .write(renderer.failure("there is no conversation yet")) }
            guard !isFinished else { return .write(renderer.note("the conversation is already finished")) }
            return .finish(conversationID: conversationID)
        case .insights:
            guard let conversationID, let lastInteractionID else {
                return .write(renderer.failure("no interaction has completed yet"))
            }
            return .fetchInsights(conversationID: conversationID, interactionID: lastInteractionID)
        }
    }

    private mutating func sending(_ text: String, as type: InitialMessageType) -> Action {
        guard let conversationID else { return .write(renderer.failure("there is no conversation yet")) }
        guard !isFinished else {
            return .write(renderer.failure("the conversation is finished; /quit and start a new one"))
        }
        return .interact(conversationID: conversationID, text: text, messageType: type)
    }

    /// Notes an event of the conversation and returns what to write for it.
    public mutating func receive(_ event: ConversationEvent) -> String {
        switch event {
        case .conversationCreated(let id):
            conversationID = id
        case .interactionComplete(let complete):
            lastInteractionID = complete.interactionID
            if complete.conversationCompleted { isFinished = true }
        default:
            break
        }
        return renderer.render(event)
    }

    /// The conversation was finished on request.
    public mutating func didFinish() -> String {
        isFinished = true
        return renderer.note("· conversation finished")
    }

    public mutating func render(_ insights: InteractionInsights) -> String {
        renderer.render(insights)
    }

    /// A request failed (the stream or call threw); what to write.
    public mutating func failed(_ error: any Error) -> String {
        renderer.failure("\(error)")
    }
}
