import Foundation

/// Body of `POST /v1/{org}/user/signin` (sign-in-with-email).
public struct SignInWithEmailRequest: Decodable, Sendable, ValidatableRequest {
    public var redirectLink: String
    public var email: String

    enum CodingKeys: String, CodingKey {
        case redirectLink = "redirect_link"
        case email
    }

    public func validate(into c: inout ValidationCollector) {
        let scheme = URLComponents(string: redirectLink)?.scheme?.lowercased()
        if redirectLink.isEmpty || !(scheme == "https" || scheme == "http") || URLComponents(string: redirectLink)?.host?.isEmpty != false {
            c.add(["redirect_link"], "Input should be a valid URL", type: "url_parsing")
        }
        if !FieldRule.isEmail(email) { c.add(["email"], "value is not a valid email address", type: "value_error") }
    }
}
