import Foundation

/// A POSIX ustar archive of folders and regular files, written in memory, owned by root and dated
/// 2025-01-01 so the same entries always give the same bytes.
struct TarArchive {
    private var data = Data()
    private static let modificationTime = 1_735_689_600

    mutating func appendFolder(_ path: String) throws {
        try appendHeader(path.hasSuffix("/") ? path : path + "/", size: 0, mode: 0o755, type: "5")
    }

    mutating func appendFile(_ path: String, contents: Data) throws {
        try appendHeader(path, size: contents.count, mode: 0o644, type: "0")
        data.append(contents)
        data.append(Data(count: (512 - contents.count % 512) % 512))
    }

    /// The archive with its end marker (two empty blocks).
    func finished() -> Data {
        data + Data(count: 1024)
    }

    private mutating func appendHeader(_ path: String, size: Int, mode: Int, type: Character) throws {
        let name = Array(path.utf8)
        guard name.count <= 100 else { throw TarArchiveError(path: path) }
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) {
            header.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: width - 1 - digits.count) + digits).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(mode, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(Self.modificationTime, width: 12), at: 136)
        put(Array(repeating: UInt8(ascii: " "), count: 8), at: 148)
        put(Array(String(type).utf8), at: 156)
        put(Array("ustar\u{0}00".utf8), at: 257)
        put(Array("root".utf8), at: 265)
        put(Array("root".utf8), at: 297)
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(octal(checksum, width: 7) + [UInt8(ascii: " ")], at: 148)
        data.append(contentsOf: header)
    }
}

struct TarArchiveError: Error, CustomStringConvertible {
    var path: String
    var description: String { "the path \(path) is too long for a tar archive" }
}

/// gzip (RFC 1952) around "stored" deflate blocks: valid for any gunzip, not compressed, which is fine
/// for a few kilobytes of text and needs no zlib.
enum Gzip {
    static func stored(_ payload: Data) -> Data {
        var out = Data([0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03])
        let bytes = [UInt8](payload)
        var offset = 0
        repeat {
            let count = min(65_535, bytes.count - offset)
            let isLast = offset + count == bytes.count
            out.append(isLast ? 0x01 : 0x00)
            out.append(contentsOf: littleEndian(UInt16(count)))
            out.append(contentsOf: littleEndian(~UInt16(count)))
            out.append(contentsOf: bytes[offset..<offset + count])
            offset += count
        } while offset < bytes.count
        out.append(contentsOf: littleEndian(crc32(bytes)))
        out.append(contentsOf: littleEndian(UInt32(truncatingIfNeeded: bytes.count)))
        return out
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    private static let crcTable: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 {
            crc = crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1
        }
        return crc
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { crc, byte in crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    }
}
