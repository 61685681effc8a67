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
///   breaks the API document's bounds (``AudioConfig``) is 422 naming the field.
/// - `{"type": "mp3"}`, an `audio/mpeg` part or an MP3 header makes it MP3.
/// - Anything else is 415; an empty file is 400.
enum VoiceInput {
    /// `request_audio_config`, which the official SDK sends as JSON in the query (rules: ``AudioConfig``).
    static func config(_ raw: String?) throws -> AudioClip.Encoding? {
        guard let raw else { return nil }
        let location: [ValidationIssue.Location] = ["query", "request_audio_config"]
        guard let config = try? JSONDecoder().decode(JSONValue.self, from: Data(raw.utf8)), case .object = config else {
            throw PlatformError.validation(location, "Input should be a valid audio config (JSON with `type` mp3 or pcm)", type: "json_invalid")
        }
        switch AudioConfig.encoding(of: config, requiresAllFields: true, sampleRates: AudioConfig.restSampleRates) {
        case .success(let encoding):
            return encoding
        case .failure(.format(let tag)):
            throw PlatformError.validation(
                location + ["type"], "Input tag '\(tag ?? "")' found using 'type' does not match any of the expected tags: 'mp3', 'pcm'",
                type: "union_tag_invalid"
            )
        case .failure(.sampleRate):
            let rates = AudioConfig.restSampleRates
            throw PlatformError.validation(
                location + ["pcm", "frame_rate"], "Input should be between \(rates.lowerBound) and \(rates.upperBound)", type: "greater_than_equal"
            )
        case .failure(.channels):
            throw PlatformError.validation(location + ["pcm", "n_channels"], "Input should be 1", type: "literal_error")
        case .failure(.sampleWidth):
            throw PlatformError.validation(location + ["pcm", "sample_width"], "Input should be 2 or 4", type: "enum")
        }
    }

    static func clip(_ body: ByteBuffer, contentType: String?, config: AudioClip.Encoding?) throws -> AudioClip {
        guard body.readableBytes > 0 else { throw PlatformError.badRequest("The user message is empty.") }
        let data = Data(body.readableBytesView)
        if WAV.isWAV(data) { return AudioClip(data: data, encoding: .wav) }
        if let config, case .pcm = config { return AudioClip(data: data, encoding: config) }
        let declared = contentType?.lowercased() ?? ""
        if config == .mp3 || declared.hasPrefix("audio/mpeg") || declared.hasPrefix("audio/mp3") || looksLikeMP3(data) {
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
