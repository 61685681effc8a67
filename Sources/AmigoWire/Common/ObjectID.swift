import Foundation
import Synchronization

/// A 24-lowercase-hex identifier laid out like a MongoDB ObjectId: 4 bytes of seconds since the epoch,
/// 5 random bytes fixed per process, and a 3-byte counter, so identifiers sort by creation time.
public enum ObjectID {
    private static let processRandom: UInt64 = UInt64.random(in: 0..<(1 << 40))
    private static let counter = Atomic<UInt32>(UInt32.random(in: 0..<(1 << 24)))

    /// A new identifier for "now".
    public static func generate(now: Date = Date()) -> String {
        let seconds = UInt32(truncatingIfNeeded: Int64(now.timeIntervalSince1970))
        let count = counter.add(1, ordering: .relaxed).newValue & 0xFF_FFFF
        var bytes = [UInt8](repeating: 0, count: 12)
        for i in 0..<4 { bytes[i] = UInt8(truncatingIfNeeded: seconds >> (24 - 8 * UInt32(i))) }
        for i in 0..<5 { bytes[4 + i] = UInt8(truncatingIfNeeded: processRandom >> (32 - 8 * UInt64(i))) }
        for i in 0..<3 { bytes[9 + i] = UInt8(truncatingIfNeeded: count >> (16 - 8 * UInt32(i))) }
        return hex(bytes)
    }

    /// Whether `string` has the `^[a-f0-9]{24}$` form.
    public static func isValid(_ string: String) -> Bool {
        let utf8 = string.utf8
        return utf8.count == 24 && utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
