import AmigoWire
import Foundation
import Logging
import SQLKit

/// Versioned schema migrations, applied in order and recorded in `schema_migrations`;
/// applying them again is a no-op. Each migration runs in its own transaction.
public enum Migrations {
    struct Migration: Sendable {
        var version: Int
        var name: String
        var statements: [String]
        /// Rows to rewrite after the statements, in the same transaction (a change of stored documents).
        var data: (@Sendable (any SQLDatabase) async throws -> Void)?

        init(version: Int, name: String, statements: [String], data: (@Sendable (any SQLDatabase) async throws -> Void)? = nil) {
            self.version = version
            self.name = name
            self.statements = statements
            self.data = data
        }
    }

    /// The schema, oldest first. Never edit a released migration: append a new one.
    static let all: [Migration] = [
        Migration(version: 1, name: "management", statements: [
            "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE organizations (id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
            """
            CREATE TABLE roles (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL,
                doc TEXT NOT NULL, UNIQUE (org_id, name))
            """,
            """
            CREATE TABLE users (org_id TEXT NOT NULL, id TEXT NOT NULL, email TEXT NOT NULL, role_id TEXT NOT NULL,
                first_name TEXT NOT NULL, last_name TEXT NOT NULL, search_text TEXT NOT NULL,
                num_conversations BIGINT NOT NULL DEFAULT 0, num_messages BIGINT NOT NULL DEFAULT 0,
                last_message_time DOUBLE PRECISION, doc TEXT NOT NULL, PRIMARY KEY (org_id, id), UNIQUE (org_id, email))
            """,
            """
            CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, id TEXT NOT NULL, org_id TEXT NOT NULL, secret_hash TEXT NOT NULL,
                role_id TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX api_keys_org ON api_keys (org_id, id)",
            """
            CREATE TABLE agents (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, deprecated BOOLEAN NOT NULL,
                latest_version BIGINT, UNIQUE (org_id, name))
            """,
            """
            CREATE TABLE agent_versions (agent_id TEXT NOT NULL, version BIGINT NOT NULL, org_id TEXT NOT NULL, doc TEXT NOT NULL,
                PRIMARY KEY (agent_id, version))
            """,
            """
            CREATE TABLE context_graphs (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, deprecated BOOLEAN NOT NULL,
                latest_version BIGINT, UNIQUE (org_id, name))
            """,
            """
            CREATE TABLE context_graph_versions (context_graph_id TEXT NOT NULL, version BIGINT NOT NULL, org_id TEXT NOT NULL,
                doc TEXT NOT NULL, PRIMARY KEY (context_graph_id, version))
            """,
            """
            CREATE TABLE services (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, is_active BOOLEAN NOT NULL,
                agent_id TEXT NOT NULL, context_graph_id TEXT NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX services_org ON services (org_id, id)",
        ]),
        Migration(version: 2, name: "conversations", statements: [
            """
            CREATE TABLE conversations (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL,
                service_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, is_finished BOOLEAN NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX conversations_org ON conversations (org_id, created_at)",
            "CREATE INDEX conversations_user_service ON conversations (org_id, user_id, service_id, is_finished)",
            """
            CREATE TABLE messages (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
                interaction_id TEXT NOT NULL, seq BIGINT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                message_type TEXT NOT NULL, doc TEXT NOT NULL, UNIQUE (conversation_id, seq))
            """,
            """
            CREATE TABLE interactions (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX interactions_conversation ON interactions (conversation_id)",
        ]),
        Migration(version: 3, name: "leases", statements: [
            "CREATE TABLE leases (key TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)",
        ]),
        Migration(version: 4, name: "tools", statements: [
            """
            CREATE TABLE tools (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, deprecated BOOLEAN NOT NULL,
                doc TEXT NOT NULL)
            """,
            // A name is unique among the organization's tools that are not deprecated.
            "CREATE UNIQUE INDEX tools_active_name ON tools (org_id, name) WHERE NOT deprecated",
            """
            CREATE TABLE tool_envvars (tool_id TEXT NOT NULL, name TEXT NOT NULL, is_secret BOOLEAN NOT NULL,
                value TEXT NOT NULL, deleted_at DOUBLE PRECISION, PRIMARY KEY (tool_id, name))
            """,
            """
            CREATE TABLE tool_versions (tool_id TEXT NOT NULL, major BIGINT NOT NULL, minor BIGINT NOT NULL,
                patch BIGINT NOT NULL, org_id TEXT NOT NULL, deprecated BOOLEAN NOT NULL, doc TEXT NOT NULL,
                PRIMARY KEY (tool_id, major, minor, patch))
            """,
            """
            CREATE TABLE tool_invocations (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, tool_id TEXT NOT NULL,
                major BIGINT NOT NULL, minor BIGINT NOT NULL, patch BIGINT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                succeeded BOOLEAN NOT NULL, source_type TEXT NOT NULL, conversation_id TEXT, output TEXT NOT NULL,
                exception_type TEXT NOT NULL, exception_message TEXT NOT NULL, exception_stack_trace TEXT NOT NULL,
                doc TEXT NOT NULL)
            """,
            "CREATE INDEX tool_invocations_org ON tool_invocations (org_id, created_at)",
            "CREATE INDEX tool_invocations_conversation ON tool_invocations (org_id, conversation_id)",
        ]),
        Migration(version: 5, name: "voice", statements: [
            """
            CREATE TABLE message_audio (org_id TEXT NOT NULL, message_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
                content_type TEXT NOT NULL, audio {BINARY} NOT NULL, PRIMARY KEY (org_id, message_id))
            """,
            "CREATE INDEX message_audio_conversation ON message_audio (conversation_id)",
        ]),
        Migration(version: 6, name: "dynamic behaviors", statements: [
            """
            CREATE TABLE dynamic_behavior_sets (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL,
                is_active BOOLEAN NOT NULL, latest_version BIGINT NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX dynamic_behavior_sets_org ON dynamic_behavior_sets (org_id, name)",
            """
            CREATE TABLE dynamic_behavior_set_versions (set_id TEXT NOT NULL, version BIGINT NOT NULL, org_id TEXT NOT NULL,
                doc TEXT NOT NULL, embedding_model TEXT, dimension BIGINT NOT NULL, trigger_vectors {BINARY},
                PRIMARY KEY (set_id, version))
            """,
            """
            CREATE TABLE dynamic_behavior_invocations (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, set_id TEXT NOT NULL,
                conversation_id TEXT NOT NULL, invoked_at TEXT NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX dynamic_behavior_invocations_set ON dynamic_behavior_invocations (set_id, invoked_at)",
            "CREATE INDEX dynamic_behavior_invocations_conversation ON dynamic_behavior_invocations (conversation_id)",
        ]),
        Migration(version: 7, name: "jobs", statements: [
            """
            CREATE TABLE jobs (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
                payload TEXT NOT NULL, idempotency_key TEXT UNIQUE, state TEXT NOT NULL, attempts BIGINT NOT NULL,
                max_attempts BIGINT NOT NULL, run_after DOUBLE PRECISION NOT NULL, lease_owner TEXT,
                lease_expires DOUBLE PRECISION, last_error TEXT, created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL)
            """,
            "CREATE INDEX jobs_runnable ON jobs (state, run_after)",
            "CREATE INDEX jobs_subject ON jobs (subject)",
        ]),
        Migration(version: 8, name: "memory", statements: [
            """
            CREATE TABLE memories (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
                created_at TEXT NOT NULL, doc TEXT NOT NULL, embedding_model TEXT, dimension BIGINT NOT NULL, embedding {BINARY})
            """,
            "CREATE INDEX memories_user ON memories (org_id, user_id, created_at)",
            "CREATE INDEX memories_conversation ON memories (conversation_id)",
            "CREATE TABLE user_models (org_id TEXT NOT NULL, user_id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (org_id, user_id))",
        ]),
        Migration(version: 9, name: "dynamic behavior permissions", statements: [], data: { sql in
            // Organizations made before dynamic behaviors existed: their default administrator roles list
            // permissions one by one and lack the four that came with them (the super administrator has `*`).
            try await grant(
                [
                    "DynamicBehaviorInstruction:CreateDynamicBehaviorInstruction", "DynamicBehaviorInstruction:GetDynamicBehaviorInstruction",
                    "DynamicBehaviorInstruction:UpdateDynamicBehaviorInstruction", "DynamicBehaviorInstruction:DeleteDynamicBehaviorInstruction",
                ],
                toRolesNamed: ["DefaultAmigoAdministratorRole", "DefaultAdministratorRole"], in: sql
            )
        }),
        Migration(version: 10, name: "metrics", statements: [
            "CREATE TABLE metrics (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, is_deleted BOOLEAN NOT NULL, doc TEXT NOT NULL)",
            // A name is unique among the organization's metrics that are not deleted.
            "CREATE UNIQUE INDEX metrics_live_name ON metrics (org_id, name) WHERE NOT is_deleted",
        ], data: { sql in
            try await grant(
                ["Metric:CreateMetric", "Metric:GetMetric", "Metric:ModifyMetric", "Metric:DeleteMetric", "Metric:EvaluateMetric",
                 "Metric:GetMetricEvaluationResult"],
                toRolesNamed: ["DefaultAmigoAdministratorRole", "DefaultAdministratorRole"], in: sql
            )
        }),
        Migration(version: 11, name: "metric results", statements: [
            """
            CREATE TABLE metric_results (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, metric_id TEXT NOT NULL, source_type TEXT NOT NULL,
                conversation_id TEXT, run_id TEXT, created_at DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX metric_results_org ON metric_results (org_id, created_at)",
            "CREATE INDEX metric_results_conversation ON metric_results (conversation_id, metric_id)",
        ]),
        Migration(version: 12, name: "simulations", statements: [
            "CREATE TABLE simulation_personas (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, is_deleted BOOLEAN NOT NULL, doc TEXT NOT NULL)",
            "CREATE UNIQUE INDEX simulation_personas_live_name ON simulation_personas (org_id, name) WHERE NOT is_deleted",
            """
            CREATE TABLE simulation_persona_versions (parent_id TEXT NOT NULL, version BIGINT NOT NULL, org_id TEXT NOT NULL,
                doc TEXT NOT NULL, PRIMARY KEY (parent_id, version))
            """,
            "CREATE TABLE simulation_scenarios (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, is_deleted BOOLEAN NOT NULL, doc TEXT NOT NULL)",
            "CREATE UNIQUE INDEX simulation_scenarios_live_name ON simulation_scenarios (org_id, name) WHERE NOT is_deleted",
            """
            CREATE TABLE simulation_scenario_versions (parent_id TEXT NOT NULL, version BIGINT NOT NULL, org_id TEXT NOT NULL,
                doc TEXT NOT NULL, PRIMARY KEY (parent_id, version))
            """,
            "CREATE TABLE simulation_unit_tests (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, is_deleted BOOLEAN NOT NULL, doc TEXT NOT NULL)",
            "CREATE UNIQUE INDEX simulation_unit_tests_live_name ON simulation_unit_tests (org_id, name) WHERE NOT is_deleted",
            """
            CREATE TABLE simulation_unit_test_sets (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL,
                is_deleted BOOLEAN NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE UNIQUE INDEX simulation_unit_test_sets_live_name ON simulation_unit_test_sets (org_id, name) WHERE NOT is_deleted",
            """
            CREATE TABLE simulation_runs (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, set_id TEXT NOT NULL, creator_id TEXT NOT NULL,
                state TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX simulation_runs_org ON simulation_runs (org_id, created_at)",
            "CREATE INDEX simulation_runs_set ON simulation_runs (set_id, creator_id, state)",
            "CREATE TABLE simulation_artifacts (run_id TEXT PRIMARY KEY, org_id TEXT NOT NULL, content_type TEXT NOT NULL, data {BINARY} NOT NULL)",
        ], data: { sql in
            try await grant(
                SimulationPermissions.all, toRolesNamed: ["DefaultAmigoAdministratorRole", "DefaultAdministratorRole"], in: sql
            )
        }),
        Migration(version: 13, name: "replays", statements: [
            "CREATE TABLE replays (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, doc TEXT NOT NULL)",
        ]),
        Migration(version: 14, name: "webhooks", statements: [
            "CREATE TABLE webhook_destinations (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, doc TEXT NOT NULL)",
            "CREATE INDEX webhook_destinations_org ON webhook_destinations (org_id)",
            """
            CREATE TABLE webhook_deliveries (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, destination_id TEXT NOT NULL, type TEXT NOT NULL,
                status TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX webhook_deliveries_destination ON webhook_deliveries (destination_id, created_at)",
            "CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at)",
            "CREATE TABLE webhook_key_warnings (key_id TEXT PRIMARY KEY, org_id TEXT NOT NULL, warned_at DOUBLE PRECISION NOT NULL)",
        ], data: { sql in
            try await grant(WebhookPermissions.all, toRolesNamed: ["DefaultAmigoAdministratorRole", "DefaultAdministratorRole"], in: sql)
        }),
        Migration(version: 15, name: "temporary permission grants", statements: [
            """
            CREATE TABLE temporary_permission_grants (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL,
                permission_name TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX temporary_permission_grants_user ON temporary_permission_grants (org_id, user_id, expires_at)",
        ], data: { sql in
            try await grant(
                ["Role:CreateTemporaryPermissionGrant", "Role:GetTemporaryPermissionGrant"],
                toRolesNamed: ["DefaultAmigoAdministratorRole", "DefaultAdministratorRole"], in: sql
            )
        }),
        Migration(version: 16, name: "prompt logs", statements: [
            """
            CREATE TABLE prompt_logs (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, log_key TEXT NOT NULL, user_id TEXT,
                created_at DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)
            """,
            "CREATE INDEX prompt_logs_key ON prompt_logs (org_id, log_key)",
            "CREATE INDEX prompt_logs_created ON prompt_logs (created_at)",
        ]),
        Migration(version: 17, name: "email sign-in", statements: [
            """
            CREATE TABLE email_sign_ins (token_hash TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, redirect_link TEXT NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL, used BOOLEAN NOT NULL)
            """,
        ]),
    ]

    /// The permissions of webhook destinations, granted to the default administrator roles.
    public enum WebhookPermissions {
        public static let all = [
            "Webhook:CreateWebhookDestination", "Webhook:GetWebhookDestination", "Webhook:UpdateWebhookDestination",
            "Webhook:DeleteWebhookDestination", "Webhook:GetWebhookDeliveries",
        ]
    }

    /// The permissions of simulations, granted to the default administrator roles.
    public enum SimulationPermissions {
        public static let all: [String] = ["SimulationPersona", "SimulationScenario", "SimulationUnitTest", "SimulationUnitTestSet"]
            .flatMap { kind in ["Create", "Get", "Modify", "Delete"].map { "Simulation:\($0)\(kind)" } }
            + ["Simulation:CreateSimulationUnitTestSetRun", "Simulation:GetSimulationUnitTestSetRun", "Simulation:CancelSimulationUnitTestSetRun"]
    }

    /// Adds `permissions` (unconditional) to every role named one of `names` that lacks them.
    static func grant(_ permissions: [String], toRolesNamed names: [String], in sql: any SQLDatabase) async throws {
        let rows = try await sql.select().columns("id", "doc").from("roles").where("name", .in, names).all()
        for row in rows {
            var role = try Documents.decode(Role.self, from: row)
            let held = Set(role.permissionGrants.map(\.permissionName))
            let missing = permissions.filter { !held.contains($0) }
            guard !missing.isEmpty else { continue }
            role.permissionGrants += missing.map { PermissionGrant(permissionName: $0) }
            try await sql.update("roles").set("doc", to: try Documents.encode(role))
                .where("id", .equal, try row.decode(column: "id", as: String.self)).run()
        }
    }

    /// A statement in the database's dialect: `{BINARY}` is `BLOB` on SQLite and `BYTEA` on PostgreSQL.
    static func dialect(_ statement: String, _ kind: DatabaseKind) -> String {
        statement.replacingOccurrences(of: "{BINARY}", with: kind == .sqlite ? "BLOB" : "BYTEA")
    }

    /// The newest schema version this build knows.
    public static var latestVersion: Int { all.last?.version ?? 0 }

    /// Applies every migration not yet recorded (up to `through`, when given: tests of data migrations start
    /// from an older schema); returns the versions applied now.
    @discardableResult
    public static func apply(to database: any Database, logger: Logger, through last: Int? = nil) async throws -> [Int] {
        try await database.withTransaction { sql in
            if database.kind == .postgres {
                // Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's catalog.
                try await sql.raw("SELECT pg_advisory_xact_lock(7201) AS locked").run()
            }
            try await sql.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)").run()
        }
        var applied: [Int] = []
        for migration in all where migration.version <= last ?? .max {
            let didApply = try await database.withTransaction { sql -> Bool in
                if database.kind == .postgres {
                    // Two replicas starting together must not both migrate.
                    try await sql.raw("SELECT pg_advisory_xact_lock(7201) AS locked").run()
                }
                let existing = try await sql.select().column("version").from("schema_migrations")
                    .where("version", .equal, migration.version).first()
                if existing != nil { return false }
                for statement in migration.statements {
                    try await sql.raw(SQLQueryString(dialect(statement, database.kind))).run()
                }
                try await migration.data?(sql)
                try await sql.insert(into: "schema_migrations").columns("version", "name", "applied_at")
                    .values(SQLBind(migration.version), SQLBind(migration.name), SQLBind(WireCoding.formatDate(Date())))
                    .run()
                return true
            }
            if didApply {
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        return applied
    }

    /// The versions recorded as applied.
    public static func appliedVersions(in database: any Database) async throws -> [Int] {
        try await database.withSession { sql in
            try await sql.select().column("version").from("schema_migrations").orderBy("version").all()
                .map { try $0.decode(column: "version", as: Int.self) }
        }
    }
}
