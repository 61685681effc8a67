/// One header field of a Git smart-HTTP request or response, as it travels on the wire.
public struct GitHTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A request of git's smart HTTP protocol for one organization's repository, as the server's route
/// received it at `/v1/{organization}/tool/git/{git_path}`.
///
/// The body is read once, chunk by chunk, while `git http-backend` consumes it, so a large push never
/// sits in memory whole. It must be the body exactly as it arrived: still gzip-compressed when the
/// request says `Content-Encoding: gzip` (http-backend inflates it), with any chunked transfer
/// encoding removed.
public struct GitHTTPRequest: Sendable {
    /// `GET` or `POST`.
    public var method: String
    /// What git appended to the clone URL: `info/refs`, `git-upload-pack`, `git-receive-pack`.
    public var path: String
    /// The raw query string without `?`, e.g. `service=git-upload-pack`; empty when there is none.
    public var query: String
    /// The request's header fields. http-backend reads `Content-Type`, `Content-Length`,
    /// `Content-Encoding` and `Git-Protocol` (how protocol v2 is negotiated); others are ignored.
    public var headers: [GitHTTPHeader]
    /// The client's address, recorded in the reflog of every ref a push updates.
    public var remoteAddress: String?
    /// The request body in chunks of bytes.
    public var body: any AsyncSequence<[UInt8], any Error> & Sendable

    public init(
        method: String,
        path: String,
        query: String = "",
        headers: [GitHTTPHeader] = [],
        remoteAddress: String? = nil,
        body: some AsyncSequence<[UInt8], any Error> & Sendable
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.body = body
    }

    /// A request without a body (the `GET` of `info/refs`).
    public init(
        method: String,
        path: String,
        query: String = "",
        headers: [GitHTTPHeader] = [],
        remoteAddress: String? = nil
    ) {
        self.init(
            method: method, path: path, query: query, headers: headers, remoteAddress: remoteAddress,
            body: AsyncThrowingStream<[UInt8], any Error> { $0.finish() }
        )
    }

    /// The value of the first header field named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first(where: { $0.name.lowercased() == name.lowercased() })?.value
    }
}
