import AmigoWire
import CompadreTesting
import Engine
import EngineTesting
import Foundation
import HTTPTypes
import Platform
import Server
import Storage
import StorageTesting
import Testing

/// A conversation whose agent has a voice (`amy-voice`, spoken by the engine's `joe`), on a server
/// whose speech engines are `speech`.
struct VoiceSetup {
    var conversation: ConversationSetup
    var id: String
    var speech: ScriptedSpeech

    static func engines(_ speech: ScriptedSpeech) -> SpeechEngines {
        SpeechEngines(speechToText: speech, textToSpeech: speech, voiceActivity: speech, voices: ["amy-voice": "joe"])
    }

    static func make(_ server: TestServer, _ client: TestServer.Client, speech: ScriptedSpeech, voice: Bool = true) async throws -> VoiceSetup {
        let admin = try await server.bootstrap()
        let token = try await client.signIn(admin)
        let org = admin.organizationID
        let (agent, _, service) = try await makeService(client, org: org, token: token)
        if voice {
            var version = agentVersion
            version["voice_config"] = ["voice_id": "amy-voice", "stability": 0.5, "similarity_boost": 0.7, "style": 0.1]
            let posted = try await client.call(.post, "/v1/\(org)/organization/agent/\(agent)/", token: token, json: version)
            #expect(posted.status == .created, "\(posted.text)")
        }
        let updated = try await client.call(.post, "/v1/\(org)/service/\(service)/", token: token, json: ["keyterms": ["tuesday"]])
        #expect(updated.status == .noContent || updated.status == .ok, "\(updated.text)")
        let setup = ConversationSetup(org: org, token: token, service: service, admin: admin)
        let id = try conversationID(of: try await setup.create(client))
        return VoiceSetup(conversation: setup, id: id, speech: speech)
    }

    func interact(_ client: TestServer.Client, audio: Data, contentType: String = "audio/wav", query: String) async throws -> TestServer.Client.Answer {
        try await client.interactByVoice(
            org: conversation.org, conversation: id, token: conversation.token, audio: audio, contentType: contentType, query: query
        )
    }

    func messages(_ client: TestServer.Client) async throws -> [[String: Any]] {
        try await conversation.messages(client, id)
    }
}

/// Half a second of quiet 16 kHz speech-shaped audio as a WAV file.
let spokenWAV = WAV.file(pcm: Data(repeating: 1, count: 16_000), sampleRate: 16_000)

