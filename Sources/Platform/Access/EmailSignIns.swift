import AmigoWire
import Crypto
import Foundation
import Logging
import Storage
import ToolRuntime

/// Sends one message; nil configuration means no mail can be sent.
public protocol Mailer: Sendable {
    func send(to recipient: String, subject: String, body: String) async throws
}

/// Sign-in by email (`POST /user/signin`): a one-time link to a Compadre route that redeems it.
///
/// Rules:
/// - The answer is the same whether the address belongs to a user or not; a link is made and sent only
///   when it does. The link's token is 32 random bytes, stored as its SHA-256, good for 15 minutes and
///   once.
/// - Redeeming it signs the user in (an access token as the API-key sign-in issues) and redirects to the
///   `redirect_link` given, the token in the fragment (`#id_token=…&expires_at=…`), which browsers do not
///   send on to servers.
/// - Without a mailer (no SMTP configured and the operator did not turn on logging links), the request is
///   503 for every address alike.
public struct EmailSignIns: Sendable {
    public static let lifetime: TimeInterval = 15 * 60
    let store: Store
    let mailer: (any Mailer)?
    let now: @Sendable () -> Date

    public init(store: Store, mailer: (any Mailer)?, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.mailer = mailer
        self.now = now
    }

    /// Makes and sends a link when `email` is a user of `orgID`; `linkBase` is the redeeming route's URL.
    public func request(_ request: SignInWithEmailRequest, orgID: String, linkBase: String) async throws {
        guard let mailer else { throw PlatformError.unavailable("This server sends no email: configure email.smtpUrl (or email.logLinks for development).") }
        let token = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.base64URLEncoded
        let date = now()
        let user = try await store.write { repositories -> User? in
            guard try await repositories.organizations.get(orgID) != nil else { throw PlatformError.notFound("Organization `\(orgID)` does not exist.") }
            guard let user = try await repositories.users.find(email: request.email, orgID: orgID) else { return nil }
            try await repositories.users.insertSignIn(
                tokenHash: Self.hash(token), userID: user.userID, orgID: orgID, redirectLink: request.redirectLink,
                expiresAt: date.addingTimeInterval(Self.lifetime)
            )
            return user
        }
        guard let user else { return }
        let link = "\(linkBase)?token=\(token)"
        try await mailer.send(
            to: user.email, subject: "Your sign-in link",
            body: "Hello \(user.firstName),\n\nSign in with this link (good for 15 minutes, once):\n\n\(link)\n\nIf you did not ask for it, ignore this message.\n"
        )
    }

    /// The user and redirect of an unused, unexpired token (used now), or nil.
    public func redeem(token: String, orgID: String) async throws -> (userID: String, redirectLink: String)? {
        try await store.write { try await $0.users.redeemSignIn(tokenHash: Self.hash(token), orgID: orgID, now: now()) }
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

extension Data {
    var base64URLEncoded: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// Writes each message's link to the log at debug level: development only, turned on by the operator.
public struct LogMailer: Mailer {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func send(to recipient: String, subject: String, body: String) async throws {
        logger.debug("email not sent (email.logLinks is on)", metadata: ["to": "\(recipient)", "subject": "\(subject)", "body": "\(body)"])
    }
}

/// Sends through an SMTP server with Python's `smtplib` in a child process: `smtp://` (STARTTLS when
/// the server offers it), `smtps://` (TLS from the start), with the URL's user and password when given.
public struct SMTPMailer: Mailer {
    public let url: URL
    public let from: String
    let python: String

    public init(url: URL, from: String, python: String = "python3") {
        self.url = url
        self.from = from
        self.python = python
    }

    public func send(to recipient: String, subject: String, body: String) async throws {
        let message: JSONValue = .object([
            "host": .string(url.host ?? "localhost"), "port": .number(Double(url.port ?? (url.scheme == "smtps" ? 465 : 25))),
            "tls": .bool(url.scheme == "smtps"), "user": url.user.map { .string($0.removingPercentEncoding ?? $0) } ?? .null,
            "password": url.password.map { .string($0.removingPercentEncoding ?? $0) } ?? .null,
            "from": .string(from), "to": .string(recipient), "subject": .string(subject), "body": .string(body),
        ])
        let run = try await ScriptRun.run(
            python, ["-I", "-c", Self.script], input: Data(try WireEncoder().encode(message)), timeout: .seconds(30), outputLimit: 4096
        )
        guard run.exitCode == 0 else {
            throw PlatformError.unavailable("The sign-in email could not be sent: \(run.timedOut ? "the SMTP server did not answer" : String(run.standardError.suffix(200)))")
        }
    }

    static let script = #"""
    import json, smtplib, sys
    from email.message import EmailMessage
    m = json.load(sys.stdin)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = m["from"], m["to"], m["subject"]
    msg.set_content(m["body"])
    if m["tls"]:
        server = smtplib.SMTP_SSL(m["host"], int(m["port"]), timeout=20)
    else:
        server = smtplib.SMTP(m["host"], int(m["port"]), timeout=20)
        server.ehlo()
        if server.has_extn("starttls"):
            server.starttls()
            server.ehlo()
    if m["user"]:
        server.login(m["user"], m["password"] or "")
    server.send_message(msg)
    server.quit()
    """#
}
