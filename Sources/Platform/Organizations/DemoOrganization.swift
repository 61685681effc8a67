import AmigoWire
import Foundation
import Storage

/// The demo `compadre init --demo` creates: an organization with a clinic-intake service whose graph
/// uses action, decision, recall, reflection and annotation states, so a new user sees the whole
/// engine at work in their first conversation.
public enum DemoOrganization {
    public struct Created: Codable, Sendable {
        public var credentials: OrganizationBootstrap.Credentials
        public var serviceID: String

        enum CodingKeys: String, CodingKey {
            case serviceID = "service_id"
        }

        public func encode(to encoder: any Encoder) throws {
            try credentials.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(serviceID, forKey: .serviceID)
        }

        public init(credentials: OrganizationBootstrap.Credentials, serviceID: String) {
            self.credentials = credentials
            self.serviceID = serviceID
        }

        public init(from decoder: any Decoder) throws {
            credentials = try OrganizationBootstrap.Credentials(from: decoder)
            serviceID = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .serviceID)
        }
    }

    /// Creates the organization (as `compadre init` does) and its clinic-intake service.
    public static func create(orgID: String = "demo", adminEmail: String = "admin@amigo.ai", store: Store) async throws -> Created {
        let credentials = try await OrganizationBootstrap.create(orgID: orgID, name: "Compadre Demo Clinic", adminEmail: adminEmail, store: store)
        let creator = UserInfo(orgID: orgID, userID: credentials.userID)
        let agentRequest = try WireCoding.decoder().decode(AgentVersionRequest.self, from: Data(agentJSON.utf8))
        let graph = try WireCoding.decoder().decode(ContextGraphDefinition.self, from: Data(graphJSON.utf8))
        let issues = ContextGraphValidator.validate(graph, referencedStates: [:])
        precondition(issues.isEmpty, "the demo graph must be valid: \(issues)")
        let now = Date()
        let serviceID = try await store.write { repositories -> String in
            let agentID = ObjectID.generate()
            try await repositories.agents.insert(
                VersionedResourceInstance(id: agentID, name: "Clinic assistant", deprecated: false, latestVersion: nil), orgID: orgID
            )
            guard let agent = AgentVersion(
                id: ObjectID.generate(), agentID: agentID, version: 1, request: agentRequest, previous: nil, creator: creator, createdAt: now
            ) else { preconditionFailure("the demo agent must be complete") }
            try await repositories.agents.insertVersion(agent, number: 1, of: agentID, orgID: orgID)

            let graphID = ObjectID.generate()
            try await repositories.contextGraphs.insert(
                VersionedResourceInstance(id: graphID, name: "Clinic intake", deprecated: false, latestVersion: nil), orgID: orgID
            )
            let version = ContextGraphVersion(
                id: ObjectID.generate(), orgID: orgID, contextGraphID: graphID, version: 1, createdAt: now, creator: creator,
                definition: graph
            )
            try await repositories.contextGraphs.insertVersion(version, number: 1, of: graphID, orgID: orgID)

            let service = Service(
                id: ObjectID.generate(), name: "Clinic intake", versionSets: ["edge": .edge, "release": .edge],
                description: "Answers patients of a small clinic: books visits, routes emergencies and billing questions.",
                isActive: true, contextGraphID: graphID, agentID: agentID, tags: [AmigoWire.Tag(key: "demo", value: nil)],
                keyterms: ["appointment", "clinic"], creator: creator
            )
            try await repositories.services.insert(service, orgID: orgID)
            return service.id
        }
        return Created(credentials: credentials, serviceID: serviceID)
    }

    static let agentJSON = """
        {
          "initials": "AC",
          "identity": {
            "name": "Ava", "role": "front-desk assistant of the Riverside Clinic", "developed_by": "Compadre",
            "default_spoken_language": "eng",
            "relationship_to_developer": {"ownership": "owned", "type": "assistant",
              "conversation_visibility": "visible", "thought_visibility": "hidden"}
          },
          "background": "Ava answers patients of the Riverside Clinic. She books visits with the clinic's doctors, sends emergencies to emergency services, and passes billing questions to the front desk. She never gives medical advice.",
          "behaviors": ["Ask one question at a time", "Use the patient's name when known"],
          "communication_patterns": ["Short, warm sentences", "Plain words, no jargon"],
          "voice_config": {"voice_id": "joe", "stability": 0.5, "similarity_boost": 0.75, "style": 0.0}
        }
        """

    static let graphJSON = """
        {
          "description": "Clinic intake: welcome, triage, then booking, billing or an emergency redirect.",
          "new_user_initial_state": "welcome",
          "returning_user_initial_state": "welcome",
          "terminal_state": "goodbye",
          "references": {},
          "global_intra_state_navigation_guidelines": [],
          "global_action_guidelines": ["Keep every reply under three sentences"],
          "global_boundary_constraints": ["Never give medical advice or a diagnosis"],
          "states": [
            {"type": "action", "name": "welcome", "objective": "Welcome the patient and learn why they contact the clinic",
             "actions": ["Greet the patient and ask how you can help today"],
             "intra_state_navigation_guidelines": [], "action_guidelines": [], "boundary_constraints": [],
             "exit_conditions": [{"description": "The patient has said why they contact the clinic", "next_state": "triage"}],
             "action_tool_call_specs": [], "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": false},
            {"type": "decision", "name": "triage", "objective": "Route the patient by their need",
             "decision_guidelines": ["Anything that sounds like an emergency goes to the emergency route"],
             "exit_conditions": [
               {"description": "The patient describes an emergency such as chest pain, trouble breathing or heavy bleeding", "next_state": "emergency"},
               {"description": "The patient wants to book, move or cancel a visit", "next_state": "remember_patient"},
               {"description": "The patient asks about a bill, a payment or insurance", "next_state": "billing_note"}
             ],
             "tool_call_specs": [], "audio_fillers": [], "audio_filler_triggered_after": 2.0},
            {"type": "action", "name": "emergency", "objective": "Get the patient to emergency care now",
             "actions": ["Tell the patient to call emergency services right away"],
             "intra_state_navigation_guidelines": [], "action_guidelines": [], "boundary_constraints": [],
             "exit_conditions": [{"description": "The patient says they are safe or getting help", "next_state": "goodbye"}],
             "action_tool_call_specs": [], "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": true},
            {"type": "recall", "name": "remember_patient", "queries": ["What is the patient's name?", "Which doctor does the patient usually see?"],
             "requested_information": null, "next_state": "plan_visit"},
            {"type": "reflection", "name": "plan_visit", "problem": "What does the patient need so the right visit gets booked?",
             "word_limit": 40, "next_state": "booking", "tool_call_specs": [], "audio_fillers": [], "audio_filler_triggered_after": 2.0},
            {"type": "action", "name": "booking", "objective": "Book a visit that suits the patient",
             "actions": ["Ask which day and time suit the patient", "Read back the visit details and ask the patient to confirm"],
             "intra_state_navigation_guidelines": [], "action_guidelines": ["Visits are on weekdays between 8 am and 5 pm"], "boundary_constraints": [],
             "exit_conditions": [{"description": "The patient confirmed the visit details", "next_state": "goodbye"}],
             "action_tool_call_specs": [], "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": false},
            {"type": "annotation", "name": "billing_note", "inner_thought": "Billing questions go to the front desk team: collect a callback number.",
             "next_state": "billing"},
            {"type": "action", "name": "billing", "objective": "Hand the billing question to the front desk",
             "actions": ["Ask for a phone number the billing team can call back"],
             "intra_state_navigation_guidelines": [], "action_guidelines": [], "boundary_constraints": [],
             "exit_conditions": [{"description": "The patient gave a callback number", "next_state": "goodbye"}],
             "action_tool_call_specs": [], "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": false},
            {"type": "action", "name": "goodbye", "objective": "Close the conversation kindly",
             "actions": ["Thank the patient and say goodbye"],
             "intra_state_navigation_guidelines": [], "action_guidelines": [], "boundary_constraints": [],
             "exit_conditions": [], "action_tool_call_specs": [], "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": false}
          ]
        }
        """
}
