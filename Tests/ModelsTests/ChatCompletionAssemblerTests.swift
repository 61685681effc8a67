import Engine
import Foundation
import Testing

@testable import Models

@Suite("ChatCompletionAssembler")
struct ChatCompletionAssemblerTests {
    func toolDelta(_ index: Int, id: String? = nil, name: String? = nil, arguments: String) -> String {
        var call = #""index":\#(index)"#
        if let id { call += #","id":"\#(id)","type":"function""# }
        var function = #""arguments":"\#(arguments)""#
        if let name { function = #""name":"\#(name)","# + function }
        return #"{"choices":[{"index":0,"delta":{"tool_calls":[{\#(call),"function":{\#(function)}}]},"finish_reason":null}]}"#
    }

    @Test func interleavedToolCallFragmentsAreJoinedByIndexAndDeliveredOnDone() throws {
        var assembler = ChatCompletionAssembler()
        let events = [
            toolDelta(0, id: "a", name: "first", arguments: "{\\\"x\\\":"),
            toolDelta(1, id: "b", name: "second", arguments: "{}"),
            toolDelta(0, arguments: "1}"),
        ]
        for event in events { #expect(try assembler.consume(event: event) == .outputs([])) }
        #expect(try assembler.consume(event: "[DONE]") == .finished([
            .toolCall(ToolCall(id: "a", name: "first", arguments: #"{"x":1}"#)),
            .toolCall(ToolCall(id: "b", name: "second", arguments: "{}")),
        ]))
    }

    @Test func aFinishReasonEndsTheAnswerAfterItsOwnContent() throws {
        var assembler = ChatCompletionAssembler()
        let last = #"{"choices":[{"index":0,"delta":{"content":"end."},"finish_reason":"stop"}]}"#
        #expect(try assembler.consume(event: last) == .finished([.text("end.")]))
    }

    @Test func chunksWithoutChoicesAreSkipped() throws {
        var assembler = ChatCompletionAssembler()
        #expect(try assembler.consume(event: #"{"choices":[],"usage":{"total_tokens":3}}"#) == .outputs([]))
    }

    @Test func anErrorInsideTheStreamIsReported() {
        var assembler = ChatCompletionAssembler()
        #expect(throws: ChatCompletionAssembler.InvalidEvent.self) {
            try assembler.consume(event: #"{"error":{"message":"out of memory"}}"#)
        }
    }

    @Test func retryAfterIsReadAsSecondsOrAnHTTPDate() {
        #expect(OpenAICompatibleModel.retryAfter("2") == .seconds(2))
        #expect(OpenAICompatibleModel.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == .zero)
        #expect(OpenAICompatibleModel.retryAfter("soon") == nil)
    }
}
