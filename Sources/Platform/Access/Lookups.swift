import AmigoWire
import Storage

extension Repositories {
    /// 404 unless every service of `ids` exists in the organization.
    func requireServices(_ ids: [String], orgID: String) async throws {
        for id in ids where try await services.get(id: id, orgID: orgID) == nil {
            throw PlatformError.notFound("Service `\(id)` does not exist.")
        }
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    var uniqued: [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}

/// Free-text search over a resource's name and one other text, as the `search-*` listings rank it.
enum SearchText {
    /// The lowercased words (letters and digits) of `text`.
    static func words(_ text: String) -> Set<String> {
        Set(text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init))
    }

    /// How well `terms` match: 3 for each term in the name, 1 for each in the other text; 0 = no match.
    static func score(_ terms: Set<String>, name: String, other: String) -> Int {
        let nameWords = words(name), otherWords = words(other)
        return terms.reduce(0) { $0 + (nameWords.contains($1) ? 3 : 0) + (otherWords.contains($1) ? 1 : 0) }
    }
}
