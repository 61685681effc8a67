import Foundation

/// Encodes `Encodable` values to JSON exactly as ``WireCoding/encoder()`` does — dates as
/// ``WireCoding/formatDate(_:)``, slashes unescaped, keys in the order they are encoded, `Data` as
/// base64, whole doubles without `.0` — but straight into one byte array, where Foundation's encoder
/// first builds a tree of boxed values. The event streams, stored documents and JSON responses are
/// written with it.
///
/// Rules of the writer:
/// - A container is written as it is filled: its opening bracket when it is created, each entry as it
///   is encoded, its closing bracket when a container above it writes again or the encoding ends.
/// - A container that is written to after it was closed (legal in `Codable`, done by no wire type)
///   makes the whole value fall back to Foundation's encoder, so the output is always the same.
/// - A nested value that encodes nothing is `{}`, as with Foundation; a top-level one falls back.
/// - `codingPath` is always empty: no wire type reads it, and keeping it would cost an array per level.
public struct WireEncoder: Sendable {
    public init() {}

    /// The JSON of `value`.
    public func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        try encode(value, appendingTo: &bytes)
        return bytes
    }

    /// Appends the JSON of `value` to `bytes`.
    public func encode<Value: Encodable>(_ value: Value, appendingTo bytes: inout [UInt8]) throws {
        let writer = JSONByteWriter(bytes)
        bytes = []
        do {
            let slot = SlotEncoder(writer: writer, parentLevel: -1)
            try slot.encodeValue(value)
            guard slot.state != .empty, !writer.poisoned else { throw JSONByteWriter.Misuse() }
            writer.closeAll()
            bytes = writer.bytes
        } catch is JSONByteWriter.Misuse {
            let start = writer.start
            bytes = writer.bytes
            bytes.removeSubrange(start...)
            bytes.append(contentsOf: try Self.foundation.encode(value))
        }
    }

    /// The JSON of `value` as a string.
    public func string<Value: Encodable>(_ value: Value) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    nonisolated(unsafe) private static let foundation = WireCoding.encoder()
}

/// The output and the stack of open containers of one encoding.
final class JSONByteWriter {
    struct Misuse: Error {}

    private struct Frame {
        var id: Int
        var closing: UInt8
        var count = 0
    }

