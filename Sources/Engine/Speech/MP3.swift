import Foundation

/// MPEG audio Layer III frames: where each starts and how long it plays, read from the frame headers
/// (ISO 11172-3 / 13818-3), so an MP3 stream can be cut into pieces a player can join again.
public enum MP3 {
    public struct Frame: Sendable, Hashable {
        /// The frame's bytes in the stream.
        public var range: Range<Int>
        public var sampleRate: Int
        /// Samples per frame: 1,152 in MPEG-1, 576 in MPEG-2 and 2.5.
        public var samples: Int

        public var duration: Duration { .microseconds(samples * 1_000_000 / sampleRate) }
    }

    private static let bitratesV1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
    private static let bitratesV2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]

    /// The Layer III frames of `data` in order, after an ID3v2 tag if there is one; nil when the bytes are
    /// not a sequence of whole frames (a broken header, a free-format or truncated frame).
    public static func frames(in data: Data) -> [Frame]? {
        let bytes = [UInt8](data)
        var offset = 0
        if bytes.count >= 10, bytes[0] == 0x49, bytes[1] == 0x44, bytes[2] == 0x33 {  // "ID3"
            let size = bytes[6...9].reduce(0) { $0 << 7 | Int($1 & 0x7F) }
            offset = 10 + size + (bytes[5] & 0x10 != 0 ? 10 : 0)
        }
        var frames: [Frame] = []
        while offset < bytes.count {
            guard let frame = frame(at: offset, in: bytes), frame.range.upperBound <= bytes.count else { return nil }
            frames.append(frame)
            offset = frame.range.upperBound
        }
        return frames
    }

    private static func frame(at offset: Int, in bytes: [UInt8]) -> Frame? {
        guard offset + 4 <= bytes.count, bytes[offset] == 0xFF, bytes[offset + 1] & 0xE0 == 0xE0 else { return nil }
        let version = (bytes[offset + 1] >> 3) & 3  // 0: 2.5, 2: 2, 3: 1
        let layer = (bytes[offset + 1] >> 1) & 3  // 1: Layer III
        let bitrateIndex = Int(bytes[offset + 2] >> 4)
        let rateIndex = Int((bytes[offset + 2] >> 2) & 3)
        let padding = Int((bytes[offset + 2] >> 1) & 1)
        guard version != 1, layer == 1, bitrateIndex != 0, bitrateIndex != 15, rateIndex != 3 else { return nil }
        let isV1 = version == 3
        let sampleRate = [44_100, 48_000, 32_000][rateIndex] / (isV1 ? 1 : version == 2 ? 2 : 4)
        let bitrate = (isV1 ? bitratesV1 : bitratesV2)[bitrateIndex] * 1000
        let length = (isV1 ? 144 : 72) * bitrate / sampleRate + padding
        return Frame(range: offset..<offset + length, sampleRate: sampleRate, samples: isV1 ? 1152 : 576)
    }
}
