import AmigoWire
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import Metrics
import Prometheus
import Storage
import Platform
import Synchronization

/// The request context of every route.
public struct AppContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<AppContext>
    /// The client's IP address, when the connection has one.
    public let remoteAddress: String?
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// Whether an operation needs a signed-in caller.
enum Access {
    case authenticated
    /// Works without credentials; a valid token is still read when sent.
    case optional
    case anonymous
}

/// Everything the routes share: storage, token signing, rate limits and the operation catalog.
public struct API: Sendable {
    public let store: Store
    public let tokens: TokenIssuer
    /// Who tokens name, cached per organization.
    public var principals: Principals
    /// Counters and timers of every operation's requests.
    let requestMetrics = RequestMetrics()
    /// Encoded answers of `GET /service/`, cached per organization and query.
    let serviceListings: OrganizationCache<ServiceListingKey, ByteBuffer>
    public let rateLimiter: RateLimiter?
    /// The limits of sign-ins with an API key (failed ones); nil with rate limits off.
    public var signIns: SignInGuard?
    public let catalog: OperationCatalog
    public let conversations: Conversations
    /// Simulation unit test set runs, played by the simulation job runner.
    public var simulations: SimulationRuns
    /// Webhook destinations and the deliveries of events to them.
    public var webhooks: Webhooks
    /// Every model call's prompt and answer (`get-prompt-logs`); nil: not kept.
    public var promptLogs: PromptLogRecorder?
    /// Sign-in links sent by email.
    public var emailSignIns: EmailSignIns
    public var realtimeLimits = RealtimeLimits()
    /// The clock of realtime sockets' timers (inactivity, message rate).
    public var realtimeClock: AnyClock = .continuous
    /// What `GET /metrics` shows: the registry the process's metrics factory writes to.
    public var metrics = PrometheusCollectorRegistry()
    /// The organizations' tools; `nil` on a server started without them (tool routes answer 503).
    public var tools: Tools?
    /// Signs the links of `GET …/messages/{id}/source` (and checks them when they are fetched).
    public var links = SignedLinks(secret: "")

    /// `cacheLifetime` bounds how long a cached read (the caller, a listing) is used: how long another
    /// replica's change may take to show here. Zero turns the caches off.
    public init(
        store: Store, tokens: TokenIssuer, rateLimiter: RateLimiter?, catalog: OperationCatalog, conversations: Conversations,
        cacheLifetime: Duration = .seconds(1), cacheClock: AnyClock = .continuous
    ) {
        self.store = store
        self.tokens = tokens
        self.principals = Principals(store: store, lifetime: cacheLifetime, clock: cacheClock)
        self.serviceListings = OrganizationCache(generations: store.generations, lifetime: cacheLifetime, clock: cacheClock)
        self.rateLimiter = rateLimiter
        self.catalog = catalog
        self.conversations = conversations
        self.simulations = SimulationRuns(store: store, conversations: conversations, logger: conversations.logger)
        self.webhooks = conversations.analysis.webhooks ?? Webhooks(store: store, logger: conversations.logger)
        self.promptLogs = conversations.promptLogs
        self.emailSignIns = EmailSignIns(store: store, mailer: nil)
    }

    /// The tool subsystem, or 503 when the server was started without one.
    func requireTools() throws -> Tools {
        guard let tools else { throw PlatformError.unavailable("Tools are not configured on this server.") }
        return tools
    }

    /// The caller of `request` on organization `orgID`, or 401.
    func authenticate(_ request: Request, orgID: String) async throws -> Principal {
        guard let token = Self.bearerToken(request) else { throw PlatformError.unauthorized() }
        return try await authenticate(token: token, orgID: orgID, issuingOrg: request.headers[HTTPField.Name("X-ORG-ID")!])
    }

    /// The caller of `request` in the organization that issued its token (create-organization acts on an
    /// organization that does not exist yet), or 401.
    func authenticateInIssuingOrganization(_ request: Request) async throws -> Principal {
        guard let token = Self.bearerToken(request) else { throw PlatformError.unauthorized() }
        guard let claims = await tokens.verify(token) else { throw PlatformError.unauthorized("Invalid, expired or tampered token.") }
        return try await authenticate(token: token, orgID: claims.orgID)
    }