    // One encoding runs on one thread and never re-enters these: the dynamic exclusivity checks cost
    // a third of the encoder's time.
    @exclusivity(unchecked) var bytes: [UInt8]
    let start: Int
    /// Set when a value took a path this writer does not follow (a super encoder): the fallback writes it.
    @exclusivity(unchecked) var poisoned = false
    @exclusivity(unchecked) private var frames: [Frame] = []
    @exclusivity(unchecked) private var nextID = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        start = bytes.count
    }

    /// Opens a container one level below `parentLevel`; returns its level and id.
    func open(_ opening: UInt8, _ closing: UInt8, parentLevel: Int) -> (level: Int, id: Int) {
        nextID += 1
        bytes.append(opening)
        frames.append(Frame(id: nextID, closing: closing))
        return (frames.count - 1, nextID)
    }

    /// Makes the container at `level` the innermost open one (closing those inside it) and starts its
    /// next entry (the comma).
    func beginEntry(level: Int, id: Int) throws {
        guard level >= 0, level < frames.count, frames[level].id == id else { throw Misuse() }
        close(above: level)
        if frames[level].count > 0 { bytes.append(UInt8(ascii: ",")) }
        frames[level].count += 1
    }

    /// Whether the container at `level` is still the one with `id`, after closing those inside it.
    func resume(level: Int, id: Int) throws {
        guard level >= 0, level < frames.count, frames[level].id == id else { throw Misuse() }
        close(above: level)
    }

    func close(above level: Int) {
        while frames.count > level + 1 {
            bytes.append(frames.removeLast().closing)
        }
    }

    func closeAll() {
        close(above: -1)
    }

    func key(_ key: String) {
        string(key)
        bytes.append(UInt8(ascii: ":"))
    }

    func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
                runStart = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    func literal(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    func integer<Integer: BinaryInteger>(_ value: Integer) {
        guard let small = Int(exactly: value), small >= 0, small < 10_000 else {
            bytes.append(contentsOf: String(value).utf8)
            return
        }
        // Sequence numbers, status codes, counts: digits without a String.
        var divisor = 1
        while divisor * 10 <= small { divisor *= 10 }
        var rest = small
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    func double(_ value: Double) throws {
        guard value.isFinite else { throw Misuse() }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    func float(_ value: Float) throws {
        guard value.isFinite else { throw Misuse() }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }
}

/// The encoder of one value's place: a top-level value, a keyed entry or an array element whose key
/// and comma are already written.
final class SlotEncoder: Encoder {
    enum State: Equatable { case empty, value, keyed(level: Int, id: Int), unkeyed(level: Int, id: Int) }

    let writer: JSONByteWriter
    let parentLevel: Int
    @exclusivity(unchecked) var state: State = .empty

    init(writer: JSONByteWriter, parentLevel: Int) {
        self.writer = writer
        self.parentLevel = parentLevel
    }

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        switch state {
        case .keyed(let level, let id):
            return KeyedEncodingContainer(WireKeyedContainer(writer: writer, level: level, id: id))
        case .empty:
            let (level, id) = writer.open(UInt8(ascii: "{"), UInt8(ascii: "}"), parentLevel: parentLevel)
            state = .keyed(level: level, id: id)
            return KeyedEncodingContainer(WireKeyedContainer(writer: writer, level: level, id: id))
        default:
            // Foundation traps here; this encoder lets the fallback report it.
            return KeyedEncodingContainer(WireKeyedContainer(writer: writer, level: -1, id: -1))
        }
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        switch state {
        case .unkeyed(let level, let id):
            return WireUnkeyedContainer(writer: writer, level: level, id: id)
        case .empty:
            let (level, id) = writer.open(UInt8(ascii: "["), UInt8(ascii: "]"), parentLevel: parentLevel)
            state = .unkeyed(level: level, id: id)
            return WireUnkeyedContainer(writer: writer, level: level, id: id)
        default:
            return WireUnkeyedContainer(writer: writer, level: -1, id: -1)
        }
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        WireSingleValueContainer(slot: self)
    }

    /// Writes `value` into this place.
    func encodeValue<Value: Encodable>(_ value: Value) throws {
        guard state == .empty else { throw JSONByteWriter.Misuse() }
        if try writer.primitive(value) {
            state = .value
            return
        }
        try value.encode(to: self)
    }

    /// Ends an entry: a value that wrote nothing is `{}`.
    func finish() {
        if state == .empty {
            writer.literal("{}")
            state = .value
        }
    }
}

extension JSONByteWriter {
    /// Writes `value` if it is one of the types Foundation's encoder writes itself; false otherwise.
    func primitive<Value: Encodable>(_ value: Value) throws -> Bool {
        // Metatype comparisons, not casts: most values are none of these, and a failed cast is slow.
        if Value.self == String.self { string(unsafeBitCast(value, to: String.self)) }
        else if Value.self == Int.self { integer(unsafeBitCast(value, to: Int.self)) }
        else if Value.self == Bool.self { literal(unsafeBitCast(value, to: Bool.self) ? "true" : "false") }
        else if Value.self == Double.self { try double(unsafeBitCast(value, to: Double.self)) }
        else if Value.self == Date.self { string(WireCoding.formatDate(unsafeBitCast(value, to: Date.self))) }
        else if Value.self == Int64.self { integer(unsafeBitCast(value, to: Int64.self)) }
        else if Value.self == Int32.self { integer(unsafeBitCast(value, to: Int32.self)) }
        else if Value.self == UInt8.self { integer(unsafeBitCast(value, to: UInt8.self)) }
        else if Value.self == UInt.self { integer(unsafeBitCast(value, to: UInt.self)) }
        else if Value.self == UInt64.self { integer(unsafeBitCast(value, to: UInt64.self)) }
        else if Value.self == Float.self { try float(unsafeBitCast(value, to: Float.self)) }
        else if Value.self == Data.self { string(unsafeBitCast(value, to: Data.self).base64EncodedString()) }
        else if Value.self == URL.self { string(unsafeBitCast(value, to: URL.self).absoluteString) }
        else if Value.self == Decimal.self { throw Misuse() }
        else { return false }
        return true
    }
}

struct WireKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: JSONByteWriter
    let level: Int
    let id: Int

    var codingPath: [any CodingKey] { [] }

    private func begin(_ key: Key) throws {
        try writer.beginEntry(level: level, id: id)
        writer.key(key.stringValue)
    }

    mutating func encodeNil(forKey key: Key) throws { try begin(key); writer.literal("null") }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try begin(key); writer.literal(value ? "true" : "false") }
    mutating func encode(_ value: String, forKey key: Key) throws { try begin(key); writer.string(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try begin(key); try writer.double(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try begin(key); try writer.float(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); writer.integer(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); writer.integer(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); writer.integer(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); writer.integer(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); writer.integer(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); writer.integer(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); writer.integer(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); writer.integer(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); writer.integer(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); writer.integer(value) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        if try writer.primitive(value) { return }
        let slot = SlotEncoder(writer: writer, parentLevel: level)
        try value.encode(to: slot)
        try writer.resume(level: level, id: id)
        slot.finish()
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        guard (try? begin(key)) != nil else {
            return KeyedEncodingContainer(WireKeyedContainer<NestedKey>(writer: writer, level: -1, id: -1))
        }
        return SlotEncoder(writer: writer, parentLevel: level).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        guard (try? begin(key)) != nil else { return WireUnkeyedContainer(writer: writer, level: -1, id: -1) }
        return SlotEncoder(writer: writer, parentLevel: level).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        superEncoder(forKey: Key(stringValue: "super") ?? Key(intValue: 0)!)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        writer.poisoned = true
        return SlotEncoder(writer: writer, parentLevel: level)
    }
}

struct WireUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: JSONByteWriter
    let level: Int
    let id: Int
    private(set) var count = 0

    init(writer: JSONByteWriter, level: Int, id: Int) {
        self.writer = writer
        self.level = level
        self.id = id
    }

    var codingPath: [any CodingKey] { [] }

    private mutating func begin() throws {
        try writer.beginEntry(level: level, id: id)
        count += 1
    }

    mutating func encodeNil() throws { try begin(); writer.literal("null") }
    mutating func encode(_ value: Bool) throws { try begin(); writer.literal(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { try begin(); writer.string(value) }
    mutating func encode(_ value: Double) throws { try begin(); try writer.double(value) }
    mutating func encode(_ value: Float) throws { try begin(); try writer.float(value) }
    mutating func encode(_ value: Int) throws { try begin(); writer.integer(value) }
    mutating func encode(_ value: Int8) throws { try begin(); writer.integer(value) }
    mutating func encode(_ value: Int16) throws { try begin(); writer.integer(value) }
    mutating func encode(_ value: Int32) throws { try begin(); writer.integer(value) }
    mutating func encode(_ value: Int64) throws { try begin(); writer.integer(value) }
    mutating func encode(_ value: UInt) throws { try begin(); writer.integer(value) }
    mutating func encode(_ value: UInt8) throws { try begin(); writer.integer(value) }
    mutating func encode(_ value: UInt16) throws { try begin(); writer.integer(value) }
    mutating func encode(_ value: UInt32) throws { try begin(); writer.integer(value) }
    mutating func encode(_ value: UInt64) throws { try begin(); writer.integer(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try begin()
        if try writer.primitive(value) { return }
        let slot = SlotEncoder(writer: writer, parentLevel: level)
        try value.encode(to: slot)
        try writer.resume(level: level, id: id)
        slot.finish()
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        guard (try? begin()) != nil else {
            return KeyedEncodingContainer(WireKeyedContainer<NestedKey>(writer: writer, level: -1, id: -1))
        }
        return SlotEncoder(writer: writer, parentLevel: level).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        guard (try? begin()) != nil else { return WireUnkeyedContainer(writer: writer, level: -1, id: -1) }
        return SlotEncoder(writer: writer, parentLevel: level).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        writer.poisoned = true
        return SlotEncoder(writer: writer, parentLevel: level)
    }
}

struct WireSingleValueContainer: SingleValueEncodingContainer {
    let slot: SlotEncoder

    var codingPath: [any CodingKey] { [] }

    private func begin() throws {
        guard slot.state == .empty else { throw JSONByteWriter.Misuse() }
        slot.state = .value
    }

    mutating func encodeNil() throws { try begin(); slot.writer.literal("null") }
    mutating func encode(_ value: Bool) throws { try begin(); slot.writer.literal(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { try begin(); slot.writer.string(value) }
    mutating func encode(_ value: Double) throws { try begin(); try slot.writer.double(value) }
    mutating func encode(_ value: Float) throws { try begin(); try slot.writer.float(value) }
    mutating func encode(_ value: Int) throws { try begin(); slot.writer.integer(value) }
    mutating func encode(_ value: Int8) throws { try begin(); slot.writer.integer(value) }
    mutating func encode(_ value: Int16) throws { try begin(); slot.writer.integer(value) }
    mutating func encode(_ value: Int32) throws { try begin(); slot.writer.integer(value) }
    mutating func encode(_ value: Int64) throws { try begin(); slot.writer.integer(value) }
    mutating func encode(_ value: UInt) throws { try begin(); slot.writer.integer(value) }
    mutating func encode(_ value: UInt8) throws { try begin(); slot.writer.integer(value) }
    mutating func encode(_ value: UInt16) throws { try begin(); slot.writer.integer(value) }
    mutating func encode(_ value: UInt32) throws { try begin(); slot.writer.integer(value) }
    mutating func encode(_ value: UInt64) throws { try begin(); slot.writer.integer(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try slot.encodeValue(value)
    }
}
