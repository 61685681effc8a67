import ArgumentParser
import Configuration
import Foundation
import Server

/// `compadre config`: the configuration `serve` would run with, setting by setting, secrets redacted.
struct ShowConfiguration: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the effective configuration of `serve` (same flags, environment and file), secrets redacted.",
        discussion: Settings.helpText
    )

    @OptionGroup var options: SettingsOptions

    func run() async throws {
        let reader = try await options.reader()
        // Reading the typed configurations checks every value as `serve` would.
        _ = try ServerConfiguration(reader)
        _ = try LanguageModelSetup(reader)
        let width = Settings.all.map(\.environmentName.count).max() ?? 0
        for setting in Settings.all {
            let shown: String
            if let value = reader.text(setting.key) {
                shown = setting.isSecret && !value.isEmpty ? "<redacted>" : value
            } else {
                shown = "(default: \(setting.defaultValue))"
            }
            let name = setting.environmentName.padding(toLength: width, withPad: " ", startingAt: 0)
            print("\(name)  \(shown)")
        }
    }
}
