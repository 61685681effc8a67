// The reference of the HTTP benchmark: a minimal Hummingbird 2 server that answers
// `GET /v1/{organization}/service/` with fixed bytes (those Compadre answered), so a run compares
// Compadre's work per request with the framework's floor on the same machine, in the same run.
//   HelloWorldBenchmark PORT BODY_FILE
import Foundation
import Hummingbird

let arguments = CommandLine.arguments
guard arguments.count == 3, let port = Int(arguments[1]), let body = FileManager.default.contents(atPath: arguments[2]) else {
    FileHandle.standardError.write(Data("usage: HelloWorldBenchmark PORT BODY_FILE\n".utf8))
    exit(2)
}
let bytes = ByteBuffer(bytes: body)
let router = Router()
router.get("/v1/:organization/service/") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: bytes))
}
router.get("/healthz") { _, _ in "ok" }
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
