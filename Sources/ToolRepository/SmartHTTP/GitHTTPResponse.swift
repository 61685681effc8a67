/// The answer of `git http-backend` to one ``GitHTTPRequest``.
///
/// Status and header fields are known once the CGI program has written its header block; the body
/// then streams while git produces it (a clone's pack can be large and takes a while to compute), so
/// it must be written to the client as it comes, never collected first. The producer waits while
/// 256 KiB are unread, and git with it. Cancelling the task that iterates the body, or releasing the
/// body (every copy) before its end, kills the git processes serving the request.
public struct GitHTTPResponse: Sendable {
    /// The HTTP status: from the CGI `Status:` field, 200 when there is none.
    public var status: Int
    /// The header fields http-backend set (`Content-Type`, `Cache-Control`, `Expires`, `Pragma`, …),
    /// without `Status`.
    public var headers: [GitHTTPHeader]
    /// The body, in chunks as git wrote them. It throws when git could not finish the answer.
    public var body: AsyncThrowingStream<[UInt8], any Error>

    public init(status: Int, headers: [GitHTTPHeader], body: AsyncThrowingStream<[UInt8], any Error>) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of the first header field named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first(where: { $0.name.lowercased() == name.lowercased() })?.value
    }
}
