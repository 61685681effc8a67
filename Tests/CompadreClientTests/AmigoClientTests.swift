import AmigoWire
import AsyncHTTPClient
import CompadreClient
import Foundation
import Synchronization
import Testing

/// A wall clock that tests move by hand.
final class MockWallClock: Sendable {
    private let date = Mutex(Date())
    var now: Date { date.withLock { $0 } }
    func advance(by interval: TimeInterval) { date.withLock { $0 = $0.addingTimeInterval(interval) } }
}

func makeClient(_ server: FakeAmigoServer, apiKey: String = FakeAmigoServer.apiKey) -> AmigoClient {
    AmigoClient(
        configuration: .init(
            baseURL: server.baseURL, organizationID: FakeAmigoServer.organizationID, apiKey: apiKey,
            apiKeyID: FakeAmigoServer.apiKeyID, userID: FakeAmigoServer.userID),
        httpClient: .shared,
        now: { server.clock.now }
    )
}

func collect(_ stream: AsyncThrowingStream<ConversationEvent, any Error>) async throws -> [ConversationEvent] {
    var events: [ConversationEvent] = []
    for try await event in stream { events.append(event) }
    return events
}

@Suite("Access tokens")
struct AccessTokenTests {
    @Test func concurrentCallsShareOneSignIn() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 { group.addTask { try await client.services().count } }
                for try await count in group { #expect(count == 2) }
            }
            #expect(server.state.signIns == 1)
            let tokens = Set(server.state.requests.map { $0.headers["authorization"] })
            #expect(tokens == ["Bearer token-1"])
        }
    }

    @Test func aTokenIsReusedUntilFiveMinutesBeforeItExpires() async throws {
        try await FakeAmigoServer.withServer { server in
            let clock = server.clock
            let client = makeClient(server)
            _ = try await client.services()
            clock.advance(by: 4 * 60)  // expires in 6 minutes: still good
            _ = try await client.services()
            #expect(server.state.signIns == 1)

            clock.advance(by: 2 * 60)  // expires in 4 minutes: within the margin
            _ = try await client.services()
            #expect(server.state.signIns == 2)
            #expect(server.state.requests.last?.headers["authorization"] == "Bearer token-2")
        }
    }

    @Test func aRejectedTokenIsReplacedAndTheRequestSentOnceMore() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            _ = try await client.services()
            server.state.revokeTokens()

            let services = try await client.services()
            #expect(services.map(\.name) == ["Triage", "Billing"])
            #expect(server.state.signIns == 2)
            let attempts = server.state.requests.dropFirst(2).map { $0.headers["authorization"] ?? "" }
            #expect(attempts == ["Bearer token-1", "Bearer token-2", "Bearer token-2"])
        }
    }

    @Test func concurrentRejectionsCauseOneNewSignIn() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            _ = try await client.services()
            server.state.revokeTokens()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 { group.addTask { _ = try await client.insights(conversationID: "c1", interactionID: "i1") } }
                try await group.waitForAll()
            }
            #expect(server.state.signIns == 2)
        }
    }

    @Test func aSecondRejectionIsThrownWithoutRetryingAgain() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            server.state.rejectEveryToken()
            let error = try await #require(throws: AmigoClientError.self) { try await client.finish(conversationID: "c1") }
            #expect(error.status == 401)
            #expect(error.detail == "Invalid authorization credentials.")
            #expect(server.state.signIns == 2)
            #expect(server.state.requests.count == 2)
        }
    }

    @Test func aRejectedStreamIsRetriedAfterANewSignIn() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            _ = try await client.services()
            server.state.revokeTokens()
            let events = try await collect(client.interact(conversationID: "c1", text: "hi"))
            #expect(events == FakeAmigoServer.interactEvents)
            #expect(server.state.signIns == 2)
        }
    }

    @Test func aWrongAPIKeyFailsTheSignIn() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server, apiKey: "wrong")
            let error = try await #require(throws: AmigoClientError.self) { try await client.services() }
            #expect(error.isSignInFailure)
            #expect(error.status == 401)
            #expect(error.detail == "Invalid API key.")
            #expect(server.state.requests.isEmpty)
        }
    }
}

@Suite("Conversation endpoints")
struct ConversationEndpointTests {
    @Test func creatingAConversationStreamsItsEvents() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            let events = try await collect(client.createConversation(serviceID: "s1", currentAgentActionType: ".*"))
            #expect(events == FakeAmigoServer.createEvents)

