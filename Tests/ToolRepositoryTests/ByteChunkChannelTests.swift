import Testing

@testable import ToolRepository

@Suite("Handing response chunks from git to the client")
struct ByteChunkChannelTests {
    @Test func chunksArriveInOrderThenTheEnd() async throws {
        let channel = ByteChunkChannel(limit: 10)
        let producer = Task {
            for value in 0..<100 { try await channel.send([UInt8(value), UInt8(value)]) }
            channel.finish()
        }
        var received: [UInt8] = []
        while let chunk = try await channel.next() { received += chunk }
        try await producer.value
        #expect(received == (0..<100).flatMap { [UInt8($0), UInt8($0)] })
    }

    @Test func theProducerWaitsWhileTheConsumerIsBehind() async throws {
        let channel = ByteChunkChannel(limit: 4)
        let sent = Task {
            var count = 0
            for _ in 0..<10 {
                try await channel.send([1, 2, 3])
                count += 1
            }
            return count
        }
        try await Task.sleep(for: .milliseconds(100))
        // Two chunks fit before the limit is passed; the producer waits on the second.
        #expect(try await channel.next() == [1, 2, 3])
        sent.cancel()
        await #expect(throws: CancellationError.self) { try await sent.value }
    }

    @Test func theProducersErrorReachesTheConsumerAfterTheQueuedChunks() async throws {
        struct Broken: Error {}
        let channel = ByteChunkChannel(limit: 100)
        try await channel.send([1])
        channel.finish(throwing: Broken())
        #expect(try await channel.next() == [1])
        await #expect(throws: Broken.self) { try await channel.next() }
        #expect(try await channel.next() == nil)
    }

    @Test func aGoneConsumerFailsTheProducer() async throws {
        let channel = ByteChunkChannel(limit: 1)
        let producer = Task { try await channel.send([1, 2, 3]) }
        try await Task.sleep(for: .milliseconds(50))
        channel.cancel()
        await #expect(throws: CancellationError.self) { try await producer.value }
        await #expect(throws: CancellationError.self) { try await channel.send([4]) }
    }

    @Test func cancellingTheConsumerWakesIt() async throws {
        let channel = ByteChunkChannel(limit: 10)
        let consumer = Task { try await channel.next() }
        try await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        await #expect(throws: CancellationError.self) { try await consumer.value }
    }
}
