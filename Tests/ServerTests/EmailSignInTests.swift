import AmigoWire
import CompadreTesting
import Foundation
import HTTPTypes
import Platform
import Server
import Testing

/// A mailer that keeps what it was asked to send.
final class RecordingMailer: Mailer, @unchecked Sendable {
    private let lock = NSLock()
    private var sent: [(to: String, body: String)] = []
    var messages: [(to: String, body: String)] { lock.withLock { sent } }

    func send(to recipient: String, subject: String, body: String) async throws {
        lock.withLock { sent.append((recipient, body)) }
    }
}

@Suite("Sign-in by email")
struct EmailSignInTests {
    @Test func aMailedLinkSignsTheUserInOnceAndTheAnswerNeverSaysWhetherTheAddressExists() async throws {
        try await SignedInAdmin.with { admin in
            let mailer = RecordingMailer()
            var server = admin.server
            server.api.emailSignIns = EmailSignIns(store: server.api.store, mailer: mailer)
            let invited = try await admin.client.call(.post, "/v1/\(admin.org)/user/", token: admin.token, json: [
                "first_name": "Pat", "last_name": "Doe", "email": "pat@example.com", "role_name": "DefaultUserRole",
            ])
            let pat = try invited.object()["user_id"] as? String ?? ""
            try await server.test { client in
                let body: [String: Any] = ["email": "Pat@Example.com", "redirect_link": "https://app.example.com/welcome"]
                let known = try await client.call(.post, "/v1/\(admin.org)/user/signin", json: body)
                let unknown = try await client.call(.post, "/v1/\(admin.org)/user/signin", json: ["email": "nobody@example.com", "redirect_link": "https://app.example.com/welcome"])
                #expect(known.status == .ok && unknown.status == .ok)
                #expect(known.text == unknown.text)
                #expect(mailer.messages.count == 1)
                let message = try #require(mailer.messages.first)
                #expect(message.to == "pat@example.com")
                let link = try #require(message.body.split(separator: "\n").first { $0.contains("/user/signin/redeem?token=") })
                let url = try #require(URL(string: String(link)))

                let redeemed = try await client.call(.get, "\(url.path)?\(url.query ?? "")")
                #expect(redeemed.status == .seeOther, "\(redeemed.text)")
                let location = try #require(redeemed.headers[.location])
                #expect(location.hasPrefix("https://app.example.com/welcome#id_token="))
                let token = String(location.split(separator: "=", maxSplits: 1)[1].split(separator: "&")[0])
                let me = try await client.call(.get, "/v1/\(admin.org)/user/?id=\(pat)", token: token)
                #expect(me.status == .ok, "the link's token signs Pat in")
                // Once only; a made-up token neither.
                #expect(try await client.call(.get, "\(url.path)?\(url.query ?? "")").status == .forbidden)
                #expect(try await client.call(.get, "/v1/\(admin.org)/user/signin/redeem?token=nope").status == .forbidden)
                #expect(try await client.call(.post, "/v1/\(admin.org)/user/signin", json: ["email": "pat", "redirect_link": "x"]).status == .unprocessableContent)
            }
            // Without a mailer: 503 for every address alike.
            let unset = try await admin.client.call(.post, "/v1/\(admin.org)/user/signin", json: ["email": "pat@example.com", "redirect_link": "https://a.example.com/"])
            #expect(unset.status == .serviceUnavailable)
        }
    }
}
