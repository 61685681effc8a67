import AmigoWire
import Engine
import Foundation
import NIOCore
import Platform

/// The audio of a REST voice message (`request_format=voice`): the `recorded_message` file of the form,
/// read as `request_audio_config` describes it.
///
/// Rules:
/// - A RIFF/WAVE header makes it WAV, whatever the config says (the config can only say `mp3` or `pcm`).
/// - `{"type": "pcm", "frame_rate", "n_channels": 1, "sample_width": 2|4}` makes it raw PCM; a config that
///   breaks the API document's bounds is 422.
/// - `{"type": "mp3"}`, an `audio/mpeg` part or an MP3 header makes it MP3.
/// - Anything else is 415; an empty file is 400.
enum VoiceInput {
    /// `request_audio_config`, which the official SDK sends as JSON in the query.
    struct AudioConfig: Decodable {
        var type: String
        var frameRate: Int?
        var nChannels: Int?
        var sampleWidth: Int?

        enum CodingKeys: String, CodingKey {
            case type, frameRate = "frame_rate", nChannels = "n_channels", sampleWidth = "sample_width"
        }
    }

    static func config(_ raw: String?) throws -> AudioConfig? {
        guard let raw else { return nil }
        guard let config = try? JSONDecoder().decode(AudioConfig.self, from: Data(raw.utf8)) else {
            throw PlatformError.validation(["query", "request_audio_config"], "Input should be a valid audio config (JSON with `type` mp3 or pcm)", type: "json_invalid")
        }
        switch config.type {
        case "mp3":
            return config
        case "pcm":
            guard let rate = config.frameRate, (4000...44100).contains(rate) else {
                throw PlatformError.validation(["query", "request_audio_config", "pcm", "frame_rate"], "Input should be between 4000 and 44100", type: "greater_than_equal")
            }
            guard config.nChannels == 1 else {
                throw PlatformError.validation(["query", "request_audio_config", "pcm", "n_channels"], "Input should be 1", type: "literal_error")
            }
            guard config.sampleWidth == 2 || config.sampleWidth == 4 else {
                throw PlatformError.validation(["query", "request_audio_config", "pcm", "sample_width"], "Input should be 2 or 4", type: "enum")
            }
            return config
        default:
            throw PlatformError.validation(["query", "request_audio_config", "type"], "Input tag '\(config.type)' found using 'type' does not match any of the expected tags: 'mp3', 'pcm'", type: "union_tag_invalid")
        }
    }

    static func clip(_ body: ByteBuffer, contentType: String?, config: AudioConfig?) throws -> AudioClip {
        guard body.readableBytes > 0 else { throw PlatformError.badRequest("The user message is empty.") }
        let data = Data(body.readableBytesView)
        if WAV.isWAV(data) { return AudioClip(data: data, encoding: .wav) }
        if config?.type == "pcm", let rate = config?.frameRate, let width = config?.sampleWidth {
            return AudioClip(data: data, encoding: .pcm(sampleRate: rate, channels: 1, sampleWidth: width))
        }
        let declared = contentType?.lowercased() ?? ""
        if config?.type == "mp3" || declared.hasPrefix("audio/mpeg") || declared.hasPrefix("audio/mp3") || looksLikeMP3(data) {
            return AudioClip(data: data, encoding: .mp3)
        }
        throw PlatformError.unsupportedMediaType(
            "The format of the supplied audio file is not supported: send WAV, MP3, or raw PCM described by request_audio_config."
        )
    }

    /// An ID3 tag or an MPEG audio frame header at the start.
    static func looksLikeMP3(_ data: Data) -> Bool {
        let bytes = [UInt8](data.prefix(3))
        guard bytes.count >= 2 else { return false }
        if bytes.count == 3, bytes == Array("ID3".utf8) { return true }
        return bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0
    }
}