    /// The caller a token identifies on organization `orgID`, or 401.
    func authenticate(token: String, orgID: String, issuingOrg: String? = nil) async throws -> Principal {
        guard let claims = await tokens.verify(token) else { throw PlatformError.unauthorized("Invalid, expired or tampered token.") }
        if let issuingOrg, issuingOrg != claims.orgID {
            throw PlatformError.unauthorized("The token was not issued by the organization in X-ORG-ID.")
        }
        // A token only ever acts inside the organization that issued it.
        guard claims.orgID == orgID else { throw PlatformError.unauthorized("The token is not valid for this organization.") }
        guard let principal = try await principals.principal(userID: claims.userID, orgID: orgID, apiKeyID: claims.apiKeyID) else {
            throw PlatformError.unauthorized("The user or the API key of this token no longer exists.")
        }
        return principal
    }

    /// The JWT of `Authorization: Bearer <jwt>` or `Authorization: Basic base64({org}_{user}:<jwt>)`.
    static func bearerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        switch parts[0].lowercased() {
        case "bearer":
            // Not Foundation's `trimmingCharacters`: through NSString it cost a tenth of a cached request.
            let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
            let token = parts[1].drop(while: isBlank)
            return String(token[..<(token.lastIndex { !isBlank($0) }.map(token.index(after:)) ?? token.startIndex)])
        case "basic":
            guard let data = Data(base64Encoded: String(parts[1])), let decoded = String(data: data, encoding: .utf8),
                  let colon = decoded.firstIndex(of: ":") else { return nil }
            return String(decoded[decoded.index(after: colon)...])
        default:
            return nil
        }
    }

    /// Counts a request against the operation's per-minute budget; 429 with the limit headers when exhausted.
    func enforceRateLimit(operation: String, subject: String) throws -> HTTPFields {
        // Sign-ins are limited by their failures instead (``SignInLimits``).
        guard operation != "sign-in-with-api-key" else { return [:] }
        guard let rateLimiter, let limit = catalog.rateLimits[operation] else { return [:] }
        let decision = rateLimiter.check(subject: subject, operation: operation, limit: limit)
        if !decision.allowed {
            throw PlatformError.rateLimited(limit: limit, retryAfter: decision.retryAfter, resetAt: decision.resetAt)
        }
        return [
            HTTPField.Name("X-RateLimit-Limit")!: "\(decision.limit)",
            HTTPField.Name("X-RateLimit-Remaining")!: "\(decision.remaining)",
            HTTPField.Name("X-RateLimit-Reset")!: "\(decision.resetAt)",
        ]
    }
}

/// One call of an operation: the request, its context, the organization in the path and the caller.
struct Call: Sendable {
    var request: Request
    var context: AppContext
    var orgID: String
    var principal: Principal?

    /// The signed-in caller (routes registered with `.authenticated` always have one).
    var caller: Principal {
        get throws {
            guard let principal else { throw PlatformError.unauthorized() }
            return principal
        }
    }

    func parameter(_ name: String) throws -> String {
        guard let value = context.parameters.get(name) else { throw PlatformError.validation(["path", .key(name)], "Field required", type: "missing") }
        return value
    }

    /// A path parameter that must be a 24-hex object id.
    func objectID(_ name: String) throws -> String {
        let value = try parameter(name)
        guard ObjectID.isValid(value) else {
            throw PlatformError.validation(["path", .key(name)], "String should match pattern '^[a-f0-9]{24}$'", type: "string_pattern_mismatch")
        }
        return value
    }

    var query: Query { Query(request) }

    mutating func body<Body: ValidatableRequest>(_ type: Body.Type) async throws -> Body {
        try await request.decodeBody(type, context: context)
    }

    /// A body that may be absent: `nil` when the request has none.
    mutating func optionalBody<Body: ValidatableRequest>(_ type: Body.Type) async throws -> Body? {
        guard try await request.collectJSONBody().readableBytes > 0 else { return nil }
        return try await request.decodeBody(type, context: context)
    }
}

