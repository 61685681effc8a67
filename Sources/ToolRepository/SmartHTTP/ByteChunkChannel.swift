import Synchronization

/// Hands the chunks of a CGI program's output from the task that reads them to the task that writes
/// the HTTP response, holding at most `limit` unread bytes: past that the reader waits, so git waits on
/// its full pipe instead of the server buffering a whole pack for a slow client.
///
/// One producer (``send(_:)``, ``finish(throwing:)``) and one consumer (``next()``, ``cancel()``).
final class ByteChunkChannel: Sendable {
    private let machine: Mutex<StateMachine>

    init(limit: Int) {
        machine = Mutex(StateMachine(limit: limit))
    }

    /// Queues `chunk`; suspends while the consumer is more than `limit` bytes behind. Throws
    /// `CancellationError` once the consumer is gone or the calling task is cancelled.
    func send(_ chunk: [UInt8]) async throws {
        guard !chunk.isEmpty else { return }
        switch machine.withLock({ $0.send(chunk) }) {
        case .none: return
        case .resumeConsumer(let consumer): consumer.resume(returning: chunk)
        case .throwCancellation: throw CancellationError()
        case .waitForSpace:
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (producer: Producer) in
                    let resume = machine.withLock { $0.waitForSpace(producer, isCancelled: Task.isCancelled) }
                    resume?.run()
                }
            } onCancel: {
                machine.withLock { $0.cancel() }.forEach { $0.run() }
            }
        }
    }

    /// Ends the stream after the queued chunks, with `error` if there is one.
    func finish(throwing error: (any Error)? = nil) {
        machine.withLock { $0.finish(error) }?.run()
    }

    /// The next chunk; nil at the end. Throws the producer's error, or `CancellationError` when the
    /// calling task is cancelled (which also ends the producer's wait).
    func next() async throws -> [UInt8]? {
        switch machine.withLock({ $0.next() }) {
        case .chunk(let chunk, let resumeProducer):
            resumeProducer?.run()
            return chunk
        case .end(let error):
            if let error { throw error }
            return nil
        case .waitForChunk:
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (consumer: Consumer) in
                    let resume = machine.withLock { $0.waitForChunk(consumer, isCancelled: Task.isCancelled) }
                    resume?.run()
                }
            } onCancel: {
                machine.withLock { $0.cancel() }.forEach { $0.run() }
            }
        }
    }

    /// The consumer is gone: the producer's pending and future sends throw `CancellationError`.
    func cancel() {
        machine.withLock { $0.cancel() }.forEach { $0.run() }
    }
}

extension ByteChunkChannel {
    typealias Producer = CheckedContinuation<Void, any Error>
    typealias Consumer = CheckedContinuation<[UInt8]?, any Error>

    /// A continuation to resume once the lock is released.
    enum Resumption {
        case producer(Producer, (any Error)?)
        case consumer(Consumer, Result<[UInt8]?, any Error>)

        func run() {
            switch self {
            case .producer(let continuation, nil): continuation.resume()
            case .producer(let continuation, let error?): continuation.resume(throwing: error)
            case .consumer(let continuation, let result): continuation.resume(with: result)
            }
        }
    }

    /// The channel's rules, without locks or suspension: inputs return what the caller must do.
    struct StateMachine {
        private enum State {
            /// The producer may still send; at most one side is waiting.
            case open(Buffer, producer: Producer?, consumer: Consumer?)
            /// The producer has finished; the consumer drains the buffer, then sees the end.
            case finished(Buffer, (any Error)?)
            /// The consumer is gone.
            case cancelled
        }

        private struct Buffer {
            var chunks: [[UInt8]] = []
            var head = 0
            var bytes = 0

            var isEmpty: Bool { head == chunks.count }

            mutating func append(_ chunk: [UInt8]) {
                chunks.append(chunk)
                bytes += chunk.count
            }

            mutating func removeFirst() -> [UInt8] {
                let chunk = chunks[head]
                chunks[head] = []
                head += 1
                bytes -= chunk.count
                if head == chunks.count || head > 64 {
                    chunks.removeFirst(head)
                    head = 0
                }
                return chunk
            }
        }

        enum SendAction {
            case none
            case resumeConsumer(Consumer)
            case waitForSpace
            case throwCancellation
        }

        enum NextAction {
            case chunk([UInt8], resumeProducer: Resumption?)
            case end((any Error)?)
            case waitForChunk
        }

