import CompadreTesting
import Foundation
import HTTPTypes
import Platform
@testable import Server
import StorageTesting
import Synchronization
import Testing

@Suite("Sign-in limits")
struct SignInLimitsTests {
    var limits = SignInLimits()

    @Test mutating func aValidKeySignsInManyTimesAMinute() {
        for _ in 0..<100 {
            #expect(limits.admit(key: "k", address: "10.0.0.1", at: 10) == .allowed)
            limits.succeeded(key: "k", at: 10)
        }
    }

    @Test mutating func failuresBackOffAndTheBackOffDoubles() {
        for _ in 0..<5 {
            #expect(limits.admit(key: "k", address: "a", at: 0) == .allowed)
            limits.failed(key: "k", address: "a", at: 0)
        }
        #expect(limits.admit(key: "k", address: "a", at: 0) == .allowed)  // five failures are free
        limits.failed(key: "k", address: "a", at: 0)
        #expect(limits.admit(key: "k", address: "a", at: 1) == .refused(retryAfter: 59, reason: "Too many failed sign-ins; try again later."))
        #expect(limits.admit(key: "k", address: "a", at: 60) == .allowed)
        limits.failed(key: "k", address: "a", at: 60)
        #expect(limits.admit(key: "k", address: "a", at: 60) == .refused(retryAfter: 120, reason: "Too many failed sign-ins; try again later."))
    }

    @Test mutating func aGuessingAddressIsBlockedForEveryKey() {
        for index in 0..<6 { limits.failed(key: "guess-\(index)", address: "a", at: 0) }
        #expect(limits.admit(key: "other", address: "a", at: 1) != .allowed)
        #expect(limits.admit(key: "other", address: "b", at: 1) == .allowed)
    }

    @Test mutating func aSuccessForgetsTheKeysFailures() {
        for _ in 0..<5 { limits.failed(key: "k", address: "a", at: 0) }
        limits.succeeded(key: "k", at: 1)
        limits.failed(key: "k", address: "b", at: 2)
        #expect(limits.admit(key: "k", address: "b", at: 3) == .allowed)
    }

    @Test mutating func successesHaveAGenerousBudget() {
        var configuration = SignInLimits.Configuration()
        configuration.successesPerMinute = 3
        limits = SignInLimits(configuration: configuration)
        for _ in 0..<3 { limits.succeeded(key: "k", at: 0) }
        #expect(limits.admit(key: "k", address: nil, at: 30) == .refused(retryAfter: 30, reason: "More than 3 sign-ins a minute with this API key."))
        #expect(limits.admit(key: "k", address: nil, at: 60) == .allowed)
    }

    @Test func oneHundredClientsSignInWithinAMinuteAndAGuesserIsRefused() async throws {
        try await TestDatabase.sqlite.with { database in
            let server = try await TestServer(database: database, signInLimits: SignInLimits.Configuration())
            let credentials = try await server.bootstrap()
            try await server.test { client in
                for _ in 0..<100 { _ = try await client.signIn(credentials) }
                let org = credentials.organizationID
                func guess() async throws -> TestServer.Client.Answer {
                    try await client.call(.post, "/v1/\(org)/user/signin_with_api_key", headers: [
                        HTTPField.Name("x-api-key")!: "wrong", HTTPField.Name("x-api-key-id")!: credentials.apiKeyID,
                        HTTPField.Name("x-user-id")!: credentials.userID,
                    ])
                }
                for _ in 0..<5 { #expect(try await guess().status == .unauthorized) }
                #expect(try await guess().status == .unauthorized)  // the sixth failure starts the back-off
                let refused = try await guess()
                #expect(refused.status == .tooManyRequests)
                #expect(refused.headers[.retryAfter] != nil)
                // While the key backs off, even its valid secret is refused.
                await #expect(throws: TestFailure.self) { try await client.signIn(credentials) }
            }
        }
    }
}
