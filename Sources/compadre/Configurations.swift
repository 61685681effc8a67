import Configuration
import Foundation
import Platform
import Server
import ToolRuntime

extension ServerConfiguration {
    /// The server's settings from `reader`; unset ones keep their documented defaults.
    init(_ reader: ConfigReader) throws {
        self.init()
        if let host = reader.text("host") { self.host = host }
        if let port = try reader.whole("port") { self.port = port }
        if let url = reader.text("database.url") { databaseURL = url }
        tokenSecret = reader.string(forKey: "token.secret", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        if let lifetime = try reader.seconds("token.lifetime") { tokenLifetime = Double(lifetime.components.seconds) }
        if let enabled = try reader.isOn("rateLimits") { rateLimitsEnabled = enabled }
        if let count = try reader.whole("signIn.freeFailures") { signInLimits.freeFailures = max(0, count) }
        if let count = try reader.whole("signIn.perMinute") { signInLimits.successesPerMinute = max(1, count) }
        if let lease = try reader.seconds("lease.seconds") { leaseDuration = lease }
        if let count = try reader.whole("simulations.concurrency") { simulationConcurrency = max(1, count) }
        if let allowed = try reader.isOn("webhooks.allowPlainHttp") { webhookPolicy.allowPlainHTTP = allowed }
        if let allowed = try reader.isOn("webhooks.allowPrivateNetworks") { webhookPolicy.allowPrivateNetworks = allowed }
        if let timeout = try reader.seconds("webhooks.timeoutSeconds") { webhookPolicy.timeout = timeout }
        if let count = try reader.whole("webhooks.concurrency") { webhookConcurrency = max(1, count) }
        if let days = try reader.whole("promptLogs.retentionDays") { promptLogRetention = Double(max(0, days)) * 86_400 }
        if let url = reader.string(forKey: "email.smtpUrl", isSecret: true), !url.isEmpty {
            guard let parsed = URL(string: url), ["smtp", "smtps"].contains(parsed.scheme ?? "") else {
                throw SettingError(key: "email.smtpUrl", message: "must be smtp://[user:password@]host[:port] or smtps://…")
            }
            email.smtpURL = parsed
        }
        if let from = reader.text("email.from"), !from.isEmpty { email.from = from }
        if let on = try reader.isOn("email.logLinks") { email.logLinks = on }
        if let lifetime = try reader.seconds("cache.seconds", allowZero: true) { cacheLifetime = lifetime }
        if let head = try reader.seconds("http.headTimeoutSeconds") { requestDeadlines.head = head }
        if let body = try reader.seconds("http.bodyTimeoutSeconds") { requestDeadlines.body = body }
        if let idle = try reader.seconds("http.idleTimeoutSeconds") { requestDeadlines.idle = idle }
        if let skew = try reader.seconds("events.clockSkewSeconds", allowZero: true) { eventClockSkew = skew }
        if let grace = try reader.seconds("shutdown.graceSeconds", allowZero: true) { shutdownGracePeriod = grace }
        if let count = try reader.whole("realtime.messagesPerMinute") { realtimeLimits.messagesPerMinute = count }
        if let timeout = try reader.seconds("realtime.timeoutSeconds") { realtimeLimits.inactivityTimeout = timeout }
        if let bytes = try reader.whole("realtime.maxMessageBytes") { realtimeLimits.maxMessageBytes = bytes }
        tools = try ToolConfiguration.read(reader)
    }
}

extension ToolConfiguration {
    /// The tool subsystem's settings from `reader`; nil when tools are turned off.
    static func read(_ reader: ConfigReader) throws -> ToolConfiguration? {
        if try reader.isOn("tools.enabled") == false { return nil }
        var tools = ToolConfiguration()
        if let directory = reader.text("tools.dir"), !directory.isEmpty { tools.directory = URL(fileURLWithPath: directory) }
        if let python = reader.text("tool.python"), !python.isEmpty { tools.python = python }
        if let timeout = try reader.seconds("tool.timeoutSeconds") { tools.limits.timeout = timeout }
        if let megabytes = try reader.whole("tool.memoryMb"), megabytes > 0 { tools.limits.memoryBytes = megabytes << 20 }
        if let seconds = try reader.whole("tool.cpuSeconds"), seconds > 0 { tools.limits.cpuSeconds = seconds }
        if let raw = reader.text("tool.isolation") {
            guard let isolation = ToolSandbox.Isolation(rawValue: raw) else {
                throw SettingError(key: "tool.isolation", message: "must be automatic, bubblewrap or none, not `\(raw)`")
            }
            tools.isolation = isolation
        }
        if let key = reader.string(forKey: "secrets.key", isSecret: true), !key.isEmpty {
            guard let secrets = ToolSecrets(base64: key) else {
                throw SettingError(key: "secrets.key", message: "must be the base64 of 32 random bytes (openssl rand -base64 32)")
            }
            tools.secrets = secrets
        }
        return tools
    }
}