extension Router where Context == AppContext {
    /// Registers an operation of the Amigo API: authentication, per-user rate limit, then `handler`.
    /// Every call is counted and timed by operation and status (`compadre_http_requests_total`,
    /// `compadre_http_request_duration_seconds`).
    func operation(
        _ method: HTTPRequest.Method, _ path: String, _ operationID: String, access: Access = .authenticated, api: API,
        _ handler: @escaping @Sendable (inout Call) async throws -> Response
    ) {
        on(RouterPath(path), method: method) { request, context -> Response in
            let clock = ContinuousClock()
            let started = clock.now
            do {
                let response = try await Self.perform(request, context, operationID, access: access, api: api, handler)
                api.requestMetrics.record(operationID, status: response.status.code, duration: clock.now - started)
                return response
            } catch {
                api.requestMetrics.record(operationID, status: WireError(error).status.code, duration: clock.now - started)
                throw error
            }
        }
    }

    private static func perform(
        _ request: Request, _ context: AppContext, _ operationID: String, access: Access, api: API,
        _ handler: @Sendable (inout Call) async throws -> Response
    ) async throws -> Response {
        guard let orgID = context.parameters.get("organization") else { throw PlatformError.notFound("Organization not found.") }
        var principal: Principal?
        switch access {
        case .authenticated:
            principal = try await api.authenticate(request, orgID: orgID)
        case .optional:
            if API.bearerToken(request) != nil { principal = try await api.authenticate(request, orgID: orgID) }
        case .anonymous:
            break
        }
        let subject = principal.map { "\(orgID)/\($0.user.userID)" } ?? "\(orgID)/anonymous"
        let limitHeaders = try api.enforceRateLimit(operation: operationID, subject: subject)
        var call = Call(request: request, context: context, orgID: orgID, principal: principal)
        if let promptLogs = api.promptLogs {
            // The model calls a request makes itself (an evaluation, a recommendation) are logged under it.
            let scope = PromptLogScope(
                recorder: promptLogs, orgID: orgID, key: "request/\(operationID)/\(RequestScope.id ?? ObjectID.generate())",
                userID: principal?.user.userID
            )
            return try await scope.run { [call] in
                var call = call
                return try await Self.respond(&call, operationID: operationID, context: context, api: api, limitHeaders: limitHeaders, handler)
            }
        }
        return try await Self.respond(&call, operationID: operationID, context: context, api: api, limitHeaders: limitHeaders, handler)
    }

    private static func respond(
        _ call: inout Call, operationID: String, context: AppContext, api: API, limitHeaders: HTTPFields,
        _ handler: @Sendable (inout Call) async throws -> Response
    ) async throws -> Response {
        let orgID = call.orgID
        var response: Response
        if let change = ResourceChanges.operations[operationID] {
            // A change of the agent framework: announced to the webhook destinations that accept it.
            let capture = ResponseCapture()
            response = try await ResponseCapture.$current.withValue(capture) { try await handler(&call) }
            if (200..<300).contains(response.status.code),
               let id = change.idParameter.flatMap({ context.parameters.get($0) }) ?? capture.bytes.flatMap(ResourceChanges.createdID(in:))
            {
                await api.webhooks.announce(.agentFrameworkResourceUpdated, content: [
                    "org_id": .string(orgID), "resource_type": .string(change.resourceType), "resource_id": .string(id),
                    "action": .string(change.action), "operation_id": .string(operationID),
                ], orgID: orgID)
            }
        } else {
            response = try await handler(&call)
        }
        for field in limitHeaders { response.headers.append(field) }
        return response
    }
}

/// Every operation's request counter (by status) and duration timer. A handle is made once, on first
/// use, from the metrics factory of that moment: asking the factory on every request costs a lock and
/// a lookup by label and dimensions.
final class RequestMetrics: Sendable {
    private struct CounterKey: Hashable {
        var operation: String
        var status: Int
    }

    private let counters = Mutex<[CounterKey: Metrics.Counter]>([:])
    private let timers = Mutex<[String: Metrics.Timer]>([:])

    func record(_ operationID: String, status: Int, duration: Duration) {
        let key = CounterKey(operation: operationID, status: status)
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Metrics.Counter(label: "compadre_http_requests_total", dimensions: [("operation", operationID), ("status", String(status))])
            counters[key] = counter
            return counter
        }
        let timer = timers.withLock { timers in
            if let timer = timers[operationID] { return timer }
            let timer = Metrics.Timer(label: "compadre_http_request_duration_seconds", dimensions: [("operation", operationID)])
            timers[operationID] = timer
            return timer
        }
        counter.increment()
        timer.record(duration: duration)
    }
}
