import Foundation
import Subprocess

extension Git {
    /// Extracts the tree `treeish` of `repository` into `destination` by piping `git archive` into
    /// `tar -x`, so no archive is held in memory or written to disk.
    func archive(_ treeish: String, of repository: URL, into destination: URL) async throws {
        let environment = Environment.custom(self.environment)
        let tar = try await Subprocess.run(
            .name("tar"),
            arguments: ["-x", "-f", "-", "--no-same-owner", "-C", destination.path],
            environment: environment,
            input: .inputWriter,
            output: .discarded,
            error: .string(limit: 64 * 1024)
        ) { tar in
            let writer = tar.standardInputWriter
            let archive = try await Subprocess.run(
                .name(name),
                arguments: ["--git-dir=\(repository.path)", "archive", "--format=tar", treeish],
                environment: environment,
                input: .none,
                output: .sequence,
                error: .string(limit: 64 * 1024)
            ) { archive in
                for try await chunk in archive.standardOutput {
                    _ = try await writer.write(chunk.withUnsafeBytes { Array($0) })
                }
            }
            try await writer.finish()
            return archive.terminationStatus.isSuccess ? nil : "git archive failed: \(archive.standardError)"
        }
        if let failure = tar.closureResult {
            throw ToolRepositoryError.gitFailed(failure)
        }
        guard tar.terminationStatus.isSuccess else {
            throw ToolRepositoryError.gitFailed("tar failed: \(tar.standardError)")
        }
    }
}