        private let limit: Int
        private var state: State

        init(limit: Int) {
            self.limit = limit
            state = .open(Buffer(), producer: nil, consumer: nil)
        }

        mutating func send(_ chunk: [UInt8]) -> SendAction {
            switch state {
            case .open(var buffer, let producer, let consumer):
                precondition(producer == nil, "ByteChunkChannel has a single producer")
                if let consumer {
                    state = .open(buffer, producer: nil, consumer: nil)
                    return .resumeConsumer(consumer)
                }
                buffer.append(chunk)
                state = .open(buffer, producer: nil, consumer: nil)
                return buffer.bytes > limit ? .waitForSpace : .none
            case .finished:
                preconditionFailure("ByteChunkChannel.send after finish")
            case .cancelled:
                return .throwCancellation
            }
        }

        mutating func waitForSpace(_ producer: Producer, isCancelled: Bool) -> Resumption? {
            switch state {
            case .open(let buffer, _, let consumer):
                if isCancelled {
                    state = .cancelled
                    return .producer(producer, CancellationError())
                }
                // The consumer may have caught up between `send` and here.
                guard buffer.bytes > limit else { return .producer(producer, nil) }
                state = .open(buffer, producer: producer, consumer: consumer)
                return nil
            case .finished:
                preconditionFailure("ByteChunkChannel.send after finish")
            case .cancelled:
                return .producer(producer, CancellationError())
            }
        }

        mutating func finish(_ error: (any Error)?) -> Resumption? {
            switch state {
            case .open(let buffer, _, let consumer):
                if let consumer {
                    state = .finished(buffer, nil)
                    return .consumer(consumer, error.map { .failure($0) } ?? .success(nil))
                }
                state = .finished(buffer, error)
                return nil
            case .finished, .cancelled:
                return nil
            }
        }

        mutating func next() -> NextAction {
            switch state {
            case .open(var buffer, let producer, let consumer):
                precondition(consumer == nil, "ByteChunkChannel has a single consumer")
                guard !buffer.isEmpty else { return .waitForChunk }
                let chunk = buffer.removeFirst()
                if let producer, buffer.bytes <= limit {
                    state = .open(buffer, producer: nil, consumer: nil)
                    return .chunk(chunk, resumeProducer: .producer(producer, nil))
                }
                state = .open(buffer, producer: producer, consumer: nil)
                return .chunk(chunk, resumeProducer: nil)
            case .finished(var buffer, let error):
                guard !buffer.isEmpty else {
                    state = .finished(Buffer(), nil)
                    return .end(error)
                }
                let chunk = buffer.removeFirst()
                state = .finished(buffer, error)
                return .chunk(chunk, resumeProducer: nil)
            case .cancelled:
                return .end(CancellationError())
            }
        }

        mutating func waitForChunk(_ consumer: Consumer, isCancelled: Bool) -> Resumption? {
            switch state {
            case .open(var buffer, let producer, _):
                if isCancelled {
                    state = .cancelled
                    return .consumer(consumer, .failure(CancellationError()))
                }
                // The producer may have sent or finished between `next` and here.
                guard buffer.isEmpty else {
                    let chunk = buffer.removeFirst()
                    state = .open(buffer, producer: producer, consumer: nil)
                    return .consumer(consumer, .success(chunk))
                }
                state = .open(buffer, producer: producer, consumer: consumer)
                return nil
            case .finished(var buffer, let error):
                guard !buffer.isEmpty else {
                    state = .finished(Buffer(), nil)
                    return .consumer(consumer, error.map { .failure($0) } ?? .success(nil))
                }
                let chunk = buffer.removeFirst()
                state = .finished(buffer, error)
                return .consumer(consumer, .success(chunk))
            case .cancelled:
                return .consumer(consumer, .failure(CancellationError()))
            }
        }

        /// Either side gave up: wake whoever waits.
        mutating func cancel() -> [Resumption] {
            switch state {
            case .open(_, let producer, let consumer):
                state = .cancelled
                var resumptions: [Resumption] = []
                if let producer { resumptions.append(.producer(producer, CancellationError())) }
                if let consumer { resumptions.append(.consumer(consumer, .failure(CancellationError()))) }
                return resumptions
            case .finished:
                state = .cancelled
                return []
            case .cancelled:
                return []
            }
        }
    }
}