@Suite("Voice over REST")
struct VoiceTests {
    @Test(arguments: TestDatabase.available)
    func aVoiceMessageIsTranscribedWithTheKeyTermsAndStoredAsTheUsersMessage(engine: TestDatabase) async throws {
        try await engine.with { database in
            let speech = ScriptedSpeech(transcript: "I need a visit on Tuesday")
            let server = try await TestServer(database: database, speech: VoiceSetup.engines(speech))
            try await server.test { client in
                let voice = try await VoiceSetup.make(server, client, speech: speech)
                let answer = try await voice.interact(client, audio: spokenWAV, query: "request_format=voice&response_format=text")
                #expect(answer.status == .ok)
                let events = try answer.events()
                #expect(events.first?["type"] as? String == "user-message-available")
                #expect(events.first?["user_message"] as? String == "I need a visit on Tuesday")
                #expect(try answer.eventTypes().last == "interaction-complete")
                let heard = try #require(speech.transcriptions.first)
                #expect(heard.audio.encoding == .wav)
                #expect(heard.audio.data == spokenWAV)
                #expect(heard.keyterms == ["tuesday"])
                #expect(heard.language == "eng")
                let user = try #require(try await voice.messages(client).first { $0["message_type"] as? String == "user-message" })
                #expect(user["message"] as? String == "I need a visit on Tuesday")
                #expect(user["format"] as? String == "voice")
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func rawPCMIsReadAsItsAudioConfigSaysAndMP3ByItsType(engine: TestDatabase) async throws {
        try await engine.with { database in
            let speech = ScriptedSpeech(transcript: "Hello")
            let server = try await TestServer(database: database, speech: VoiceSetup.engines(speech))
            try await server.test { client in
                let voice = try await VoiceSetup.make(server, client, speech: speech)
                let config = #"{"type":"pcm","frame_rate":8000,"n_channels":1,"sample_width":2}"#
                let query = "request_format=voice&response_format=text&request_audio_config=" + config.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let pcm = try await voice.interact(client, audio: Data(repeating: 3, count: 1600), contentType: "application/octet-stream", query: query)
                #expect(pcm.status == .ok)
                let mp3 = try await voice.interact(client, audio: Data([0x49, 0x44, 0x33, 4, 0, 0]), contentType: "audio/mpeg", query: "request_format=voice&response_format=text")
                #expect(mp3.status == .ok)
                #expect(speech.transcriptions.map(\.audio.encoding) == [.pcm(sampleRate: 8000, channels: 1, sampleWidth: 2), .mp3])
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aClientThatAsksForMP3GetsEachSentenceAsMP3Frames(engine: TestDatabase) async throws {
        try await engine.with { database in
            let speech = ScriptedSpeech(transcript: "Hello")
            let model = ScriptedModel(defaultReply: ["Sure. When", " works for you?"])
            var engines = VoiceSetup.engines(speech)
            engines.encoder = speech
            let server = try await TestServer(database: database, model: model, speech: engines)
            try await server.test { client in
                let voice = try await VoiceSetup.make(server, client, speech: speech)
                let answer = try await client.interact(
                    org: voice.conversation.org, conversation: voice.id, token: voice.conversation.token, text: "Hi",
                    query: "request_format=text&response_format=voice&response_audio_format=mp3"
                )
                #expect(answer.status == .ok)
                let pieces = try answer.events().filter { $0["type"] as? String == "new-message" }
                let sentences = ["Sure.", "When works for you?"]
                #expect(pieces.count == 2)
                for (index, piece) in pieces.enumerated() {
                    let samples = ScriptedSpeech.audio(for: sentences[index]).count / 2
                    #expect(Data(base64Encoded: piece["message"] as? String ?? "") == ScriptedSpeech.mp3(frames: (samples + 575) / 576))
                }
                // The stored source is still the PCM it was made from.
                let agent = try #require(try await voice.messages(client).last)
                #expect(agent["message"] as? String == "Sure. When works for you?")
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aVoiceReplyStreamsOneSpokenPiecePerSentenceAndStoresTheText(engine: TestDatabase) async throws {
        try await engine.with { database in
            let speech = ScriptedSpeech(transcript: "Hello")
            let model = ScriptedModel(defaultReply: ["Sure. I can", " help with that! When", " works for you?"])
            let server = try await TestServer(database: database, model: model, speech: VoiceSetup.engines(speech))
            try await server.test { client in
                let voice = try await VoiceSetup.make(server, client, speech: speech)
                let answer = try await client.interact(
                    org: voice.conversation.org, conversation: voice.id, token: voice.conversation.token, text: "Hi",
                    query: "request_format=text&response_format=voice"
                )
                #expect(answer.status == .ok)
                let sentences = ["Sure.", "I can help with that!", "When works for you?"]
                #expect(speech.spoken.map(\.text) == sentences)
                #expect(speech.spoken.allSatisfy { $0.voice == "joe" })
                let pieces = try answer.events().filter { $0["type"] as? String == "new-message" }
                #expect(pieces.count == 3)
                for (index, piece) in pieces.enumerated() {
                    #expect(Data(base64Encoded: piece["message"] as? String ?? "") == ScriptedSpeech.audio(for: sentences[index]))
                    #expect(piece["sequence_number"] as? Int == index)
                    #expect(piece["stop"] as? Bool == (index == 2))
                }
                let complete = try #require(try answer.events().last)
                #expect(complete["full_message"] as? String == "Sure. I can help with that! When works for you?")
                let agent = try #require(try await voice.messages(client).last)
                #expect(agent["message"] as? String == "Sure. I can help with that! When works for you?")
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aSynthesisThatFailsFailsTheInteractionAndStoresNothing(engine: TestDatabase) async throws {
        try await engine.with { database in
            let speech = ScriptedSpeech(transcript: "Hello")
            let server = try await TestServer(database: database, speech: VoiceSetup.engines(speech))
            try await server.test { client in
                let voice = try await VoiceSetup.make(server, client, speech: speech)
                let before = try await voice.messages(client).count
                speech.failSynthesis()
                let answer = try await voice.interact(client, audio: spokenWAV, query: "request_format=voice&response_format=voice")
                #expect(try answer.eventTypes().last == "error")
                #expect(try await voice.messages(client).count == before)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func voiceRequestsThatCannotBeServedAreRefusedClearlyAndChangeNothing(engine: TestDatabase) async throws {
        try await engine.with { database in
            let speech = ScriptedSpeech(transcript: "Hello")
            let server = try await TestServer(database: database, speech: VoiceSetup.engines(speech))
            try await server.test { client in
                let voice = try await VoiceSetup.make(server, client, speech: speech)
                let before = try await voice.messages(client).count
                func status(_ audio: Data, _ contentType: String = "audio/wav", query: String) async throws -> HTTPResponse.Status {
                    try await voice.interact(client, audio: audio, contentType: contentType, query: query).status
                }
                let voiceIn = "request_format=voice&response_format=text"
                #expect(try await status(Data(), query: voiceIn) == .badRequest)
                #expect(try await status(Data("just text".utf8), "text/plain", query: voiceIn) == .unsupportedMediaType)
                #expect(try await status(spokenWAV, query: voiceIn + "&request_audio_config=nonsense") == .unprocessableContent)
                let badRate = #"{"type":"pcm","frame_rate":100,"n_channels":1,"sample_width":2}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                #expect(try await status(spokenWAV, query: voiceIn + "&request_audio_config=" + badRate) == .unprocessableContent)
                // MP3 needs an encoder, which these engines lack.
                #expect(try await status(spokenWAV, query: "request_format=voice&response_format=voice&response_audio_format=mp3") == .badRequest)
                #expect(try await status(spokenWAV, query: "request_format=voice&response_format=voice&response_audio_format=ogg") == .unprocessableContent)
                speech.willTranscribe("  ")
                #expect(try await status(spokenWAV, query: voiceIn) == .badRequest)
                #expect(try await voice.messages(client).count == before)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func speechInALanguageTheEngineCannotTranscribeIsTheDocumentsBadRequest(engine: TestDatabase) async throws {
        try await engine.with { database in
            let speech = ScriptedSpeech(transcript: "Hola")
            speech.transcribeOnly(["eng"])
            let server = try await TestServer(database: database, speech: VoiceSetup.engines(speech))
            try await server.test { client in
                let voice = try await VoiceSetup.make(server, client, speech: speech)
                let setup = voice.conversation
                let preferred = try await client.call(
                    .post, "/v1/\(setup.org)/user/\(setup.admin.userID)", token: setup.token, json: ["preferred_language": "spa"]
                )
                #expect(preferred.status == .noContent, "\(preferred.text)")
                let before = try await voice.messages(client).count
                let answer = try await voice.interact(client, audio: spokenWAV, query: "request_format=voice&response_format=text")
                #expect(answer.status == .badRequest)
                #expect(answer.text.contains("The preferred language does not support voice transcription"))
                #expect(try await voice.messages(client).count == before)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func anAgentWithoutAVoiceOrAServerWithoutEnginesCannotSpeak(engine: TestDatabase) async throws {
        try await engine.with { database in
            let speech = ScriptedSpeech(transcript: "Hello")
            let server = try await TestServer(database: database, speech: VoiceSetup.engines(speech))
            try await server.test { client in
                let voiceless = try await VoiceSetup.make(server, client, speech: speech, voice: false)
                let answer = try await voiceless.interact(client, audio: spokenWAV, query: "request_format=voice&response_format=voice")
                #expect(answer.status == .badRequest)
                #expect(answer.text.contains("voice config"))
                let created = try await voiceless.conversation.create(client, query: "response_format=voice")
                #expect(created.status == .badRequest)
            }
            let silent = try await TestServer(database: database)
            try await silent.test { client in
                let voice = try await VoiceSetup.make(silent, client, speech: speech)
                let voiceIn = try await voice.interact(client, audio: spokenWAV, query: "request_format=voice&response_format=text")
                #expect(voiceIn.status == .unsupportedMediaType)
                #expect(voiceIn.text.contains("speech-to-text"))
                let voiceOut = try await voice.interact(client, audio: spokenWAV, query: "request_format=voice&response_format=voice")
                #expect(voiceOut.status == .unsupportedMediaType)
            }
        }
    }

    @Test(arguments: TestDatabase.available)
    func aVoiceMessagesSourceIsAnExpiringLinkToTheAudioThatWasSentOrSpoken(engine: TestDatabase) async throws {
        try await engine.with { database in
            let speech = ScriptedSpeech(transcript: "Hello there")
            let model = ScriptedModel(defaultReply: ["Hi. How", " are you?"])
            let server = try await TestServer(database: database, model: model, speech: VoiceSetup.engines(speech))
            try await server.test { client in
                let voice = try await VoiceSetup.make(server, client, speech: speech)
                let answer = try await voice.interact(client, audio: spokenWAV, query: "request_format=voice&response_format=voice")
                #expect(try answer.eventTypes().last == "interaction-complete")
                let messages = try await voice.messages(client)
                let user = try #require(messages.first { $0["message_type"] as? String == "user-message" })
                let agent = try #require(messages.last)
                #expect(user["format"] as? String == "voice")
                #expect(agent["format"] as? String == "voice")
                let text = try #require(messages.first)
                #expect(text["format"] as? String == "text")

                func source(_ message: [String: Any], _ query: String = "") async throws -> TestServer.Client.Answer {
                    let id = message["id"] as? String ?? ""
                    return try await client.call(.get, "/v1/\(voice.conversation.org)/conversation/\(voice.id)/messages/\(id)/source\(query)", token: voice.conversation.token)
                }
                func fetch(_ url: String) async throws -> TestServer.Client.Answer {
                    let start = try #require(url.range(of: "/media/"))
                    return try await client.call(.get, String(url[start.lowerBound...]))
                }
                let userSource = try await source(user).object()
                #expect(userSource["content_type"] as? String == "audio/wav")
                let userURL = try #require(userSource["url"] as? String)
                #expect(userURL.hasPrefix("http://"))
                let heard = try await fetch(userURL)
                #expect(heard.status == .ok)
                #expect(heard.headers[.contentType] == "audio/wav")
                #expect(heard.body == spokenWAV)

                let spoken = try await fetch(try #require(try await source(agent).object()["url"] as? String))
                let contents = try #require(WAV.read(spoken.body))
                #expect(contents.sampleRate == 16_000)
                #expect(contents.samples == ScriptedSpeech.audio(for: "Hi.") + ScriptedSpeech.audio(for: "How are you?"))

                let expiresAt = try #require(WireCoding.parseDate(try await source(user, "?long_lived=true").object()["expires_at"] as? String ?? ""))
                #expect(expiresAt.timeIntervalSinceNow > 11 * 3600)
                #expect(try await source(text).status == .badRequest)

                #expect(try await fetch(userURL.replacingOccurrences(of: "signature=", with: "signature=0")).status == .forbidden)
                let path = String(userURL[try #require(userURL.range(of: "/media/")).lowerBound...].prefix { $0 != "?" })
                let expired = path + "?" + server.api.links.query(path: path, expires: Date().addingTimeInterval(-1))
                #expect(try await client.call(.get, expired).status == .forbidden)
                let otherMessage = path.replacingOccurrences(of: user["id"] as? String ?? "", with: agent["id"] as? String ?? "")
                #expect(try await fetch(otherMessage + "?" + (userURL.split(separator: "?").last.map(String.init) ?? "")).status == .forbidden)
            }
        }
    }

    @Test func aRealtimeUtteranceIsTranscribedAndAnsweredInTheAgentsVoice() async throws {
        try await TestDatabase.sqlite.with { database in
            let speech = ScriptedSpeech(transcript: "Can I come on Tuesday")
            let model = ScriptedModel(defaultReply: ["Yes. See", " you then."])
            let server = try await TestServer(database: database, model: model, speech: VoiceSetup.engines(speech))
            let voice = try await server.test { client in try await VoiceSetup.make(server, client, speech: speech) }
            let pcm = Data(repeating: 5, count: 3_200)
            try await server.live { port in
                let probe = RealtimeProbe(port: port, org: voice.conversation.org, token: voice.conversation.token)
                let closed = try await probe.connect(query: "response_format=voice") { socket in
                    try await socket.send(["type": "client.continue-conversation", "conversation_id": voice.id])
                    try await socket.next("server.conversation-continued")
                    let config: [String: Any] = ["format": "pcm", "sample_rate": 16_000, "sample_width": 2, "n_channels": 1]
                    try await socket.send(["type": "client.new-audio-message", "audio": pcm.prefix(1_600).base64EncodedString(), "audio_config": config])
                    try await socket.send(["type": "client.new-audio-message", "audio": pcm.suffix(1_600).base64EncodedString()])
                    try await socket.send(["type": "client.new-audio-message", "audio": NSNull()])
                    let heard = try #require(try await socket.next("server.user-message-available"))
                    #expect(heard["user_message"] as? String == "Can I come on Tuesday")
                    let complete = try #require(try await socket.next("server.interaction-complete"))
                    #expect(complete["full_message"] as? String == "Yes. See you then.")
                    let pieces = socket.received.filter { $0["type"] as? String == "server.new-message" }
                    #expect(pieces.map { Data(base64Encoded: $0["message"] as? String ?? "") } == [
                        ScriptedSpeech.audio(for: "Yes."), ScriptedSpeech.audio(for: "See you then."),
                    ])
                    try await socket.send(["type": "client.close-connection"])
                    try await socket.drain()
                }
                #expect(closed?.code == 1000)
            }
            #expect(speech.transcriptions.first?.audio == AudioClip(data: pcm, encoding: .pcm(sampleRate: 16_000, channels: 1, sampleWidth: 2)))
            let format = try await server.test { client in
                try await voice.messages(client).first { $0["message_type"] as? String == "user-message" }?["format"] as? String
            }
            #expect(format == "voice")
        }
    }

    @Test func inVADModeTheServerHearsWhenTheUserStartsAndStopsAndAnswersTheUtterance() async throws {
        try await TestDatabase.sqlite.with { database in
            let speech = ScriptedSpeech(transcript: "Is Tuesday free")
            let server = try await TestServer(database: database, speech: VoiceSetup.engines(speech))
            let voice = try await server.test { client in try await VoiceSetup.make(server, client, speech: speech) }
            // 20 ms chunks: 0.5 s of silence, 0.64 s of loud "speech", 0.7 s of silence.
            func chunks(_ count: Int, _ sample: Int16) -> [Data] {
                var chunk = Data()
                for _ in 0..<320 { withUnsafeBytes(of: sample.littleEndian) { chunk.append(contentsOf: $0) } }
                return Array(repeating: chunk, count: count)
            }
            let stream = chunks(25, 0) + chunks(32, 5_000) + chunks(35, 0)
            try await server.live { port in
                let probe = RealtimeProbe(port: port, org: voice.conversation.org, token: voice.conversation.token)
                let closed = try await probe.connect(query: "response_format=text") { socket in
                    try await socket.send(["type": "client.continue-conversation", "conversation_id": voice.id])
                    try await socket.next("server.conversation-continued")
                    try await socket.send(["type": "client.switch-vad-mode", "vad_mode_on": true])
                    #expect(try await socket.next("server.vad-mode-switched")?["current_vad_mode_on"] as? Bool == true)
                    let config: [String: Any] = ["format": "pcm", "sample_rate": 16_000, "sample_width": 2, "n_channels": 1]
                    for (index, chunk) in stream.enumerated() {
                        var frame: [String: Any] = ["type": "client.new-audio-message", "audio": chunk.base64EncodedString()]
                        if index == 0 { frame["audio_config"] = config }
                        try await socket.send(frame)
                    }
                    let started = try #require(try await socket.next("server.vad-speech-started"))
                    #expect(started["ts_start"] as? Int == 480)
                    let ended = try #require(try await socket.next("server.vad-speech-ended"))
                    #expect(ended["ts_end"] as? Int == 1152)
                    #expect(try await socket.next("server.user-message-available")?["user_message"] as? String == "Is Tuesday free")
                    try await socket.next("server.interaction-complete")
                    try await socket.send(["type": "client.close-connection"])
                    try await socket.drain()
                }
                #expect(closed?.code == 1000)
            }
            // The utterance: 300 ms before the detected start, to where the silence began.
            let heard = try #require(speech.transcriptions.first?.audio)
            #expect(heard.encoding == .pcm(sampleRate: 16_000, channels: 1, sampleWidth: 2))
            let milliseconds = 1152 - 480 + 300
            #expect(heard.data.count == milliseconds * 32)
        }
    }

    @Test func aUserWhoSpeaksOverTheAgentStopsItsVoiceAndOnlyWhatWasHeardIsStored() async throws {
        try await TestDatabase.sqlite.with { database in
            let speech = ScriptedSpeech(transcript: "Wait")
            // Three sentences of 2.5 s each at 10 ms a character: the reply plays for 7.5 s.
            let sentence = String(repeating: "la ", count: 83) + "done."
            let model = ScriptedModel(defaultReply: [sentence, " " + sentence, " " + sentence])
            let clock = ManualClock()
            let server = try await TestServer(database: database, model: model, realtimeClock: AnyClock(clock), speech: VoiceSetup.engines(speech))
            let voice = try await server.test { client in try await VoiceSetup.make(server, client, speech: speech) }
            var chunk = Data()
            for _ in 0..<320 { withUnsafeBytes(of: Int16(5_000).littleEndian) { chunk.append(contentsOf: $0) } }
            let loud = chunk.base64EncodedString()
            try await server.live { port in
                let probe = RealtimeProbe(port: port, org: voice.conversation.org, token: voice.conversation.token)
                try await probe.connect(query: "response_format=voice") { socket in
                    try await socket.send(["type": "client.continue-conversation", "conversation_id": voice.id])
                    try await socket.next("server.conversation-continued")
                    try await socket.send(["type": "client.new-text-message", "text": "Tell me everything", "message_type": "user-message"])
                    // 200 ms pieces, each half a second ahead of the listener: the first three go out at once,
                    // the next ones when playback reaches 100, 300 and 500 ms.
                    for _ in 0..<3 { try await socket.next("server.new-message") }
                    for _ in 0..<3 {
                        // The socket's inactivity timer and the paced reply wait on the clock.
                        await clock.sleepers(atLeast: 2)
                        clock.advance(to: try #require(clock.nextDeadline))
                        try await socket.next("server.new-message")
                    }
                    #expect(clock.elapsed == .milliseconds(500))
                    // The user speaks up half a second into the reply.
                    try await socket.send(["type": "client.switch-vad-mode", "vad_mode_on": true])
                    for _ in 0..<20 { try await socket.send(["type": "client.new-audio-message", "audio": loud]) }
                    try await socket.next("server.vad-speech-started")
                    let complete = try #require(try await socket.next("server.interaction-complete"))
                    let stored = complete["full_message"] as? String ?? ""
                    // What was heard: half a second of the first sentence (254 characters spoken in 2.54 s), 50
                    // characters, which end on a word.
                    #expect(stored == String(sentence.prefix(50)), "\(stored)")
                    // No piece after the interruption: six went out, 1.2 s of audio.
                    let pieces = socket.received.filter { $0["type"] as? String == "server.new-message" }
                        .compactMap { Data(base64Encoded: $0["message"] as? String ?? "") }.filter { !$0.isEmpty }
                    #expect(pieces.count == 6)
                    #expect(pieces.reduce(0) { $0 + $1.count } == 6 * 200 * 32)
                    try await socket.send(["type": "client.close-connection"])
                    try await socket.drain()
                }
            }
            let agent = try await server.test { client in try await voice.messages(client).last?["message"] as? String }
            #expect((agent?.count ?? .max) < 3 * sentence.count)
        }
    }
}
