import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The HTTP of one OpenAI-compatible endpoint family (audio, embeddings): its URL, its key, and retries.
///
/// Connection failures, 429 and 5xx are retried (`maxRetries`, backoff doubling from `initialBackoff`)
/// within `timeout`; any other status fails at once with the server's message.
struct OpenAICompatibleHTTP: Sendable {
    /// A request that did not succeed: refused (`rejected`, a 4xx) or not answered (`unavailable`).
    struct Failure: Error {
        enum Kind { case rejected, unavailable }
        var kind: Kind
        var message: String
        /// The request field the server named as the cause (`error.param`), for a refusal.
        var param: String? = nil
    }

    /// The API root, for example `http://127.0.0.1:8082/v1`.
    var baseURL: String
    /// Sent as `Authorization: Bearer …` when set. Never logged.
    var apiKey: String?
    /// Named in messages.
    var model: String
    var timeout: Duration
    var maxRetries: Int
    var initialBackoff: Duration
    let client: HTTPClient
    let logger: Logger

    func url(_ path: String) -> String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }

    /// How messages name a request.
    func target(_ path: String) -> String { "POST \(url(path)) (model \(model))" }

    func send(path: String, method: HTTPMethod = .POST, contentType: String, body: Data) async throws -> (Data, HTTPHeaders) {
        let deadline = ContinuousClock.now + timeout
        var backoff = initialBackoff
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: url(path))
            request.method = method
            request.headers.replaceOrAdd(name: "content-type", value: contentType)
            if let apiKey { request.headers.replaceOrAdd(name: "authorization", value: "Bearer \(apiKey)") }
            request.body = .bytes(ByteBuffer(bytes: body))
            let retryable: String
            do {
                let remaining = ContinuousClock.now.duration(to: deadline)
                let response = try await client.execute(request, timeout: .nanoseconds(max(1, remaining.nanoseconds)), logger: logger)
                var collected = try await response.body.collect(upTo: 64 * 1024 * 1024)
                let answer = collected.readData(length: collected.readableBytes) ?? Data()
                if (200..<300).contains(Int(response.status.code)) { return (answer, response.headers) }
                let (message, param) = Self.error(in: answer)
                guard response.status.code == 429 || response.status.code >= 500 else {
                    throw Failure(kind: .rejected, message: "\(target(path)) answered \(response.status.code): \(message)", param: param)
                }
                retryable = "\(response.status.code): \(message)"
            } catch let error as Failure {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                retryable = "\(error)"
            }
            guard attempt <= maxRetries, ContinuousClock.now + backoff < deadline else {
                throw Failure(kind: .unavailable, message: "\(target(path)) failed after \(attempt) attempt(s): \(retryable)")
            }
            logger.debug("request failed, retrying", metadata: ["failure": "\(retryable)", "path": "\(path)"])
            if backoff > .zero { try await Task.sleep(for: backoff) }
            backoff *= 2
        }
    }

    /// The message and the named field of an OpenAI-style error body (`{"error": {"message": …, "param": …}}`),
    /// or the body's start.
    static func error(in body: Data) -> (message: String, param: String?) {
        struct Envelope: Decodable {
            struct Inner: Decodable {
                var message: String?
                var param: String?
            }
            var error: Inner?
            var detail: String?
        }
        if let envelope = try? JSONDecoder().decode(Envelope.self, from: body), let message = envelope.error?.message ?? envelope.detail {
            return (message, envelope.error?.param)
        }
        return (String(decoding: body.prefix(300), as: UTF8.self), nil)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
