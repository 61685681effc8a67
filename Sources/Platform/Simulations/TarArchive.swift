import Foundation

/// A tar archive (POSIX ustar) of regular files, built in memory: each file is a 512-byte header and
/// its bytes padded to 512; two zero blocks end the archive. `tar -xf` and Python's `tarfile` read it.
struct TarArchive {
    private(set) var data = Data()
    var modified = Date()

    /// Adds a file at `path` (at most 100 bytes, as ustar's name field; longer paths use its prefix).
    mutating func add(_ path: String, _ contents: Data) {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, length: Int) {
            for (index, byte) in text.utf8.prefix(length).enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int, at offset: Int, length: Int) {
            put(String(String(value, radix: 8).suffix(length - 1)).leftPadded(to: length - 1), at: offset, length: length - 1)
        }
        var name = path
        var prefix = ""
        if path.utf8.count > 100, let slash = path.utf8.prefix(155).lastIndex(of: UInt8(ascii: "/")) {
            prefix = String(path[..<slash])
            name = String(path[path.index(after: slash)...])
        }
        put(name, at: 0, length: 100)
        octal(0o644, at: 100, length: 8)
        octal(0, at: 108, length: 8)
        octal(0, at: 116, length: 8)
        octal(contents.count, at: 124, length: 12)
        octal(Int(modified.timeIntervalSince1970), at: 136, length: 12)
        header[156] = UInt8(ascii: "0")
        put("ustar", at: 257, length: 6)
        put("00", at: 263, length: 2)
        put(prefix, at: 345, length: 155)
        // The checksum is summed with its own field as spaces.
        for index in 148..<156 { header[index] = UInt8(ascii: " ") }
        let sum = header.reduce(0) { $0 + Int($1) }
        put(String(String(sum, radix: 8)).leftPadded(to: 6), at: 148, length: 6)
        header[154] = 0
        header[155] = UInt8(ascii: " ")
        data.append(contentsOf: header)
        data.append(contents)
        let padding = (512 - contents.count % 512) % 512
        data.append(contentsOf: [UInt8](repeating: 0, count: padding))
    }

    /// The archive with its end marker.
    var bytes: Data { data + Data(count: 1024) }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
