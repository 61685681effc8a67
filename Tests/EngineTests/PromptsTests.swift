import AmigoWire
import Engine
import Testing

@Suite struct PromptsTests {
    var context: PromptContext {
        PromptContext(
            persona: Fixture.persona,
            user: UserProfile(name: "Grace", additionalContext: ["Prefers mornings", "Allergic to penicillin"]),
            history: [
                Fixture.message(.agentMessage, "Hi, I am Ada."),
                Fixture.message(.externalEvent, "Lab results arrived"),
                Fixture.message(.userMessage, "Can I come tomorrow?"),
            ]
        )
    }

    var start: ActionState {
        guard case .action(let state) = Fixture.clinic.states[0] else { fatalError("fixture") }
        return state.merging(globalsOf: Fixture.clinic)
    }

    @Test func everyConversationPromptCarriesThePersonaAndTheUsersContext() {
        guard case .decision(let triage) = Fixture.clinic.states[1],
              case .reflection(let think) = Fixture.clinic.states[3] else { fatalError("fixture") }
        let prompts = [
            Prompts.selectNextAction(start, context: context),
            Prompts.decide(triage, context: context),
            Prompts.engageUser(start, action: "Greet the patient", context: context),
            Prompts.reflect(think, context: context),
        ]
        for prompt in prompts {
            let system = prompt.messages[0].content
            #expect(system.contains("You are Ada, clinic assistant"), "\(prompt.kind)")
            #expect(system.contains("Allergic to penicillin"), "\(prompt.kind)")
        }
    }

    @Test func selectNextActionNumbersActionsThenExitsAndConstrainsTheAnswer() {
        let prompt = Prompts.selectNextAction(start, context: context)
        let question = prompt.messages[1].content
        #expect(question.contains("1. Do now: Greet the patient"))
        #expect(question.contains("2. Do now: Ask how to help"))
        #expect(question.contains("3. Move on, because: The patient wants to book a visit"))
        #expect(question.contains("User: Can I come tomorrow?"))
        guard case .json(_, .object(let schema)) = prompt.output,
              case .object(let properties)? = schema["properties"],
              case .object(let choice)? = properties["choice"] else {
            Issue.record("the answer must be constrained by a JSON schema")
            return
        }
        #expect(choice["enum"] == [1, 2, 3])
    }

    @Test func engageUserCarriesPersonaActionGuidelinesAndTheConversation() {
        let prompt = Prompts.engageUser(start, action: "Greet the patient", context: context)
        let system = prompt.messages[0].content
        for expected in [
            "Ada has helped patients book visits", "Ask one question at a time", "Short sentences",
            "What to do in this reply: Greet the patient", "Be warm", "Never give medical advice", "Do not discuss prices",
        ] {
            #expect(system.contains(expected), "missing \(expected)")
        }
        #expect(prompt.messages.dropFirst().map(\.role) == [.assistant, .user, .user])
        #expect(prompt.messages[2].content.contains("Lab results arrived"))
        #expect(prompt.output == .text)
    }

    @Test func theOpeningTurnAsksTheAgentToSpeakFirst() {
        var opening = context
        opening.history = []
        let prompt = Prompts.engageUser(start, action: "Greet the patient", context: opening)
        #expect(prompt.messages.last?.role == .user)
        #expect(prompt.messages.last?.content.contains("Speak first") == true)
    }

    @Test func reflectionStatesTheWordLimit() {
        guard case .reflection(let think) = Fixture.clinic.states[3] else { fatalError("fixture") }
        let prompt = Prompts.reflect(think, context: context)
        #expect(prompt.messages[1].content.contains("at most 5 words"))
    }

    @Test func conversationStartersAskForTheRequestedCount() {
        let prompt = Prompts.conversationStarters(
            persona: Fixture.persona, serviceDescription: "Clinic", facets: ["booking", "billing"],
            minCount: 2, maxCount: 4, instructions: "Be concrete"
        )
        guard case .json(_, .object(let schema)) = prompt.output,
              case .object(let properties)? = schema["properties"],
              case .object(let prompts)? = properties["prompts"] else {
            Issue.record("the answer must be constrained by a JSON schema")
            return
        }
        #expect(prompts["minItems"] == 2)
        #expect(prompts["maxItems"] == 4)
    }
}
