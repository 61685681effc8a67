import AmigoWire
import Engine
import Foundation

/// The two ways OpenAI-compatible servers take a JSON schema for the answer.
enum SchemaFormat: Sendable, Hashable {
    /// `{"type":"json_schema","json_schema":{"name":…,"schema":…,"strict":true}}` (OpenAI, vLLM, llama.cpp's own server).
    case jsonSchema
    /// `{"type":"json_object","schema":…}` (llama-cpp-python's server, which answers the other form with a 500).
    case jsonObject
}

/// The body of `POST /chat/completions` for a ``ModelRequest``.
///
/// `parameters` (a version set's `LLMConfig.params`) are merged last and so override `max_tokens`,
/// `temperature` or anything else, except `messages` and `stream`, which the provider owns.
struct ChatCompletionBody {
    var request: ModelRequest
    var model: String
    var schemaFormat: SchemaFormat

    var json: JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(model),
            "messages": .array(request.messages.map(Self.message)),
        ]
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map(Self.tool))
        }
        if case .json(let name, let schema) = request.output {
            body["response_format"] = Self.responseFormat(name: name, schema: schema, format: schemaFormat)
        }
        if let maxTokens = request.maxTokens { body["max_tokens"] = .number(Double(maxTokens)) }
        if let temperature = request.temperature { body["temperature"] = .number(temperature) }
        for (key, value) in request.parameters where key != "messages" && key != "stream" {
            body[key] = value
        }
        body["stream"] = .bool(true)
        return .object(body)
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(json)
    }

    private static func message(_ message: ChatMessage) -> JSONValue {
        var object: [String: JSONValue] = [
            "role": .string(message.role.rawValue),
            "content": .string(message.content),
        ]
        if !message.toolCalls.isEmpty {
            object["tool_calls"] = .array(message.toolCalls.map { call in
                .object([
                    "id": .string(call.id),
                    "type": .string("function"),
                    "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)]),
                ])
            })
            // OpenAI wants `null`, not "", for an assistant message that only calls tools.
            if message.content.isEmpty { object["content"] = .null }
        }
        if let toolCallID = message.toolCallID {
            object["tool_call_id"] = .string(toolCallID)
        }
        return .object(object)
    }

    private static func tool(_ tool: ToolDefinition) -> JSONValue {
        .object([
            "type": .string("function"),
            "function": .object([
                "name": .string(tool.name),
                "description": .string(tool.description),
                "parameters": tool.parameters,
            ]),
        ])
    }

    private static func responseFormat(name: String, schema: JSONValue, format: SchemaFormat) -> JSONValue {
        switch format {
        case .jsonSchema:
            .object([
                "type": .string("json_schema"),
                "json_schema": .object(["name": .string(name), "schema": schema, "strict": .bool(true)]),
            ])
        case .jsonObject:
            .object(["type": .string("json_object"), "schema": schema])
        }
    }
}
