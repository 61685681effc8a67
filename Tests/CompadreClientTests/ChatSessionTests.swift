import AmigoWire
import CompadreClient
import Testing

@Suite("Chat session")
struct ChatSessionTests {
    static let created = ConversationEvent.conversationCreated(conversationID: "c1")
    static func complete(_ interactionID: String, completed: Bool = false) -> ConversationEvent {
        .interactionComplete(InteractionComplete(messageID: "m", interactionID: interactionID, fullMessage: "Hi", conversationCompleted: completed))
    }

    func session(after events: [ConversationEvent]) -> ChatSession {
        var session = ChatSession(style: TerminalStyle(color: false))
        for event in events { _ = session.receive(event) }
        return session
    }

    @Test func messagesAndEventsAreSentToTheCreatedConversation() {
        var session = session(after: [Self.created, Self.complete("i1")])
        #expect(session.conversationID == "c1")
        #expect(session.handle(.say("hello")) == .interact(conversationID: "c1", text: "hello", messageType: .userMessage))
        #expect(session.handle(.event("lab results arrived")) == .interact(conversationID: "c1", text: "lab results arrived", messageType: .externalEvent))
    }

    @Test func insightsDescribeTheLastCompletedInteraction() {
        var session = session(after: [Self.created])
        #expect(session.handle(.insights) == .write("✗ no interaction has completed yet\n"))
        _ = session.receive(Self.complete("i1"))
        _ = session.receive(Self.complete("i2"))
        #expect(session.handle(.insights) == .fetchInsights(conversationID: "c1", interactionID: "i2"))
    }

    @Test func nothingIsSentIntoAFinishedConversation() {
        var session = session(after: [Self.created, Self.complete("i1")])
        #expect(session.handle(.finish) == .finish(conversationID: "c1"))
        #expect(session.didFinish() == "· conversation finished\n")
        #expect(session.isFinished)
        #expect(session.handle(.say("still there?")) == .write("✗ the conversation is finished; /quit and start a new one\n"))
        #expect(session.handle(.finish) == .write("the conversation is already finished\n"))
    }

    @Test func theAgentCanFinishTheConversation() {
        var session = session(after: [Self.created])
        #expect(session.receive(Self.complete("i1", completed: true)) == "Hi\n· the agent finished the conversation\n")
        #expect(session.isFinished)
    }

    @Test func aResumedConversationNeedsNoCreation() {
        var session = ChatSession(conversationID: "c7", style: TerminalStyle(color: false))
        #expect(session.handle(.say("back again")) == .interact(conversationID: "c7", text: "back again", messageType: .userMessage))
    }

    @Test func localCommandsAnswerWithoutTheServer() {
        var session = ChatSession(style: TerminalStyle(color: false))
        #expect(session.handle(.quit) == .quit)
        #expect(session.handle(.help) == .write(ChatCommand.helpText + "\n"))
        #expect(session.handle(.unknown("/x")) == .write("✗ unknown command /x; /help lists them\n"))
        #expect(session.handle(.say("hi")) == .write("✗ there is no conversation yet\n"))
    }

    @Test func aFailureInTheMiddleOfTheReplyStartsANewLine() {
        var session = session(after: [Self.created])
        _ = session.receive(.newMessage(NewMessage(message: "Half a rep", stop: false, sequenceNumber: 0, messageID: "m")))
        #expect(session.failed(AmigoClientError.status(409, detail: "busy")) == "\n✗ HTTP 409: busy\n")
    }
}
