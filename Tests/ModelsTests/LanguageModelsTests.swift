import AmigoWire
import Engine
import Testing

@Suite("LanguageModels.route")
struct LanguageModelsTests {
    struct NamedModel: LanguageModel {
        var name: String
        func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
            AsyncThrowingStream { $0.finish() }
        }
    }

    let models = LanguageModels(
        default: NamedModel(name: "local"),
        named: ["gpt-big": NamedModel(name: "gpt-big"), "gpt-small": NamedModel(name: "gpt-small")]
    )

    @Test func aPreferenceNamingAConfiguredModelRoutesToItWithItsParameters() {
        let route = models.route(.engageUser, preferences: [
            "engage-user": LLMConfig(llmName: "gpt-big", params: ["temperature": .number(0.2)]),
            "generate-reflection": LLMConfig(llmName: "gpt-small"),
        ])
        #expect((route.model as? NamedModel)?.name == "gpt-big")
        #expect(route.parameters == ["temperature": .number(0.2)])
    }

    @Test func aKindWithoutPreferenceGoesToTheDefaultModel() {
        let route = models.route(.selectNextAction, preferences: ["engage-user": LLMConfig(llmName: "gpt-big")])
        #expect((route.model as? NamedModel)?.name == "local")
        #expect(route.parameters.isEmpty)
    }

    @Test func aPreferenceNamingAnUnknownModelGoesToTheDefaultModel() {
        let route = models.route(.engageUser, preferences: [
            "engage-user": LLMConfig(llmName: "not-configured", params: ["top_p": .number(0.9)]),
        ])
        #expect((route.model as? NamedModel)?.name == "local")
        #expect(route.parameters.isEmpty)
    }
}
