import AmigoWire

/// How a client describes its audio: REST's `request_audio_config` (`{"type": "pcm", "frame_rate",
/// "n_channels", "sample_width"}` or `{"type": "mp3"}`) and the socket's `audio_config` (`format` for
/// `type`, `sample_rate` for `frame_rate`). One rule set for both; each caller says a failure its own way
/// (REST a 422 naming the field, the socket close 4015).
///
/// Rules:
/// - `format` or `type` is `mp3` or `pcm`; anything else fails as `.format`.
/// - PCM: mono (`n_channels` 1), `sample_width` 2 or 4, a rate in `sampleRates`: the API document's
///   4,000…44,100 for REST; the socket also takes 48,000, the rate browsers capture at.
/// - `requiresAllFields` (REST, whose schema requires them): a missing rate, width or channel count fails;
///   otherwise they default to 16 kHz, 16-bit, mono.
public enum AudioConfig {
    public enum Failure: Error, Equatable, Sendable {
        /// Not `mp3`/`pcm`; the value given, if any.
        case format(String?)
        case sampleRate
        case channels
        case sampleWidth
    }

    public static let restSampleRates = 4000...44100
    public static let socketSampleRates = 4000...48000

    public static func encoding(
        of config: JSONValue, requiresAllFields: Bool, sampleRates: ClosedRange<Int>
    ) -> Result<AudioClip.Encoding, Failure> {
        guard case .object(let fields) = config else { return .failure(.format(nil)) }
        func int(_ keys: String...) -> Int?? {
            for key in keys {
                guard let value = fields[key] else { continue }
                if case .number(let number) = value, number == number.rounded(), abs(number) < 1e9 { return .some(Int(number)) }
                return .some(nil)  // present but not an integer
            }
            return nil
        }
        switch fields["format"] ?? fields["type"] {
        case .string("mp3")?:
            return .success(.mp3)
        case .string("pcm")?:
            func value(_ given: Int??, default fallback: Int) -> Int? {
                switch given {
                case .none: requiresAllFields ? nil : fallback
                case .some(let value): value
                }
            }
            guard let rate = value(int("sample_rate", "frame_rate"), default: 16_000), sampleRates.contains(rate) else {
                return .failure(.sampleRate)
            }
            guard value(int("n_channels"), default: 1) == 1 else { return .failure(.channels) }
            guard let width = value(int("sample_width"), default: 2), width == 2 || width == 4 else { return .failure(.sampleWidth) }
            return .success(.pcm(sampleRate: rate, channels: 1, sampleWidth: width))
        case .string(let other)?:
            return .failure(.format(other))
        default:
            return .failure(.format(nil))
        }
    }
}
