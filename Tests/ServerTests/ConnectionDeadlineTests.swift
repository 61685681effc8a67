import NIOHTTP1
import Testing
@testable import Server

@Suite("Connection deadlines")
struct ConnectionDeadlineTests {
    var deadlines: RequestDeadlines {
        var deadlines = RequestDeadlines()
        deadlines.head = .seconds(10)
        deadlines.body = .seconds(30)
        return deadlines
    }

    @Test func aConnectionThatNeverCompletesItsFirstHeadIsClosed() {
        var state = ConnectionDeadlineState(deadlines: deadlines)
        #expect(state.opened() == .arm(.seconds(10)))
        #expect(state.readComplete() == .none, "bytes of an incomplete head arm nothing more")
        #expect(state.timerFired() == .close)
    }

    @Test func aRequestThatArrivesWholeArmsNoBodyTimer() {
        var state = ConnectionDeadlineState(deadlines: deadlines)
        _ = state.opened()
        #expect(state.receivedHead() == .cancelTimer)
        #expect(state.receivedEnd() == .none)
        #expect(state.readComplete() == .none)
        #expect(state.timerFired() == .none, "a stale timer between requests closes nothing")
    }

    @Test func aBodyThatTricklesInIsCutAtTheBodyDeadline() {
        var state = ConnectionDeadlineState(deadlines: deadlines)
        _ = state.opened()
        _ = state.receivedHead()
        #expect(state.readComplete() == .arm(.seconds(30)))
        #expect(state.readComplete() == .none, "one timer per request, not one per read")
        #expect(state.timerFired() == .close)
    }

    @Test func aBodyThatCompletesInTimeCancelsItsTimer() {
        var state = ConnectionDeadlineState(deadlines: deadlines)
        _ = state.opened()
        _ = state.receivedHead()
        _ = state.readComplete()
        #expect(state.receivedEnd() == .cancelTimer)
        #expect(state.receivedHead() == .cancelTimer)
        #expect(state.readComplete() == .arm(.seconds(30)), "the next request gets its own deadline")
    }

    @Test func aMalformedFirstRequestIsAnsweredHereAndLaterOnesAreLeftToHummingbird() {
        var first = ConnectionDeadlineState(deadlines: deadlines)
        _ = first.opened()
        #expect(first.parseFailed(HTTPParserError.headerOverflow) == .reject(.requestHeaderFieldsTooLarge))
        var invalid = ConnectionDeadlineState(deadlines: deadlines)
        _ = invalid.opened()
        #expect(invalid.parseFailed(HTTPParserError.invalidCharactersUsed) == .reject(.badRequest))
        var later = ConnectionDeadlineState(deadlines: deadlines)
        _ = later.opened()
        _ = later.receivedHead()
        _ = later.receivedEnd()
        #expect(later.parseFailed(HTTPParserError.invalidCharactersUsed) == .none)
    }

    @Test func anUpgradedSocketLeavesTheGuard() {
        var state = ConnectionDeadlineState(deadlines: deadlines)
        _ = state.opened()
        _ = state.receivedHead()
        _ = state.receivedEnd()
        #expect(state.upgraded() == .remove)
        #expect(state.timerFired() == .none)
    }
}
