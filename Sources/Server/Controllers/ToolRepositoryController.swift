import AmigoWire
import Foundation
import HTTPTypes
import Hummingbird
import ToolRepository
import ToolRuntime
import Platform

struct ToolRepositoryController {
    let api: API

    /// The organization's tool repository over Git's smart HTTP protocol, and the project scaffold.
    ///
    /// Clone URL: `http(s)://HOST/v1/{org}/tool/git`. git authenticates with the access token either as
    /// `-c http.extraHeader="Authorization: Bearer TOKEN"` or as the password of the URL
    /// (`http://user:TOKEN@HOST/…`): a 401 asks for Basic credentials so git knows to send them.
    func addRoutes(to router: Router<AppContext>) {
        let api = api

        router.operation(.get, "/v1/:organization/tool/amigo_tool_scaffold.tar.gz", "get-tool-scaffold-release", api: api) { call in
            _ = try call.caller
            let data = try ToolScaffold.tarball()
            return Response(
                status: .ok,
                headers: [
                    .contentType: "application/gzip",
                    .contentDisposition: "attachment; filename=\"amigo_tool_scaffold.tar.gz\"",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: data))
            )
        }

        for method in [HTTPRequest.Method.get, .post] {
            router.on("/v1/:organization/tool/git/**", method: method) { request, context -> Response in
                try await self.serveGit(request, context: context)
            }
        }
    }

    private func serveGit(_ request: Request, context: AppContext) async throws -> Response {
        guard let orgID = context.parameters.get("organization") else { throw PlatformError.notFound("Organization not found.") }
        let principal: Principal
        do {
            principal = try await api.authenticate(request, orgID: orgID)
        } catch let error as PlatformError where error.kind == .unauthorized {
            return Response(
                status: .unauthorized,
                headers: [.wwwAuthenticate: "Basic realm=\"Compadre tool repository\"", .contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: "Authentication required: use your access token as the password.\n"))
            )
        }
        try principal.require("Tool:AccessRepo")
        let tools = try api.requireTools()
        let path = context.parameters.getCatchAll().joined(separator: "/")
        var headers: [GitHTTPHeader] = []
        for field in request.headers { headers.append(GitHTTPHeader(name: field.name.canonicalName, value: field.value)) }
        let body = request.body.map { buffer in Array(buffer.readableBytesView) }
        let gitRequest = GitHTTPRequest(
            method: request.method.rawValue, path: path, query: request.uri.query ?? "", headers: headers,
            remoteAddress: nil, body: body
        )
        _ = try await tools.repositories.prepare(organization: orgID)
        let response: GitHTTPResponse
        do {
            response = try await tools.repositories.serve(organization: orgID, request: gitRequest, remoteUser: principal.user.userID)
        } catch let error as ToolRepositoryError {
            throw PlatformError.notFound(error.description)
        }
        // git's own "not found" has no body: answer it as every other 404, in JSON.
        if response.status == 404 { throw PlatformError.notFound("No such repository path: `\(path)`.") }
        var fields = HTTPFields()
        for header in response.headers {
            if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
        }
        let stream = response.body
        return Response(
            status: HTTPResponse.Status(code: response.status),
            headers: fields,
            body: ResponseBody { writer in
                for try await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
                try await writer.finish(nil)
            }
        )
    }
}
