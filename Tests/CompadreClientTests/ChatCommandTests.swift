import CompadreClient
import Testing

@Suite("Chat commands")
struct ChatCommandTests {
    @Test(arguments: [
        ("hello there", ChatCommand.say("hello there")),
        ("  padded  ", .say("padded")),
        ("/finish", .finish),
        ("/FINISH", .finish),
        ("/insights", .insights),
        ("/events the user opened the app", .event("the user opened the app")),
        ("/event  lab results arrived ", .event("lab results arrived")),
        ("/events", .missingArgument(command: "/events")),
        ("/events   ", .missingArgument(command: "/events")),
        ("/help", .help),
        ("/?", .help),
        ("/quit", .quit),
        ("/exit", .quit),
        ("/q", .quit),
        ("/frobnicate now", .unknown("/frobnicate")),
        ("//etc/hosts is a file", .say("/etc/hosts is a file")),
        ("what is 1/2?", .say("what is 1/2?")),
    ])
    func linesParse(line: String, command: ChatCommand) {
        #expect(ChatCommand.parse(line) == command)
    }

    @Test(arguments: ["", "   ", "\n", "\t \r\n"])
    func blankLinesAskForNothing(line: String) {
        #expect(ChatCommand.parse(line) == nil)
    }

    @Test func helpNamesEveryCommand() {
        for command in ["/events", "/insights", "/finish", "/help", "/quit"] {
            #expect(ChatCommand.helpText.contains(command))
        }
    }
}
