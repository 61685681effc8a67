import Configuration
import Foundation
import Platform
import Server
import SystemPackage

/// One setting of `compadre serve`. Its key names it everywhere: in the configuration file as dotted
/// JSON (`{"realtime": {"timeoutSeconds": 30}}`), as a flag (`--realtime-timeout-seconds 30`) and as an
/// environment variable (`COMPADRE_REALTIME_TIMEOUT_SECONDS`).
struct Setting: Sendable {
    var key: String
    var defaultValue: String
    var help: String
    var isSecret = false
    /// The variable's name when it does not follow from the key (kept from before the file existed).
    var environmentOverride: String?

    var environmentName: String { environmentOverride ?? "COMPADRE_" + Self.words(of: key).joined(separator: "_").uppercased() }
    var flag: String { "--" + Self.words(of: key).joined(separator: "-") }

    /// `realtime.maxMessageBytes` → `realtime`, `max`, `message`, `bytes`.
    static func words(of key: String) -> [String] {
        key.split(separator: ".").flatMap { component -> [String] in
            var words: [String] = []
            var current = ""
            for character in component {
                if character.isUppercase, !current.isEmpty {
                    words.append(current)
                    current = ""
                }
                current.append(character.lowercased())
            }
            if !current.isEmpty { words.append(current) }
            return words
        }
    }
}

