import Testing

@testable import ToolRepository

@Suite("Reading the CGI header block")
struct CGIResponseHeadTests {
    @Test func aStatusFieldSetsTheStatusAndTheRestAreHeaders() throws {
        var parser = CGIResponseHead.Parser()
        let output = Array(
            "Status: 404 Not Found\r\nContent-Type: text/plain\r\nExpires: Fri, 01 Jan 1980 00:00:00 GMT\r\n\r\nRepository not found"
                .utf8
        )

        let (head, body) = try #require(try parser.consume(output))

        #expect(head.status == 404)
        #expect(head.headers == [
            GitHTTPHeader(name: "Content-Type", value: "text/plain"),
            GitHTTPHeader(name: "Expires", value: "Fri, 01 Jan 1980 00:00:00 GMT"),
        ])
        #expect(body == Array("Repository not found".utf8))
    }

    @Test func withoutAStatusFieldTheStatusIs200() throws {
        var parser = CGIResponseHead.Parser()
        let (head, body) = try #require(try parser.consume(Array("Content-Type: a/b\n\n0000".utf8)))
        #expect(head.status == 200)
        #expect(head.headers == [GitHTTPHeader(name: "Content-Type", value: "a/b")])
        #expect(body == Array("0000".utf8))
    }

    @Test(arguments: [1, 2, 3, 5])
    func aHeadSplitAcrossReadsIsFoundWhereverItIsCut(_ size: Int) throws {
        var parser = CGIResponseHead.Parser()
        let output = Array("Status: 403 Forbidden\r\nCache-Control: no-cache\r\n\r\nPACK".utf8)
        var result: (head: CGIResponseHead, body: [UInt8])?
        var rest: [UInt8] = []
        for start in stride(from: 0, to: output.count, by: size) {
            let piece = Array(output[start..<min(start + size, output.count)])
            if result != nil {
                rest += piece
            } else {
                result = try parser.consume(piece)
            }
        }
        let (head, body) = try #require(result)
        #expect(head.status == 403)
        #expect(head.headers == [GitHTTPHeader(name: "Cache-Control", value: "no-cache")])
        #expect(body + rest == Array("PACK".utf8))
    }

    @Test func anIncompleteHeadWaitsForMore() throws {
        var parser = CGIResponseHead.Parser()
        #expect(try parser.consume(Array("Content-Type: a/b\r\n".utf8)) == nil)
    }

    @Test(arguments: ["no colon here\r\n\r\n", "Status: abc\r\n\r\n", "Status: 42\r\n\r\n"])
    func aMalformedHeadIsAGitFailure(_ output: String) {
        var parser = CGIResponseHead.Parser()
        #expect(throws: ToolRepositoryError.gitFailed) { try parser.consume(Array(output.utf8)) }
    }

    @Test func anEndlessHeadIsRefused() {
        var parser = CGIResponseHead.Parser()
        #expect(throws: ToolRepositoryError.gitFailed) {
            try parser.consume(Array(repeating: UInt8(ascii: "a"), count: 70_000))
        }
    }
}
