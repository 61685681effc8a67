import AmigoWire
import Foundation

/// Finds the user's memories that answer questions: by meaning when the memories have embeddings, else
/// the newest.
public protocol MemorySearch: Sendable {
    /// At most `limit` facts about the user, the best answers to `queries` first.
    func facts(answering queries: [String], limit: Int) async throws -> [String]
}

extension InteractionRun {
    /// How many memories one question is answered from.
    static let memoryFactsPerSearch = 10

    /// Active memory before navigating an action state.
    ///
    /// Rules:
    /// - A user without memories (no analysed earlier conversation) costs no model call: the event says
    ///   no query was needed.
    /// - Otherwise the model says whether the user's last message needs facts from earlier conversations;
    ///   if so it writes the questions, the memories that best answer them are searched, and the model
    ///   answers each from them ("Unknown" when they do not say). Known answers join the working memory.
    mutating func checkActiveMemory() async throws {
        guard !request.memoryFacts.isEmpty,
              context.history.contains(where: { $0.messageType == .userMessage || $0.messageType == .externalEvent }) else {
            try await act(.checkIfActiveMemoryNeededCompleted(queries: []))
            return
        }
        struct Needed: Decodable { var needed: Bool }
        let needed = try await structured(Prompts.checkActiveMemoryNeeded(context: context), as: Needed.self).needed
        guard needed else {
            try await act(.checkIfActiveMemoryNeededCompleted(queries: []))
            return
        }
        let queries = try await structured(
            Prompts.recallQueries(requestedInformation: "What is known about the user that matters for their last message", context: context),
            as: QueryList.self
        ).queries
        try await act(.checkIfActiveMemoryNeededCompleted(queries: queries))
        let pairs = try await answerFromMemories(queries)
        try await act(.extractActiveMemoriesCompleted(queriesAndResponses: pairs))
        let known = pairs.filter { $0.response != "Unknown" }.map { WorkingMemory(content: $0.response, context: $0.query) }
        recalled += known
        context.workingMemory += known
    }

    /// Each query's answer from the user's memories ("Unknown" when none says).
    func answerFromMemories(_ queries: [String]) async throws -> [QueryAndResponse] {
        var answers = Array(repeating: "Unknown", count: queries.count)
        guard !queries.isEmpty, !request.memoryFacts.isEmpty else {
            return zip(queries, answers).map { QueryAndResponse(query: $0, response: $1) }
        }
        var facts = request.memoryFacts
        if let search = request.memorySearch,
           let found = try? await search.facts(answering: queries, limit: Self.memoryFactsPerSearch), !found.isEmpty {
            facts = found
        }
        let prompt = Prompts.extractMemories(queries: queries, facts: facts)
        let answered = try await structured(prompt, as: AnswerList.self).answers
        for (index, answer) in answered.prefix(queries.count).enumerated() { answers[index] = answer }
        return zip(queries, answers).map { QueryAndResponse(query: $0, response: $1) }
    }
}
