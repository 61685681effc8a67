import AmigoWire
import Engine
import Foundation
import Testing

@testable import Server

private typealias Action = RealtimeConnection.Action
private typealias BufferedEvent = RealtimeConnection.BufferedEvent

private let serviceID = "0123456789abcdef01234567"
private let conversationID = "aaaaaaaaaaaaaaaaaaaaaaaa"

/// Drives a `RealtimeConnection` through frames and instants; nothing sleeps.
private struct Client {
    var connection: RealtimeConnection
    let start: AnyClock.Instant
    var now: AnyClock.Instant
    var wallClock = Date(timeIntervalSince1970: 1_750_000_000)

    init(limits: RealtimeConnection.Limits = .init(), turnDetection: VoiceActivity.Settings? = nil, hasEndOfTurnModel: Bool = false) {
        // Only an origin: every later instant is derived from it.
        start = AnyClock.Instant(offset: .zero)
        now = start
        connection = RealtimeConnection(limits: limits, now: start, turnDetection: turnDetection, hasEndOfTurnModel: hasEndOfTurnModel)
    }

    mutating func advance(_ duration: Duration) {
        now = now.advanced(by: duration)
        wallClock = wallClock.addingTimeInterval(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    mutating func send(_ frame: String) -> [Action] {
        connection.received(frame: Array(frame.utf8), at: now, wallClock: wallClock)
    }

    mutating func sendBytes(_ frame: [UInt8]) -> [Action] {
        connection.received(frame: frame, at: now, wallClock: wallClock)
    }

    mutating func tick() -> [Action] {
        connection.tick(at: now)
    }

    /// Starts a conversation whose agent speaks first, so the opening interaction is running.
    static func duringOpeningTurn(limits: RealtimeConnection.Limits = .init()) -> Client {
        var client = Client(limits: limits)
        _ = client.send(startFrame)
        _ = client.connection.conversationStarted(id: conversationID, agentSpeaksFirst: true)
        return client
    }

    /// Continues a conversation; nothing runs.
    static func idle(
        limits: RealtimeConnection.Limits = .init(), turnDetection: VoiceActivity.Settings? = nil, hasEndOfTurnModel: Bool = false
    ) -> Client {
        var client = Client(limits: limits, turnDetection: turnDetection, hasEndOfTurnModel: hasEndOfTurnModel)
        _ = client.send(continueFrame)
        _ = client.connection.conversationContinued(id: conversationID)
        return client
    }
}

private let startFrame = #"{"type":"client.start-conversation","service_id":"\#(serviceID)"}"#
private let continueFrame = #"{"type":"client.continue-conversation","conversation_id":"\#(conversationID)"}"#
private let extendTimeout = #"{"type":"client.extend-timeout"}"#
private let finish = #"{"type":"client.finish-conversation"}"#
private let closeConnection = #"{"type":"client.close-connection"}"#

private func userText(_ text: String) -> String {
    #"{"type":"client.new-text-message","message_type":"user-message","text":"\#(text)"}"#
}

private func event(_ text: String, startInteraction: Bool = false) -> String {
    #"{"type":"client.new-text-message","message_type":"external-event","text":"\#(text)","start_interaction":\#(startInteraction)}"#
}

private func error(_ code: Int, _ description: String) -> Action {
    .send(.error(httpErrorCode: code, errorDescription: description))
}

private let vadUnsupported = error(415, "this server has no voice activity detection; send audio in manual mode")
private let endOfAudio = #"{"type":"client.new-audio-message","audio":null}"#
private let vadOn = #"{"type":"client.switch-vad-mode","vad_mode_on":true}"#
private let vadOff = #"{"type":"client.switch-vad-mode","vad_mode_on":false}"#

private func audioFrame(_ bytes: Data, config: String? = nil) -> String {
    let configField = config.map { #","audio_config":\#($0)"# } ?? ""
    return #"{"type":"client.new-audio-message","audio":"\#(bytes.base64EncodedString())"\#(configField)}"#
}

extension Action {
    var closeCode: RealtimeConnection.CloseCode? {
        if case .close(let code, _) = self { code } else { nil }
    }
}

// MARK: - Limits and close codes

@Suite struct RealtimeConnectionLimitTests {
    @Test func aFrameOverOneMegabyteClosesWithBadRequest() {
        var client = Client.idle()
        let big = userText(String(repeating: "a", count: 1_100_000))
        #expect(client.send(big) == [.close(.badRequest, reason: "The message is larger than 1048576 bytes.")])
        #expect(client.connection.isClosed)
    }

    @Test func aFrameOfExactlyTheLimitIsAccepted() {
        var client = Client.idle()
        let prefix = #"{"type":"client.new-text-message","message_type":"user-message","text":""#
        let frame = prefix + String(repeating: "a", count: (1 << 20) - prefix.utf8.count - 2) + "\"}"
        #expect(frame.utf8.count == 1 << 20)
        guard case .runInteraction(.text(let text)?, let events) = client.send(frame).first, events.isEmpty else {
            Issue.record("the frame did not start an interaction")
            return
        }
        #expect(text.utf8.count == (1 << 20) - prefix.utf8.count - 2)
    }

    @Test func anOversizedFrameWhileTheAgentAnswersInterruptsItFirst() {
        var client = Client.duringOpeningTurn(limits: .init(maxMessageBytes: 100))
        #expect(client.send(userText(String(repeating: "a", count: 200)))
            == [.interruptInteraction, .close(.badRequest, reason: "The message is larger than 100 bytes.")])
    }

    @Test func invalidJSONClosesWithBadRequestAndSaysWhy() {
        var client = Client.idle()
        #expect(client.send("{not json") == [.close(.badRequest, reason: "The message is not valid JSON.")])
    }

    @Test func anUnknownTypeClosesWithBadRequest() {
        var client = Client()
        #expect(client.send(#"{"type":"client.sing"}"#) == [.close(.badRequest, reason: "Unknown message type 'client.sing'.")])
    }

    @Test func anInvalidFieldClosesWithBadRequest() {
        var client = Client.idle()
        #expect(client.send(#"{"type":"client.new-text-message","message_type":"user-message","text":"  "}"#)
            == [.close(.badRequest, reason: "`text` must not be empty.")])
    }

    @Test func theSixtyFirstMessageWithinAMinuteIsRateLimited() {
        var client = Client()
        for _ in 0..<60 {
            #expect(client.send(extendTimeout) == [])
            client.advance(.milliseconds(900))
        }
        // 60 messages in 54 s: the next is the 61st within a minute.
        #expect(client.send(extendTimeout) == [.close(.rateLimited, reason: "More than 60 messages in a minute.")])
        #expect(client.connection.isClosed)
    }

    @Test func sixtyOneMessagesSpreadOverSixtyOneSecondsAreFine() {
        var client = Client()
        for second in 0...60 {
            #expect(client.send(extendTimeout) == [], "message \(second + 1)")
            client.advance(.milliseconds(1010))
        }
        #expect(!client.connection.isClosed)
    }

    @Test func aBurstIsAllowedAgainOnceTheWindowHasSlid() {
        var client = Client()
        for _ in 0..<60 { #expect(client.send(extendTimeout) == []) }
        client.advance(.seconds(59))
        #expect(client.send(extendTimeout) == [.close(.rateLimited, reason: "More than 60 messages in a minute.")])

        var later = Client()
        for _ in 0..<60 { _ = later.send(extendTimeout) }
        later.advance(.seconds(60))
        for _ in 0..<60 { #expect(later.send(extendTimeout) == []) }
        #expect(later.send(extendTimeout).first == .close(.rateLimited, reason: "More than 60 messages in a minute."))
    }

    @Test func everyMessageTypeCountsTowardTheRateLimit() {
        var client = Client(limits: .init(messagesPerMinute: 3))
        #expect(client.send(userText("too early")) == [error(400, "Start or continue a conversation first.")])
        #expect(client.send(startFrame) == [.startConversation(.init(serviceID: serviceID))])
        #expect(client.send(extendTimeout) == [])
        #expect(client.send(closeConnection) == [.close(.rateLimited, reason: "More than 3 messages in a minute.")])
    }

    @Test func aRaisedRateLimitAllowsContinuousStreaming() {
        var client = Client(limits: .init(messagesPerMinute: 3000))
        var closes: [Action] = []
        for _ in 0..<6000 {  // 50 frames a second for two minutes
            closes += client.send(extendTimeout)
            client.advance(.milliseconds(20))
        }
        #expect(closes == [])
        closes = []
        for _ in 0..<2 { closes += client.send(extendTimeout) }
        #expect(closes == [.close(.rateLimited, reason: "More than 3000 messages in a minute.")])
    }

    @Test func thirtySecondsOfSilenceTimeOut() {
        var client = Client.idle()
        #expect(client.connection.nextDeadline == client.start.advanced(by: .seconds(30)))
        client.advance(.seconds(29))
        #expect(client.tick() == [])
        client.advance(.seconds(2))
        #expect(client.tick() == [.close(.timeout, reason: "No message for 30 seconds.")])
        #expect(client.tick() == [])
    }

    @Test func theTimeoutFiresAtTheDeadlineTheConnectionAnnounced() {
        var client = Client()
        client.advance(.seconds(30))
        #expect(client.connection.nextDeadline == client.now)
        #expect(client.tick() == [.close(.timeout, reason: "No message for 30 seconds.")])
    }

    @Test func extendTimeoutEveryFifteenSecondsKeepsTheSocketOpen() {
        var client = Client.idle()
        for _ in 0..<20 {
            client.advance(.seconds(15))
            #expect(client.tick() == [])
            #expect(client.send(extendTimeout) == [])
            #expect(client.connection.nextDeadline == client.now.advanced(by: .seconds(30)))
        }
        client.advance(.seconds(29))
        #expect(client.tick() == [])
        #expect(!client.connection.isClosed)
    }

    @Test func anyMessageResetsTheInactivityTimerEvenBeforeAConversation() {
        var client = Client()
        client.advance(.seconds(25))
        #expect(client.send(userText("hello?")) == [error(400, "Start or continue a conversation first.")])
        client.advance(.seconds(25))
        #expect(client.tick() == [])
    }

    @Test func silenceWhileTheAgentAnswersAlsoTimesOutAndInterruptsTheReply() {
        var client = Client.duringOpeningTurn()
        client.advance(.seconds(31))
        #expect(client.tick() == [.interruptInteraction, .close(.timeout, reason: "No message for 30 seconds.")])
    }

    @Test func aRaisedTimeoutIsHonoured() {
        var client = Client(limits: .init(inactivityTimeout: .seconds(120)))
        client.advance(.seconds(100))
        #expect(client.tick() == [])
        client.advance(.seconds(20))
        #expect(client.tick() == [.close(.timeout, reason: "No message for 120 seconds.")])
    }

    @Test func closeReasonsFitAWebSocketCloseFrame() {
        let reason = RealtimeConnection.closeReason(String(repeating: "é", count: 100))
        #expect(reason.utf8.count <= 123)
        #expect(reason.hasSuffix("…"))
        #expect(RealtimeConnection.closeReason("short") == "short")
    }

    @Test func afterACloseEveryInputIsIgnored() {
        var client = Client.duringOpeningTurn()
        #expect(client.send("nope").last == .close(.badRequest, reason: "The message is not valid JSON."))
        #expect(client.send(userText("hi")) == [])
        #expect(client.send(closeConnection) == [])
        client.advance(.seconds(60))
        #expect(client.tick() == [])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [])
        #expect(client.connection.conversationStarted(id: conversationID, agentSpeaksFirst: false) == [])
        #expect(client.connection.conversationContinued(id: conversationID) == [])
        #expect(client.connection.startFailed(.notFound, reason: "x") == [])
        #expect(client.connection.startRejected(httpErrorCode: 400, description: "x") == [])
        #expect(client.connection.conversationFinished() == [])
    }
}

// MARK: - Starting and continuing

@Suite struct RealtimeConnectionStartTests {
    @Test func messagesBeforeAConversationGetAnErrorAndTheSocketStaysOpen() {
        var client = Client()
        let notYet = error(400, "Start or continue a conversation first.")
        #expect(client.send(userText("hi")) == [notYet])
        #expect(client.send(event("ui.click", startInteraction: true)) == [notYet])
        #expect(client.send(finish) == [notYet])
        #expect(client.send(#"{"type":"client.new-audio-message","audio":null}"#) == [notYet])
        #expect(client.send(#"{"type":"client.switch-vad-mode","vad_mode_on":true}"#) == [notYet])
        #expect(client.send(extendTimeout) == [])
        #expect(!client.connection.isClosed)
        #expect(client.send(startFrame) == [.startConversation(.init(serviceID: serviceID))])
    }

    @Test func closeConnectionIsAllowedBeforeAConversation() {
        var client = Client()
        #expect(client.send(closeConnection) == [.close(.normal, reason: "The client closed the connection.")])
    }

    @Test func startingSendsConversationCreatedWhileTheAgentSpeaksFirst() {
        var client = Client()
        let start = #"{"type":"client.start-conversation","service_id":"\#(serviceID)","service_version_set_name":"edge","tags":{"k":"v"}}"#
        #expect(client.send(start) == [.startConversation(.init(serviceID: serviceID, serviceVersionSetName: "edge", tags: ["k": "v"]))])
        #expect(client.connection.conversationID == nil)
        #expect(client.connection.conversationStarted(id: conversationID, agentSpeaksFirst: true)
            == [.send(.conversationCreated(conversationID: conversationID))])
        #expect(client.connection.conversationID == conversationID)
        // The opening turn is running: user text waits for it.
        #expect(client.send(userText("hi")) == [])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [.runInteraction(user: .text("hi"), events: [])])
    }

    @Test func aStartWithAnInitialMessageLeavesTheConnectionIdle() {
        var client = Client()
        _ = client.send(#"{"type":"client.start-conversation","service_id":"\#(serviceID)","initial_message":"Hi"}"#)
        #expect(client.connection.conversationStarted(id: conversationID, agentSpeaksFirst: false)
            == [.send(.conversationCreated(conversationID: conversationID))])
        // Not an empty conversation: an event is only buffered.
        #expect(client.send(event("ui.open")) == [])
        #expect(client.send(userText("there?")) == [.runInteraction(user: .text("there?"), events: [.init(text: "ui.open", receivedAt: client.wallClock)])])
    }

    @Test func continuingSendsConversationContinuedAndTheAgentDoesNotSpeak() {
        var client = Client()
        #expect(client.send(continueFrame) == [.continueConversation(conversationID: conversationID)])
        #expect(client.connection.conversationContinued(id: conversationID) == [.send(.conversationContinued(conversationID: conversationID))])
        #expect(client.send(userText("back again")) == [.runInteraction(user: .text("back again"), events: [])])
    }

    @Test func aSecondStartOrContinueIsAnError() {
        var client = Client.idle()
        let already = error(400, "This connection already has a conversation.")
        #expect(client.send(startFrame) == [already])
        #expect(client.send(continueFrame) == [already])
        #expect(!client.connection.isClosed)
    }

    @Test func aStartWhileOneIsPendingIsAnError() {
        var client = Client()
        _ = client.send(startFrame)
        #expect(client.send(continueFrame) == [error(400, "A conversation is already being started on this connection.")])
    }

    @Test(arguments: [
        (RealtimeConnection.CloseCode.notFound, "Service `x` does not exist."),
        (.conflict, "Another connection is open for this user and service."),
        (.conflict, "The conversation is finished."),
        (.forbidden, "Missing permission Conversation:CreateConversation."),
    ])
    func aFailedStartClosesWithItsCode(_ code: RealtimeConnection.CloseCode, _ reason: String) {
        var client = Client()
        _ = client.send(startFrame)
        #expect(client.connection.startFailed(code, reason: reason) == [.close(code, reason: reason)])
        #expect(client.send(startFrame) == [])
    }

    @Test func aRejectedStartKeepsTheSocketOpenForAnotherStart() {
        var client = Client()
        _ = client.send(startFrame)
        _ = client.send(userText("held"))
        #expect(client.connection.startRejected(httpErrorCode: 400, description: "An unfinished conversation exists.")
            == [error(400, "An unfinished conversation exists.")])
        #expect(client.send(userText("hi")) == [error(400, "Start or continue a conversation first.")])
        #expect(client.send(continueFrame) == [.continueConversation(conversationID: conversationID)])
        // What was held for the rejected start is gone.
        #expect(client.connection.conversationContinued(id: conversationID) == [.send(.conversationContinued(conversationID: conversationID))])
    }

    @Test func messagesSentRightAfterTheStartAreHeldUntilTheConversationExists() {
        var client = Client()
        _ = client.send(continueFrame)
        #expect(client.send(event("page=/cart")) == [])
        #expect(client.send(userText("first")) == [])
        #expect(client.send(userText("second")) == [])
        let cart = BufferedEvent(text: "page=/cart", receivedAt: client.wallClock)
        #expect(client.connection.conversationContinued(id: conversationID) == [
            .send(.conversationContinued(conversationID: conversationID)),
            .runInteraction(user: .text("first"), events: [cart]),
        ])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [.runInteraction(user: .text("second"), events: [])])
    }

    @Test func anUrgentEventSentDuringTheStartInterruptsTheOpeningTurn() {
        var client = Client()
        _ = client.send(startFrame)
        #expect(client.send(event("alert", startInteraction: true)) == [])
        #expect(client.connection.conversationStarted(id: conversationID, agentSpeaksFirst: true) == [
            .send(.conversationCreated(conversationID: conversationID)), .interruptInteraction,
        ])
        #expect(client.connection.interactionFinished(conversationCompleted: false)
            == [.runInteraction(user: nil, events: [.init(text: "alert", receivedAt: client.wallClock)])])
    }

    @Test func inAnEmptyConversationTheFirstExternalEventStartsAnInteraction() {
        var client = Client()
        _ = client.send(#"{"type":"client.start-conversation","service_id":"\#(serviceID)","initial_message_type":"skip"}"#)
        #expect(client.connection.conversationStarted(id: conversationID, agentSpeaksFirst: false)
            == [.send(.conversationCreated(conversationID: conversationID))])
        #expect(client.send(event("ALERT: gateway timeouts")) == [.runInteraction(user: nil, events: [.init(text: "ALERT: gateway timeouts", receivedAt: client.wallClock)])])
        _ = client.connection.interactionFinished(conversationCompleted: false)
        // From then on events are buffered as usual.
        #expect(client.send(event("later")) == [])
    }
}

