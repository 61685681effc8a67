import AmigoWire
import AsyncHTTPClient
import Engine
import Foundation
import Logging
import Models

/// The language models `serve` uses, from flags and `COMPADRE_LLM_…` environment variables.
///
/// - `COMPADRE_LLM_BASE_URL`, `COMPADRE_LLM_API_KEY`, `COMPADRE_LLM_MODEL`: the default model.
/// - `COMPADRE_LLM_STRUCTURED_OUTPUT`: `json_schema`, `json_object` or `automatic` (default).
/// - `COMPADRE_LLM_TIMEOUT`: seconds one model call may take, retries included (default 120).
/// - `COMPADRE_LLM_MODELS`: named models for version sets' `llm_model_preferences`, as JSON
///   `{"<llm_name>": {"base_url": …, "api_key": …, "model": …, "structured_output": …}}`.
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

    init(baseURL: String?, apiKey: String?, model: String?, environment: [String: String]) throws {
        self.baseURL = baseURL ?? environment["COMPADRE_LLM_BASE_URL"]
        self.apiKey = apiKey ?? environment["COMPADRE_LLM_API_KEY"]
        self.model = model ?? environment["COMPADRE_LLM_MODEL"]
        if let raw = environment["COMPADRE_LLM_STRUCTURED_OUTPUT"] {
            guard let mode = OpenAICompatibleModel.StructuredOutputMode(rawValue: raw) else {
                throw SetupError("COMPADRE_LLM_STRUCTURED_OUTPUT must be json_schema, json_object or automatic, not \(raw)")
            }
            structuredOutput = mode
        }
        if let raw = environment["COMPADRE_LLM_TIMEOUT"] {
            guard let seconds = Double(raw), seconds > 0 else { throw SetupError("COMPADRE_LLM_TIMEOUT must be a number of seconds") }
            timeout = .milliseconds(Int(seconds * 1000))
        }
        if let raw = environment["COMPADRE_LLM_MODELS"] {
            do {
                named = try JSONDecoder().decode([String: Named].self, from: Data(raw.utf8))
            } catch {
                throw SetupError("COMPADRE_LLM_MODELS is not valid JSON of named models: \(error)")
            }
        }
    }

    /// Where the embedded runtime and model live: `COMPADRE_LLM_PYTHON` / `COMPADRE_LLM_MODEL_PATH`, else
    /// the cache `scripts/setup-model` fills (`$COMPADRE_HOME`, default `~/.cache/compadre`).
    static func embeddedPaths(environment: [String: String]) -> (python: String, model: String) {
        let home = environment["COMPADRE_HOME"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache/compadre")
        return (
            environment["COMPADRE_LLM_PYTHON"] ?? home + "/llm-venv/bin/python",
            environment["COMPADRE_LLM_MODEL_PATH"] ?? home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
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
        return LanguageModels(default: defaultModel, named: named)
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
