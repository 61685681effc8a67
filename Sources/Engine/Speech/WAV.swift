import Foundation

/// RIFF/WAVE files and the one conversion speech needs: any PCM WAV to 16 kHz mono PCM16.
public enum WAV {
    /// What a WAV file's `fmt ` chunk says, and its samples.
    public struct Contents: Sendable, Hashable {
        public var sampleRate: Int
        public var channels: Int
        public var bitsPerSample: Int
        /// 1: integer PCM, 3: IEEE float.
        public var format: Int
        public var samples: Data

        public init(sampleRate: Int, channels: Int, bitsPerSample: Int, format: Int = 1, samples: Data) {
            self.sampleRate = sampleRate
            self.channels = channels
            self.bitsPerSample = bitsPerSample
            self.format = format
            self.samples = samples
        }
    }

    /// Whether `data` starts like a WAV file.
    public static func isWAV(_ data: Data) -> Bool {
        data.count >= 12 && data.prefix(4).elementsEqual("RIFF".utf8) && data.dropFirst(8).prefix(4).elementsEqual("WAVE".utf8)
    }

    /// Reads a PCM or float WAV file; nil when it is not one this can read.
    public static func read(_ data: Data) -> Contents? {
        let bytes = [UInt8](data)
        guard isWAV(data) else { return nil }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        var offset = 12
        var format: (rate: Int, channels: Int, bits: Int, kind: Int)?
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            let size = u32(offset + 4)
            let body = offset + 8
            if id == "fmt ", body + 16 <= bytes.count {
                var kind = u16(body)
                // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
                if kind == 0xFFFE, body + 26 <= bytes.count { kind = u16(body + 24) }
                format = (u32(body + 4), u16(body + 2), u16(body + 14), kind)
            } else if id == "data", let format {
                // Streams written before their length was known say 0 or 0xFFFFFFFF: take what is there.
                let end = size == 0 || body + size > bytes.count ? bytes.count : body + size
                return Contents(
                    sampleRate: format.rate, channels: format.channels, bitsPerSample: format.bits, format: format.kind,
                    samples: Data(bytes[body..<end])
                )
            }
            offset = body + size + (size & 1)
        }
        return nil
    }

    /// A WAV file around raw little-endian PCM.
    public static func file(pcm: Data, sampleRate: Int, channels: Int = 1, bitsPerSample: Int = 16) -> Data {
        var header = Data()
        func append(_ value: Int, bytes: Int) {
            for index in 0..<bytes { header.append(UInt8((value >> (8 * index)) & 0xFF)) }
        }
        let blockAlign = channels * bitsPerSample / 8
        header.append(contentsOf: "RIFF".utf8)
        append(36 + pcm.count, bytes: 4)
        header.append(contentsOf: "WAVEfmt ".utf8)
        append(16, bytes: 4)
        append(1, bytes: 2)
        append(channels, bytes: 2)
        append(sampleRate, bytes: 4)
        append(sampleRate * blockAlign, bytes: 4)
        append(blockAlign, bytes: 2)
        append(bitsPerSample, bytes: 2)
        header.append(contentsOf: "data".utf8)
        append(pcm.count, bytes: 4)
        return header + pcm
    }

    /// PCM (8/16/24/32-bit integer or 32-bit float, any channels, any rate) as 16 kHz mono PCM16: channels
    /// averaged, resampled linearly. Nil for a format it does not know.
    public static func pcm16Mono16k(_ contents: Contents) -> Data? {
        let channels = max(1, contents.channels)
        let width = contents.bitsPerSample / 8
        guard width >= 1, width <= 4, contents.sampleRate > 0 else { return nil }
        let bytes = [UInt8](contents.samples)
        let frames = bytes.count / (width * channels)
        func sample(_ frame: Int, _ channel: Int) -> Float {
            let at = (frame * channels + channel) * width
            switch (contents.format, width) {
            case (3, 4):
                let bits = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
                return Float(bitPattern: bits)
            case (_, 1):
                return (Float(bytes[at]) - 128) / 128
            case (_, 2):
                return Float(Int16(bitPattern: UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8)) / 32768
            case (_, 3):
                let value = Int32(bitPattern: UInt32(bytes[at]) << 8 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 24)
                return Float(value) / 2_147_483_648
            default:
                let value = Int32(bitPattern: UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24)
                return Float(value) / 2_147_483_648
            }
        }
        guard contents.format == 1 || (contents.format == 3 && width == 4) else { return nil }
        var mono = [Float](repeating: 0, count: frames)
        for frame in 0..<frames {
            var sum: Float = 0
            for channel in 0..<channels { sum += sample(frame, channel) }
            mono[frame] = sum / Float(channels)
        }
        let target = SpeechAudio.sampleRate
        let outputCount = frames == 0 ? 0 : Int((Int64(frames) * Int64(target)) / Int64(contents.sampleRate))
        var output = Data(capacity: outputCount * 2)
        let step = Double(contents.sampleRate) / Double(target)
        for index in 0..<outputCount {
            let position = Double(index) * step
            let left = min(Int(position), frames - 1)
            let right = min(left + 1, frames - 1)
            let fraction = Float(position - Double(left))
            let value = mono[left] + (mono[right] - mono[left]) * fraction
            let clipped = Int16(max(-32768, min(32767, (value * 32768).rounded())))
            let bits = UInt16(bitPattern: clipped)
            output.append(UInt8(bits & 0xFF))
            output.append(UInt8(bits >> 8))
        }
        return output
    }
}
