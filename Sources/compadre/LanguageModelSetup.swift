import AmigoWire
import AsyncHTTPClient
import Configuration
import Engine
import Foundation
import Logging
import Models

/// The language models `serve` uses, from the `llm.*` settings (`COMPADRE_LLM_…`; see ``Settings``).
struct LanguageModelSetup {
    struct Named: Decodable {
        var baseURL: String
        var apiKey: String?
        var model: String
        var structuredOutput: OpenAICompatibleModel.StructuredOutputMode?

        enum CodingKeys: String, CodingKey {
            case baseURL = "base_url", apiKey = "api_key", model, structuredOutput = "structured_output"
        }
    }

    var baseURL: String?
    var apiKey: String?
    var model: String?
    var structuredOutput: OpenAICompatibleModel.StructuredOutputMode = .automatic
    var timeout: Duration = .seconds(120)
    var named: [String: Named] = [:]

    /// Where the embedded runtime and model live (`llm.python`, `llm.modelPath`), by default in the cache
    /// `scripts/setup-model` fills (`home`, default `~/.cache/compadre`).
    var embeddedPaths: (python: String, model: String)

    init(_ reader: ConfigReader) throws {
        baseURL = reader.text("llm.baseUrl")
        apiKey = reader.string(forKey: "llm.apiKey", isSecret: true)
        model = reader.text("llm.model")
        if let raw = reader.text("llm.structuredOutput") {
            guard let mode = OpenAICompatibleModel.StructuredOutputMode(rawValue: raw) else {
                throw SettingError(key: "llm.structuredOutput", message: "must be json_schema, json_object or automatic, not `\(raw)`")
            }
            structuredOutput = mode
        }
        if let seconds = try reader.seconds("llm.timeout") { timeout = seconds }
        if let raw = reader.string(forKey: "llm.models", isSecret: true) {
            do {
                named = try JSONDecoder().decode([String: Named].self, from: Data(raw.utf8))
            } catch {
                throw SettingError(key: "llm.models", message: "is not valid JSON of named models: \(error)")
            }
        }
        let environment = ProcessInfo.processInfo.environment
        let home = reader.text("home") ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache/compadre")
        embeddedPaths = (
            reader.text("llm.python") ?? home + "/llm-venv/bin/python",
            reader.text("llm.modelPath") ?? home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        )
    }

    /// The embedded model served by `server`: structured decisions as `json_object` with a schema (the
    /// form llama-cpp-python enforces), a repeat penalty against loops.
    static func embeddedModel(server: LocalModelServer, httpClient: HTTPClient, logger: Logger) -> any LanguageModel {
        var configuration = OpenAICompatibleModel.Configuration(
            baseURL: server.baseURL, model: "SmolLM2-135M-Instruct", requestTimeout: .seconds(180),
            idleTimeout: .seconds(60), structuredOutput: .jsonObject
        )
        // A 135M model loops without a repeat penalty, and likes to write the user's lines too.
        configuration.defaultParameters = ["repeat_penalty": 1.1, "stop": ["\nUser:", "(The user", "(the user", "\n\n\n"]]
        return OpenAICompatibleModel(configuration: configuration, httpClient: httpClient, logger: logger)
    }

    /// The configured models over `httpClient`. Without a base URL the default model is `embedded`
    /// when given, else ``UnconfiguredModel``, which fails every call with a message that says what to do.
    func makeModels(httpClient: HTTPClient, logger: Logger, embedded: (any LanguageModel)? = nil) -> LanguageModels {
        func model(baseURL: String, apiKey: String?, name: String, mode: OpenAICompatibleModel.StructuredOutputMode) -> any LanguageModel {
            OpenAICompatibleModel(
                configuration: .init(baseURL: baseURL, apiKey: apiKey, model: name, requestTimeout: timeout, structuredOutput: mode),
                httpClient: httpClient, logger: logger
            )
        }
        let defaultModel: any LanguageModel
        if let baseURL {
            defaultModel = model(baseURL: baseURL, apiKey: apiKey, name: self.model ?? "default", mode: structuredOutput)
        } else if let embedded {
            defaultModel = embedded
        } else {
            defaultModel = UnconfiguredModel(reason: Self.missingEmbeddedModel)
        }
        let named = self.named.mapValues { entry in
            model(baseURL: entry.baseURL, apiKey: entry.apiKey, name: entry.model, mode: entry.structuredOutput ?? structuredOutput)
        }
        var models = LanguageModels(default: defaultModel, named: named)
        models.descriptions = self.named.mapValues(\.model)
        models.descriptions["default"] = baseURL != nil ? (self.model ?? "default") : embedded != nil ? "SmolLM2-135M-Instruct (embedded)" : "none configured"
        return models
    }

    static let missingEmbeddedModel =
        "the embedded model is not installed: run scripts/setup-model, or set COMPADRE_LLM_BASE_URL to an OpenAI-compatible endpoint"

    /// The HTTP client configuration the models need (timeouts, no hidden connection retries).
    var httpClientConfiguration: HTTPClient.Configuration {
        OpenAICompatibleModel.Configuration(baseURL: baseURL ?? "http://127.0.0.1", model: model ?? "default").httpClientConfiguration
    }
}

struct SetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
