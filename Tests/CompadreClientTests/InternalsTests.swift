import AmigoWire
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import CompadreClient

@Suite("Access token rules")
struct AccessTokenStateMachineTests {
    let start = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func signsInOnceThenWaitersShareTheSignIn() {
        var machine = AccessTokenStateMachine<Int>(refreshMargin: 300)
        guard case .signIn = machine.tokenNeeded(now: start) else { Issue.record("expected a sign-in"); return }
        machine.signInStarted(7)
        guard case .wait(7) = machine.tokenNeeded(now: start) else { Issue.record("expected to wait"); return }
        machine.signedIn(token: "t1", expiresAt: start.addingTimeInterval(600))
        guard case .use(token: "t1") = machine.tokenNeeded(now: start.addingTimeInterval(300)) else { Issue.record("expected t1"); return }
        guard case .signIn = machine.tokenNeeded(now: start.addingTimeInterval(301)) else { Issue.record("expected a refresh"); return }
    }

    @Test func onlyTheRejectedTokenIsDropped() {
        var machine = AccessTokenStateMachine<Int>(refreshMargin: 300)
        machine.signedIn(token: "t2", expiresAt: start.addingTimeInterval(600))
        machine.rejected(token: "t1")
        guard case .use(token: "t2") = machine.tokenNeeded(now: start) else { Issue.record("t2 should survive"); return }
        machine.rejected(token: "t2")
        guard case .signIn = machine.tokenNeeded(now: start) else { Issue.record("expected a sign-in"); return }
    }

    @Test func aFailedSignInIsTriedAgainByTheNextCaller() {
        var machine = AccessTokenStateMachine<Int>(refreshMargin: 300)
        machine.signInStarted(1)
        machine.signInFailed()
        guard case .signIn = machine.tokenNeeded(now: start) else { Issue.record("expected a sign-in"); return }
    }
}

@Suite("Request encoding")
struct RequestEncodingTests {
    @Test func theInteractFormIsWhatThePythonSDKSends() {
        let form = AmigoClient.interactForm(
            text: "it hurts", messageType: .userMessage,
            externalEvents: [("a", Date(timeIntervalSince1970: 0)), ("b", Date(timeIntervalSince1970: 1.5))],
            boundary: "XYZ")
        #expect(form.contentType == "multipart/form-data; boundary=XYZ")
        #expect(String(decoding: form.encoded(), as: UTF8.self) == [
            "--XYZ", #"Content-Disposition: form-data; name="initial_message_type""#, "", "user-message",
            "--XYZ", #"Content-Disposition: form-data; name="external_event_message_content""#, "", "a",
            "--XYZ", #"Content-Disposition: form-data; name="external_event_message_content""#, "", "b",
            "--XYZ", #"Content-Disposition: form-data; name="external_event_message_timestamp""#, "", "1970-01-01T00:00:00.000Z",
            "--XYZ", #"Content-Disposition: form-data; name="external_event_message_timestamp""#, "", "1970-01-01T00:00:01.500Z",
            "--XYZ", #"Content-Disposition: form-data; name="recorded_message"; filename="message.txt""#,
            "Content-Type: text/plain; charset=utf-8", "", "it hurts",
            "--XYZ--", "",
        ].joined(separator: "\r\n"))
    }

    @Test func anExternalEventAloneIsSentAsTheMessage() {
        let form = AmigoClient.interactForm(text: "the user opened the app", messageType: .externalEvent, externalEvents: [], boundary: "B")
        #expect(String(decoding: form.encoded(), as: UTF8.self).hasPrefix("--B\r\nContent-Disposition: form-data; name=\"initial_message_type\"\r\n\r\nexternal-event\r\n"))
    }

    @Test func urlsEscapeIDsAndQueryValues() {
        let request = APIRequest(.GET, "/v1/acme/conversation/" + APIRequest.segment("a/b?c"), query: [("current_agent_action_type", "^tool-.*$"), ("x", "a b&c")])
        #expect(request.url(baseURL: "http://h:1/") == "http://h:1/v1/acme/conversation/a%2Fb%3Fc?current_agent_action_type=%5Etool-.%2A%24&x=a%20b%26c")
    }
}

@Suite("Error answers")
struct ErrorAnswerTests {
    @Test func aMessageDetailIsKept() {
        let error = AmigoClientError.answer(status: 404, body: Array(#"{"detail":"Conversation `x` does not exist."}"#.utf8))
        #expect(error.status == 404)
        #expect(error.detail == "Conversation `x` does not exist.")
        #expect(error.description == "HTTP 404: Conversation `x` does not exist.")
    }

    @Test func validationIssuesAreJoined() {
        let body = #"{"detail":[{"loc":["body","tags","k"],"msg":"too long","type":"string_too_long"},{"loc":["query","limit"],"msg":"Field required","type":"missing"}]}"#
        let error = AmigoClientError.answer(status: 422, body: Array(body.utf8))
        #expect(error.detail == "body.tags.k: too long; query.limit: Field required")
        #expect(error.issues.map(\.type) == ["string_too_long", "missing"])
    }

    @Test func aBodyThatIsNotTheAPIsIsQuoted() {
        #expect(AmigoClientError.answer(status: 502, body: Array("<html>Bad Gateway</html>\n".utf8)).detail == "<html>Bad Gateway</html>")
        #expect(AmigoClientError.answer(status: 500, body: []).detail == "no detail")
    }
}