            let request = try #require(server.state.requests.last)
            #expect(request.method == "POST")
            #expect(request.path == "/v1/acme/conversation/")
            #expect(request.query["response_format"] == ["text"])
            #expect(request.query["current_agent_action_type"] == [".*"])
            #expect(request.headers["accept"] == "application/x-ndjson")
            #expect(request.headers["content-type"] == "application/json")
            let body = try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any]
            #expect(body?["service_id"] as? String == "s1")
            #expect(body?["service_version_set_name"] as? String == "release")
            #expect(body?["initial_message"] == nil)
        }
    }

    @Test func interactingSendsTheFormThePythonSDKSends() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            let when = Date(timeIntervalSince1970: 1_700_000_000)
            let events = try await collect(client.interact(conversationID: "c1", text: "hi", externalEvents: [("opened the app", when)]))
            #expect(events == FakeAmigoServer.interactEvents)

            let request = try #require(server.state.requests.last)
            #expect(request.path == "/v1/acme/conversation/c1/interact")
            #expect(request.query["request_format"] == ["text"])
            #expect(request.query["response_format"] == ["text"])
            let contentType = try #require(request.headers["content-type"])
            #expect(contentType.hasPrefix("multipart/form-data; boundary="))
            #expect(request.body.contains("name=\"initial_message_type\"\r\n\r\nuser-message\r\n"))
            #expect(request.body.contains("name=\"external_event_message_content\"\r\n\r\nopened the app\r\n"))
            #expect(request.body.contains("name=\"external_event_message_timestamp\"\r\n\r\n2023-11-14T22:13:20.000Z\r\n"))
            #expect(request.body.contains("name=\"recorded_message\"; filename=\"message.txt\"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n"))
        }
    }

    @Test func aVoiceMessageIsSentAsTheAudioFileOfTheForm() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            let audio: [UInt8] = Array("RIFF".utf8) + [0, 1, 2, 255]
            _ = try await collect(client.interact(conversationID: "c1", audio: audio, spokenReply: true))
            let request = try #require(server.state.requests.last)
            #expect(request.query["request_format"] == ["voice"])
            #expect(request.query["response_format"] == ["voice"])
            #expect(request.body.contains("name=\"recorded_message\"; filename=\"audio.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF"))
        }
    }

    @Test func anErrorAnswerEndsTheStreamWithItsDetail() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            let error = try await #require(throws: AmigoClientError.self) {
                _ = try await collect(client.createConversation(serviceID: "invalid"))
            }
            #expect(error.status == 422)
            #expect(error.detail == "body.service_id: Invalid ObjectId; query.limit.0: Too big")
            #expect(error.issues.count == 2)
        }
    }

    @Test func finishingAFinishedConversationIsAConflict() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            try await client.finish(conversationID: "c1")
            #expect(server.state.requests.last?.path == "/v1/acme/conversation/c1/finish/")
            let error = try await #require(throws: AmigoClientError.self) { try await client.finish(conversationID: "done") }
            #expect(error.status == 409)
            #expect(error.detail == "The conversation is already finished.")
        }
    }

    @Test func insightsMessagesAndConversationsDecode() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            #expect(try await client.insights(conversationID: "c1", interactionID: "i1") == FakeAmigoServer.insights)

            let messages = try await client.messages(conversationID: "c1", limit: 5, continuationToken: 2)
            #expect(messages.messages.map(\.message) == ["Hello"])
            #expect(messages.hasMore && messages.continuationToken == 1)
            #expect(server.state.requests.last?.query["limit"] == ["5"])
            #expect(server.state.requests.last?.query["continuation_token"] == ["2"])

            let conversation = try await client.unfinishedConversation(serviceID: "s1")
            #expect(conversation?.id == "c9")
            let query = try #require(server.state.requests.last?.query)
            #expect(query["service_id"] == ["s1"])
            #expect(query["is_finished"] == ["false"])
            #expect(query["user_id"] == [FakeAmigoServer.userID])
            #expect(query["sort_by"] == ["-created_at"])
        }
    }

    @Test func servicesFollowEveryPage() async throws {
        try await FakeAmigoServer.withServer { server in
            let services = try await makeClient(server).services()
            #expect(services == [ServiceSummary(id: "s1", name: "Triage"), ServiceSummary(id: "s2", name: "Billing", isActive: false)])
        }
    }

    @Test func stoppingEarlyCancelsTheStream() async throws {
        try await FakeAmigoServer.withServer { server in
            let client = makeClient(server)
            for try await event in client.createConversation(serviceID: "s1") {
                #expect(event == .conversationCreated(conversationID: "c1"))
                break
            }
            // The client is still usable afterwards.
            #expect(try await client.services().count == 2)
        }
    }
}
