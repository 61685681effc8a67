import AmigoWire
import Engine
import Foundation
import Synchronization
import Testing
import EngineTesting

/// Active memory before the reply: the user's memories from earlier conversations, searched and
/// answered only when the model says the last message needs them.
@Suite struct ActiveMemoryTests {
    let model = ScriptedModel()
    var runner: InteractionRunner { InteractionRunner(models: LanguageModels(default: model)) }

    final class Search: MemorySearch {
        let queries = Mutex<[[String]]>([])
        func facts(answering queries: [String], limit: Int) async throws -> [String] {
            self.queries.withLock { $0.append(queries) }
            return ["The user goes to the Northside clinic"]
        }
    }

    @Test func aMessageThatNeedsMemoriesGetsThemSearchedAnsweredAndIntoTheReply() async throws {
        model.script(.checkIfActiveMemoryNeeded, .raw(#"{"needed": true}"#))
        model.script(.generateRecallQueries, .raw(#"{"queries": ["Which clinic does the user go to?"]}"#))
        model.script(.extractActiveMemories, .raw(#"{"answers": ["Northside"]}"#))
        model.script(.selectNextAction, .choice(1))
        var request = Fixture.request(saying: "Book me at my usual clinic", facts: ["Old fact", "The user goes to the Northside clinic"])
        let search = Search()
        request.memorySearch = search
        let log = EventLog()
        let outcome = try await runner.run(request, into: log)

        #expect(search.queries.withLock { $0 } == [["Which clinic does the user go to?"]])
        let facts = model.requests(of: .extractActiveMemories).first?.messages.last?.content ?? ""
        #expect(facts.contains("Northside clinic"))
        #expect(!facts.contains("Old fact"), "only what the search found")
        #expect(outcome.insights.workingMemory == [WorkingMemory(content: "Northside", context: "Which clinic does the user go to?")])
        let types = await log.actionTypes
        #expect(types.contains("extract-active-memories-completed"))
        let system = model.requests(of: .engageUser).first?.messages.first?.content ?? ""
        #expect(system.contains("Northside"))
    }

    @Test func aMessageThatNeedsNoMemoryAsksNothingMore() async throws {
        model.script(.checkIfActiveMemoryNeeded, .raw(#"{"needed": false}"#))
        model.script(.selectNextAction, .choice(1))
        let log = EventLog()
        _ = try await runner.run(Fixture.request(saying: "Hello", facts: ["The user goes to the Northside clinic"]), into: log)
        #expect(model.requests(of: .generateRecallQueries).isEmpty)
        #expect(model.requests(of: .extractActiveMemories).isEmpty)
        #expect(!(await log.actionTypes).contains("extract-active-memories-completed"))
    }

    @Test func aUserWithoutMemoriesCostsNoModelCall() async throws {
        model.script(.selectNextAction, .choice(1))
        let log = EventLog()
        _ = try await runner.run(Fixture.request(saying: "Hello", facts: []), into: log)
        #expect(model.requests(of: .checkIfActiveMemoryNeeded).isEmpty)
        #expect((await log.actionTypes).contains("check-if-active-memory-needed-completed"))
    }
}