/// Every setting, with its default and meaning: the one list `serve --help` and `compadre config` show.
enum Settings {
    static let all: [Setting] = {
        let server = ServerConfiguration()
        return [
            Setting(key: "host", defaultValue: server.host, help: "Address to listen on."),
            Setting(key: "port", defaultValue: "\(server.port)", help: "Port to listen on (0 picks a free one)."),
            Setting(key: "database.url", defaultValue: server.databaseURL, help: "sqlite:PATH or postgres://user:pass@host:port/db (flag also --database).", isSecret: true),
            Setting(key: "token.secret", defaultValue: "generated once, stored in the database", help: "HS256 secret that signs access tokens.", isSecret: true),
            Setting(key: "token.lifetime", defaultValue: "\(Int(server.tokenLifetime))", help: "Access-token lifetime in seconds."),
            Setting(key: "rateLimits", defaultValue: "on", help: "off disables the per-endpoint rate limits (for benchmarks)."),
            Setting(key: "signIn.freeFailures", defaultValue: "\(server.signInLimits.freeFailures)", help: "Failed API-key sign-ins per key and per address before they back off (1 min, doubling up to 1 h)."),
            Setting(key: "signIn.perMinute", defaultValue: "\(server.signInLimits.successesPerMinute)", help: "Successful sign-ins per API key per minute."),
            Setting(key: "events.clockSkewSeconds", defaultValue: "\(server.eventClockSkew.components.seconds)", help: "How far clients' external-event timestamps may be off the server's clock."),
            Setting(key: "log.level", defaultValue: "info", help: "trace, debug, info, notice, warning, error or critical."),
            Setting(key: "cache.seconds", defaultValue: "\(server.cacheLifetime.components.seconds)", help: "How long cached callers and listings are used: the longest another replica's change takes to show here (0: off)."),
            Setting(key: "http.headTimeoutSeconds", defaultValue: "\(server.requestDeadlines.head.components.seconds)", help: "How long a new connection may take to send its first request head before it is closed."),
            Setting(key: "http.bodyTimeoutSeconds", defaultValue: "\(server.requestDeadlines.body.components.seconds)", help: "How long a request's body may take to arrive before the connection is closed."),
            Setting(key: "http.idleTimeoutSeconds", defaultValue: "\(server.requestDeadlines.idle.components.seconds)", help: "How long a keep-alive connection may stay idle between requests."),
            Setting(key: "lease.seconds", defaultValue: "\(server.leaseDuration.components.seconds)", help: "How long a crashed replica's locks and running jobs outlive it."),
            Setting(key: "simulations.concurrency", defaultValue: "\(server.simulationConcurrency)", help: "Simulated conversations (unit test runs) played at once by this process."),
            Setting(key: "webhooks.allowPlainHttp", defaultValue: "off", help: "on lets webhook destinations use http:// (development and tests)."),
            Setting(key: "webhooks.allowPrivateNetworks", defaultValue: "off", help: "on lets webhook destinations be loopback, private or link-local addresses."),
            Setting(key: "webhooks.timeoutSeconds", defaultValue: "\(server.webhookPolicy.timeout.components.seconds)", help: "How long one webhook delivery attempt may take."),
            Setting(key: "webhooks.concurrency", defaultValue: "\(server.webhookConcurrency)", help: "Webhook deliveries attempted at once by this process."),
            Setting(key: "promptLogs.retentionDays", defaultValue: "\(Int(server.promptLogRetention / 86_400))", help: "Days every model call's prompt and answer is kept for GET /admin/get_prompt_logs/ (0: none)."),
            Setting(key: "email.smtpUrl", defaultValue: "none: sign-in by email answers 503", help: "SMTP server of sign-in links: smtp://user:password@host:port (STARTTLS when offered) or smtps://…", isSecret: true),
            Setting(key: "email.from", defaultValue: server.email.from, help: "Sender of sign-in links."),
            Setting(key: "email.logLinks", defaultValue: "off", help: "Development: write sign-in links to the log (debug level) instead of mailing them."),
            Setting(key: "shutdown.graceSeconds", defaultValue: "\(server.shutdownGracePeriod.components.seconds)", help: "How long SIGTERM lets running interactions and realtime turns finish."),
            Setting(key: "realtime.messagesPerMinute", defaultValue: "\(server.realtimeLimits.messagesPerMinute)", help: "Realtime messages a minute before close 4029."),
            Setting(key: "realtime.timeoutSeconds", defaultValue: "\(server.realtimeLimits.inactivityTimeout.components.seconds)", help: "Realtime client silence before close 3008."),
            Setting(key: "realtime.maxMessageBytes", defaultValue: "\(server.realtimeLimits.maxMessageBytes)", help: "Largest realtime message before close 4000."),
            Setting(key: "llm.baseUrl", defaultValue: "none: the embedded model", help: "An OpenAI-compatible endpoint (http://host:port/v1)."),
            Setting(key: "llm.apiKey", defaultValue: "none", help: "API key of the model endpoint.", isSecret: true),
            Setting(key: "llm.model", defaultValue: "none", help: "Model name at the endpoint."),
            Setting(key: "llm.structuredOutput", defaultValue: "automatic", help: "json_schema, json_object or automatic."),
            Setting(key: "llm.timeout", defaultValue: "120", help: "Seconds one model call may take, retries included."),
            Setting(key: "llm.models", defaultValue: "none", help: #"Named models as JSON: {"<llm_name>": {"base_url", "api_key", "model"}}."#, isSecret: true),
            Setting(key: "llm.python", defaultValue: "$COMPADRE_HOME/llm-venv/bin/python", help: "Python of the embedded model runtime."),
            Setting(key: "llm.modelPath", defaultValue: "$COMPADRE_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf", help: "Weights of the embedded model."),
            Setting(key: "stt.baseUrl", defaultValue: "none: the embedded speech server (voice.engines)", help: "An OpenAI-compatible audio endpoint for speech to text (POST {url}/audio/transcriptions)."),
            Setting(key: "stt.apiKey", defaultValue: "none", help: "API key of the speech-to-text endpoint.", isSecret: true),
            Setting(key: "stt.model", defaultValue: "whisper-1", help: "Model name for speech to text."),
            Setting(key: "tts.baseUrl", defaultValue: "none: the embedded speech server (voice.engines)", help: "An OpenAI-compatible audio endpoint for text to speech (POST {url}/audio/speech)."),
            Setting(key: "tts.apiKey", defaultValue: "none", help: "API key of the text-to-speech endpoint.", isSecret: true),
            Setting(key: "tts.model", defaultValue: "tts-1", help: "Model name for text to speech."),
            Setting(key: "tts.voice", defaultValue: "the engine's default", help: "Voice for agents whose voice id is not in voice.voices."),
            Setting(key: "embeddings.baseUrl", defaultValue: "none: the embedded server's all-MiniLM-L6-v2 (voice.engines)", help: "An OpenAI-compatible embeddings endpoint (POST {url}/embeddings) for dynamic behaviors' triggers."),
            Setting(key: "embeddings.apiKey", defaultValue: "none", help: "API key of the embeddings endpoint.", isSecret: true),
            Setting(key: "embeddings.model", defaultValue: "text-embedding-3-small", help: "Model name for embeddings (with embeddings.baseUrl)."),
            Setting(key: "voice.engines", defaultValue: "automatic", help: "automatic (the embedded speech server for what stt.baseUrl/tts.baseUrl leave open, when scripts/setup-voice installed it), embedded (its absence is an error), off."),
            Setting(key: "voice.python", defaultValue: "$COMPADRE_HOME/voice-venv/bin/python", help: "Python of the embedded speech server."),
            Setting(key: "voice.server", defaultValue: "none: printed by scripts/setup-voice", help: "The embedded speech server's script (scripts/speech-server.py)."),
            Setting(key: "voice.models", defaultValue: "$COMPADRE_HOME/voice-models", help: "Weights of the embedded speech engines."),
            Setting(key: "voice.vadThreshold", defaultValue: "0.5", help: "Speech probability that starts an utterance in VAD mode (OpenAI's turn_detection.threshold)."),
            Setting(key: "voice.prefixPaddingMs", defaultValue: "300", help: "Audio kept before the detected start of speech."),
            Setting(key: "voice.silenceDurationMs", defaultValue: "500", help: "Silence that ends an utterance in VAD mode."),
            Setting(key: "voice.minimumSpeechMs", defaultValue: "200", help: "Shorter detected speech is discarded (server.vad-speech-reset-zero)."),
            Setting(key: "voice.turnDetection", defaultValue: "server_vad", help: "What ends a turn in VAD mode: server_vad (voice.silenceDurationMs of silence) or semantic_vad (the embedded end-of-turn model, Smart Turn v3.2, asked after voice.endOfTurnCheckMs of silence)."),
            Setting(key: "voice.endOfTurnCheckMs", defaultValue: "200", help: "semantic_vad: silence after which the end-of-turn model is asked."),
            Setting(key: "voice.maximumSilenceMs", defaultValue: "3000", help: "semantic_vad: silence that ends a turn the model judged unfinished."),
            Setting(key: "voice.voices", defaultValue: "none", help: #"Agents' voice ids to engine voices as JSON: {"<voice_id>": "<engine voice>"}; ids not listed go to the engine as they are."#),
            Setting(key: "home", defaultValue: "~/.cache/compadre", help: "Where scripts/setup-model puts the embedded runtime and model."),
            Setting(key: "tools.enabled", defaultValue: "on", help: "off turns the tool subsystem off (tool routes answer 503).", environmentOverride: "COMPADRE_TOOLS"),
            Setting(key: "tools.dir", defaultValue: "./compadre-tools", help: "Tool repositories, built versions and the secrets key file."),
            Setting(key: "secrets.key", defaultValue: "a key file in tools.dir", help: "base64 of 32 bytes that seals tools' secret variables.", isSecret: true),
            Setting(key: "tool.python", defaultValue: "python3", help: "The Python that builds tool environments."),
            Setting(key: "tool.timeoutSeconds", defaultValue: "30", help: "Wall-clock limit of one tool run."),
            Setting(key: "tool.memoryMb", defaultValue: "512", help: "Address-space limit of one tool run."),
            Setting(key: "tool.cpuSeconds", defaultValue: "30", help: "CPU limit of one tool run."),
            Setting(key: "tool.isolation", defaultValue: "automatic", help: "bubblewrap, none, or automatic (bubblewrap when it works here; without it tools are refused)."),
        ]
    }()

    /// The reader of every setting: `flags` (explicit options) > `arguments` (`--key value`) > the
    /// environment > the configuration file > the defaults of each typed configuration.
    static func reader(flags: [String: String], arguments: [String], file: String?) async throws -> ConfigReader {
        let aliases = Dictionary(uniqueKeysWithValues: all.compactMap { setting in
            setting.environmentOverride.map { (setting.key, $0) }
        })
        let environment = EnvironmentVariablesProvider(secretsSpecifier: .specific(Set(all.filter(\.isSecret).map(\.environmentName))))
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "flags",
                values: Dictionary(uniqueKeysWithValues: flags.map { (AbsoluteConfigKey(ConfigKey($0.key)), ConfigValue(.string($0.value), isSecret: false)) })
            ),
            CommandLineArgumentsProvider(
                arguments: ["compadre"] + arguments,
                secretsSpecifier: .specific(Set(all.filter(\.isSecret).map(\.flag)))
            ),
            KeyMappingProvider(upstream: environment) { key in
                // Variables named before the file existed keep their names.
                if let name = aliases[key.components.joined(separator: ".")] {
                    return AbsoluteConfigKey(name.lowercased().split(separator: "_").map(String.init))
                }
                return key.prepending("compadre")
            },
        ]
        if let file {
            providers.append(try await FileProvider<JSONSnapshot>(
                parsingOptions: .init(secretsSpecifier: .specific(Set(all.filter(\.isSecret).map(\.key)))),
                filePath: .init(file)
            ))
        }
        return ConfigReader(providers: providers)
    }