// MARK: - Interactions, events, finishing

@Suite struct RealtimeConnectionInteractionTests {
    @Test func eventsAreBufferedForTheNextInteractionAndThoseDuringAnAnswerGoToTheOneAfter() {
        var client = Client.idle()
        #expect(client.send(event("device.battery=72")) == [])
        let battery = BufferedEvent(text: "device.battery=72", receivedAt: client.wallClock)
        client.advance(.seconds(2))
        #expect(client.send(event("ui.click=checkout")) == [])
        let click = BufferedEvent(text: "ui.click=checkout", receivedAt: client.wallClock)
        client.advance(.seconds(1))
        #expect(client.send(userText("Can I pay?")) == [.runInteraction(user: .text("Can I pay?"), events: [battery, click])])

        client.advance(.seconds(1))
        #expect(client.send(event("ui.navigate=/pay")) == [])
        let navigate = BufferedEvent(text: "ui.navigate=/pay", receivedAt: client.wallClock)
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [])

        client.advance(.seconds(5))
        #expect(client.send(userText("Done.")) == [.runInteraction(user: .text("Done."), events: [navigate])])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [])
        #expect(client.send(userText("Thanks")) == [.runInteraction(user: .text("Thanks"), events: [])])
    }

    @Test func anUrgentEventWhileIdleStartsAnInteractionWithTheBufferedEvents() {
        var client = Client.idle()
        _ = client.send(event("a"))
        let a = BufferedEvent(text: "a", receivedAt: client.wallClock)
        client.advance(.seconds(1))
        #expect(client.send(event("critical", startInteraction: true))
            == [.runInteraction(user: nil, events: [a, .init(text: "critical", receivedAt: client.wallClock)])])
    }

    @Test func anUrgentEventMidAnswerInterruptsItOnceAndRunsNext() {
        var client = Client.idle()
        _ = client.send(userText("Tell me a long story"))
        #expect(client.send(event("critical", startInteraction: true)) == [.interruptInteraction])
        let critical = BufferedEvent(text: "critical", receivedAt: client.wallClock)
        #expect(client.send(event("also urgent", startInteraction: true)) == [])
        let alsoUrgent = BufferedEvent(text: "also urgent", receivedAt: client.wallClock)
        #expect(client.connection.interactionFinished(conversationCompleted: false)
            == [.runInteraction(user: nil, events: [critical, alsoUrgent])])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [])
    }

    @Test func anUrgentEventMidAnswerJoinsTheQueuedUserTextInsteadOfAnsweringTwice() {
        var client = Client.idle()
        _ = client.send(userText("one"))
        #expect(client.send(userText("two")) == [])
        #expect(client.send(userText("three")) == [])
        #expect(client.send(event("critical", startInteraction: true)) == [.interruptInteraction])
        let critical = BufferedEvent(text: "critical", receivedAt: client.wallClock)
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [.runInteraction(user: .text("two"), events: [critical])])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [.runInteraction(user: .text("three"), events: [])])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [])
    }

    @Test func userTextMidAnswerIsQueuedNotRejected() {
        var client = Client.idle()
        #expect(client.send(userText("first")) == [.runInteraction(user: .text("first"), events: [])])
        #expect(client.send(userText("second")) == [])
        #expect(client.send(userText("third")) == [])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [.runInteraction(user: .text("second"), events: [])])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [.runInteraction(user: .text("third"), events: [])])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [])
    }

    @Test func finishingWhileIdleFinishesThenClosesNormally() {
        var client = Client.idle()
        _ = client.send(event("dropped: no interaction follows"))
        #expect(client.send(finish) == [.finishConversation])
        #expect(client.send(finish) == [])
        #expect(client.connection.conversationFinished() == [.close(.normal, reason: "The conversation is finished.")])
        #expect(client.connection.isClosed)
    }

    @Test func finishingMidAnswerWaitsForTheAnswer() {
        var client = Client.duringOpeningTurn()
        #expect(client.send(finish) == [])
        #expect(client.send(userText("wait")) == [error(400, "The conversation is being finished; no more messages are accepted.")])
        #expect(client.connection.conversationFinished() == [])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [.finishConversation])
        #expect(client.send(event("late")) == [error(400, "The conversation is being finished; no more messages are accepted.")])
        #expect(client.connection.conversationFinished() == [.close(.normal, reason: "The conversation is finished.")])
    }

    @Test func textsSentBeforeTheFinishAreAnsweredFirst() {
        var client = Client.idle()
        _ = client.send(userText("one"))
        _ = client.send(userText("two"))
        #expect(client.send(finish) == [])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [.runInteraction(user: .text("two"), events: [])])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [.finishConversation])
    }

    @Test func finishRequestedDuringTheStartRunsOnceTheConversationExists() {
        var client = Client()
        _ = client.send(continueFrame)
        #expect(client.send(finish) == [])
        #expect(client.connection.conversationContinued(id: conversationID)
            == [.send(.conversationContinued(conversationID: conversationID)), .finishConversation])
    }

    @Test func closeConnectionMidAnswerInterruptsThenClosesNormally() {
        var client = Client.idle()
        _ = client.send(userText("hi"))
        #expect(client.send(closeConnection) == [.interruptInteraction, .close(.normal, reason: "The client closed the connection.")])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [])
    }

    @Test func closeConnectionAfterAnInterruptDoesNotInterruptTwice() {
        var client = Client.duringOpeningTurn()
        #expect(client.send(event("x", startInteraction: true)) == [.interruptInteraction])
        #expect(client.send(closeConnection) == [.close(.normal, reason: "The client closed the connection.")])
    }

    @Test func closeConnectionWhileIdleJustCloses() {
        var client = Client.idle()
        #expect(client.send(closeConnection) == [.close(.normal, reason: "The client closed the connection.")])
    }

    @Test func anInteractionThatCompletesTheConversationClosesNormallyAfterIt() {
        var client = Client.idle()
        _ = client.send(userText("bye"))
        _ = client.send(userText("queued, never answered"))
        #expect(client.connection.interactionFinished(conversationCompleted: true) == [.close(.normal, reason: "The conversation is finished.")])
        #expect(client.send(userText("hello?")) == [])
    }

    @Test func audioChunksMakeOneUtteranceAnsweredLikeATextInTheFormatItsConfigSays() {
        var client = Client.idle()
        let first = Data(repeating: 1, count: 300), second = Data(repeating: 2, count: 100)
        #expect(client.send(audioFrame(first, config: #"{"format":"pcm","sample_rate":8000,"sample_width":2,"n_channels":1}"#)) == [])
        #expect(client.send(audioFrame(second)) == [])
        let clip = AudioClip(data: first + second, encoding: .pcm(sampleRate: 8000, channels: 1, sampleWidth: 2))
        #expect(client.send(endOfAudio) == [.runInteraction(user: .audio(clip), events: [])])
        // While the agent answers, the next utterance waits its turn like a text; without a config it is
        // the reference format, and a WAV header says the rest.
        #expect(client.send(audioFrame(second)) == [])
        #expect(client.send(endOfAudio) == [])
        let wav = WAV.file(pcm: first, sampleRate: 22_050)
        #expect(client.send(audioFrame(wav)) == [])
        #expect(client.send(endOfAudio) == [])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [
            .runInteraction(user: .audio(AudioClip(data: second, encoding: .pcm(sampleRate: 16_000, channels: 1, sampleWidth: 2))), events: []),
        ])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [
            .runInteraction(user: .audio(AudioClip(data: wav, encoding: .wav)), events: []),
        ])
        #expect(client.send(audioFrame(first, config: #"{"format":"mp3"}"#)) == [])
        #expect(client.send(endOfAudio) == [])
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [
            .runInteraction(user: .audio(AudioClip(data: first, encoding: .mp3)), events: []),
        ])
    }

    @Test func audioFramesCountAsBytesNotAsMessages() {
        var client = Client.idle(limits: .init(messagesPerMinute: 5, audioBytesPerMinute: 1_000))
        for _ in 0..<9 { #expect(client.send(audioFrame(Data(repeating: 0, count: 100))) == []) }
        #expect(!client.connection.isClosed)
        client.advance(.seconds(61))
        for _ in 0..<10 { #expect(client.send(audioFrame(Data(repeating: 0, count: 100))) == []) }
        #expect(client.send(audioFrame(Data(repeating: 0, count: 1))) == [.close(.rateLimited, reason: "More than 1000 bytes of audio in a minute.")])
    }

    @Test func badAudioIsRefusedWithItsCloseCode() {
        var config = Client.idle()
        #expect(config.send(audioFrame(Data(count: 2), config: #"{"format":"pcm","n_channels":2}"#)).last?.closeCode == .unsupportedMedia)
        var base64 = Client.idle()
        #expect(base64.send(#"{"type":"client.new-audio-message","audio":"not base64!"}"#).last?.closeCode == .badRequest)
        var long = Client.idle(limits: .init(maxUtteranceBytes: 150))
        #expect(long.send(audioFrame(Data(count: 100))) == [])
        #expect(long.send(audioFrame(Data(count: 100))).last?.closeCode == .badRequest)
        var empty = Client.idle()
        #expect(empty.send(endOfAudio) == [error(400, "No audio was sent before the end of the audio message.")])
        #expect(!empty.connection.isClosed)
    }

    @Test func withoutADetectorVADModeIsUnsupportedButTheSocketStaysOpen() {
        var client = Client.idle()
        #expect(client.send(#"{"type":"client.switch-vad-mode","vad_mode_on":true}"#) == [vadUnsupported])
        #expect(client.send(userText("text still works")) == [.runInteraction(user: .text("text still works"), events: [])])
        var opening = Client()
        _ = opening.send(startFrame)
        #expect(opening.send(#"{"type":"client.switch-vad-mode","vad_mode_on":false}"#) == [vadUnsupported])
    }

    @Test func inVADModeTheDetectorsTurnsBecomeEventsAndTheUtteranceIsAnswered() {
        var client = Client.idle(turnDetection: VoiceActivity.Settings())
        #expect(client.send(vadOn) == [.send(.vadModeSwitched(on: true))])
        let chunk = Data(repeating: 7, count: 512 * 2)
        // The detector gets audio two frames at a time.
        #expect(client.send(audioFrame(chunk, config: #"{"format":"pcm","sample_rate":16000,"sample_width":2,"n_channels":1}"#)) == [])
        #expect(client.send(audioFrame(chunk)) == [.detectSpeech(chunk + chunk)])
        // `audio: null` means nothing in VAD mode: the detector decides.
        #expect(client.send(endOfAudio) == [])
        for _ in 0..<28 { _ = client.send(audioFrame(chunk)) }
        #expect(client.connection.voiceActivity([0.9], wallClock: client.wallClock) == [.send(.vadSpeechStarted(tsStart: 0))])
        #expect(client.connection.voiceActivity([Float](repeating: 0.9, count: 9), wallClock: client.wallClock) == [])
        let actions = client.connection.voiceActivity([Float](repeating: 0.05, count: 16), wallClock: client.wallClock)
        let speech = Data(repeating: 7, count: 10 * 512 * 2)
        #expect(actions == [
            .send(.vadSpeechEnded(tsEnd: 320)),
            .runInteraction(user: .audio(AudioClip(data: speech, encoding: .pcm(sampleRate: 16_000, channels: 1, sampleWidth: 2))), events: []),
        ])
        // Speech over the agent's answer interrupts it; a blip is discarded.
        #expect(client.connection.voiceActivity([0.9], wallClock: client.wallClock) == [.send(.vadSpeechStarted(tsStart: 832)), .interruptInteraction])
        #expect(client.connection.voiceActivity([Float](repeating: 0.05, count: 16), wallClock: client.wallClock) == [.send(.vadSpeechResetZero)])
        #expect(client.send(vadOff) == [.send(.vadModeSwitched(on: false)), .stopDetecting])
    }

    @Test func aConnectionCanAskForALongerSilenceBeforeItsTurnEnds() {
        var client = Client.idle(turnDetection: VoiceActivity.Settings())
        let slow = #"{"type":"client.switch-vad-mode","vad_mode_on":true,"turn_detection":{"silence_duration_ms":1000}}"#
        #expect(client.send(slow) == [.send(.vadModeSwitched(on: true))])
        for _ in 0..<60 { _ = client.send(audioFrame(Data(repeating: 1, count: 1024))) }
        #expect(client.connection.voiceActivity([Float](repeating: 0.9, count: 10), wallClock: client.wallClock) == [.send(.vadSpeechStarted(tsStart: 0))])
        // 16 silent frames (512 ms) end a turn with the server's 500 ms; this connection waits for 1,000 ms.
        #expect(client.connection.voiceActivity([Float](repeating: 0.05, count: 16), wallClock: client.wallClock) == [])
        let actions = client.connection.voiceActivity([Float](repeating: 0.05, count: 16), wallClock: client.wallClock)
        #expect(actions.first == .send(.vadSpeechEnded(tsEnd: 320)))
        // A later switch without knobs keeps them.
        #expect(client.send(vadOff) == [.send(.vadModeSwitched(on: false)), .stopDetecting])
        #expect(client.send(vadOn) == [.send(.vadModeSwitched(on: true))])
        for _ in 0..<60 { _ = client.send(audioFrame(Data(repeating: 1, count: 1024))) }
        _ = client.connection.voiceActivity([Float](repeating: 0.9, count: 10), wallClock: client.wallClock)
        #expect(client.connection.voiceActivity([Float](repeating: 0.05, count: 16), wallClock: client.wallClock) == [])
    }

    @Test func aConnectionThatChoosesTheEndOfTurnModelEndsItsTurnWhenTheModelSaysSo() throws {
        let semantic = #"{"type":"client.switch-vad-mode","vad_mode_on":true,"turn_detection":{"type":"semantic_vad"}}"#
        // A server without the model refuses the choice and stays as it was.
        var plain = Client.idle(turnDetection: VoiceActivity.Settings())
        #expect(plain.send(semantic) == [error(415, RealtimeConnection.endOfTurnUnsupported)])
        #expect(plain.send(vadOn) == [.send(.vadModeSwitched(on: true))])
        for _ in 0..<60 { _ = plain.send(audioFrame(Data(repeating: 1, count: 1024))) }
        _ = plain.connection.voiceActivity([Float](repeating: 0.9, count: 10), wallClock: plain.wallClock)
        #expect(plain.connection.voiceActivity([Float](repeating: 0.05, count: 16), wallClock: plain.wallClock).first == .send(.vadSpeechEnded(tsEnd: 320)))

        var client = Client.idle(turnDetection: VoiceActivity.Settings(), hasEndOfTurnModel: true)
        #expect(client.send(semantic) == [.send(.vadModeSwitched(on: true))])
        for _ in 0..<60 { _ = client.send(audioFrame(Data(repeating: 1, count: 1024))) }
        #expect(client.connection.voiceActivity([Float](repeating: 0.9, count: 10), wallClock: client.wallClock) == [.send(.vadSpeechStarted(tsStart: 0))])
        let asked = client.connection.voiceActivity([Float](repeating: 0.05, count: 7), wallClock: client.wallClock)
        guard case .judgeTurn(let check, let audio)? = asked.first, asked.count == 1 else { Issue.record("no check: \(asked)"); return }
        #expect(audio.count == 17 * 512 * 2)
        // The model says the user has finished: the turn ends at 224 ms of silence, not 500.
        let actions = client.connection.turnJudged(check: check, complete: true, wallClock: client.wallClock)
        #expect(actions.first == .send(.vadSpeechEnded(tsEnd: 320)))
        guard case .runInteraction(.audio?, _)? = actions.last else { Issue.record("no interaction: \(actions)"); return }
        // A late verdict on a turn that already ended does nothing.
        #expect(client.connection.turnJudged(check: check, complete: true, wallClock: client.wallClock) == [])
    }

    @Test func anEventThatAsksForATurnWhileTheUserSpeaksGoesWithTheUtterance() {
        var client = Client.idle(turnDetection: VoiceActivity.Settings())
        _ = client.send(vadOn)
        for _ in 0..<26 { _ = client.send(audioFrame(Data(repeating: 1, count: 1024))) }
        _ = client.connection.voiceActivity([Float](repeating: 0.9, count: 10), wallClock: client.wallClock)
        #expect(client.send(event("Lab results arrived", startInteraction: true)) == [])
        let actions = client.connection.voiceActivity([Float](repeating: 0.05, count: 16), wallClock: client.wallClock)
        guard case .runInteraction(.audio?, let events)? = actions.last else { Issue.record("no interaction: \(actions)"); return }
        #expect(events.map(\.text) == ["Lab results arrived"])
    }

    @Test func vadModeNeedsPCM() {
        var client = Client.idle(turnDetection: VoiceActivity.Settings())
        _ = client.send(audioFrame(Data(count: 4), config: #"{"format":"mp3"}"#))
        #expect(client.send(vadOn).last?.closeCode == .unsupportedMedia)
        var vad = Client.idle(turnDetection: VoiceActivity.Settings())
        _ = vad.send(vadOn)
        #expect(vad.send(audioFrame(Data(count: 4), config: #"{"format":"mp3"}"#)).last?.closeCode == .unsupportedMedia)
    }

    @Test func interactionFinishedWithoutARunningInteractionIsIgnored() {
        var client = Client.idle()
        #expect(client.connection.interactionFinished(conversationCompleted: false) == [])
        #expect(client.send(userText("hi")) == [.runInteraction(user: .text("hi"), events: [])])
    }
}
