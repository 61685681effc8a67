import AmigoWire
import Engine
import Testing

@Suite struct GraphNavigatorTests {
    @Test func aNewConversationStartsByChoosingInTheNewUserInitialState() {
        var navigator = GraphNavigator(graphs: Fixture.graphs, position: .initial(in: Fixture.graphs, returningUser: false))
        let step = navigator.start()
        guard case .select(let state) = step.action else {
            Issue.record("expected a selection, got \(step.action)")
            return
        }
        #expect(state.name == "start")
        #expect(step.transitions.isEmpty)
    }

    @Test func aReturningUserStartsInTheReturningUserInitialState() {
        let position = GraphPosition.initial(in: Fixture.graphs, returningUser: true)
        #expect(position.state == "wrap")
    }

    @Test func globalGuidelinesAreMergedIntoEveryActionState() {
        var navigator = GraphNavigator(graphs: Fixture.graphs, position: .initial(in: Fixture.graphs, returningUser: false))
        guard case .select(let state) = navigator.start().action else {
            Issue.record("expected a selection")
            return
        }
        #expect(state.actionGuidelines == ["Be warm", "Never give medical advice"])
        #expect(state.boundaryConstraints == ["Do not discuss prices"])
    }

    @Test func choosingAnActionEngagesWithoutMoving() {
        var navigator = GraphNavigator(graphs: Fixture.graphs, position: .initial(in: Fixture.graphs, returningUser: false))
        _ = navigator.start()
        let step = navigator.chooseAction(at: 1)
        guard case .engage(let state, let action) = step.action else {
            Issue.record("expected engage, got \(step.action)")
            return
        }
        #expect(state.name == "start")
        #expect(action == "Ask how to help")
        #expect(navigator.position.state == "start")
    }

    @Test func passthroughStatesChainUntilAnActionState() {
        var navigator = GraphNavigator(graphs: Fixture.graphs, position: .initial(in: Fixture.graphs, returningUser: false))
        _ = navigator.start()
        var step = navigator.chooseExit(at: 0)
        #expect(step.transitions.map(\.toState) == ["triage"])
        #expect(step.transitions.first?.exitCondition == "The patient wants to book a visit")
        step = navigator.chooseExit(at: 0)
        guard case .annotate = step.action else { Issue.record("expected annotate, got \(step.action)"); return }
        step = navigator.finishPassthrough()
        guard case .reflect = step.action else { Issue.record("expected reflect, got \(step.action)"); return }
        step = navigator.finishPassthrough()
        guard case .recall = step.action else { Issue.record("expected recall, got \(step.action)"); return }
        step = navigator.finishPassthrough()
        guard case .select(let book) = step.action else { Issue.record("expected select, got \(step.action)"); return }
        #expect(book.name == "book")
        #expect(navigator.transitionCount == 5)
    }

    @Test func aReferenceEntersTheOtherGraphAndJumpsBackAtItsTerminalState() {
        var navigator = GraphNavigator(graphs: Fixture.graphs, position: .initial(in: Fixture.graphs, returningUser: false))
        _ = navigator.start()
        _ = navigator.chooseExit(at: 0)
        let into = navigator.chooseExit(at: 1)
        #expect(into.transitions.map(\.toGraph) == [Fixture.billing])
        #expect(navigator.position.returnStack == [.init(graph: Fixture.root, jumpbackState: "wrap")])
        guard case .select(let intake) = into.action else { Issue.record("expected select"); return }
        #expect(intake.name == "intake")

        let back = navigator.chooseExit(at: 0)
        #expect(back.transitions.map(\.toState) == ["finish", "wrap"])
        #expect(back.transitions.map(\.isJumpback) == [false, true])
        #expect(navigator.position == GraphPosition(graph: Fixture.root, state: "wrap"))
        #expect(!navigator.isAtTerminalState)
    }

    @Test func theRootTerminalStateEndsTheSession() {
        var navigator = GraphNavigator(graphs: Fixture.graphs, position: GraphPosition(graph: Fixture.root, state: "wrap"))
        _ = navigator.start()
        _ = navigator.chooseExit(at: 0)
        #expect(navigator.isAtTerminalState)
    }

    @Test func aRunawayGraphFailsAtTheTransitionBound() {
        var navigator = GraphNavigator(
            graphs: Fixture.runaway, position: .initial(in: Fixture.runaway, returningUser: false), maxTransitions: 10
        )
        _ = navigator.start()
        var step = navigator.chooseExit(at: 0)
        var rounds = 0
        while case .annotate = step.action, rounds < 100 {
            step = navigator.finishPassthrough()
            rounds += 1
        }
        #expect(step.action == .fail(.tooManyTransitions(10)))
        #expect(rounds == 10)
    }

    @Test func inputsOutOfOrderFailInsteadOfCrashing() {
        var navigator = GraphNavigator(graphs: Fixture.graphs, position: .initial(in: Fixture.graphs, returningUser: false))
        #expect(navigator.finishPassthrough().action == .fail(.outOfOrder("finishPassthrough")))
        var other = GraphNavigator(graphs: Fixture.graphs, position: .initial(in: Fixture.graphs, returningUser: false))
        _ = other.start()
        #expect(other.chooseAction(at: 7).action == .fail(.outOfOrder("chooseAction")))
    }

    @Test func anUnknownStateIsAFailure() {
        var navigator = GraphNavigator(graphs: Fixture.graphs, position: GraphPosition(graph: Fixture.root, state: "gone"))
        #expect(navigator.start().action == .fail(.unknownState("gone", Fixture.root)))
    }
}