    /// The settings as `serve --help` lists them.
    static var helpText: String {
        var text = "Settings (flag > environment > --config file > default):\n"
        for setting in all {
            text += "  \(setting.flag) / \(setting.environmentName) / \(setting.key)\n"
            text += "      \(setting.help) Default: \(setting.defaultValue).\n"
        }
        return text
    }
}

extension ConfigReader {
    /// The value of `setting` as text, whatever the provider holds (a JSON file may hold a number).
    func text(_ key: String) -> String? {
        let configKey = ConfigKey(key)
        if let value = string(forKey: configKey) { return value }
        if let value = int(forKey: configKey) { return String(value) }
        if let value = double(forKey: configKey) { return String(value) }
        if let value = bool(forKey: configKey) { return value ? "on" : "off" }
        return nil
    }

    /// A positive number of seconds, or nil when unset; a malformed value is an error naming the setting.
    func seconds(_ key: String, allowZero: Bool = false) throws -> Duration? {
        guard let raw = text(key) else { return nil }
        guard let seconds = Double(raw), seconds > 0 || (allowZero && seconds == 0) else {
            throw SettingError(key: key, message: "must be a number of seconds, not `\(raw)`")
        }
        return .milliseconds(Int(seconds * 1000))
    }

    /// A whole number, or nil when unset; a malformed value is an error naming the setting.
    func whole(_ key: String) throws -> Int? {
        guard let raw = text(key) else { return nil }
        guard let value = Int(raw) else { throw SettingError(key: key, message: "must be a whole number, not `\(raw)`") }
        return value
    }

    /// `on`/`off` (also true/false, yes/no, 1/0), or nil when unset.
    func isOn(_ key: String) throws -> Bool? {
        guard let raw = text(key)?.lowercased() else { return nil }
        if ["on", "true", "yes", "1"].contains(raw) { return true }
        if ["off", "false", "no", "0"].contains(raw) { return false }
        throw SettingError(key: key, message: "must be on or off, not `\(raw)`")
    }
}

/// A setting with a value that cannot be used.
struct SettingError: Error, CustomStringConvertible {
    var key: String
    var message: String

    var description: String {
        let setting = Settings.all.first { $0.key == key }
        return "\(setting?.flag ?? key) (\(setting?.environmentName ?? key)) \(message)"
    }
}
